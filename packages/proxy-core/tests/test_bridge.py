"""Input asked for during a call, bridged between the eras: what goes back, the bounds, the cleanup."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
import mcp_types
import pytest

from inherence_proxy_core import Gateway
from inherence_proxy_core._bridge import MAX_PARKED_PER_CLIENT, MAX_ROUNDS
from inherence_proxy_core._modern import CLIENT_INFO_KEY, PROTOCOL_VERSION_KEY
from inherence_proxy_core._modern_confirm import StateSeal

SAMPLING = {
    PROTOCOL_VERSION_KEY: "2026-07-28",
    mcp_types.CLIENT_CAPABILITIES_META_KEY: {"sampling": {}},
    CLIENT_INFO_KEY: {"name": "modern", "version": "1"},
}
ELICIT = {
    "method": "elicitation/create",
    "params": {"message": "your name?", "requestedSchema": {"type": "object", "properties": {}}},
}
SAMPLED = {"role": "assistant", "content": {"type": "text", "text": "hello"}, "model": "m"}


def asks(requests: Any = None, state: Any = "opaque-1") -> dict[str, Any]:
    """An upstream's `input_required` result."""
    result: dict[str, Any] = {"resultType": "input_required"}
    if requests is not None:
        result["inputRequests"] = requests
    if state is not None:
        result["requestState"] = state
    return result


def modern_upstream(kit: Any, *scripted: dict[str, Any]) -> Any:
    upstream = kit.FakeUpstream("new")
    upstream.modern_only = True
    upstream.scripted = list(scripted)
    return upstream


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


# -- a 2026-07-28 upstream asks a handshake-era client --------------------------------------------


async def test_a_legacy_clients_answers_go_back_with_the_upstreams_state(kit) -> None:
    upstream = modern_upstream(kit, asks({"who": ELICIT}, "opaque-1"))
    async with kit.running([upstream], capabilities={"elicitation": {}}) as (_gateway, client, policy):
        client.on_request = lambda message: {"action": "accept", "content": {"name": "Ada"}}
        result = await client.call("new__echo", {"text": "hi"}, _meta={"progressToken": "mine"})
    assert result.get("isError") is not True
    assert [request["method"] for request in client.requests] == ["elicitation/create"]
    assert client.requests[0]["params"] == ELICIT["params"]
    first, retry = upstream.tool_calls
    assert retry["params"]["inputResponses"] == {"who": {"action": "accept", "content": {"name": "Ada"}}}
    assert retry["params"]["requestState"] == "opaque-1"
    assert retry["params"]["arguments"] == first["params"]["arguments"] == {"text": "hi"}
    # The upstream is told, in each request's envelope, the input the client can give.
    for call in (first, retry):
        assert call["params"]["_meta"][mcp_types.CLIENT_CAPABILITIES_META_KEY] == {"elicitation": {}}
    # Each request upstream gets a progress token of the gateway's, never the client's.
    tokens = [call["params"]["_meta"]["progressToken"] for call in (first, retry)]
    assert "mine" not in tokens
    assert len(set(tokens)) == 2
    # The gateway's own retry repeats the call the policy allowed: one decision.
    assert len(policy.decisions) == 1


@pytest.mark.parametrize(
    ("result", "why"),
    [
        (asks({"x": {"method": "tools/call", "params": {}}}), "is not one of"),
        (asks({f"q{n}": ELICIT for n in range(9)}), "at most 8 are taken"),
        (asks({"x": {"method": "elicitation/create", "params": [1]}}), "params that are not an object"),
        (asks(None, 123), "requestState is not a string"),
        (asks(None, "s" * 70_000), "requestState is not a string"),
        (asks({}, None), "neither inputRequests nor requestState"),
        (asks([ELICIT]), "inputRequests is not an object"),
    ],
)
async def test_a_malformed_round_fails_the_call_with_the_reason(kit, result, why) -> None:
    upstream = modern_upstream(kit, result)
    async with kit.running([upstream], capabilities={"elicitation": {}}) as (_gateway, client, _policy):
        answer = await client.call("new__echo", {"text": "hi"})
    assert answer["isError"] is True
    refusal = json.loads(answer["content"][0]["text"])
    assert refusal["error"] == "UPSTREAM_ERROR"
    assert why in refusal["detail"]
    assert client.requests == []
    assert len(upstream.tool_calls) == 1


