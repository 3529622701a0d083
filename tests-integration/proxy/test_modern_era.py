"""MCP 2026-07-28 on the gateway's stdio front: the SDK's clients in every mode, and the envelope rules.

The gateway runs as a real process (`run_gateway.py`) in front of real upstream processes; the
clients are the official SDK's `Client` in `mode="2026-07-28"`, `"auto"` and `"legacy"`, and a
plain JSON-RPC line client for what the SDK would never send.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.abc
import pytest
from fake_policy import Confirm, Deny
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import ElicitResult

from inherence_proxy_core import LineChannel

HERE = pathlib.Path(__file__).parent
PROTOCOL = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO = "io.modelcontextprotocol/serverInfo"
ENVELOPE = {PROTOCOL: "2026-07-28", CAPABILITIES: {}}


def gateway_config(tmp_path: pathlib.Path, upstreams: list[dict[str, Any]], **extra: Any) -> pathlib.Path:
    config = {
        "upstreams": upstreams,
        "policy": extra.pop("policy", "allow-all"),
        "api_key": extra.pop("api_key", None),
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 3.0},
        **extra,
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    return path


def gateway_params(config: pathlib.Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(HERE / "run_gateway.py"), str(config)])


def recorded(record: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


class LineClient:
    """JSON-RPC requests written as given, over the gateway's stdio: for what an SDK client never sends."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        assert process.stdin is not None
        self.channel = LineChannel(process.stdout, process.stdin)
        self._ids = itertools.count(1)

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.channel.send(message)
        with anyio.fail_after(60):
            while True:
                answer = await self.channel.receive()
                if isinstance(answer, dict) and answer.get("id") == request_id and "method" not in answer:
                    return answer


@contextlib.asynccontextmanager
async def line_client(config: pathlib.Path) -> AsyncIterator[LineClient]:
    command = [sys.executable, str(HERE / "run_gateway.py"), str(config)]
    async with await anyio.open_process(command, stderr=None) as process:
        try:
            yield LineClient(process)
        finally:
            assert process.stdin is not None
            await process.stdin.aclose()
            with anyio.fail_after(30):
                await process.wait()


@pytest.mark.parametrize("mode", ["2026-07-28", "auto", "legacy"])
async def test_every_sdk_mode_lists_and_calls_through_the_gateway(kit, tmp_path, mode) -> None:
    config = gateway_config(tmp_path, [{"name": "every", "command": kit.everything()}])
    async with Client(gateway_params(config), mode=mode) as client:
        expected = "2025-11-25" if mode == "legacy" else "2026-07-28"
        assert client.protocol_version == expected
        tools = await client.list_tools()
        assert "every__echo" in {tool.name for tool in tools.tools}
        result = await client.call_tool("every__echo", {"message": "through the gate"})
        prompts = await client.list_prompts()
        resources = await client.list_resources()
        capabilities = client.server_capabilities
    assert result.is_error is False
    assert result.content[0].text == "Echo: through the gate"  # type: ignore[union-attr]
    assert result.meta is not None
    assert result.meta["inherence_decision"] == "allow"
    assert prompts.prompts
    assert resources.resources
    if mode != "legacy":
        assert result.result_type == "complete"
        assert result.meta[SERVER_INFO]["name"] == "inherence-proxy"
    if mode == "auto":
        # Learnt from server/discover: the gateway answered it as a modern server.
        assert capabilities.tools is not None


async def test_discover_names_the_modern_versions_and_lists_are_never_cached(kit, tmp_path) -> None:
    config = gateway_config(tmp_path, [kit.recording_upstream(tmp_path)])
    async with line_client(config) as client:
        discover = await client.request("server/discover", {"_meta": ENVELOPE})
        tools = await client.request("tools/list", {"_meta": ENVELOPE})
        read = await client.request("resources/read", {"uri": "record://note", "_meta": ENVELOPE})
    result = discover["result"]
    assert result["supportedVersions"] == ["2026-07-28"]
    assert result["resultType"] == "complete"
    assert set(result["capabilities"]) >= {"tools", "resources", "prompts"}
    for answer in (discover, tools, read):
        assert answer["result"]["ttlMs"] == 0
        assert answer["result"]["cacheScope"] == "private"
        assert answer["result"]["_meta"][SERVER_INFO]["name"] == "inherence-proxy"
    assert [tool["name"] for tool in tools["result"]["tools"]][:1] == ["rec__record"]


