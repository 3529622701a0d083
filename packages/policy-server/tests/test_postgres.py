"""PostgreSQL: `db upgrade`, the schema check before serving, the CLI on a database URL, no password shown,
and a decide that checks its key and reads the ledger on one connection."""

from __future__ import annotations

import datetime

import httpx2
import psycopg
import pytest
from click.testing import CliRunner

from inherence_policy_server import StorageError, create_app, issue_key
from inherence_policy_server._postgres import PostgresStorage, upgrade_database
from inherence_policy_server._postgres_schema import SCHEMA_VERSION
from inherence_policy_server.cli import main

from .conftest import START

PASSWORD = "pw-Zq8-never-shown"


@pytest.fixture
def empty_url(postgres_server) -> str:
    """A database with no schema of ours."""
    return str(postgres_server.create_database())


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env={"INHERENCE_POLICY_DATA_DIR": None})
    return result.exit_code, result.output


def test_db_upgrade_creates_the_schema_once(empty_url) -> None:
    code, output = _cli("db", "upgrade", "--database-url", empty_url)
    assert code == 0, output
    assert f"from schema version 0 to {SCHEMA_VERSION}" in output
    code, output = _cli("db", "upgrade", "--database-url", empty_url)
    assert code == 0, output
    assert "nothing to do" in output
    PostgresStorage(empty_url).close()


def test_a_database_never_upgraded_is_refused_naming_the_command(empty_url) -> None:
    with pytest.raises(StorageError, match="no policy schema yet: run `inherence-policy-server db upgrade"):
        PostgresStorage(empty_url)
    code, output = _cli("serve", "--database-url", empty_url, "--no-dashboard")
    assert code == 1
    assert "db upgrade" in output
    with psycopg.connect(empty_url) as db:
        assert db.execute("SELECT to_regclass('api_keys')").fetchone() == (None,)


def test_a_schema_newer_than_the_server_is_refused(postgres_url) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE inherence_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(StorageError, match="newer than this server knows"):
        PostgresStorage(postgres_url)
    with pytest.raises(StorageError, match="newer than this server knows"):
        upgrade_database(postgres_url)


def test_an_older_schema_is_refused_until_upgraded(postgres_url) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("UPDATE inherence_schema SET version = 0")
    with pytest.raises(StorageError, match=f"needs version {SCHEMA_VERSION}: run `inherence-policy-server db upgrade"):
        PostgresStorage(postgres_url)


def test_keys_are_managed_on_a_database_url(postgres_url) -> None:
    code, secret = _cli("keys", "create", "--database-url", postgres_url, "--label", "team")
    assert code == 0
    key_id = secret.split("_")[1]
    code, listed = _cli("keys", "list", "--database-url", postgres_url)
    assert key_id in listed
    assert "team" in listed
    assert _cli("keys", "revoke", "--database-url", postgres_url, key_id)[0] == 0
    storage = PostgresStorage(postgres_url)
    try:
        record = storage.find_key(key_id)
        assert record is not None
        assert record.revoked_at is not None
    finally:
        storage.close()


def test_a_data_dir_and_a_database_url_together_are_refused(postgres_url, tmp_path) -> None:
    code, output = _cli("keys", "list", "--database-url", postgres_url, "--data-dir", str(tmp_path))
    assert code == 1
    assert "not both" in output
    code, output = _cli("keys", "list")
    assert code == 1
    assert "--data-dir (SQLite) or --database-url (PostgreSQL)" in output


def test_the_password_of_the_url_is_never_shown(postgres_url) -> None:
    closed = f"postgresql://policy:{PASSWORD}@127.0.0.1:1/policy"
    with pytest.raises(StorageError) as refused:
        PostgresStorage(closed)
    assert PASSWORD not in str(refused.value)
    assert "127.0.0.1:1/policy" in str(refused.value)
    code, output = _cli("db", "upgrade", "--database-url", f"postgresql://policy:{PASSWORD}@127.0.0.1:1/x?bad=1")
    assert code == 1
    assert PASSWORD not in output
    # The test server trusts loopback, so the password is not checked; the storage never shows it.
    storage = PostgresStorage(postgres_url.replace("postgres@", f"postgres:{PASSWORD}@"))
    assert PASSWORD not in repr(storage)
    assert storage.where in repr(storage)
    storage.close()


def test_one_approval_is_claimed_once_across_two_storages(postgres_url) -> None:
    from .test_approvals import TTL, question

    first, second = PostgresStorage(postgres_url), PostgresStorage(postgres_url)
    try:
        asked = first.approvals.ask(question(), START, TTL)
        assert second.approvals.ask(question(), START, TTL).id == asked.id
        second.approvals.approve(asked.id, START)
        claims = [storage.approvals.claim(question().binding, START) for storage in (first, second)]
        assert [claim is not None for claim in claims] == [True, False]
    finally:
        first.close()
        second.close()


