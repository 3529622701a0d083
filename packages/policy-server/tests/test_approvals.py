"""Approvals in the storage (SQLite and PostgreSQL): asked once per question, single use, expiring, bound to
the call."""

from __future__ import annotations

import datetime
import sqlite3

import pytest

from inherence_policy_server import (
    ApprovalExpired,
    ApprovalNotFound,
    PolicyServerError,
    SQLiteStorage,
    open_approvals,
)
from inherence_policy_server._approvals import Question, approval_binding, arguments_summary

from .conftest import START

TTL = 600
SECRET = "ghp_" + "a1B2" * 10


@pytest.fixture
def storage(any_storage):
    return any_storage


def question(session: str = "s1", amount: int = 20, key_id: str | None = "k1") -> Question:
    arguments = {"amount": amount, "recipient": "new-supplier"}
    return Question(
        binding=approval_binding(key_id, session, "bank", "send_payment", arguments),
        key_id=key_id,
        session_id=session,
        upstream="bank",
        tool_name="send_payment",
        rule="financial_drain",
        clauses=("financial_drain.new_recipient",),
        reason="A first payment of 20.00 to new-supplier, never paid before.",
        summary=arguments_summary(arguments),
    )


def later(seconds: float) -> datetime.datetime:
    return START + datetime.timedelta(seconds=seconds)


def test_an_identical_question_reuses_the_pending_approval(storage) -> None:
    approvals = storage.approvals
    first = approvals.ask(question(), START, TTL)
    again = approvals.ask(question(), later(5), TTL)
    other = approvals.ask(question(amount=21), later(6), TTL)
    assert first.id == again.id
    assert first.id.startswith("apr_")
    assert other.id != first.id
    assert first.state == "pending"
    assert first.expires_at == later(TTL)
    assert first.summary == {"recipient": "new-supplier", "amount": 20}
    assert [approval.id for approval in approvals.pending(later(7))] == [first.id, other.id]


def test_a_granted_approval_is_used_once(storage) -> None:
    approvals = storage.approvals
    asked = approvals.ask(question(), START, TTL)
    assert approvals.claim(question().binding, later(1)) is None  # not granted yet
    granted = approvals.approve(asked.id, later(2))
    assert granted.state == "approved"
    assert approvals.approve(asked.id, later(3)).state == "approved"  # granting twice changes nothing
    used = approvals.claim(question().binding, later(4))
    assert used is not None
    assert used.id == asked.id
    assert approvals.claim(question().binding, later(5)) is None
    assert approvals.get(asked.id, later(5)).state == "used"
    with pytest.raises(ApprovalExpired, match="is used"):
        approvals.approve(asked.id, later(6))
    # The same question after the approval was used is a new one.
    assert approvals.ask(question(), later(7), TTL).id != asked.id


def test_a_released_claim_keeps_the_approval_granted(storage) -> None:
    approvals = storage.approvals
    asked = approvals.ask(question(), START, TTL)
    approvals.approve(asked.id, later(1))
    assert approvals.claim(question().binding, later(2)) is not None
    approvals.release(asked.id)
    assert approvals.get(asked.id, later(3)).state == "approved"
    assert approvals.claim(question().binding, later(4)) is not None


def test_approvals_expire_by_the_clock(storage) -> None:
    approvals = storage.approvals
    pending = approvals.ask(question("s1"), START, TTL)
    granted = approvals.ask(question("s2"), START, TTL)
    approvals.approve(granted.id, later(10))
    assert approvals.pending(later(TTL - 1)) == [approvals.get(pending.id, later(TTL - 1))]
    assert approvals.pending(later(TTL)) == []
    assert approvals.get(pending.id, later(TTL)).state == "expired"
    with pytest.raises(ApprovalExpired) as caught:
        approvals.approve(pending.id, later(TTL))
    assert caught.value.state == "expired"
    assert approvals.claim(question("s2").binding, later(TTL)) is None
    assert approvals.get(granted.id, later(TTL)).state == "expired"
    # A question asked again after expiry opens a fresh approval.
    assert approvals.ask(question("s1"), later(TTL + 1), TTL).id != pending.id


