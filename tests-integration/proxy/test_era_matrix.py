"""Every era of client against every era of upstream, all through the gateway on stdio.

Clients: the SDK's `Client` pinned to 2026-07-28 (strict modern: no probe, no fallback), in
`mode="auto"` (dual-era: probes server/discover, falls back) and in `mode="legacy"`. Upstreams,
each a real process: the SDK's server refusing the handshake (modern only), the SDK's server as it
ships (dual-era), and the hand-written recording server (handshake only). The gateway speaks the
handshake to every upstream that takes it and 2026-07-28 to the one that refuses it; the policy
decides every call either way.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import sys
from typing import Any

import anyio
import pytest
from fake_policy import Deny
from mcp import Client
from mcp.client.stdio import StdioServerParameters

HERE = pathlib.Path(__file__).parent
PROTOCOL = "io.modelcontextprotocol/protocolVersion"
CLIENTS = {"modern": "2026-07-28", "dual": "auto", "legacy": "legacy"}


def upstream(kind: str, record: pathlib.Path) -> dict[str, Any]:
    if kind == "legacy":
        return {
            "name": "up",
            "command": [sys.executable, str(HERE / "recording_server.py")],
            "env": {"RECORD_FILE": str(record)},
        }
    era = "modern" if kind == "modern" else "dual"
    command = [sys.executable, str(HERE / "modern_server.py")]
    return {"name": "up", "command": command, "env": {"RECORD_FILE": str(record), "ERA": era}}


def gateway(tmp_path: pathlib.Path, kind: str, policy: Any = None) -> StdioServerParameters:
    config = {
        "upstreams": [upstream(kind, tmp_path / "up.jsonl")],
        "policy": policy.base_url if policy is not None else "allow-all",
        "api_key": policy.api_key if policy is not None else None,
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 3.0},
    }
    (tmp_path / "gateway.json").write_text(json.dumps(config))
    return StdioServerParameters(
        command=sys.executable, args=[str(HERE / "run_gateway.py"), str(tmp_path / "gateway.json")]
    )


async def listed_once_ready(client: Client, name: str) -> set[str]:
    """The tool names once `name` is among them: an upstream that refuses the handshake is started a
    second time in the 2026-07-28 era, which a busy machine may take longer than the gateway waits."""
    with anyio.fail_after(60):
        while True:
            names = {tool.name for tool in (await client.list_tools()).tools}
            if name in names:
                return names
            await anyio.sleep(0.1)


def calls(tmp_path: pathlib.Path) -> list[dict[str, Any]]:
    record = tmp_path / "up.jsonl"
    lines = record.read_text().splitlines() if record.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["method"] == "tools/call"]


@pytest.mark.parametrize("upstream_era", ["modern", "dual", "legacy"])
@pytest.mark.parametrize("client_era", ["modern", "dual", "legacy"])
async def test_each_client_era_reaches_each_upstream_era(tmp_path, client_era, upstream_era) -> None:
    async with Client(gateway(tmp_path, upstream_era), mode=CLIENTS[client_era]) as client:
        names = await listed_once_ready(client, "up__record")
        result = await client.call_tool("up__record", {"value": [1, None, "x"]})
        version = client.protocol_version
    assert version == ("2025-11-25" if client_era == "legacy" else "2026-07-28")
    assert "up__later" in names or upstream_era == "legacy"
    assert result.is_error is False
    assert result.structured_content == {"arguments": {"value": [1, None, "x"]}}
    assert result.meta is not None
    assert result.meta["inherence_decision"] == "allow"
    [arrived] = calls(tmp_path)
    assert arrived["params"]["name"] == "record"
    meta = arrived["params"].get("_meta") or {}
    # An upstream that speaks only 2026-07-28 gets the gateway's envelope on each request; one that
    # takes the handshake (dual-era too, so that it keeps what legacy clients need) gets none.
    if upstream_era == "modern":
        assert meta[PROTOCOL] == "2026-07-28"
        assert meta["io.modelcontextprotocol/clientInfo"]["name"] == "inherence-proxy"
    else:
        assert not any(key.startswith("io.modelcontextprotocol/") for key in meta)


@pytest.mark.parametrize("client_era", ["modern", "legacy"])
async def test_a_modern_upstream_never_sees_a_denied_call(tmp_path, fake_policy, client_era) -> None:
    fake_policy.decide(Deny())
    async with Client(gateway(tmp_path, "modern", fake_policy), mode=CLIENTS[client_era]) as client:
        await listed_once_ready(client, "up__record")
        result = await client.call_tool("up__record", {"value": "rm -rf /"})
    assert result.is_error is True
    assert json.loads(result.content[0].text)["error"] == "POLICY_DENIAL"  # type: ignore[union-attr]
    assert [request.json["tool_name"] for request in fake_policy.requests_to("decide")] == ["up__record"]
    assert calls(tmp_path) == []


@pytest.mark.parametrize("client_era", ["modern", "legacy"])
async def test_an_upstreams_own_input_required_round(tmp_path, client_era) -> None:
    async with Client(gateway(tmp_path, "modern"), mode=CLIENTS[client_era]) as client:
        await listed_once_ready(client, "up__later")
        result = await client.call_tool("up__later", {})
    # A modern client's retry with the upstream's state reached the upstream (the round was relayed
    # unchanged); for a handshake-era client the gateway sent the call again with that state itself.
    assert result.is_error is False
    assert json.loads(result.content[0].text) == {"arguments": {"state": "call-again"}}  # type: ignore[union-attr]
    # (the SDK server seals its state; it opened it, unchanged, on the second request)
    assert [isinstance(entry["params"].get("requestState"), str) for entry in calls(tmp_path)] == [False, True]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_listening(port: int) -> None:
    with anyio.fail_after(60):
        while True:
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.05)
                continue
            await stream.aclose()
            return


@pytest.mark.parametrize("client_era", ["modern", "legacy"])
async def test_a_modern_http_upstream_gets_its_routing_headers(tmp_path, client_era) -> None:
    port = free_port()
    record = tmp_path / "up.jsonl"
    env = {**os.environ, "RECORD_FILE": str(record), "ERA": "modern", "PORT": str(port)}
    async with await anyio.open_process([sys.executable, str(HERE / "modern_server.py")], env=env) as server:
        try:
            await wait_listening(port)
            config = {
                "upstreams": [{"name": "up", "transport": "http", "url": f"http://127.0.0.1:{port}/mcp"}],
                "policy": "allow-all",
                "home": str(tmp_path / "home"),
            }
            (tmp_path / "gateway.json").write_text(json.dumps(config))
            params = StdioServerParameters(
                command=sys.executable, args=[str(HERE / "run_gateway.py"), str(tmp_path / "gateway.json")]
            )
            async with Client(params, mode=CLIENTS[client_era]) as client:
                await listed_once_ready(client, "up__record")
                result = await client.call_tool("up__record", {"value": "over http"})
        finally:
            server.terminate()
    assert result.is_error is False
    assert result.structured_content == {"arguments": {"value": "over http"}}
    [arrived] = calls(tmp_path)
    assert arrived["params"]["_meta"][PROTOCOL] == "2026-07-28"


async def test_a_modern_upstreams_list_changes_reach_its_clients(tmp_path) -> None:
    """The gateway listens to a 2026-07-28 upstream; a change there reaches a legacy client as list_changed."""
    notices = 0
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        nonlocal notices
        method = getattr(message, "method", None) or getattr(getattr(message, "root", None), "method", None)
        if method == "notifications/tools/list_changed":
            notices += 1
            arrived.set()

    async with Client(gateway(tmp_path, "modern"), mode="legacy", message_handler=on_message) as client:
        listed_before = await listed_once_ready(client, "up__grow")
        await client.call_tool("up__grow", {})
        # Each list_changed is a cue to list again, until the new tool is there (or none comes).
        with anyio.fail_after(60):
            while True:
                seen = notices
                listed_after = {tool.name for tool in (await client.list_tools()).tools}
                if "up__grown" in listed_after:
                    break
                while notices == seen:
                    arrived = anyio.Event()
                    await arrived.wait()
    assert "up__grown" not in listed_before