def test_a_worker_process_opens_the_database_its_parent_names(postgres_url) -> None:
    from inherence_policy_server._serving import ENV_DATA_DIR, ENV_DATABASE_URL, app_from_environment

    app = app_from_environment({ENV_DATA_DIR: "", ENV_DATABASE_URL: postgres_url})
    try:
        assert isinstance(app.storage, PostgresStorage)
        assert app.require_key
    finally:
        app.close()


def _send(session: str) -> dict[str, object]:
    # A send to an outside address: the rules read the ledger (known recipients, what the session read).
    arguments = {"to": "someone@outside.example", "subject": "notes", "body": "the notes"}
    return {
        "tool_name": "mail__send_email",
        "classification": "outbound_send",
        "arguments": arguments,
        "session_id": session,
    }


async def test_a_decide_checks_its_key_and_reads_the_ledger_on_one_connection(postgres_url) -> None:
    storage = PostgresStorage(postgres_url)
    app = create_app(storage=storage)
    issued = issue_key(START, "proxy")
    storage.add_key(issued.record)
    headers = {"authorization": f"Bearer {issued.secret_key}"}
    transport = httpx2.ASGITransport(app=app)
    threads = app._decide_endpoint.threads
    try:
        # The log's writer takes connections of its own: stopped, it takes none while connections are counted.
        app.decision_log.close()
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            storage._pool.pop_stats()
            for _ in range(3 * threads):
                answer = await client.post("/api/proxy/decide", json=_send("s1"), headers=headers)
                assert answer.status_code == 200, answer.text
                assert answer.json()["decision"] == "allow"  # nothing private was read in the session
            # Each deciding thread takes one connection from the pool and keeps it for the decides that follow.
            assert storage._pool.get_stats().get("requests_num", 0) <= threads

            # The key is read for every call: revoked through another storage (server), refused at once.
            other = PostgresStorage(postgres_url)
            other.revoke_key(issued.record.key_id, START)
            other.close()
            refused = await client.post("/api/proxy/decide", json=_send("s1"), headers=headers)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            malformed = {"authorization": "Bearer inh_not-a-key"}
            assert (await client.post("/api/proxy/decide", json=_send("s1"), headers=malformed)).status_code == 401
            assert (await client.post("/api/proxy/decide", json=_send("s1"))).status_code == 401
    finally:
        app.close()


async def test_a_decide_whose_key_cannot_be_read_is_unavailable_never_decided(postgres_url) -> None:
    storage = PostgresStorage(postgres_url)
    app = create_app(storage=storage)
    issued = issue_key(START, "proxy")
    storage.add_key(issued.record)
    storage.close()  # the database is out of reach from here on
    transport = httpx2.ASGITransport(app=app)
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            headers = {"authorization": f"Bearer {issued.secret_key}"}
            answer = await client.post("/api/proxy/decide", json=_send("s1"), headers=headers)
        assert answer.status_code == 503
        assert answer.json()["error"] == "UNAVAILABLE"
        assert issued.secret_key not in answer.text
    finally:
        app.close()


async def test_a_deciding_thread_whose_connection_was_cut_takes_another(postgres_url) -> None:
    storage = PostgresStorage(postgres_url)
    app = create_app(storage=storage)
    issued = issue_key(START, "proxy")
    storage.add_key(issued.record)
    headers = {"authorization": f"Bearer {issued.secret_key}"}
    transport = httpx2.ASGITransport(app=app)
    threads = app._decide_endpoint.threads
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for _ in range(2 * threads):
                assert (await client.post("/api/proxy/decide", json=_send("s1"), headers=headers)).status_code == 200
            # The database ends every connection of the server (a restart, a failover, an administrator).
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            statuses = []
            for _ in range(3 * storage.pool_size):
                answer = await client.post("/api/proxy/decide", json=_send("s1"), headers=headers)
                statuses.append(answer.status_code)
                assert answer.status_code in (200, 503), answer.text
        # Each cut connection fails one decide at most (answered 503, never decided); then it is replaced.
        assert statuses.count(503) <= storage.pool_size, statuses
    finally:
        app.close()


def test_a_thread_that_holds_keeps_one_connection_across_decides(postgres_url) -> None:
    storage = PostgresStorage(postgres_url)
    backends: list[int] = []

    def decide_twice() -> None:
        for _ in range(2):
            with storage.pinned():
                backends.append(int(storage.query("SELECT pg_backend_pid()")[0][0]))  # type: ignore[call-overload]

    try:
        with storage.held():
            decide_twice()
            in_use = storage._pool.get_stats()["pool_size"] - storage._pool.get_stats()["pool_available"]
            assert in_use == 1  # kept between decides
        assert backends[0] == backends[1]
        # Outside `held()`, each decide gives its connection back.
        decide_twice()
        stats = storage._pool.get_stats()
        assert stats["pool_size"] == stats["pool_available"]
    finally:
        storage.close()


