import inherence_policy_server.dashboard


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_policy_server.dashboard.__all__ == [
        "AdminAccess",
        "Dashboard",
        "RulesHolder",
        "SettingsRejected",
        "admin_api_routes",
        "new_admin_token",
        "page_routes",
        "serve_dashboard",
    ]
    for name in inherence_policy_server.dashboard.__all__:
        assert getattr(inherence_policy_server.dashboard, name) is not None
