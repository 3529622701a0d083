"""A 2026-07-28 client beside a legacy one on the same gateway: envelope, stamps, nothing asked of it."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp_types
import pytest
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from inherence_proxy_core import Gateway
from inherence_proxy_core._modern import (
    CLIENT_INFO_KEY,
    MODERN_VERSIONS,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
    stamp,
    strip_envelope,
)
from inherence_proxy_core._modern_confirm import StateSeal

ENVELOPE = {
    PROTOCOL_VERSION_KEY: "2026-07-28",
    mcp_types.CLIENT_CAPABILITIES_META_KEY: {"elicitation": {"form": {}}, "sampling": {}},
    CLIENT_INFO_KEY: {"name": "modern", "version": "1"},
}


def test_the_names_spelled_here_are_the_sdks() -> None:
    assert MODERN_VERSIONS == MODERN_PROTOCOL_VERSIONS
    assert PROTOCOL_VERSION_KEY == mcp_types.PROTOCOL_VERSION_META_KEY
    assert CLIENT_INFO_KEY == mcp_types.CLIENT_INFO_META_KEY
    assert SERVER_INFO_KEY == mcp_types.SERVER_INFO_META_KEY


def test_only_the_reserved_keys_are_taken_off() -> None:
    params = {"name": "t", "_meta": {**ENVELOPE, "progressToken": 7}}
    assert strip_envelope(params) == {"name": "t", "_meta": {"progressToken": 7}}
    assert strip_envelope({"name": "t", "_meta": dict(ENVELOPE)}) == {"name": "t"}
    untouched = {"name": "t", "_meta": {"progressToken": 7}}
    assert strip_envelope(untouched) is untouched


def test_a_cacheable_result_is_never_cacheable_through_the_gateway() -> None:
    result = stamp("tools/list", {"tools": [], "ttlMs": 60_000, "cacheScope": "public", "_meta": {"k": 1}})
    assert result["ttlMs"] == 0
    assert result["cacheScope"] == "private"
    assert result["resultType"] == "complete"
    assert result["_meta"]["k"] == 1
    assert result["_meta"][SERVER_INFO_KEY]["name"] == "inherence-proxy"
    call = stamp("tools/call", {"content": []})
    assert "ttlMs" not in call
    assert call["resultType"] == "complete"


@contextlib.asynccontextmanager
async def modern_client(kit: Any, gateway: Gateway) -> AsyncIterator[Any]:
    ours, theirs = kit.channel_pair()
    client = kit.TestClient(ours)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(gateway.serve, theirs)
        tasks.start_soon(client.pump)
        try:
            yield client
        finally:
            await ours.aclose()
            await theirs.aclose()
            tasks.cancel_scope.cancel()


async def test_a_confirm_is_never_a_request_to_a_modern_client(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*")
    mute = {**ENVELOPE, mcp_types.CLIENT_CAPABILITIES_META_KEY: {}}
    async with kit.running([upstream], policy) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        asked = await client.request("tools/call", {"name": "pay__echo", "arguments": {}, "_meta": ENVELOPE})
        unasked = await client.request("tools/call", {"name": "pay__echo", "arguments": {}, "_meta": mute})
        prompt = await client.request("prompts/get", {"name": "pay__greet", "_meta": mute})
    # One that declared elicitation gets the question inside an input_required result.
    result = asked["result"]
    assert result["resultType"] == "input_required"
    assert result["inputRequests"]["inherence_confirm"]["params"]["requestedSchema"]["required"] == ["approve"]
    assert result["requestState"].startswith("inh1.")
    # One that did not is told how to approve it out of band.
    assert unasked["result"]["isError"] is True
    assert json.loads(unasked["result"]["content"][0]["text"])["error"] == "POLICY_CONFIRMATION_REQUIRED"
    assert prompt["error"]["data"]["error"] == "POLICY_CONFIRMATION_REQUIRED"
    assert client.requests == []
    assert upstream.tool_calls == []


async def test_upstream_logs_go_to_legacy_clients_only(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    async with kit.running([upstream]) as (gateway, legacy, _policy), modern_client(kit, gateway) as client:
        listed = await client.request("tools/list", {"_meta": ENVELOPE})
        await upstream.notify("notifications/message", {"level": "info", "data": "hello"})
        await legacy.wait_for("notifications/message")
        # The modern client is asked something after the log: had the log been sent, it came first.
        await client.request("tools/list", {"_meta": ENVELOPE})
    assert listed["result"]["tools"][0]["name"] == "notes__echo"
    assert client.notifications == []


@pytest.mark.parametrize("method", ["logging/setLevel", "resources/subscribe", "ping", "notifications/bogus"])
async def test_methods_the_modern_era_removed_are_not_found(kit, method) -> None:
    upstream = kit.FakeUpstream("notes")
    async with kit.running([upstream]) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        answer = await client.request(method, {"uri": "memo://notes/note", "level": "info", "_meta": ENVELOPE})
    assert answer["error"]["code"] == -32601
    assert upstream.calls == []


def test_a_sealed_state_opens_once_for_its_own_call_client_and_time() -> None:
    now = [1000.0]
    seal = StateSeal(clock=lambda: now[0])
    call = {"session_id": "s1", "gate_name": "pay__send", "arguments": {"amount": 40}}
    state = seal.seal(**call, ttl=120)
    assert seal.opens(state, session_id="s2", gate_name="pay__send", arguments={"amount": 40}) == (
        "it belongs to another client"
    )
    assert seal.opens(state, session_id="s1", gate_name="pay__send", arguments={"amount": 41}) == (
        "it belongs to another call"
    )
    assert seal.opens(state, session_id="s1", gate_name="pay__other", arguments={"amount": 40}) == (
        "it belongs to another call"
    )
    assert StateSeal().opens(state, **call) == "it was not sealed by this gateway"
    assert seal.opens(state.replace("inh1.", "inh1.x"), **call) == "it was not sealed by this gateway"
    now[0] += 121
    assert seal.opens(state, **call) == "it has expired"
    now[0] -= 121
    assert seal.opens(state, **call) is None
    assert seal.opens(state, **call) == "it was used already"


async def test_list_changes_reach_a_modern_client_only_on_the_stream_it_opened(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    async with kit.running([upstream]) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        discover = await client.request("server/discover", {"_meta": ENVELOPE})
        wanted = {"toolsListChanged": True, "resourceSubscriptions": ["memo://notes/note"]}
        await client.channel.send(
            {
                "jsonrpc": "2.0",
                "id": "listen-1",
                "method": "subscriptions/listen",
                "params": {"notifications": wanted, "_meta": ENVELOPE},
            }
        )
        ack = await client.wait_for("notifications/subscriptions/acknowledged")
        upstream.tools = [*upstream.tools, kit.echo_tool("shout")]
        await upstream.notify("notifications/tools/list_changed")
        changed = await client.wait_for("notifications/tools/list_changed")
        listed = await client.request("tools/list", {"_meta": ENVELOPE})
    assert discover["result"]["capabilities"]["tools"] == {"listChanged": True}
    # Resource subscriptions are not honoured: left out of the acknowledgement.
    assert ack["params"]["notifications"] == {"toolsListChanged": True}
    assert ack["params"]["_meta"] == {"io.modelcontextprotocol/subscriptionId": "listen-1"}
    assert changed["params"]["_meta"] == {"io.modelcontextprotocol/subscriptionId": "listen-1"}
    assert "notes__shout" in {tool["name"] for tool in listed["result"]["tools"]}


async def test_an_upstream_that_refuses_the_handshake_is_spoken_to_in_2026_07_28(kit) -> None:
    modern = kit.FakeUpstream("new")
    modern.modern_only = True
    legacy = kit.FakeUpstream("old")
    async with kit.running([modern, legacy]) as (_gateway, client, _policy):
        first = await client.call("new__echo", {"text": "hi"})
        second = await client.call("old__echo", {"text": "hi"})
    assert first.get("isError") is not True
    assert second.get("isError") is not True
    # Refused once, then reconnected at once and never asked to initialize again.
    assert modern.starts == 2
    methods = [message.get("method") for message in modern.received if "method" in message]
    assert methods.count("initialize") == 1
    assert "server/discover" in methods
    [call] = modern.tool_calls
    assert call["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == "2026-07-28"
    # A handshake upstream is never probed.
    assert "server/discover" not in [message.get("method") for message in legacy.received]
    assert "_meta" not in legacy.tool_calls[0]["params"]


async def test_an_upstreams_protocol_error_reaches_a_modern_client_as_one(kit) -> None:
    # A refused requestState (-32602) or a capability the client did not declare (-32021) is an
    # answer the client acts on: it must stay an error, not become a tool result.
    upstream = kit.FakeUpstream("new")
    upstream.modern_only = True
    upstream.errors = {
        "echo": {"code": -32602, "message": "Invalid or expired requestState"},
        "needy": {"code": -32021, "message": "needs sampling", "data": {"requiredCapabilities": {"sampling": {}}}},
    }
    upstream.tools = [kit.echo_tool("echo"), kit.echo_tool("needy")]
    async with kit.running([upstream]) as (gateway, legacy, _policy), modern_client(kit, gateway) as client:
        stale = await client.request("tools/call", {"name": "new__echo", "arguments": {}, "_meta": ENVELOPE})
        needy = await client.request("tools/call", {"name": "new__needy", "arguments": {}, "_meta": ENVELOPE})
        old = await legacy.call("new__echo", {})
    assert stale["error"] == {"code": -32602, "message": "Invalid or expired requestState"}
    assert needy["error"]["code"] == -32021
    assert needy["error"]["data"] == {"requiredCapabilities": {"sampling": {}}}
    # A handshake-era client still gets the upstream's failure as a tool error, as before.
    assert old["isError"] is True
    assert json.loads(old["content"][0]["text"])["error"] == "UPSTREAM_ERROR"
