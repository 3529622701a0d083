import inherence_proxy_core

EXPECTED = [
    "DEFAULT_CLIENT",
    "CachedClassification",
    "Catalog",
    "Channel",
    "ClassificationCache",
    "ClientLock",
    "ClientLockError",
    "ClientLockHeld",
    "Gateway",
    "GatewayError",
    "GatewaySettings",
    "GatewayStatus",
    "GatewayUsageError",
    "HttpFront",
    "LineChannel",
    "ListenLimits",
    "LoginError",
    "Malformed",
    "NameCollision",
    "Policy",
    "ProcessError",
    "ProcessRegistry",
    "ProcessUsageError",
    "ReapAction",
    "ReapKind",
    "RegistryError",
    "RugPull",
    "SdkChannel",
    "TokenStore",
    "ToolRoute",
    "UpstreamClosed",
    "UpstreamCommandNotFound",
    "UpstreamConfig",
    "UpstreamError",
    "UpstreamProcess",
    "UpstreamSpawnError",
    "UpstreamStartError",
    "UpstreamStatus",
    "UpstreamTokens",
    "__version__",
    "event_loop_options",
    "exposed_name",
    "exposed_names",
    "lock_holder",
    "login_reason",
    "login_upstream",
    "reap",
    "serve_http",
    "spawn_upstream",
    "terminate_all",
    "tool_fingerprint",
    "wants_oauth",
]


def _isort_style(name: str) -> tuple[int, str]:
    # Constants, then classes, then everything else (ruff's RUF022 order).
    if name.isupper():
        return (0, name)
    return (1, name) if name[:1].isupper() else (2, name)


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_proxy_core.__all__ == EXPECTED
    assert sorted(EXPECTED, key=_isort_style) == EXPECTED
    for name in EXPECTED:
        assert hasattr(inherence_proxy_core, name)


def test_one_exception_root_covers_the_process_discipline() -> None:
    root = inherence_proxy_core.GatewayError
    errors = [getattr(inherence_proxy_core, name) for name in EXPECTED if name.endswith(("Error", "Held", "Closed"))]
    errors.append(inherence_proxy_core.UpstreamCommandNotFound)
    assert all(issubclass(error, root) for error in errors), [e for e in errors if not issubclass(e, root)]
    assert issubclass(inherence_proxy_core.ProcessError, root)
    assert issubclass(inherence_proxy_core.ProcessUsageError, inherence_proxy_core.GatewayUsageError)
    assert issubclass(inherence_proxy_core.ProcessUsageError, ValueError)
    assert not issubclass(inherence_proxy_core.UpstreamSpawnError, inherence_proxy_core.GatewayUsageError)