def test_declined_is_final_and_unknown_ids_are_not_found(storage) -> None:
    approvals = storage.approvals
    asked = approvals.ask(question(), START, TTL)
    approvals.approve(asked.id, later(1))
    assert approvals.decline(asked.id, later(2)).state == "declined"  # a change of mind before it was used
    assert approvals.claim(question().binding, later(3)) is None
    with pytest.raises(ApprovalExpired, match="declined"):
        approvals.approve(asked.id, later(4))
    with pytest.raises(ApprovalNotFound) as caught:
        approvals.approve("apr_nothere", later(5))
    assert isinstance(caught.value, PolicyServerError)
    with pytest.raises(ApprovalNotFound):
        approvals.decline("apr_nothere", later(5))


@pytest.mark.parametrize(
    "changed",
    [
        {"key_id": "k2"},
        {"session_id": "s2"},
        {"upstream": "other-bank"},
        {"tool_name": "send_payment_v2"},
        {"arguments": {"amount": 20, "recipient": "new-supplier", "memo": ""}},
        {"arguments": {"amount": 20.0001, "recipient": "new-supplier"}},
    ],
)
def test_the_binding_names_one_exact_call(changed: dict[str, object]) -> None:
    call: dict[str, object] = {
        "key_id": "k1",
        "session_id": "s1",
        "upstream": "bank",
        "tool_name": "send_payment",
        "arguments": {"amount": 20, "recipient": "new-supplier"},
    }
    same = dict(call, arguments={"recipient": "new-supplier", "amount": 20})  # key order does not matter
    assert approval_binding(**call) == approval_binding(**same)  # type: ignore[arg-type]
    assert approval_binding(**call) != approval_binding(**{**call, **changed})  # type: ignore[arg-type]


def test_an_approval_of_another_call_is_never_claimed(storage) -> None:
    approvals = storage.approvals
    asked = approvals.ask(question("s1"), START, TTL)
    approvals.approve(asked.id, later(1))
    assert approvals.claim(question("s2").binding, later(2)) is None
    assert approvals.claim(question("s1", amount=21).binding, later(2)) is None
    assert approvals.claim(question("s1", key_id="k2").binding, later(2)) is None
    assert approvals.claim(question("s1").binding, later(2)) is not None


def test_open_approvals_answers_for_a_running_server_and_writes_the_admin_log(storage) -> None:
    asked = storage.approvals.ask(question(), START, TTL)
    where = {"data_dir": storage.data_dir} if isinstance(storage, SQLiteStorage) else {"database_url": storage.url}
    with open_approvals(**where) as outside:
        assert [approval.id for approval in outside.pending(later(1))] == [asked.id]
        outside.approve(asked.id, later(2))
    assert storage.approvals.claim(question().binding, later(3)) is not None
    events = storage.read("SELECT action, target, detail FROM admin_events")
    assert events == [("approval.approve", asked.id, "send_payment on bank in session s1")]


def test_the_summary_shows_the_telling_arguments_first_and_masks_secrets() -> None:
    arguments = {
        "memo": "x" * 500,
        "token": SECRET,
        "note": f"use {SECRET}",
        "to": "bob@example.com",
        "amount": 12,
        "nested": {"password": "hunter2", "a": [1, 2]},
        **{f"k{n}": n for n in range(10)},
    }
    summary = arguments_summary(arguments)
    assert list(summary)[:2] == ["to", "amount"]
    assert len(summary) == 8
    assert SECRET not in str(summary)
    assert "hunter2" not in str(summary)
    assert len(summary["memo"]) == 201
    assert isinstance(summary["nested"], str)


def test_a_version_2_database_gains_the_approvals(tmp_path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = sqlite3.connect(data / "policy.sqlite3")
    db.executescript(
        "CREATE TABLE admin_events (id INTEGER PRIMARY KEY, at TEXT NOT NULL, action TEXT NOT NULL,"
        " target TEXT NOT NULL, detail TEXT NOT NULL); PRAGMA user_version = 2;"
    )
    db.close()
    storage = SQLiteStorage(data)
    try:
        assert storage.read("PRAGMA user_version") == [(6,)]
        asked = storage.approvals.ask(question(), START, TTL)
        assert storage.approvals.get(asked.id, START).state == "pending"
    finally:
        storage.close()