async def test_an_upstream_that_keeps_asking_is_stopped_after_the_last_round(kit) -> None:
    upstream = modern_upstream(kit, *(asks(None, f"again-{n}") for n in range(MAX_ROUNDS + 1)))
    async with kit.running([upstream]) as (_gateway, client, _policy):
        answer = await client.call("new__echo", {"text": "hi"})
    assert answer["isError"] is True
    assert f"after {MAX_ROUNDS} rounds" in json.loads(answer["content"][0]["text"])["detail"]
    assert len(upstream.tool_calls) == MAX_ROUNDS + 1


async def test_a_refused_question_fails_the_call_without_a_retry(kit) -> None:
    upstream = modern_upstream(kit, asks({"who": ELICIT}))
    async with kit.running([upstream], capabilities={"sampling": {}}) as (_gateway, client, _policy):
        answer = await client.call("new__echo", {"text": "hi"})
    assert answer["isError"] is True
    assert "did not declare the elicitation capability" in json.loads(answer["content"][0]["text"])["detail"]
    assert client.requests == []
    assert len(upstream.tool_calls) == 1


async def test_a_prompts_round_is_answered_and_a_reads_refusal_is_an_error(kit) -> None:
    prompt = {"messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}]}
    upstream = modern_upstream(kit, asks({"who": ELICIT}, "p-1"), prompt, asks({"x": {"method": "bogus"}}))
    async with kit.running([upstream], capabilities={"elicitation": {}}) as (_gateway, client, _policy):
        client.on_request = lambda message: {"action": "decline"}
        answer = await client.request("prompts/get", {"name": "new__greet", "arguments": {"who": "x"}})
        read = await client.request("resources/read", {"uri": "memo://new/note"})
    assert answer["result"]["messages"] == prompt["messages"]
    gets = [call["params"] for call in upstream.calls if call["method"] == "prompts/get"]
    assert [get.get("inputResponses") for get in gets] == [None, {"who": {"action": "decline"}}]
    assert gets[1]["requestState"] == "p-1"
    assert read["error"]["data"]["error"] == "UPSTREAM_ERROR"
    assert "is not one of" in read["error"]["data"]["detail"]


# -- a handshake-era upstream asks a 2026-07-28 client --------------------------------------------


def answered(upstream: Any) -> dict[str, Any]:
    """The gateway's answer to the upstream's request to the client."""
    [answer] = [message for message in upstream.received if message.get("id") == "up-1" and "method" not in message]
    return dict(answer)


def asking_upstream(kit: Any) -> Any:
    return kit.FakeUpstream("old", tools=[kit.echo_tool("ask"), kit.echo_tool("echo")])


async def test_a_modern_clients_retry_answers_the_upstreams_request(kit) -> None:
    upstream = asking_upstream(kit)
    call = {"name": "old__ask", "arguments": {}, "_meta": SAMPLING}
    async with kit.running([upstream]) as (gateway, _legacy, policy), modern_client(kit, gateway) as client:
        first = (await client.request("tools/call", call))["result"]
        [(key, question)] = first["inputRequests"].items()
        retry = {**call, "inputResponses": {key: SAMPLED}, "requestState": first["requestState"]}
        final = (await client.request("tools/call", retry))["result"]
    assert first["resultType"] == "input_required"
    assert question == {"method": "sampling/createMessage", "params": {"messages": [], "maxTokens": 5}}
    assert final["resultType"] == "complete"
    assert json.loads(final["content"][0]["text"])["result"] == SAMPLED
    assert final["_meta"]["inherence_decision"] == "allow"
    # The retry continued the allowed call: one call upstream, one decision, nothing asked directly.
    assert len(upstream.tool_calls) == 1
    assert len(policy.decisions) == 1
    assert client.requests == []


async def test_a_request_that_declares_no_input_is_not_held(kit) -> None:
    upstream = asking_upstream(kit)
    mute = {**SAMPLING, mcp_types.CLIENT_CAPABILITIES_META_KEY: {}}
    async with kit.running([upstream]) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        answer = await client.request("tools/call", {"name": "old__ask", "arguments": {}, "_meta": mute})
    assert answer["result"]["resultType"] == "complete"
    # The upstream's request was refused, and it said so in its result.
    assert "did not declare the sampling capability" in answer["result"]["content"][0]["text"]


async def test_a_held_call_ends_when_no_retry_comes(kit) -> None:
    upstream = asking_upstream(kit)
    settings = dataclasses.replace(kit.FAST, confirm_timeout=0.2)
    call = {"name": "old__ask", "arguments": {}, "_meta": SAMPLING}
    async with (
        kit.running([upstream], settings=settings) as (gateway, _legacy, _policy),
        modern_client(kit, gateway) as client,
    ):
        first = (await client.request("tools/call", call))["result"]
        with anyio.fail_after(10):
            await upstream.client_answered.wait()
        [key] = first["inputRequests"]
        late = await client.request(
            "tools/call", {**call, "inputResponses": {key: SAMPLED}, "requestState": first["requestState"]}
        )
        with anyio.fail_after(10):
            while not any(message.get("method") == "notifications/cancelled" for message in upstream.received):
                await client.request("tools/list", {"_meta": SAMPLING})
    # The upstream's request was answered with why, and its call was withdrawn.
    assert "did not retry the call in time" in answered(upstream)["error"]["message"]
    assert late["error"]["code"] == -32602
    assert "requestState refused" in late["error"]["message"]


async def test_a_held_call_ends_when_its_client_goes_away(kit) -> None:
    upstream = asking_upstream(kit)
    call = {"name": "old__ask", "arguments": {}, "_meta": SAMPLING}
    async with kit.running([upstream]) as (gateway, _legacy, _policy):
        async with modern_client(kit, gateway) as client:
            first = (await client.request("tools/call", call))["result"]
        with anyio.fail_after(10):
            await upstream.client_answered.wait()
    assert first["resultType"] == "input_required"
    assert answered(upstream)["error"]["message"] == "the client went away"


async def test_held_calls_per_client_are_bounded(kit) -> None:
    upstream = asking_upstream(kit)
    call = {"name": "old__ask", "arguments": {}, "_meta": SAMPLING}
    async with kit.running([upstream]) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        answers = [await client.request("tools/call", call) for _ in range(MAX_PARKED_PER_CLIENT + 1)]
    assert all(answer["result"]["resultType"] == "input_required" for answer in answers[:-1])
    assert "too many calls wait" in answers[-1]["error"]["message"]


async def test_a_modern_upstream_is_told_what_the_modern_client_declared(kit) -> None:
    upstream = modern_upstream(kit)
    envelope = {**SAMPLING, mcp_types.CLIENT_CAPABILITIES_META_KEY: {"sampling": {}, "experimental": {"x": {}}}}
    async with kit.running([upstream]) as (gateway, _legacy, _policy), modern_client(kit, gateway) as client:
        await client.request("tools/call", {"name": "new__echo", "arguments": {}, "_meta": envelope})
    [call] = upstream.tool_calls
    assert call["params"]["_meta"][mcp_types.CLIENT_CAPABILITIES_META_KEY] == {"sampling": {}}


def test_a_held_calls_state_and_a_confirmations_never_stand_for_each_other() -> None:
    now = [1000.0]
    seal = StateSeal(clock=lambda: now[0])
    call = {"session_id": "s1", "gate_name": "tools/call old__ask", "arguments": {}}
    held = seal.seal(**call, ttl=60, held="h1")
    confirm = seal.seal(**call, ttl=60)
    assert seal.held_of(held) == "h1"
    assert seal.held_of(confirm) is None
    assert seal.held_of("inh1.not-base64!.x") is None
    assert seal.genuine(held)
    assert not seal.genuine(held[:-1] + ("A" if held[-1] != "A" else "B"))
    assert seal.opens(held, **call) == "it belongs to another call"
    assert seal.opens(confirm, **call, held="h1") == "it belongs to another call"
    assert seal.opens(held, **call, held="h2") == "it belongs to another call"
    now[0] += 61
    assert seal.opens(held, **call, held="h1") == "it has expired"
    now[0] -= 61
    assert seal.opens(held, **call, held="h1") is None
