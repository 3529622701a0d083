import inherence_policy_client


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_policy_client.__all__ == [
        "DEFAULT_BASE_URL",
        "MAX_OUTCOME_TEXT",
        "Classification",
        "ClassifyRequest",
        "ClassifyResponse",
        "DecideRequest",
        "Decision",
        "Health",
        "Heartbeat",
        "OutcomeReport",
        "PolicyAuthError",
        "PolicyCallError",
        "PolicyClient",
        "PolicyError",
        "PolicyUnreachable",
        "PolicyUsageError",
        "RegisterRequest",
        "RegisterResponse",
        "Timeouts",
        "ToolDescription",
        "UpstreamRegistration",
        "Verdict",
        "WireModel",
        "__version__",
        "is_loopback",
        "openapi_document",
    ]
    for name in inherence_policy_client.__all__:
        assert hasattr(inherence_policy_client, name), name
