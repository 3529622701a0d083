"""`db export` / `db import`: SQLite to PostgreSQL and back carries every row, and a bad file changes nothing."""

from __future__ import annotations

import datetime
import json
import pathlib
import stat

import pytest
from click.testing import CliRunner

from inherence_policy_server import issue_key
from inherence_policy_server._approvals import Question
from inherence_policy_server._db_copy import TABLES
from inherence_policy_server._keys import verify_secret
from inherence_policy_server._live_rules import publish_rules
from inherence_policy_server._postgres import PostgresStorage
from inherence_policy_server._rules import default_rules_config
from inherence_policy_server._sqlite import SQLiteStorage
from inherence_policy_server._storage import DecisionLogEntry
from inherence_policy_server.cli import main
from inherence_policy_server.dashboard._store import DashboardStore, FeedFilter
from inherence_policy_server.rules._material import ReadItem

from .conftest import START

ORDERED = {table for table, _, order in TABLES if order is not None}


def _cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"INHERENCE_POLICY_DATA_DIR": None})
    assert result.exit_code == 0, result.output
    return result.output


def _fill(storage: SQLiteStorage) -> str:
    """Some of everything, in two tenants; the secret of the acme key."""
    issued = issue_key(START, "acme proxy", "acme")
    storage.add_key(issued.record)
    storage.add_key(issue_key(START, "local").record)
    acme = storage.tenant_ledger("acme")
    acme.reserve_transfer("ops", "landlord", 4200, START, {"hour_cents": 10**9})
    acme.record_sensitive_read("s1", "ssh key", START)
    acme.record_sensitive_read("s1", "aws key", START)
    acme.record_read_items("s1", [ReadItem("identifier", 2**62 + 7, "an account number")], START)
    acme.add_known_recipient(issued.record.key_id, "ana@partner.example", "confirmed", START)
    storage.touch_sessions([("s1", "cursor", START, "acme")])
    entries = [
        DecisionLogEntry(f"dec_{n}", START + datetime.timedelta(seconds=n), "cursor", "s1", "bank", "pay", "payment",
                         "allow" if n % 2 else "deny", "financial_drain", "why", {"amount": n, "nested": [1, "x"]},
                         None, issued.record.key_id, "acme")
        for n in range(7)
    ]  # fmt: skip
    storage.append_decisions(entries)
    question = Question(
        "b" * 64, issued.record.key_id, "s1", "bank", "pay", "financial_drain", ("a.b",), "why", {}, "acme"
    )
    storage.approvals.ask(question, START, 600)
    with storage.write() as db:
        db.execute("INSERT INTO admin_events (at, action, target, detail) VALUES ('t', 'key.create', 'k', 'd')")
    publish_rules(storage, default_rules_config(), START)
    return issued.secret_key


def _lines(path: pathlib.Path) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines()[1:]:
        tables.setdefault(json.loads(line)["table"], []).append(line)
    return {table: rows if table in ORDERED else sorted(rows) for table, rows in tables.items()}


def test_state_moves_from_sqlite_to_postgresql_and_back_unchanged(tmp_path, postgres_url) -> None:
    source = SQLiteStorage(tmp_path / "source")
    try:
        secret = _fill(source)
    finally:
        source.close()
    first = tmp_path / "first.jsonl"
    assert "exported" in _cli("db", "export", "--data-dir", str(tmp_path / "source"), "-o", str(first))
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    _cli("db", "import", "--database-url", postgres_url, "-i", str(first))

    moved = PostgresStorage(postgres_url)
    try:
        record = moved.find_key(secret.split("_")[1])
        assert record is not None
        assert verify_secret(secret, record)
        assert record.tenant == "acme"
        assert moved.tenant_ledger("acme").window_totals("ops", START).hour_cents == 4200
        assert moved.ledger.window_totals("ops", START).hour_cents == 0
        assert moved.tenant_ledger("acme").sensitive_reads("s1") == ["ssh key", "aws key"]
        feed = DashboardStore(moved).feed(FeedFilter(), tenant="acme")
        assert [row.decision_id for row in feed] == [f"dec_{n}" for n in reversed(range(7))]
        assert feed[0].arguments == {"amount": 6, "nested": [1, "x"]}
        assert [a.session_id for a in moved.approvals.for_tenant("acme").pending(START)] == ["s1"]
    finally:
        moved.close()

    second = tmp_path / "second.jsonl"
    _cli("db", "export", "--database-url", postgres_url, "-o", str(second))
    _cli("db", "import", "--data-dir", str(tmp_path / "back"), "-i", str(second))
    third = tmp_path / "third.jsonl"
    _cli("db", "export", "--data-dir", str(tmp_path / "back"), "-o", str(third))
    original = _lines(first)
    assert set(original) == {table for table, _, _ in TABLES}
    assert _lines(second) == original
    assert _lines(third) == original


def test_an_import_goes_only_into_an_empty_storage(tmp_path) -> None:
    source = SQLiteStorage(tmp_path / "source")
    try:
        _fill(source)
    finally:
        source.close()
    dump = tmp_path / "dump.jsonl"
    _cli("db", "export", "--data-dir", str(tmp_path / "source"), "-o", str(dump))
    result = CliRunner().invoke(main, ["db", "import", "--data-dir", str(tmp_path / "source"), "-i", str(dump)])
    assert result.exit_code == 1
    assert "already holds state (table api_keys)" in result.output


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: [*lines[:-1], lines[-1][:20]], "not JSON (the file may be cut short)"),
        (lambda lines: [*lines, '{"table": "users", "row": []}'], "unknown table 'users'"),
        (lambda lines: [*lines, '{"table": "transfers", "row": [1]}'], "a transfers row has 5 values"),
        (lambda lines: ['{"format": "something else"}', *lines[1:]], "line 1: not a inherence-policy-export file"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line_and_changes_nothing(tmp_path, damage, message) -> None:
    source = SQLiteStorage(tmp_path / "source")
    try:
        _fill(source)
    finally:
        source.close()
    dump = tmp_path / "dump.jsonl"
    _cli("db", "export", "--data-dir", str(tmp_path / "source"), "-o", str(dump))
    lines = dump.read_text(encoding="utf-8").splitlines()
    dump.write_text("\n".join(damage(lines)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["db", "import", "--data-dir", str(tmp_path / "target"), "-i", str(dump)])
    assert result.exit_code == 1
    assert message in result.output
    target = SQLiteStorage(tmp_path / "target")
    try:
        assert target.list_keys() == []
        assert target.recent_decisions() == []
    finally:
        target.close()