async def test_a_bad_envelope_is_refused_with_the_spec_codes(kit, tmp_path) -> None:
    record = tmp_path / "rec.jsonl"
    config = gateway_config(tmp_path, [kit.recording_upstream(tmp_path)])
    call = {"name": "rec__record", "arguments": {"value": 1}}
    async with line_client(config) as client:
        half = await client.request("tools/call", {**call, "_meta": {PROTOCOL: "2026-07-28"}})
        future = await client.request("tools/call", {**call, "_meta": {PROTOCOL: "2099-01-01", CAPABILITIES: {}}})
        not_text = await client.request("tools/call", {**call, "_meta": {PROTOCOL: 20260728, CAPABILITIES: {}}})
        served = await client.request("tools/call", {**call, "_meta": ENVELOPE})
        handshake = await client.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {}})
        removed = await client.request("logging/setLevel", {"level": "debug", "_meta": ENVELOPE})
        bare = await client.request("tools/list", {})
    assert half["error"]["code"] == -32602
    assert CAPABILITIES in half["error"]["message"]
    assert future["error"]["code"] == -32022
    assert future["error"]["data"] == {"supported": ["2026-07-28"], "requested": "2099-01-01"}
    assert not_text["error"]["code"] == -32602
    assert served["result"]["resultType"] == "complete"
    assert handshake["error"]["code"] == -32022
    assert handshake["error"]["data"]["supported"] == ["2026-07-28"]
    assert removed["error"]["code"] == -32601
    # A modern connection stays modern: a request without the envelope is refused, not served.
    assert bare["error"]["code"] == -32602
    # Only the one well-formed call reached the upstream, without the envelope's keys.
    calls = [entry for entry in recorded(record) if entry["method"] == "tools/call"]
    assert [entry["params"]["arguments"] for entry in calls] == [{"value": 1}]
    assert not any(key.startswith("io.modelcontextprotocol/") for key in calls[0]["params"].get("_meta", {}))


async def test_a_modern_call_is_decided_before_any_upstream_sees_it(kit, tmp_path, fake_policy) -> None:
    record = tmp_path / "rec.jsonl"
    fake_policy.decide(Deny())
    config = gateway_config(
        tmp_path, [kit.recording_upstream(tmp_path)], policy=fake_policy.base_url, api_key=fake_policy.api_key
    )
    async with Client(gateway_params(config), mode="2026-07-28") as client:
        result = await client.call_tool("rec__record", {"value": "secret plans"})
        with pytest.raises(Exception, match="POLICY_DENIAL"):
            await client.read_resource("record://note")
        with pytest.raises(Exception, match="POLICY_DENIAL"):
            await client.get_prompt("rec__hello")
    assert result.is_error is True
    assert json.loads(result.content[0].text)["error"] == "POLICY_DENIAL"  # type: ignore[union-attr]
    decided = [request.json for request in fake_policy.requests_to("decide")]
    assert {entry["tool_name"] for entry in decided} >= {"rec__record", "rec__resources_read"}
    assert [entry["arguments"] for entry in decided if entry["tool_name"] == "rec__record"] == [
        {"value": "secret plans"}
    ]
    assert [entry for entry in recorded(record) if entry["method"] != "notifications/cancelled"] == []


