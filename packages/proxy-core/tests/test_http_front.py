"""The HTTP front's guard against DNS rebinding, and its refusal to bind beyond loopback by accident."""

from __future__ import annotations

from typing import Any

import pytest

from inherence_proxy_core import GatewayUsageError, HttpFront, serve_http


def front(**kwargs: Any) -> HttpFront:
    return HttpFront(gateway=None, tasks=None, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("headers", "refused"),
    [
        ({"host": "127.0.0.1:8765"}, False),
        ({"host": "localhost"}, False),
        ({"host": "[::1]:8765"}, False),
        ({"host": "127.0.0.1:8765", "origin": "http://localhost:3000"}, False),
        ({"host": "127.0.0.1:8765", "origin": "vscode-webview://127.0.0.1"}, False),
        ({}, True),
        ({"host": "attacker.example"}, True),
        ({"host": "localhost.attacker.example:8765"}, True),
        ({"host": "127.0.0.1:8765", "origin": "https://attacker.example"}, True),
        ({"host": "127.0.0.1:8765", "origin": "null"}, True),
    ],
)
def test_only_loopback_hosts_and_origins_pass(headers: dict[str, str], refused: bool) -> None:
    assert (front().refusal(headers) is not None) is refused


def test_an_explicitly_allowed_host_passes_and_loopback_then_does_not() -> None:
    guard = front(allowed_hosts={"proxy.internal"})
    assert guard.refusal({"host": "proxy.internal:8765"}) is None
    assert guard.refusal({"host": "127.0.0.1:8765"}) is not None


async def test_a_non_loopback_address_needs_allow_remote() -> None:
    with pytest.raises(GatewayUsageError, match="not a loopback address"):
        await serve_http(None, "0.0.0.0", 0)  # type: ignore[arg-type]
