"""A `confirm` from a hosted policy, end to end: the user is asked over MCP or told how to approve."""

from __future__ import annotations

import json
import sys
from typing import Any

from fake_policy import Confirm, Status
from mcp import types

PAYMENT = {"payee": "acct_new", "amount": 120, "token": "sk_live_abcdefghijklmnopqrstuvwx"}


def recorded(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def tool_calls(path) -> list[dict]:
    return [c for c in recorded(path) if c.get("method") == "tools/call"]


class User:
    """The person behind the client: answers each question from a script, and remembers what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[Any] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.questions.append(params)
        action = self.answers.pop(0)
        content = {"approve": True} if action == "accept" else None
        return types.ElicitResult(action=action, content=content)


def upstream(kit, tmp_path) -> tuple[list[dict], Any]:
    record = tmp_path / "record.jsonl"
    config = {"name": "bank", "command": [sys.executable, kit.recording_server], "env": {"RECORD_FILE": str(record)}}
    return [config], record


async def test_the_user_is_asked_and_only_an_accepted_call_reaches_the_upstream(kit, tmp_path, fake_policy) -> None:
    upstreams, record = upstream(kit, tmp_path)
    fake_policy.decide(Confirm("bank__record", reason="a first payment to this payee", approval_id="apr_9"))
    user = User("accept", "decline")
    gateway = kit.through_gateway(
        tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key, elicitation_callback=user
    )
    async with gateway as session:
        accepted = await session.call_tool("bank__record", PAYMENT)
        assert [c["params"]["arguments"] for c in tool_calls(record)] == [PAYMENT]
        declined = await session.call_tool("bank__record", {**PAYMENT, "amount": 999})
        await fake_policy.wait_for_requests_async("outcome", count=3)
    assert accepted.is_error is False
    assert accepted.structured_content == {"arguments": PAYMENT}
    refusal = json.loads(declined.content[0].text)
    assert (refusal["error"], refusal["confirmation"]) == ("POLICY_DENIAL", "declined")
    assert [c["params"]["arguments"] for c in tool_calls(record)] == [PAYMENT]
    question = user.questions[0].message
    assert "record on bank" in question
    assert "payee: acct_new" in question
    assert "amount: 120" in question
    assert "sk_live" not in question
    assert all(r.json["confirmable"] is True for r in fake_policy.requests_to("decide"))
    reports = [r.json for r in fake_policy.requests_to("outcome")]
    assert [(r.get("confirmation"), r.get("approval_id")) for r in reports] == [
        ("accepted", "apr_9"),
        (None, None),
        ("declined", "apr_9"),
    ]
    assert json.loads(reports[1]["structured_text"]) == {"arguments": PAYMENT}


async def test_a_client_that_cannot_be_asked_gets_the_approval_to_grant(kit, tmp_path, fake_policy) -> None:
    upstreams, record = upstream(kit, tmp_path)
    fake_policy.decide(Confirm("bank__record", approval_id="apr_7"))
    async with kit.through_gateway(tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key) as s:
        result = await s.call_tool("bank__record", PAYMENT)
    refusal = json.loads(result.content[0].text)
    assert result.is_error is True
    assert refusal["error"] == "POLICY_CONFIRMATION_REQUIRED"
    assert refusal["approval_id"] == "apr_7"
    assert "inherence-proxy approve apr_7" in refusal["message"]
    assert tool_calls(record) == []


async def test_a_server_without_outcome_reports_is_asked_once(kit, tmp_path, fake_policy) -> None:
    upstreams, record = upstream(kit, tmp_path)
    fake_policy.on("outcome", Status(404))
    async with kit.through_gateway(tmp_path, upstreams, policy=fake_policy.base_url, api_key=fake_policy.api_key) as s:
        for value in range(3):
            result = await s.call_tool("bank__record", {"value": value})
            assert result.is_error is False
    assert len(tool_calls(record)) == 3
    assert len(fake_policy.requests_to("outcome")) == 1
