"""The storage contract on SQLite and PostgreSQL: keys, sessions, the velocity ledger (windows, races across
threads and processes) and the decision log; and what only SQLite has (WAL, checkpoints)."""

from __future__ import annotations

import contextlib
import datetime
import sqlite3
import subprocess
import sys
import textwrap
import threading

import pytest

from inherence_policy_server import DecisionLogEntry, SQLiteStorage, StorageError, UnknownKeyError, issue_key
from inherence_policy_server._decision_log import DecisionLogWriter

from .conftest import BACKENDS, START, open_backend

LIMITS = {"hour_cents": 10_000, "day_cents": 20_000, "week_cents": 30_000, "hour_count": 3}


@pytest.fixture
def storage(any_storage):
    return any_storage


@pytest.fixture
def sqlite_storage(tmp_path):
    opened = SQLiteStorage(tmp_path / "data")
    yield opened
    opened.close()


def _everything_stored(storage) -> bytes:
    if isinstance(storage, SQLiteStorage):
        files = [storage.path, storage.path.with_name(storage.path.name + "-wal")]
        return b"".join(path.read_bytes() for path in files if path.exists())
    return repr(storage.read("SELECT * FROM api_keys")).encode()


def test_database_is_in_wal_mode_and_private(sqlite_storage) -> None:
    storage = sqlite_storage
    # A sqlite3 connection's own context manager commits but does not close.
    with contextlib.closing(sqlite3.connect(storage.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert storage.path.stat().st_mode & 0o077 == 0


def test_keys_are_stored_hashed_listed_and_revoked(storage) -> None:
    issued = issue_key(START, "laptop")
    storage.add_key(issued.record)
    assert storage.has_active_keys()
    (listed,) = storage.list_keys()
    assert listed.key_id == issued.record.key_id
    assert listed.label == "laptop"
    assert listed.revoked_at is None
    stored = _everything_stored(storage)
    assert issued.record.key_id.encode() in stored
    assert issued.secret_key.encode() not in stored
    storage.revoke_key(issued.record.key_id, START)
    assert storage.find_key(issued.record.key_id).revoked_at == START
    assert not storage.has_active_keys()
    with pytest.raises(UnknownKeyError):
        storage.revoke_key("nope", START)


def test_velocity_windows_follow_the_clock(storage) -> None:
    ledger = storage.ledger
    first = ledger.reserve_transfer("acct", "bob", 6_000, START, LIMITS)
    assert first is not None
    assert (first.hour_cents, first.hour_count) == (6_000, 1)
    # 6,000 + 6,000 passes the hour limit of 10,000.
    assert ledger.reserve_transfer("acct", "bob", 6_000, START, LIMITS) is None
    later = START + datetime.timedelta(hours=1, seconds=1)
    second = ledger.reserve_transfer("acct", "bob", 6_000, later, LIMITS)
    assert second is not None
    assert (second.hour_cents, second.day_cents, second.day_count) == (6_000, 12_000, 2)
    next_day = START + datetime.timedelta(days=1, hours=2)
    assert ledger.window_totals("acct", next_day).day_cents == 0
    assert ledger.window_totals("acct", next_day).week_cents == 12_000
    assert ledger.window_totals("other", next_day).week_count == 0
    next_week = START + datetime.timedelta(days=8)
    assert ledger.window_totals("acct", next_week).week_cents == 0


def test_count_limits_and_known_recipients(storage) -> None:
    ledger = storage.ledger
    assert not ledger.known_recipient("acct", "bob")
    for _ in range(3):
        assert ledger.reserve_transfer("acct", "bob", 1, START, LIMITS) is not None
    assert ledger.reserve_transfer("acct", "carol", 1, START, LIMITS) is None
    assert ledger.known_recipient("acct", "bob")
    assert not ledger.known_recipient("acct", "carol")
    assert not ledger.known_recipient("other", "bob")


def test_sensitive_reads_are_per_session(storage) -> None:
    ledger = storage.ledger
    ledger.record_sensitive_read("s1", "credentials", START)
    ledger.record_sensitive_read("s1", "mail", START + datetime.timedelta(seconds=1))
    ledger.record_sensitive_read("s1", "credentials", START + datetime.timedelta(seconds=2))
    assert ledger.sensitive_reads("s1") == ["credentials", "mail"]
    assert ledger.sensitive_reads("s2") == []


def test_concurrent_reservations_from_threads_never_pass_a_limit_together(storage) -> None:
    limits = {"hour_cents": 1_000_000, "hour_count": 25}
    passed: list[bool] = []
    start = threading.Barrier(8)

    def spend() -> None:
        start.wait()
        for _ in range(10):
            passed.append(storage.ledger.reserve_transfer("acct", "bob", 100, START, limits) is not None)

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert passed.count(True) == 25
    assert storage.ledger.window_totals("acct", START).hour_count == 25


RACER = textwrap.dedent(
    """
    import datetime, sys, time
    from inherence_policy_server._storage import open_storage
    where = sys.argv[1]
    storage = open_storage(**({"database_url": where} if where.startswith("postgresql:") else {"data_dir": where}))
    now = datetime.datetime.fromisoformat(sys.argv[2])
    go = float(sys.argv[3])
    while time.time() < go:
        time.sleep(0.001)
    passed = sum(
        storage.ledger.reserve_transfer("acct", "bob", 100, now, {"hour_count": 40, "hour_cents": 10**9}) is not None
        for _ in range(30)
    )
    print(passed)
    """
)


@pytest.mark.slow
@pytest.mark.version_independent  # several processes; nox: oldest and newest Python only
@pytest.mark.parametrize("kind", BACKENDS)
def test_concurrent_reservations_from_processes_never_pass_a_limit_together(kind, request, tmp_path) -> None:
    import time

    storage = open_backend(kind, request, tmp_path)
    where = str(storage.data_dir) if isinstance(storage, SQLiteStorage) else request.getfixturevalue("postgres_url")
    go = str(time.time() + 1.5)
    racers = [
        subprocess.Popen([sys.executable, "-c", RACER, where, START.isoformat(), go], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert sum(int(output) for output in outputs) == 40
    try:
        assert storage.ledger.window_totals("acct", START).hour_count == 40
    finally:
        storage.close()


def test_decision_log_round_trip_and_sessions(storage) -> None:
    entry = DecisionLogEntry(
        decision_id="dec_1", at=START, client="cursor", session_id="s1", upstream="fs", tool_name="read_file",
        category="file_read", decision="deny", rule="credential_access", reason="why", arguments={"path": "~/.aws"},
    )  # fmt: skip
    storage.append_decisions([entry])
    storage.touch_sessions([("s1", "cursor", START), ("s1", "cursor", START + datetime.timedelta(minutes=1))])
    assert storage.recent_decisions() == [entry]
    rows = storage.read("SELECT client, first_seen, last_seen FROM sessions WHERE session_id = 's1'")
    assert rows[0][0] == "cursor"
    assert rows[0][1] < rows[0][2]


def test_decision_rows_keep_every_character_and_sightings_of_a_batch_keep_each_sessions_times(storage) -> None:
    # Tabs, newlines, backslashes and quotes are what a bulk load must escape; empty fields stay empty.
    odd = "a\tb\nc\\N \\. 'q' \"dq\" é ☃"
    entries = [
        DecisionLogEntry(
            decision_id=f"dec_{index}", at=START + datetime.timedelta(seconds=index), client=odd if index else None,
            session_id=None if index == 2 else f"s{index}", upstream=None, tool_name=odd, category="unknown",
            decision="allow", rule=None, reason=odd if index else None, arguments={"text": odd, "n": [1, 2.5, None]},
            request_id=odd if index == 1 else None, key_id="000000000001", tenant="acme" if index else "default",
        )
        for index in range(3)
    ]  # fmt: skip
    storage.append_decisions(entries)
    assert storage.recent_decisions() == entries[::-1]
    minute = datetime.timedelta(minutes=1)
    storage.touch_sessions([("s1", "old", START, "acme")])
    storage.touch_sessions(
        [
            ("s1", "cursor", START + minute, "acme"),
            ("s1", "claude", START + minute, "globex"),
            ("s2", "cursor", START + minute, "acme"),
            ("s1", "other", START + 3 * minute, "acme"),
            ("s2", "other", START + 2 * minute, "acme"),
        ]
    )
    rows = storage.read(
        "SELECT tenant, session_id, client, first_seen, last_seen FROM sessions ORDER BY tenant, session_id"
    )
    iso = [(START + n * minute).isoformat() for n in range(4)]
    assert [tuple(row) for row in rows] == [
        ("acme", "s1", "old", iso[0], iso[3]),
        ("acme", "s2", "cursor", iso[1], iso[2]),
        ("globex", "s1", "claude", iso[1], iso[1]),
    ]


def test_a_data_dir_that_cannot_be_created_is_a_storage_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="data dir"):
        SQLiteStorage(blocker / "data")


def test_closed_storage_refuses_new_connections(storage) -> None:
    storage.close()
    with pytest.raises(StorageError, match="closed"):
        storage.list_keys()


def test_requests_never_checkpoint_the_log_writer_does(tmp_path) -> None:
    class CountingStorage(SQLiteStorage):
        checkpoints = 0

        def maintain(self) -> None:
            CountingStorage.checkpoints += 1
            super().maintain()

    storage = CountingStorage(tmp_path)
    writer = DecisionLogWriter(storage, interval=0.01)
    try:
        assert storage.connection().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        writer.record(
            DecisionLogEntry(
                decision_id="dec_2", at=START, client=None, session_id=None, upstream=None, tool_name="t",
                category="unknown", decision="allow", rule=None, reason=None, arguments={},
            )
        )  # fmt: skip
        assert writer.flush()
        assert CountingStorage.checkpoints >= 1
        assert len(storage.recent_decisions()) == 1
    finally:
        writer.close()
        storage.close()


def _entry(number: int, session_id: str | None = None) -> DecisionLogEntry:
    return DecisionLogEntry(
        decision_id=f"dec_{number}", at=START, client=None, session_id=session_id, upstream=None, tool_name="t",
        category="unknown", decision="allow", rule=None, reason=None, arguments={"n": number},
    )  # fmt: skip


def test_closing_the_writer_stores_what_it_holds_before_its_next_pass(sqlite_storage) -> None:
    writer = DecisionLogWriter(sqlite_storage, interval=3600)
    writer.record(_entry(1))
    writer.record(_entry(2))
    writer.close()
    assert [e.decision_id for e in sqlite_storage.recent_decisions()] == ["dec_2", "dec_1"]


def test_a_full_backlog_makes_the_caller_wait_for_the_writer_and_nothing_is_lost(tmp_path) -> None:
    release = threading.Event()
    taken = threading.Event()

    class SlowStorage(SQLiteStorage):
        def append_decisions(self, entries) -> None:  # type: ignore[no-untyped-def]
            taken.set()
            release.wait(30)
            super().append_decisions(entries)

    storage = SlowStorage(tmp_path)
    writer = DecisionLogWriter(storage, interval=0.01, max_backlog=3)
    try:
        writer.record(_entry(0))
        assert taken.wait(30)  # the writer holds entry 0, stuck on the database
        for number in range(1, 4):
            writer.record(_entry(number))
        late = threading.Thread(target=writer.record, args=(_entry(4),))
        late.start()
        late.join(0.3)
        assert late.is_alive()  # waiting for room, not growing the backlog
        release.set()
        late.join(30)
        assert not late.is_alive()
        assert writer.flush()
        assert sorted(e.decision_id for e in storage.recent_decisions()) == [f"dec_{n}" for n in range(5)]
        assert writer.dropped == 0
    finally:
        release.set()
        writer.close()
        storage.close()


def test_sightings_of_one_session_in_a_batch_keep_its_first_and_last_time(tmp_path) -> None:
    seen: list[list[tuple[str, str | None, datetime.datetime, str]]] = []

    class Recording(SQLiteStorage):
        def touch_sessions(self, sightings) -> None:  # type: ignore[no-untyped-def]
            seen.append(list(sightings))
            super().touch_sessions(sightings)

    storage = Recording(tmp_path)
    writer = DecisionLogWriter(storage, interval=3600)
    try:
        times = [START + datetime.timedelta(seconds=s) for s in range(5)]
        writer.saw_session("s1", "cursor", times[0])
        writer.saw_session("s2", None, times[1])
        writer.saw_session("s1", "cursor", times[2])
        writer.saw_session("s1", "cursor", times[3], tenant="acme")  # another tenant's session of the same id
        writer.saw_session("s1", "cursor", times[4])
        assert writer.flush()
    finally:
        writer.close()
        storage.close()
    assert seen == [
        [
            ("s1", "cursor", times[0], "default"),
            ("s2", None, times[1], "default"),
            ("s1", "cursor", times[3], "acme"),
            ("s1", "cursor", times[4], "default"),
        ]
    ]