@pytest.mark.parametrize("approve", [True, False])
async def test_the_gates_confirm_reaches_a_modern_client_as_input_required(kit, tmp_path, fake_policy, approve) -> None:
    record = tmp_path / "rec.jsonl"
    fake_policy.decide(Confirm("rec__record"))
    config = gateway_config(
        tmp_path, [kit.recording_upstream(tmp_path)], policy=fake_policy.base_url, api_key=fake_policy.api_key
    )
    questions: list[str] = []

    async def answer(context: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        return ElicitResult(action="accept", content={"approve": approve})

    async with Client(gateway_params(config), mode="2026-07-28", elicitation_callback=answer) as client:
        result = await client.call_tool("rec__record", {"value": "pay 40 EUR"})
    assert len(questions) == 1
    assert "rec" in questions[0]
    assert "record" in questions[0]
    # Decided on the first request and again on the retry that carried the answer.
    assert [request.json["tool_name"] for request in fake_policy.requests_to("decide")] == ["rec__record"] * 2
    calls = [entry["params"] for entry in recorded(record) if entry["method"] == "tools/call"]
    if approve:
        assert result.is_error is False
        assert result.structured_content == {"arguments": {"value": "pay 40 EUR"}}
        # The gateway's own round never reaches the upstream.
        assert [sorted(call) for call in calls] == [["arguments", "name"]]
    else:
        assert result.is_error is True
        refusal = json.loads(result.content[0].text)  # type: ignore[union-attr]
        assert refusal["error"] == "POLICY_DENIAL"
        assert refusal["confirmation"] == "declined"
        assert calls == []


async def test_the_request_state_is_bound_to_the_call_and_sealed(kit, tmp_path, fake_policy) -> None:
    record = tmp_path / "rec.jsonl"
    fake_policy.decide(Confirm("rec__record"))
    config = gateway_config(
        tmp_path, [kit.recording_upstream(tmp_path)], policy=fake_policy.base_url, api_key=fake_policy.api_key
    )
    envelope = {**ENVELOPE, CAPABILITIES: {"elicitation": {"form": {}}}}
    call = {"name": "rec__record", "arguments": {"value": "small"}, "_meta": envelope}
    approve = {"inherence_confirm": {"action": "accept", "content": {"approve": True}}}
    async with line_client(config) as client:
        first = (await client.request("tools/call", call))["result"]
        state = first["requestState"]
        other_call = {**call, "arguments": {"value": "everything"}, "inputResponses": approve, "requestState": state}
        swapped = await client.request("tools/call", other_call)
        body, _, mac = state.partition(".")[2].partition(".")
        forged_state = f"inh1.{body[:-2]}xx.{mac}"
        forged = await client.request("tools/call", {**call, "inputResponses": approve, "requestState": forged_state})
        honest = await client.request("tools/call", {**call, "inputResponses": approve, "requestState": state})
        replayed = await client.request("tools/call", {**call, "inputResponses": approve, "requestState": state})
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["inherence_confirm"]["method"] == "elicitation/create"
    assert state.startswith("inh1.")
    assert swapped["error"]["code"] == -32602
    assert "another call" in swapped["error"]["message"]
    assert forged["error"]["code"] == -32602
    assert honest["result"]["structuredContent"] == {"arguments": {"value": "small"}}
    assert replayed["error"]["code"] == -32602
    assert "used already" in replayed["error"]["message"]
    calls = [entry["params"]["arguments"] for entry in recorded(record) if entry["method"] == "tools/call"]
    assert calls == [{"value": "small"}]


async def test_the_sdk_client_listens_for_list_changes(kit, tmp_path) -> None:
    config = gateway_config(tmp_path, [kit.recording_upstream(tmp_path)])
    async with (
        Client(gateway_params(config), mode="2026-07-28") as client,
        client.listen(tools_list_changed=True, resource_subscriptions=["record://note"]) as subscription,
    ):
        honoured = subscription.honored
        # The upstream ends itself: its tools leave the gateway's list, and the listener hears of it.
        crashed = await client.call_tool("rec__crash", {})
        with anyio.fail_after(60):
            event = await subscription.__anext__()
    assert honoured.tools_list_changed is True
    # The upstream offers resource subscriptions: the gateway subscribed the uri there (the policy allowing).
    assert honoured.resource_subscriptions == ["record://note"]
    subscribed = [
        entry["params"] for entry in recorded(tmp_path / "rec.jsonl") if entry["method"] == "resources/subscribe"
    ]
    assert subscribed == [{"uri": "record://note"}]
    assert crashed.is_error is True
    assert type(event).__name__ == "ToolsListChanged"
