import inherence_policy_server


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_policy_server.__all__ == [
        "DEFAULT_MAX_BODY_BYTES",
        "ApiKeyRecord",
        "Approval",
        "ApprovalExpired",
        "ApprovalNotFound",
        "Approvals",
        "ConfigError",
        "DashboardOptions",
        "DecisionLogEntry",
        "EmbeddedPolicy",
        "IssuedKey",
        "PolicyApp",
        "PolicyServerError",
        "RuleWeakening",
        "SQLiteStorage",
        "ServerUsageError",
        "Storage",
        "StorageError",
        "UnknownKeyError",
        "__version__",
        "classify",
        "create_app",
        "default_rules_config",
        "issue_key",
        "load_rules_config",
        "open_approvals",
        "open_embedded_policy",
        "recent_rule_weakenings",
    ]
    for name in inherence_policy_server.__all__:
        assert getattr(inherence_policy_server, name) is not None


def test_every_error_derives_from_the_root() -> None:
    for name in ("ConfigError", "ServerUsageError", "StorageError", "UnknownKeyError"):
        assert issubclass(getattr(inherence_policy_server, name), inherence_policy_server.PolicyServerError)
