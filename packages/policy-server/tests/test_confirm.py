"""The confirm verdict through the real app and rules: questions, approvals, retries, answers."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from inherence_policy_client import MAX_OUTCOME_TEXT
from inherence_policy_server import ApprovalExpired, PolicyApp, create_app, issue_key, open_approvals
from inherence_policy_server.rules import RulesConfig

DECIDE = "/api/proxy/decide"
OUTCOME = "/api/proxy/outcome"
CONFIG = RulesConfig.model_validate({"organisation": {"known_payees": ["acme-payroll"]}})


@pytest.fixture
def app(tmp_path, clock) -> Iterator[PolicyApp]:
    served = create_app(data_dir=tmp_path / "data", clock=clock, require_key=False, config=CONFIG)
    yield served
    served.close()


@pytest.fixture
async def client(app) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        yield client


def pay(dollars: float = 20, recipient: str = "new-supplier", session: str | None = "s1", **extra: Any) -> dict:
    body: dict[str, Any] = {
        "tool_name": "send_payment",
        "classification": "payment",
        "arguments": {"amount": dollars, "recipient": recipient},
        "upstream": "bank",
        "confirmable": True,
        **extra,
    }
    if session is not None:
        body["session_id"] = session
    return body


def password(session: str = "s1", user: str = "bob") -> dict:
    return {
        "tool_name": "change_password",
        "classification": "identity_admin",
        "arguments": {"user": user, "new_password": "correct horse battery"},
        "upstream": "idp",
        "session_id": session,
        "confirmable": True,
    }


async def decide(client: httpx2.AsyncClient, body: dict) -> dict:
    answer = await client.post(DECIDE, json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def approve(app: PolicyApp, approval_id: str) -> None:
    with open_approvals(app.storage.data_dir) as approvals:
        approvals.approve(approval_id, app.clock())


async def test_a_confirm_carries_an_approval_and_what_a_deny_would(client, app) -> None:
    asked = await decide(client, pay())
    assert asked["decision"] == "confirm"
    assert asked["approval_id"].startswith("apr_")
    assert asked["failed_clauses"] == ["financial_drain.new_recipient"]
    assert asked["reason"] == "A first payment of 20.00 to new-supplier, never paid before."
    assert asked["receipt"]["rule"] == "financial_drain"
    assert asked["receipt_id"] == asked["receipt"]["decision_id"]
    (pending,) = app.storage.approvals.pending(app.clock())
    assert (pending.id, pending.session_id, pending.upstream, pending.tool_name) == (
        asked["approval_id"],
        "s1",
        "bank",
        "send_payment",
    )
    assert pending.clauses == ("financial_drain.new_recipient",)
    assert pending.summary == {"recipient": "new-supplier", "amount": 20}
    # Asked again before anyone answered: the same question, the same approval.
    assert (await decide(client, pay()))["approval_id"] == asked["approval_id"]


@pytest.mark.parametrize("confirmable", [None, False])
async def test_a_request_that_cannot_ask_gets_a_deny_with_the_same_reason(client, app, confirmable) -> None:
    body = pay()
    if confirmable is None:
        del body["confirmable"]
    else:
        body["confirmable"] = confirmable
    denied = await decide(client, body)
    assert denied["decision"] == "deny"
    assert denied["failed_clauses"] == ["financial_drain.new_recipient"]
    assert denied["reason"] == "A first payment of 20.00 to new-supplier, never paid before."
    assert "approval_id" not in denied
    assert app.storage.approvals.pending(app.clock()) == []


async def test_without_a_session_a_confirm_has_no_approval(client, app) -> None:
    asked = await decide(client, pay(session=None))
    assert asked["decision"] == "confirm"
    assert "approval_id" not in asked
    assert app.storage.approvals.pending(app.clock()) == []


async def test_the_approved_retry_passes_once(client, app) -> None:
    asked = await decide(client, password())
    assert asked["decision"] == "confirm"
    approve(app, asked["approval_id"])
    retried = await decide(client, password())
    assert retried["decision"] == "allow_with_log"
    assert retried["reason"].startswith(f"Allowed once by approval {asked['approval_id']}: Identity escalation")
    assert retried["failed_clauses"] == ["identity_escalation.password_change"]
    again = await decide(client, password())
    assert again["decision"] == "confirm"
    assert again["approval_id"] != asked["approval_id"]


async def test_another_argument_or_session_is_a_new_question(client, app) -> None:
    asked = await decide(client, password())
    approve(app, asked["approval_id"])
    for other in (password(user="carol"), password(session="s2")):
        answer = await decide(client, other)
        assert answer["decision"] == "confirm"
        assert answer["approval_id"] != asked["approval_id"]
    # The grant is still there for the very call it was given for.
    assert (await decide(client, password()))["decision"] == "allow_with_log"


async def test_an_approved_first_payment_is_recorded_like_any_payment_let_through(client, app) -> None:
    asked = await decide(client, pay(20))
    assert app.storage.ledger.window_totals("bank:default", app.clock()).hour_count == 0
    approve(app, asked["approval_id"])
    assert (await decide(client, pay(20)))["decision"] == "allow_with_log"
    assert app.storage.ledger.window_totals("bank:default", app.clock()).hour_cents == 2000
    # Paid once, the payee is known: the next payment asks nobody.
    assert (await decide(client, pay(20)))["decision"] == "allow"


async def test_an_approval_never_overrides_an_enforced_finding(client, app, clock) -> None:
    asked = await decide(client, pay(20))
    approve(app, asked["approval_id"])
    for _ in range(10):  # the hour's count of transfers fills up meanwhile
        assert (await decide(client, pay(1, "acme-payroll")))["decision"] == "allow"
    denied = await decide(client, pay(20))
    assert denied["decision"] == "deny"
    assert denied["failed_clauses"] == ["financial_drain.velocity_hour"]
    assert "approval_id" not in denied
    # The approval was not spent on a call that did not go through.
    assert app.storage.approvals.get(asked["approval_id"], clock()).state == "approved"
    clock.advance(minutes=61)
    assert (await decide(client, pay(20)))["decision"] == "confirm"  # past its expiry: a new question


async def test_an_enforced_clause_is_denied_even_with_a_grant(client, app) -> None:
    asked = await decide(client, password())
    approve(app, asked["approval_id"])
    app.replace_config(RulesConfig.model_validate({"identity_escalation": {"clauses": {"password_change": "enforce"}}}))
    denied = await decide(client, password())
    assert denied["decision"] == "deny"
    assert denied["failed_clauses"] == ["identity_escalation.password_change"]


async def test_a_confirm_is_never_replayed_from_the_request_id(client, app) -> None:
    asked = await decide(client, password() | {"request_id": "r-1"})
    approve(app, asked["approval_id"])
    assert (await decide(client, password() | {"request_id": "r-1"}))["decision"] == "allow_with_log"


async def test_the_decision_log_holds_questions_and_answers(client, app) -> None:
    asked = await decide(client, pay(20))
    answer = {
        "decision_id": asked["receipt_id"],
        "session_id": "s1",
        "tool_name": "send_payment",
        "upstream": "bank",
        "confirmation": "declined",
        "approval_id": asked["approval_id"],
    }
    taken = await client.post(OUTCOME, json=answer)
    assert (taken.status_code, taken.json()) == (202, {"accepted": True})
    app.flush()
    answered, question = app.storage.recent_decisions(2)
    assert (question.decision, question.rule) == ("confirm", "financial_drain")
    assert question.decision_id == asked["receipt_id"]
    assert (answered.decision, answered.tool_name, answered.upstream) == ("confirm_declined", "send_payment", "bank")
    assert answered.arguments == {"amount": 20, "recipient": "new-supplier"}
    assert asked["receipt_id"] in (answered.reason or "")
    # Declined in band: the question cannot be granted out of band any more.
    with pytest.raises(ApprovalExpired):
        approve(app, asked["approval_id"])


async def test_an_answer_accepted_in_band_records_the_call_and_spends_the_approval(client, app) -> None:
    asked = await decide(client, pay(20))
    answer = {"decision_id": asked["receipt_id"], "confirmation": "accepted", "approval_id": asked["approval_id"]}
    assert (await client.post(OUTCOME, json=answer)).status_code == 202
    assert app.storage.ledger.window_totals("bank:default", app.clock()).hour_cents == 2000
    assert app.storage.approvals.get(asked["approval_id"], app.clock()).state == "used"
    assert (await decide(client, pay(20)))["decision"] == "allow"


async def test_an_unanswered_question_can_still_be_granted_out_of_band(client, app) -> None:
    asked = await decide(client, password())
    answer = {"decision_id": asked["receipt_id"], "confirmation": "timed_out", "approval_id": asked["approval_id"]}
    assert (await client.post(OUTCOME, json=answer)).status_code == 202
    approve(app, asked["approval_id"])
    assert (await decide(client, password()))["decision"] == "allow_with_log"
    app.flush()
    assert "confirm_timed_out" in [entry.decision for entry in app.storage.recent_decisions(5)]


async def test_a_result_report_is_taken_and_large_texts_fit(client, app) -> None:
    report = {"decision_id": "dec_1", "content_text": "é" * MAX_OUTCOME_TEXT, "structured_text": "{}"}
    assert (await client.post(OUTCOME, json=report)).status_code == 202
    too_long = {"decision_id": "dec_1", "content_text": "x" * (MAX_OUTCOME_TEXT + 1)}
    refused = await client.post(OUTCOME, json=too_long)
    assert refused.status_code == 422
    assert "content_text" in refused.json()["detail"]
    app.flush()
    assert app.storage.recent_decisions(5) == []


@pytest.mark.parametrize("body", [b"", b"[]", b'{"confirmation": "accepted"}', b'{"decision_id": 5}', b"{"])
async def test_a_bad_outcome_report_is_a_4xx(client, body: bytes) -> None:
    answer = await client.post(OUTCOME, content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["error"] == "INVALID_REQUEST"


async def test_an_answer_from_another_key_settles_nothing(tmp_path, clock) -> None:
    app = create_app(data_dir=tmp_path / "data", clock=clock, config=CONFIG)
    mine, theirs = issue_key(clock(), "mine"), issue_key(clock(), "theirs")
    app.storage.add_key(mine.record)
    app.storage.add_key(theirs.record)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            as_me = {"authorization": f"Bearer {mine.secret_key}"}
            asked = (await client.post(DECIDE, json=pay(20), headers=as_me)).json()
            answer = {"decision_id": asked["receipt_id"], "confirmation": "accepted"}
            answer["approval_id"] = asked["approval_id"]
            assert (await client.post(OUTCOME, json=answer)).status_code == 401
            as_them = {"authorization": f"Bearer {theirs.secret_key}"}
            assert (await client.post(OUTCOME, json=answer, headers=as_them)).status_code == 202
            assert app.storage.approvals.get(asked["approval_id"], clock()).state == "pending"
            assert app.storage.ledger.window_totals("bank:default", clock()).hour_count == 0
    finally:
        app.close()


async def test_a_granted_call_passes_even_from_a_request_that_cannot_ask(client, app) -> None:
    asked = await decide(client, password())
    approve(app, asked["approval_id"])
    plain = password()
    del plain["confirmable"]
    assert (await decide(client, plain))["decision"] == "allow_with_log"
    assert (await decide(client, plain))["decision"] == "deny"


def message(recipient: str, text: str) -> dict:
    return {
        "tool_name": "telegram__send_message",
        "classification": "outbound_send",
        "arguments": {"chat_id": recipient, "text": text},
        "upstream": "telegram",
        "session_id": "s-pieces",
        "confirmable": True,
    }


async def test_a_recipient_declined_once_is_asked_about_again_in_the_session(client) -> None:
    journal = {
        "tool_name": "notes__read_note",
        "classification": "private_data_read",
        "arguments": {"path": "Journal/therapy.md"},
        "upstream": "notes",
        "session_id": "s-pieces",
    }
    read = await decide(client, journal)
    diary = "Session 4: fear of presentations and trouble sleeping since the separation. Session 5: sertraline 50mg."
    reported = await client.post(OUTCOME, json={"decision_id": read["receipt_id"], "content_text": diary})
    assert reported.status_code == 202
    first = await decide(client, message("5512098877", "Session 4: fear of presentations and trouble sleeping since"))
    assert first["decision"] == "confirm"
    answer = {"decision_id": first["receipt_id"], "session_id": "s-pieces", "confirmation": "declined"}
    assert (await client.post(OUTCOME, json=answer)).status_code == 202
    # The rest, in a piece too short to be recognised as what was read: the same recipient is asked about again.
    again = await decide(client, message("5512098877", "Session 5: sertraline 50mg."))
    assert again["decision"] == "confirm"
    assert "declined earlier" in again["reason"]
    # Another recipient, with nothing read in it, is not.
    other = await decide(client, message("4400112233", "See you at 6!"))
    assert other["decision"] == "allow"
