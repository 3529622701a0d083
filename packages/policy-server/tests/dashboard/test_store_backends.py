"""The dashboard's queries answer the same on SQLite and on PostgreSQL: feed pages, filters, counts, sessions."""

from __future__ import annotations

import datetime

from inherence_policy_server import DecisionLogEntry
from inherence_policy_server.dashboard._store import DashboardStore, FeedFilter

START = datetime.datetime(2026, 3, 2, tzinfo=datetime.timezone.utc)
ROWS = 120


def _fill(storage) -> DashboardStore:
    verdicts = ("allow", "deny", "allow_with_log")
    rules = (None, "mass_destruction", "credential_access")
    storage.append_decisions(
        [
            DecisionLogEntry(
                decision_id=f"dec_{n}", at=START + datetime.timedelta(minutes=n), client="cursor",
                session_id=f"s{n % 4}", upstream=f"up{n % 5}", tool_name="tool", category="shell_exec",
                decision=verdicts[n % 3], rule=rules[n % 3], reason=None, arguments={"n": n},
            )
            for n in range(ROWS)
        ]
    )  # fmt: skip
    storage.touch_sessions([(f"s{n}", "cursor", START + datetime.timedelta(minutes=n)) for n in range(4)])
    return DashboardStore(storage)


def test_pages_filters_and_counts(any_storage) -> None:
    store = _fill(any_storage)
    first = store.feed(FeedFilter(decision="deny"), limit=10)
    assert [row.arguments["n"] for row in first] == list(range(118, 88, -3))
    second = store.feed(FeedFilter(decision="deny"), before=first[-1].id, limit=10)
    assert [row.arguments["n"] for row in second] == list(range(88, 58, -3))
    newer = store.feed(FeedFilter(decision="deny"), after=second[0].id, limit=100)
    assert len(newer) == 10
    window = FeedFilter(
        upstream="up0", since=START + datetime.timedelta(minutes=30), until=START + datetime.timedelta(minutes=60)
    )
    assert [row.arguments["n"] for row in store.feed(window)] == [55, 50, 45, 40, 35, 30]
    assert store.choices() == {
        "rule": ["credential_access", "mass_destruction"],
        "upstream": ["up0", "up1", "up2", "up3", "up4"],
    }
    counts = store.rule_counts(START)
    assert counts["mass_destruction"] == {"2026-03-02T00": 20, "2026-03-02T01": 20}
    sessions = store.sessions()
    assert [(s.session_id, s.calls) for s in sessions] == [("s3", 30), ("s2", 30), ("s1", 30), ("s0", 30)]
    assert sum(s.denied for s in sessions) == 40
    assert [row.arguments["n"] for row in store.session_calls("s1", limit=3)] == [1, 5, 9]


def test_the_admin_log_keeps_events_newest_first(any_storage) -> None:
    store = DashboardStore(any_storage)
    store.log_event(START, "key.create", "k1", "label 'ci'")
    store.log_event(START + datetime.timedelta(seconds=1), "key.revoke", "k1", "")
    assert [(event.action, event.target) for event in store.events()] == [("key.revoke", "k1"), ("key.create", "k1")]
