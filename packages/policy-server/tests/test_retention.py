"""Retention: decision log rows older than the configured age are deleted in batches by the log's writer."""

from __future__ import annotations

import datetime

from inherence_policy_server import create_app
from inherence_policy_server._decision_log import DecisionLogWriter, prune_decisions
from inherence_policy_server._storage import DecisionLogEntry

from .conftest import START, FakeClock


def _entry(number: int, at: datetime.datetime) -> DecisionLogEntry:
    return DecisionLogEntry(f"dec_{number}", at, None, None, None, "tool", "unknown", "allow", None, None, {})


def test_a_batch_deletes_the_oldest_rows_older_than_the_cutoff(any_storage) -> None:
    old = [_entry(n, START - datetime.timedelta(days=40, minutes=n)) for n in range(5)]
    new = [_entry(10 + n, START - datetime.timedelta(days=1, minutes=n)) for n in range(3)]
    any_storage.append_decisions(old + new)
    cutoff = START - datetime.timedelta(days=30)
    assert prune_decisions(any_storage, cutoff, batch=2) == 2
    remaining = {entry.decision_id for entry in any_storage.recent_decisions()}
    # The two oldest went first.
    assert remaining == {"dec_0", "dec_1", "dec_2", "dec_10", "dec_11", "dec_12"}
    assert prune_decisions(any_storage, cutoff, batch=2) == 2
    assert prune_decisions(any_storage, cutoff, batch=2) == 1
    assert prune_decisions(any_storage, cutoff, batch=2) == 0
    assert {entry.decision_id for entry in any_storage.recent_decisions()} == {"dec_10", "dec_11", "dec_12"}


def test_the_writer_prunes_in_batches_until_nothing_is_older(any_storage) -> None:
    any_storage.append_decisions([_entry(n, START - datetime.timedelta(days=9, seconds=n)) for n in range(25)])
    writer = DecisionLogWriter(
        any_storage, retention=datetime.timedelta(days=7), prune_every=0, prune_batch=4, clock=lambda: START
    )
    try:
        writer.record(_entry(99, START))
        assert writer.flush()
        assert writer.flush()
    finally:
        writer.close()
    assert [entry.decision_id for entry in any_storage.recent_decisions()] == ["dec_99"]


BODY_T = b'{"tool_name": "t", "classification": "read_only", "arguments": {}}'
BODY_U = b'{"tool_name": "u", "classification": "read_only", "arguments": {}}'


def _serve_one(tmp_path, clock: FakeClock, body: bytes, retention: datetime.timedelta | None) -> list[str]:
    """One decision by a server on the data dir; the tools of the decision log afterwards, newest first."""
    app = create_app(data_dir=tmp_path, require_key=False, clock=clock, decision_log_retention=retention)
    try:
        assert app.decisions.decide_body(body, None)[0] == 200
        app.flush()
        app.flush()
        return [entry.tool_name for entry in app.storage.recent_decisions()]
    finally:
        app.close()


def test_a_server_with_a_retention_age_forgets_old_decisions(tmp_path) -> None:
    clock = FakeClock()
    month = datetime.timedelta(days=30)
    assert _serve_one(tmp_path, clock, BODY_T, month) == ["t"]
    clock.advance(days=31)
    assert _serve_one(tmp_path, clock, BODY_U, month) == ["u"]


def test_without_a_retention_age_nothing_is_deleted(tmp_path) -> None:
    clock = FakeClock()
    assert _serve_one(tmp_path, clock, BODY_T, None) == ["t"]
    clock.advance(days=3650)
    assert _serve_one(tmp_path, clock, BODY_U, None) == ["u", "t"]
