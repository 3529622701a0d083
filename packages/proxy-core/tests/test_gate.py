"""Every tools/call is decided first; refusals never reach the upstream and carry the COMPAT payloads."""

from __future__ import annotations

import asyncio
import json
import sys

import anyio
import pytest

from inherence_policy_client import DecideRequest, Decision
from inherence_proxy_core._gate import PolicyGate


def payload(result: dict) -> dict:
    assert result["isError"] is True
    return json.loads(result["content"][0]["text"])


async def test_allowed_call_is_forwarded_unchanged_with_decision_meta(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        arguments = {"text": None, "nested": {"list": [1, {"deep": None}], "flag": False}}
        result = await client.call("files__echo", arguments)
    assert upstream.tool_calls[0]["params"] == {"name": "echo", "arguments": arguments}
    assert result["structuredContent"] == {"arguments": arguments}
    assert result["content"] == [{"type": "text", "text": json.dumps(arguments)}]
    assert result["_meta"]["upstream"] == "files"
    assert result["_meta"]["inherence_decision"] == "allow"
    assert result["_meta"]["inherence_receipt_id"].startswith("rcpt_")
    assert result["_meta"]["inherence_receipt"]["id"] == result["_meta"]["inherence_receipt_id"]
    decided = policy.decisions[0]
    assert decided.tool_name == "files__echo"
    assert decided.upstream == "files"
    assert decided.kind == "tool"
    assert decided.arguments == arguments
    assert decided.classification == "read_only"
    assert decided.fingerprint is not None
    assert decided.fingerprint.startswith("sha256:")
    assert decided.session_id
    assert decided.request_id


async def test_each_client_session_has_its_own_session_id(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        await client.call("files__echo", {})
        await client.call("files__echo", {})
    assert policy.decisions[0].session_id == policy.decisions[1].session_id
    assert policy.decisions[0].request_id != policy.decisions[1].request_id


async def test_denied_call_never_reaches_the_upstream(kit) -> None:
    upstream = kit.FakeUpstream("shell", [kit.echo_tool("run")])
    async with kit.running([upstream]) as (_, client, policy):
        policy.deny("shell__*", reason="no shell here", clause="shell.block")
        result = await client.call("shell__run", {"text": "rm -rf /"})
    body = payload(result)
    assert body["error"] == "POLICY_DENIAL"
    assert body["reason"] == "no shell here"
    assert body["failed_clauses"] == ["shell.block"]
    assert body["receipt_id"].startswith("rcpt_")
    assert upstream.tool_calls == []


@pytest.mark.parametrize("failure", ["unreachable", 500, 400, 401])
async def test_no_decision_fails_closed(kit, failure: object) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        if failure == "unreachable":
            policy.unreachable()
        else:
            assert isinstance(failure, int)
            policy.fail_with(failure)
        body = payload(await client.call("files__echo", {"text": "x"}))
    assert upstream.tool_calls == []
    if failure == 401:
        assert body["error"] == "POLICY_GATE_AUTH"
        assert body["message"]
    else:
        assert body["error"] == "POLICY_GATE_UNREACHABLE"
        assert body["message"]
        assert body["detail"]


async def test_unknown_tool_and_bad_arguments(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        assert payload(await client.call("files__nope", {})) == {"error": "TOOL_NOT_FOUND"}
        answer = await client.request("tools/call", {"name": "files__echo", "arguments": [1, 2]})
        assert answer["error"]["code"] == -32602
        answer = await client.request("tools/call", {"name": "files__echo", "arguments": "text"})
        assert answer["error"]["code"] == -32602
    assert upstream.tool_calls == []
    assert policy.decisions == []


async def test_resource_reads_and_prompts_are_gated(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    async with kit.running([upstream]) as (_, client, policy):
        resources = (await client.request("resources/list"))["result"]["resources"]
        assert [r["uri"] for r in resources] == ["memo://notes/note"]
        read = await client.request("resources/read", {"uri": "memo://notes/note"})
        assert read["result"]["contents"][0]["text"] == "note of notes"
        assert read["result"]["_meta"]["inherence_decision"] == "allow"
        prompts = (await client.request("prompts/list"))["result"]["prompts"]
        assert [p["name"] for p in prompts] == ["notes__greet"]
        got = await client.request("prompts/get", {"name": "notes__greet", "arguments": {"who": "me"}})
        assert "messages" in got["result"]
        assert [d.kind for d in policy.decisions] == ["resource", "prompt"]
        assert policy.decisions[0].arguments == {"uri": "memo://notes/note"}
        assert policy.decisions[1].arguments == {"who": "me"}
        assert upstream.calls[-1]["params"]["name"] == "greet"
        before = len(upstream.calls)
        policy.deny("notes__*")
        denied = await client.request("resources/read", {"uri": "memo://notes/note"})
        assert denied["error"]["data"]["error"] == "POLICY_DENIAL"
        policy.unreachable()
        failed = await client.request("prompts/get", {"name": "notes__greet", "arguments": {}})
        assert failed["error"]["data"]["error"] == "POLICY_GATE_UNREACHABLE"
        assert len(upstream.calls) == before


class SlowPolicy:
    """Answers `allow` after `delay` seconds; with `stubborn`, it ignores a cancellation and answers anyway."""

    def __init__(self, delay: float, *, stubborn: bool = False) -> None:
        self.delay = delay
        self.stubborn = stubborn

    async def decide(self, request: DecideRequest) -> Decision:
        try:
            await anyio.sleep(self.delay)
        except asyncio.CancelledError:
            if not self.stubborn:
                raise
        return Decision(decision="allow", receipt={"id": "r"}, receipt_id="r")

    async def classify(self, tools: object) -> list[object]:
        return []


async def decide(gate: PolicyGate) -> object:
    return await gate.decide(
        kind="tool",
        tool_name="t",
        upstream="u",
        category="read_only",
        fingerprint=None,
        arguments={},
        session_id="s",
    )


async def test_a_policy_slower_than_the_deadline_fails_closed_and_the_task_serves_on() -> None:
    refusal = await decide(PolicyGate(SlowPolicy(30), deadline=0.05))
    assert refusal == {
        "error": "POLICY_GATE_UNREACHABLE",
        "message": "No policy decision could be had, so the call was not made.",
        "detail": "no decision within 0.05 s",
    }
    await asyncio.sleep(0.01)  # no cancellation is left pending on this task
    current = asyncio.current_task()
    assert current is not None
    if sys.version_info >= (3, 11):
        assert current.cancelling() == 0


async def test_a_cancellation_from_outside_is_not_taken_for_the_deadline() -> None:
    with anyio.move_on_after(0.05) as scope:
        await decide(PolicyGate(SlowPolicy(30), deadline=10))
        pytest.fail("the decision should have been cancelled")
    assert scope.cancelled_caught


async def test_a_decision_that_arrives_although_the_deadline_cancelled_it_is_used() -> None:
    decision = await decide(PolicyGate(SlowPolicy(0.2, stubborn=True), deadline=0.05))
    assert isinstance(decision, Decision)
    assert decision.allowed
    await asyncio.sleep(0.01)
    current = asyncio.current_task()
    assert current is not None
    if sys.version_info >= (3, 11):
        assert current.cancelling() == 0