def test_a_key_found_before_is_read_afresh_once_revoked_elsewhere(postgres_url) -> None:
    first, second = PostgresStorage(postgres_url), PostgresStorage(postgres_url)
    issued = issue_key(START, "proxy")
    try:
        first.add_key(issued.record)
        for _ in range(2):  # the second find answers from what the first one read, checking it still stands
            found = first.find_key(issued.record.key_id)
            assert found is not None
            assert found.active
            assert found.digest == issued.record.digest
        second.revoke_key(issued.record.key_id, START)
        revoked = first.find_key(issued.record.key_id)
        assert revoked is not None
        assert revoked.revoked_at == START
        assert first.find_key(issued.record.key_id) == revoked
    finally:
        first.close()
        second.close()


def test_a_decide_reads_what_its_session_read_in_one_statement(postgres_url) -> None:
    import json

    storage = PostgresStorage(postgres_url)
    app = create_app(storage=storage, require_key=False, clock=lambda: START)
    statements: list[str] = []
    query = storage.query

    def counted(sql: str, parameters=()):  # type: ignore[no-untyped-def]
        statements.append(sql)
        return query(sql, parameters)

    storage.query = counted  # type: ignore[method-assign]
    try:
        body = json.dumps(_send("fresh")).encode()
        # A send to a new recipient in a session that read nothing: the exfiltration rule asks whether the
        # session read items (twice) and what it read unreported; one statement answers all three.
        status, answer = app.decide_with_key(None, body) or (0, b"")
        assert status == 200
        assert json.loads(answer)["decision"] == "allow"
        reads = [sql for sql in statements if "read_items" in sql or "sensitive_reads" in sql]
        assert len(reads) == 1, statements
        # Nothing read and nothing handed over by name: no recipient needs looking up.
        assert not [sql for sql in statements if "known_recipients" in sql], statements

        # A sensitive read recorded earlier (and not reported since) still makes that send a question.
        storage.ledger.record_sensitive_read("fresh", "a credentials file", START)
        later = json.loads((app.decide_with_key(None, body) or (0, b""))[1])
        assert later["decision"] == "deny", later  # a confirm, to a caller that cannot confirm
        assert "a credentials file" in later["reason"]
    finally:
        app.close()


def test_a_write_in_a_decide_forgets_what_it_read_of_sessions(postgres_url) -> None:
    from inherence_policy_server.rules._material import SECRET, ReadItem

    storage = PostgresStorage(postgres_url)
    ledger = storage.ledger
    try:
        with storage.pinned():
            assert not ledger.has_read_items("s1", START)
            assert ledger.unreported_reads("s1", START) == []
            ledger.record_sensitive_read("s1", "an SSH key", START)
            assert ledger.unreported_reads("s1", START) == ["an SSH key"]
            assert not ledger.has_read_items("s1", START)
            later = START + datetime.timedelta(seconds=1)
            ledger.record_read_items("s1", [ReadItem(SECRET, 7, "a secret setting")], later)
            assert ledger.has_read_items("s1", later)
            assert ledger.unreported_reads("s1", later) == []  # reported with the result that held them
        assert storage.decide_memo() is None  # nothing is kept past the decide
        assert ledger.has_read_items("s1", START)
    finally:
        storage.close()


def test_a_pipelined_write_that_fails_leaves_nothing_and_the_connection_usable(postgres_url) -> None:
    storage = PostgresStorage(postgres_url)
    insert = "INSERT INTO recipients (tenant, account, recipient, first_paid) VALUES (%s, %s, %s, %s)"
    count = "SELECT COUNT(*) FROM recipients WHERE tenant = 'acme'"

    def twice(fetch: bool) -> None:
        # A statement the database refuses (the same row twice): nothing of the transaction stays,
        # whether its failure surfaces at a fetch in the block or only at the commit.
        with storage.transaction(pipeline=True) as db:
            db.execute(insert, ("acme", "acct", "bob", 1.0))
            db.execute(insert, ("acme", "acct", "bob", 1.0))
            if fetch:
                db.execute("SELECT 1").fetchone()

    def broken_off() -> None:
        # The block itself raises after its statements went out: rolled back too.
        with storage.transaction(pipeline=True) as db:
            db.execute(insert, ("acme", "acct", "carol", 1.0))
            raise KeyError("stop")

    try:
        with storage.held():
            for fetch in (True, False):
                with storage.pinned():
                    with pytest.raises(StorageError):
                        twice(fetch)
                    assert storage.query(count) == [(0,)]
            with storage.pinned():
                with pytest.raises(KeyError):
                    broken_off()
                assert storage.query(count) == [(0,)]
                with storage.transaction(pipeline=True) as db:
                    db.execute(insert, ("acme", "acct", "dave", 1.0))
                assert storage.query(count) == [(1,)]
    finally:
        storage.close()
