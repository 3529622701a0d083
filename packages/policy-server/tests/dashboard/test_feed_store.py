"""The feed's storage: keyset pages over 100,000 decisions, served from indexes; the schema migration."""

from __future__ import annotations

import datetime
import json
import sqlite3

import pytest

from inherence_policy_server import SQLiteStorage
from inherence_policy_server.dashboard._store import DashboardStore, FeedFilter

START = datetime.datetime(2026, 3, 2, tzinfo=datetime.timezone.utc)
ROWS = 100_000


@pytest.fixture(scope="module")
def big_store(tmp_path_factory):
    storage = SQLiteStorage(tmp_path_factory.mktemp("big"))
    verdicts = ("allow", "allow", "allow", "deny", "allow_with_log")
    rules = (None, None, None, "mass_destruction", "credential_access")
    with storage.write() as db:
        db.executemany(
            "INSERT INTO decisions (decision_id, at, session_id, upstream, tool_name, category, decision, rule,"
            " reason, arguments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                (
                    f"dec_{n}",
                    (START + datetime.timedelta(seconds=n)).isoformat(),
                    f"s{n % 300}",
                    f"up{n % 7}",
                    "tool",
                    "shell_exec",
                    verdicts[n % 5],
                    rules[n % 5],
                    None,
                    json.dumps({"n": n}),
                )
                for n in range(ROWS)
            ),
        )
    yield DashboardStore(storage)
    storage.close()


@pytest.mark.parametrize(
    ("where", "index"),
    [
        (FeedFilter(decision="deny"), "decisions_by_decision"),
        (FeedFilter(rule="mass_destruction"), "decisions_by_rule"),
        (FeedFilter(upstream="up3"), "decisions_by_upstream"),
    ],
)
def test_each_filter_is_served_by_its_index(big_store, where, index) -> None:
    plan = big_store.feed_plan(where)
    assert f"USING INDEX {index}" in plan or f"USING COVERING INDEX {index}" in plan
    assert "TEMP B-TREE" not in plan  # no sort of the matching rows


def test_a_deep_page_continues_exactly_where_the_last_one_ended(big_store) -> None:
    where = FeedFilter(decision="deny")
    first = big_store.feed(where, limit=100)
    assert [row.arguments["n"] for row in first[:2]] == [ROWS - 2, ROWS - 7]
    cursor = first[-1].id
    for _ in range(150):
        page = big_store.feed(where, before=cursor, limit=100)
        cursor = page[-1].id
    assert [row.arguments["n"] for row in page[-2:]] == [ROWS - 2 - 5 * 15098, ROWS - 2 - 5 * 15099]
    assert {row.decision for row in page} == {"deny"}


def test_a_time_window_with_other_filters(big_store) -> None:
    since = START + datetime.timedelta(seconds=500)
    until = START + datetime.timedelta(seconds=520)
    rows = big_store.feed(FeedFilter(rule="credential_access", since=since, until=until))
    assert [row.arguments["n"] for row in rows] == [519, 514, 509, 504]


def test_counts_group_by_rule_and_hour(big_store) -> None:
    counts = big_store.rule_counts(START + datetime.timedelta(hours=26))
    assert set(counts) == {"credential_access", "mass_destruction"}
    assert counts["mass_destruction"]["2026-03-03T02"] == 720


def test_a_version_1_database_gains_the_indexes_admin_log_approvals_and_reads(tmp_path) -> None:
    db = sqlite3.connect(tmp_path / "policy.sqlite3")
    db.executescript(
        "CREATE TABLE decisions (id INTEGER PRIMARY KEY, decision_id TEXT NOT NULL, at TEXT NOT NULL, client TEXT,"
        " session_id TEXT, upstream TEXT, tool_name TEXT NOT NULL, category TEXT NOT NULL, decision TEXT NOT NULL,"
        " rule TEXT, reason TEXT, arguments TEXT NOT NULL, request_id TEXT, key_id TEXT);"
        "INSERT INTO decisions (decision_id, at, tool_name, category, decision, arguments)"
        " VALUES ('dec_old', '2026-01-01T00:00:00+00:00', 'old_tool', 'unknown', 'allow', '{}');"
        "PRAGMA user_version = 1;"
    )
    db.close()
    storage = SQLiteStorage(tmp_path)
    try:
        names = {str(row[0]) for row in storage.read("SELECT name FROM sqlite_master")}
        assert {"decisions_by_decision", "decisions_by_rule", "decisions_by_upstream", "admin_events"} <= names
        assert {"approvals", "approvals_by_binding"} <= names
        assert {"read_sessions", "read_items", "known_recipients"} <= names
        assert [row.tool_name for row in DashboardStore(storage).feed(FeedFilter())] == ["old_tool"]
        assert storage.read("PRAGMA user_version") == [(6,)]
    finally:
        storage.close()
