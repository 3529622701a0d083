"""Tenants: each key belongs to one, and one tenant's calls never read or change another's state.

Two tenants' keys on one server (SQLite and PostgreSQL): one tenant's transfers never fill the
other's velocity windows, its sessions' reads never taint the other's sends, and the admin API
shows one tenant's decisions, sessions, approvals and keys at a time. State kept before tenants
existed (a version 4 SQLite file, a version 1 PostgreSQL database) becomes the default tenant's.
"""

from __future__ import annotations

import datetime
import gc
import sqlite3
import warnings
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest
from click.testing import CliRunner

from inherence_policy_server import PolicyApp, create_app, issue_key
from inherence_policy_server._app import DashboardOptions
from inherence_policy_server._sqlite import _SCHEMA as VERSION_4_SCHEMA
from inherence_policy_server._sqlite import SQLiteStorage
from inherence_policy_server._storage import DEFAULT_TENANT, SQLStorage
from inherence_policy_server.cli import main

from .conftest import BACKENDS, START, FakeClock, open_backend

ADMIN_TOKEN = "admin-token-for-tenant-tests-0123"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
RULES_LIMIT_CENTS = 10_000


@pytest.fixture(params=BACKENDS)
def storage(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SQLStorage]:
    opened = open_backend(request.param, request, tmp_path)
    yield opened
    opened.close()


def test_each_tenant_has_its_own_velocity_windows_and_session_reads(storage) -> None:
    limits = {"hour_cents": 100}
    acme, globex = storage.tenant_ledger("acme"), storage.tenant_ledger("globex")
    assert acme.reserve_transfer("ops", "bob", 80, START, limits) is not None
    # The same account name in another tenant starts from nothing.
    assert globex.reserve_transfer("ops", "bob", 80, START, limits) is not None
    assert acme.reserve_transfer("ops", "bob", 80, START, limits) is None
    assert acme.window_totals("ops", START).hour_cents == 80
    assert globex.window_totals("ops", START).hour_cents == 80
    assert storage.ledger.window_totals("ops", START).hour_cents == 0
    assert acme.known_recipient("ops", "bob")
    assert not storage.ledger.known_recipient("ops", "bob")

    acme.record_sensitive_read("s1", "ssh key", START)
    assert acme.sensitive_reads("s1") == ["ssh key"]
    assert globex.sensitive_reads("s1") == []
    assert globex.unreported_reads("s1", START) == []


def test_a_key_belongs_to_its_tenant(storage) -> None:
    mine, theirs = issue_key(START, "a"), issue_key(START, "b", "acme")
    storage.add_key(mine.record)
    storage.add_key(theirs.record)
    assert storage.key_tenant(mine.record.key_id) == DEFAULT_TENANT
    assert storage.key_tenant(theirs.record.key_id) == "acme"
    assert storage.key_tenant("000000000000") is None
    assert [record.key_id for record in storage.list_keys("acme")] == [theirs.record.key_id]
    assert {record.tenant for record in storage.list_keys()} == {DEFAULT_TENANT, "acme"}


@pytest.fixture
def app(storage: SQLStorage) -> Iterator[PolicyApp]:
    rules = {"financial_drain": {"hour_limit_cents": RULES_LIMIT_CENTS}, "organisation": {"known_payees": ["landlord"]}}
    from inherence_policy_server.rules import RulesConfig

    built = create_app(
        storage=storage,
        config=RulesConfig.model_validate(rules),
        clock=FakeClock(),
        dashboard=DashboardOptions(admin_token=ADMIN_TOKEN),
    )
    yield built
    built.decision_log.close()


@pytest.fixture
async def client(app: PolicyApp) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as opened:
        yield opened


def _keys(app: PolicyApp) -> dict[str, dict[str, str]]:
    """A key of tenant acme and one of tenant globex: their authorization headers."""
    headers = {}
    for tenant in ("acme", "globex"):
        issued = issue_key(START, f"{tenant} proxy", tenant)
        app.storage.add_key(issued.record)
        headers[tenant] = {"authorization": f"Bearer {issued.secret_key}"}
    return headers


