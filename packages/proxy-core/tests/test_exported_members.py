import inherence_proxy_core

EXPECTED = [
    "CachedClassification",
    "Catalog",
    "Channel",
    "ClassificationCache",
    "Gateway",
    "GatewayError",
    "GatewaySettings",
    "GatewayStatus",
    "GatewayUsageError",
    "LineChannel",
    "Malformed",
    "Policy",
    "RugPull",
    "SdkChannel",
    "ToolRoute",
    "UpstreamClosed",
    "UpstreamConfig",
    "UpstreamError",
    "UpstreamStartError",
    "UpstreamStatus",
    "__version__",
    "exposed_name",
    "exposed_names",
    "tool_fingerprint",
]


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_proxy_core.__all__ == EXPECTED
    assert sorted(EXPECTED) == EXPECTED
    for name in EXPECTED:
        assert hasattr(inherence_proxy_core, name)
