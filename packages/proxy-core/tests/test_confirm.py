"""A `confirm` from the policy: the human is asked, or told how to approve; nothing unconfirmed goes upstream."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import anyio
import pytest

ELICITATION = {"elicitation": {}}
PAYMENT = {"recipient": "acct_new_payee", "amount": 5000, "memo": "rent", "api_key": "sk_live_abcdefghijklmnopqrstuv"}


def payload(result: dict) -> dict:
    return json.loads(result["content"][0]["text"])


def confirming(kit) -> Any:
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*", reason="a first payment to this payee", clause="financial_drain.new_recipient")
    return policy


async def eventually(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition never held")


async def start_call(client, name: str, arguments: dict, request_id: int = 500) -> int:
    await client.channel.send(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    )
    return request_id


async def asked(client) -> dict:
    await eventually(lambda: bool(client.requests))
    return client.requests.pop(0)


async def answer(client, question: dict, result: dict | None = None, error: dict | None = None) -> None:
    body = {"error": error} if error is not None else {"result": result}
    await client.channel.send({"jsonrpc": "2.0", "id": question["id"], **body})


async def test_an_accepted_confirmation_lets_that_one_call_through(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    async with kit.running([upstream], confirming(kit), capabilities=ELICITATION) as (_, client, policy):
        call = await start_call(client, "pay__echo", PAYMENT)
        question = await asked(client)
        assert upstream.tool_calls == []  # not while the human is being asked
        await answer(client, question, {"action": "accept", "content": {"approve": True}})
        result = (await client.answer(call))["result"]
    assert result.get("isError") is not True
    assert result["structuredContent"] == {"arguments": PAYMENT}
    assert [c["params"]["arguments"] for c in upstream.tool_calls] == [PAYMENT]
    assert question["method"] == "elicitation/create"
    params = question["params"]
    assert params["mode"] == "form"
    assert params["requestedSchema"]["properties"]["approve"]["type"] == "boolean"
    message = params["message"]
    for part in ("echo", "pay", "recipient: acct_new_payee", "amount: 5000", "financial_drain", "first payment"):
        assert part in message
    assert "sk_live" not in message
    assert len(message) < 400
    assert policy.decisions[0].confirmable is True


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ({"action": "decline"}, None),
        ({"action": "cancel"}, None),
        ({"action": "accept", "content": {"approve": False}}, None),
        ({"action": "accept"}, None),
        (None, {"code": -32603, "message": "the client could not show the form"}),
    ],
    ids=["decline", "cancel", "accept-without-approve", "accept-without-content", "error"],
)
async def test_anything_but_an_approval_holds_the_call(kit, reply, error) -> None:
    upstream = kit.FakeUpstream("pay")
    async with kit.running([upstream], confirming(kit), capabilities=ELICITATION) as (_, client, _policy):
        call = await start_call(client, "pay__echo", PAYMENT)
        await answer(client, await asked(client), reply, error)
        result = (await client.answer(call))["result"]
    assert result["isError"] is True
    refusal = payload(result)
    assert refusal["error"] == "POLICY_DENIAL"
    assert refusal["confirmation"] == "declined"
    assert refusal["failed_clauses"] == ["financial_drain.new_recipient"]
    assert refusal["receipt_id"] == result["_meta"]["inherence_receipt_id"]
    assert upstream.tool_calls == []


async def test_no_answer_in_time_holds_the_call_and_withdraws_the_question(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    settings = dataclasses.replace(kit.FAST, confirm_timeout=0.2)
    running = kit.running([upstream], confirming(kit), capabilities=ELICITATION, settings=settings)
    async with running as (_, client, _policy):
        result = await client.call("pay__echo", PAYMENT)
        question = client.requests[0]
        withdrawn = await client.wait_for("notifications/cancelled")
    assert payload(result)["confirmation"] == "timed_out"
    assert withdrawn["params"]["requestId"] == question["id"]
    assert upstream.tool_calls == []


async def test_a_client_that_cannot_be_asked_is_told_how_to_approve(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    for capabilities in ({}, {"elicitation": {"url": {}}}):
        async with kit.running([upstream], confirming(kit), capabilities=capabilities) as (_, client, _policy):
            result = await client.call("pay__echo", PAYMENT)
            assert client.requests == []
        refusal = payload(result)
        assert refusal["error"] == "POLICY_CONFIRMATION_REQUIRED"
        assert refusal["approval_id"] == "apr_test"
        assert "inherence-proxy approve apr_test" in refusal["message"]
        assert refusal["reason"] == "a first payment to this payee"
        assert refusal["receipt_id"]
    assert upstream.tool_calls == []


async def test_a_confirm_without_an_approval_id_is_a_plain_denial_for_a_client_that_cannot_be_asked(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*", approval_id=None)
    async with kit.running([upstream], policy) as (_, client, _policy):
        refusal = payload(await client.call("pay__echo", PAYMENT))
    assert refusal["error"] == "POLICY_DENIAL"
    assert "confirmation" not in refusal
    assert upstream.tool_calls == []


async def test_resource_reads_and_prompts_are_confirmed_the_same_way(kit) -> None:
    upstream = kit.FakeUpstream("notes")
    policy = kit.ScriptedPolicy()
    policy.confirm("notes__*")
    async with kit.running([upstream], policy) as (_, client, _policy):
        read = await client.request("resources/read", {"uri": "memo://notes/note"})
        prompt = await client.request("prompts/get", {"name": "notes__greet", "arguments": {"who": "x"}})
    for refused in (read, prompt):
        assert refused["error"]["data"]["error"] == "POLICY_CONFIRMATION_REQUIRED"
    assert upstream.calls == []
    async with kit.running([upstream], policy, capabilities=ELICITATION) as (_, client, _policy):
        client.on_request = lambda message: {"action": "accept", "content": {"approve": True}}
        read = await client.request("resources/read", {"uri": "memo://notes/note"})
        client.on_request = lambda message: {"action": "decline"}
        prompt = await client.request("prompts/get", {"name": "notes__greet", "arguments": {"who": "x"}})
        questions = [r["params"]["message"] for r in client.requests]
    assert read["result"]["contents"][0]["text"] == "note of notes"
    assert prompt["error"]["data"]["confirmation"] == "declined"
    assert [c["method"] for c in upstream.calls] == ["resources/read"]
    assert "memo://notes/note" in questions[0]
    assert "greet" in questions[1]


async def test_the_question_never_shows_a_secret(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*", reason="sends ghp_abcdefghijklmnopqrstuvwxyz0123 away", clause="secret_exfiltration.x")
    arguments = {"url": "https://example.test/?t=ghp_abcdefghijklmnopqrstuvwxyz0123", "password": "hunter2hunter2"}
    async with kit.running([upstream], policy, capabilities=ELICITATION) as (_, client, _policy):
        client.on_request = lambda message: {"action": "decline"}
        await client.call("pay__echo", arguments)
        message = client.requests[0]["params"]["message"]
    assert "ghp_" not in message
    assert "hunter2" not in message
    assert "url: ***" in message  # a finding about secrets shows no argument value at all


async def test_a_call_the_client_cancels_while_its_user_is_asked_withdraws_the_question(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    async with kit.running([upstream], confirming(kit), capabilities=ELICITATION) as (_, client, _policy):
        call = await start_call(client, "pay__echo", PAYMENT)
        question = await asked(client)
        cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": call}}
        await client.channel.send(cancel)
        withdrawn = await client.wait_for("notifications/cancelled")
        await answer(client, question, {"action": "accept", "content": {"approve": True}})  # too late to count
        await client.call("pay__missing", {})  # a later request is answered: the session serves on
    assert withdrawn["params"]["requestId"] == question["id"]
    assert upstream.tool_calls == []