def _payment(dollars: str, session: str) -> dict[str, Any]:
    arguments = {"amount": dollars, "currency": "usd", "recipient": "landlord", "account": "ops"}
    return {
        "tool_name": "pay",
        "classification": "payment",
        "arguments": arguments,
        "upstream": "bank",
        "session_id": session,
        "confirmable": True,
    }


async def _decide(client: httpx2.AsyncClient, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post("/api/proxy/decide", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_one_tenants_transfers_never_deny_anothers(app, client) -> None:
    keys = _keys(app)
    assert (await _decide(client, keys["acme"], _payment("90.00", "acme-1")))["decision"] == "allow"
    # acme's hour window is nearly full; globex's, for the same account and payee, is empty.
    assert (await _decide(client, keys["acme"], _payment("20.00", "acme-1")))["decision"] == "deny"
    assert (await _decide(client, keys["globex"], _payment("90.00", "globex-1")))["decision"] == "allow"
    assert (await _decide(client, keys["globex"], _payment("9.00", "globex-1")))["decision"] == "allow"


async def test_the_admin_api_shows_one_tenants_decisions_sessions_and_keys(app, client) -> None:
    keys = _keys(app)
    await _decide(client, keys["acme"], _payment("1.00", "acme-session"))
    await _decide(client, keys["globex"], _payment("2.00", "globex-session"))
    app.flush()

    async def shown(path: str, tenant: str | None) -> Any:
        query = f"?tenant={tenant}" if tenant else ""
        answer = await client.get(f"/api/admin/{path}{query}", headers=ADMIN)
        assert answer.status_code == 200, answer.text
        return answer.json()

    for tenant, other in (("acme", "globex"), ("globex", "acme")):
        decisions = (await shown("decisions", tenant))["decisions"]
        assert [row["session_id"] for row in decisions] == [f"{tenant}-session"]
        sessions = (await shown("sessions", tenant))["sessions"]
        assert [row["session_id"] for row in sessions] == [f"{tenant}-session"]
        assert {row["tenant"] for row in (await shown("keys", tenant))["keys"]} == {tenant}
        hidden = await client.get(f"/api/admin/sessions/{other}-session?tenant={tenant}", headers=ADMIN)
        assert hidden.status_code == 404
    assert (await shown("decisions", None))["decisions"] == []
    assert set((await shown("tenants", None))["tenants"]) == {DEFAULT_TENANT, "acme", "globex"}
    bad = await client.get("/api/admin/decisions?tenant=Not%20A%20Name", headers=ADMIN)
    assert bad.status_code == 422
    assert "tenant" in bad.json()["fields"]


async def test_one_tenant_never_sees_or_answers_anothers_approvals(app, client) -> None:
    keys = _keys(app)
    new_payee = _payment("5.00", "acme-session")
    new_payee["arguments"] = {**new_payee["arguments"], "recipient": "someone-new"}
    asked = await _decide(client, keys["acme"], new_payee)
    assert asked["decision"] == "confirm", asked
    approval_id = asked["approval_id"]

    acme = (await client.get("/api/admin/approvals?tenant=acme", headers=ADMIN)).json()
    globex = (await client.get("/api/admin/approvals?tenant=globex", headers=ADMIN)).json()
    assert [row["id"] for row in acme["pending"]] == [approval_id]
    assert globex == {"pending": [], "recent": []}
    refused = await client.post(f"/api/admin/approvals/{approval_id}/approve?tenant=globex", headers=ADMIN)
    assert refused.status_code == 404
    granted = await client.post(f"/api/admin/approvals/{approval_id}/approve?tenant=acme", headers=ADMIN)
    assert granted.status_code == 200
    # A key of another tenant revoked through the wrong tenant's view is not found.
    acme_key = app.storage.list_keys("acme")[0].key_id
    assert (await client.post(f"/api/admin/keys/{acme_key}/revoke?tenant=globex", headers=ADMIN)).status_code == 404
    assert app.storage.list_keys("acme")[0].active


CUSTOMERS = "name,email\nAlice Johnson,alice.johnson@example.org\n"


async def _read_then_send(client: httpx2.AsyncClient, headers: dict[str, str], session: str) -> dict[str, Any]:
    """A session reads customer data, then sends it to an outside address: the send's decision."""
    read = {"tool_name": "query", "classification": "database_query", "arguments": {"sql": "SELECT * FROM c"}}
    decided = await _decide(client, headers, {**read, "session_id": session})
    report = {"decision_id": decided["receipt_id"], "session_id": session, "content_text": CUSTOMERS}
    assert (await client.post("/api/proxy/outcome", json=report, headers=headers)).status_code == 202
    arguments = {"to": "ops@vendor.example", "subject": "list", "body": "alice.johnson@example.org"}
    send = {"tool_name": "send_email", "classification": "outbound_send", "arguments": arguments}
    return await _decide(client, headers, {**send, "session_id": session, "confirmable": True})


async def test_a_recipient_one_key_made_known_is_known_to_its_tenants_other_keys_only(app, client) -> None:
    keys = _keys(app)
    second = issue_key(START, "acme laptop", "acme")
    app.storage.add_key(second.record)
    acme_laptop = {"authorization": f"Bearer {second.secret_key}"}
    asked = await _read_then_send(client, keys["acme"], "acme-1")
    assert asked["decision"] == "confirm"
    assert asked["failed_clauses"] == ["unauthorized_exfiltration.private_data_to_new_recipient"]
    answer = {"decision_id": asked["receipt_id"], "session_id": "acme-1", "confirmation": "accepted"}
    assert (await client.post("/api/proxy/outcome", json=answer, headers=keys["acme"])).status_code == 202
    # The person said yes once for acme: its other key sends there with a log entry; globex is still asked.
    assert (await _read_then_send(client, acme_laptop, "acme-2"))["decision"] == "allow_with_log"
    assert (await _read_then_send(client, keys["globex"], "globex-1"))["decision"] == "confirm"
    listed = (await client.get("/api/admin/recipients?tenant=acme", headers=ADMIN)).json()["recipients"]
    acme_key = next(record.key_id for record in app.storage.list_keys("acme") if record.label == "acme proxy")
    assert [(row["key_id"], row["recipient"], row["source"]) for row in listed] == [
        (acme_key, "ops@vendor.example", "confirmed")
    ]
    assert (await client.get("/api/admin/recipients?tenant=globex", headers=ADMIN)).json()["recipients"] == []


def test_keys_create_takes_a_tenant_and_list_shows_it(tmp_path) -> None:
    runner = CliRunner()
    env = {"INHERENCE_POLICY_DATA_DIR": None}
    made = runner.invoke(main, ["keys", "create", "--data-dir", str(tmp_path), "--tenant", "acme"], env=env)
    assert made.exit_code == 0, made.output
    listed = runner.invoke(main, ["keys", "list", "--data-dir", str(tmp_path)], env=env)
    assert "TENANT" in listed.output
    assert " acme " in listed.output
    bad = runner.invoke(main, ["keys", "create", "--data-dir", str(tmp_path), "--tenant", "Acme Corp"], env=env)
    assert bad.exit_code == 2
    assert "--tenant" in bad.output


def test_state_kept_before_tenants_becomes_the_default_tenants(tmp_path) -> None:
    # A version 4 file: its velocity window, session reads and decisions belong to no tenant yet.
    db = sqlite3.connect(tmp_path / "policy.sqlite3")
    at = START.timestamp()
    db.executescript(
        f"{VERSION_4_SCHEMA};"
        f"INSERT INTO transfers (account, recipient, amount_cents, at) VALUES ('ops', 'bob', 700, {at});"
        f"INSERT INTO sensitive_reads VALUES ('s1', 'ssh key', {at});"
        "INSERT INTO decisions (decision_id, at, tool_name, category, decision, arguments)"
        " VALUES ('dec_old', '2026-01-01T00:00:00+00:00', 'old_tool', 'unknown', 'allow', '{}');"
        "PRAGMA user_version = 4;"
    )
    db.close()

    migrated = SQLiteStorage(tmp_path)
    try:
        assert migrated.read("PRAGMA user_version") == [(6,)]
        assert migrated.ledger.window_totals("ops", START).hour_cents == 700
        assert migrated.tenant_ledger("acme").window_totals("ops", START).hour_cents == 0
        assert migrated.ledger.sensitive_reads("s1") == ["ssh key"]
        assert [entry.decision_id for entry in migrated.recent_decisions(tenant=DEFAULT_TENANT)] == ["dec_old"]
        assert migrated.recent_decisions(tenant="acme") == []
    finally:
        migrated.close()


def test_a_version_1_postgresql_database_keeps_its_state_in_the_default_tenant(postgres_server) -> None:
    import psycopg

    from inherence_policy_server._postgres import PostgresStorage, upgrade_database
    from inherence_policy_server._postgres_schema import _STEPS, _VERSION_TABLE

    url = postgres_server.create_database()
    at = START.timestamp()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(_VERSION_TABLE)
        db.execute(_STEPS[0])
        db.execute("INSERT INTO inherence_schema (version) VALUES (1)")
        db.execute("INSERT INTO transfers (account, recipient, amount_cents, at) VALUES ('ops', 'bob', 700, %s)", (at,))
        db.execute("INSERT INTO sensitive_reads (session_id, label, at) VALUES ('s1', 'ssh key', %s)", (at,))
        db.execute("INSERT INTO sessions VALUES ('s1', 'cursor', '2026-01-01T00:00:00+00:00', '2026-01-01')")
    assert upgrade_database(url)[0] == 1
    storage = PostgresStorage(url)
    try:
        assert storage.ledger.window_totals("ops", START).hour_cents == 700
        assert storage.tenant_ledger("acme").window_totals("ops", START).hour_cents == 0
        assert storage.ledger.sensitive_reads("s1") == ["ssh key"]
        later = START + datetime.timedelta(minutes=1)
        storage.touch_sessions([("s1", "cursor", later, "acme")])
        assert sorted(storage.read("SELECT tenant, session_id FROM sessions")) == [("acme", "s1"), ("default", "s1")]
    finally:
        storage.close()


# Known recipients kept per key before they were kept per tenant: (key, recipient, source, first, last seen).
KEYS_BEFORE = (("k1", "acme"), ("k2", "acme"), ("k3", "globex"))
RECIPIENTS_BEFORE = (
    ("k1", "ana@partner.example", "confirmed", 10.0, 20.0),
    ("k2", "ana@partner.example", "paid", 15.0, 30.0),
    ("k3", "ana@partner.example", "confirmed", 12.0, 12.0),
    ("local", "payee:landlord", "paid", 5.0, 5.0),
    ("gone", "bob@elsewhere.example", "confirmed", 7.0, 8.0),
)


def _recipients_by_tenant(storage: SQLStorage) -> dict[str, list[tuple[str, str, str, float, float]]]:
    return {
        tenant: [
            (entry.tenant, entry.recipient, entry.source, entry.first_seen.timestamp(), entry.last_seen.timestamp())
            for entry in storage.tenant_ledger(tenant).known_recipients()
        ]
        for tenant in (DEFAULT_TENANT, "acme", "globex")
    }


# One recipient known to two keys of a tenant keeps the first key, source and time, and the last time seen.
RECIPIENTS_AFTER = {
    DEFAULT_TENANT: [
        ("gone", "bob@elsewhere.example", "confirmed", 7.0, 8.0),
        ("local", "payee:landlord", "paid", 5.0, 5.0),
    ],
    "acme": [("k1", "ana@partner.example", "confirmed", 10.0, 30.0)],
    "globex": [("k3", "ana@partner.example", "confirmed", 12.0, 12.0)],
}


def test_known_recipients_kept_per_key_become_their_tenants_in_sqlite(tmp_path) -> None:
    from inherence_policy_server._sqlite import _TENANCY

    db = sqlite3.connect(tmp_path / "policy.sqlite3")
    db.executescript(f"{VERSION_4_SCHEMA};{_TENANCY}")
    for key_id, tenant in KEYS_BEFORE:
        db.execute(
            "INSERT INTO api_keys (key_id, prefix, salt, digest, created_at, tenant)"
            " VALUES (?, 'inh_', x'00', x'00', ?, ?)",
            (key_id, START.isoformat(), tenant),
        )
    db.executemany("INSERT INTO known_recipients VALUES (?, ?, ?, ?, ?)", RECIPIENTS_BEFORE)
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()

    migrated = SQLiteStorage(tmp_path)
    try:
        assert migrated.read("PRAGMA user_version") == [(6,)]
        assert _recipients_by_tenant(migrated) == RECIPIENTS_AFTER
    finally:
        migrated.close()


def test_known_recipients_kept_per_key_become_their_tenants_in_postgresql(postgres_server) -> None:
    import psycopg

    from inherence_policy_server._postgres import PostgresStorage, upgrade_database
    from inherence_policy_server._postgres_schema import _STEPS, _VERSION_TABLE

    url = postgres_server.create_database()
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(_VERSION_TABLE)
        db.execute(_STEPS[0])
        db.execute(_STEPS[1])
        db.execute("INSERT INTO inherence_schema (version) VALUES (2)")
        for key_id, tenant in KEYS_BEFORE:
            db.execute(
                "INSERT INTO api_keys (key_id, prefix, salt, digest, created_at, tenant)"
                " VALUES (%s, 'inh_', '\\x00', '\\x00', %s, %s)",
                (key_id, START.isoformat(), tenant),
            )
        with db.cursor() as cursor:
            cursor.executemany("INSERT INTO known_recipients VALUES (%s, %s, %s, %s, %s)", RECIPIENTS_BEFORE)
    assert upgrade_database(url) == (2, 3)
    storage = PostgresStorage(url)
    try:
        assert _recipients_by_tenant(storage) == RECIPIENTS_AFTER
    finally:
        storage.close()


async def test_the_pages_show_the_tenant_chosen_and_the_live_feed_follows_it(app, client) -> None:
    keys = _keys(app)
    await _decide(client, keys["acme"], _payment("1.00", "acme-session"))
    await _decide(client, keys["globex"], _payment("2.00", "globex-session"))
    app.flush()
    assert (await client.post("/login", data={"token": ADMIN_TOKEN})).status_code == 303
    chosen = await client.get("/sessions?tenant=globex")
    assert chosen.status_code == 200
    assert "globex-session" in chosen.text
    assert "acme-session" not in chosen.text
    # The choice holds for the next pages and for the feed the page's script reads.
    keys_page = await client.get("/keys")
    assert "globex proxy" in keys_page.text
    assert "acme proxy" not in keys_page.text
    feed = (await client.get("/api/admin/decisions")).json()["decisions"]
    assert [row["session_id"] for row in feed] == ["globex-session"]
    assert (await client.get("/sessions?tenant=Bad%20Name")).status_code == 422


def test_a_sqlite_file_from_a_newer_release_is_refused(tmp_path) -> None:
    from inherence_policy_server import StorageError

    SQLiteStorage(tmp_path).close()
    db = sqlite3.connect(tmp_path / "policy.sqlite3")
    db.execute("PRAGMA user_version = 99")
    db.close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with pytest.raises(StorageError, match="schema version 99, newer than this server knows"):
            SQLiteStorage(tmp_path)
        gc.collect()
    # The connection opened to read the version is closed on refusal (Python 3.13+ warns of one left open).
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
