"""PostgreSQL storage: the state of several servers on several machines in one database.

A pool of connections (psycopg 3, `psycopg_pool`) serves the threads of one process; every
write is one transaction. A decide holds one connection from its key check to its answer
(`pinned()`), so its statements take no further turns at the pool. The decision log is
written with COPY, and the sessions seen with one statement per batch. What must be atomic
across processes takes a lock in the database (the velocity ledger: an advisory lock per
account). The schema is created and migrated by `inherence-policy-server db upgrade`; opening
the storage checks its version and refuses a database not upgraded for this release (or
upgraded by a newer one).

The database URL may hold a password: it never appears in an error or a log line here, only
`host:port/database` does.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
import psycopg.conninfo
import psycopg_pool

from inherence_policy_server._approvals import Approvals
from inherence_policy_server._errors import StorageError, UnknownKeyError
from inherence_policy_server._keys import ApiKeyRecord
from inherence_policy_server._postgres_ledger import PostgresLedger
from inherence_policy_server._postgres_schema import check_schema, upgrade
from inherence_policy_server._storage import (
    DECISION_COLUMNS,
    DEFAULT_TENANT,
    DecisionLogEntry,
    Sighting,
    sighting_tenant,
)

__all__ = ["PostgresStorage", "describe_url", "upgrade_database"]

# How long a deciding thread keeps one connection before the pool gets it back (to renew it).
_KEEP_SECONDS = 300.0
# At most this many active keys are remembered between calls (then they are all read afresh).
_ACTIVE_KEYS = 4096
_KEY_COLUMNS = "key_id, prefix, salt, digest, created_at, revoked_at, label, tenant"


def describe_url(url: str) -> str:
    """`host:port/database` of a database URL, never its user or password; a URL that cannot be read raises."""
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.Error:
        raise StorageError("the database URL cannot be read: expected postgresql://user@host:port/database") from None
    host = str(parts.get("host") or "localhost")
    return f"{host}:{parts.get('port') or 5432}/{parts.get('dbname') or parts.get('user') or '?'}"


def _safe_message(exc: BaseException, url: str) -> str:
    """The first line of a driver error, with the URL's password (if any) taken out."""
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    with contextlib.suppress(psycopg.Error):
        password = psycopg.conninfo.conninfo_to_dict(url).get("password")
        if password:
            text = text.replace(str(password), "***")
    return text[:300]


def _connect(url: str, where: str, timeout: float) -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        raise StorageError(f"cannot connect to the database {where}: {_safe_message(exc, url)}") from None


def upgrade_database(url: str, *, timeout: float = 10.0) -> tuple[int, int]:
    """Create or migrate the schema of the database at `url`; the versions before and after."""
    where = describe_url(url)
    with _connect(url, where, timeout) as db:
        try:
            with db.transaction():
                return upgrade(db, where)
        except psycopg.Error as exc:
            raise StorageError(f"cannot upgrade the database {where}: {_safe_message(exc, url)}") from None


@functools.lru_cache(maxsize=512)
def _portable(sql: str) -> str:
    # The SQL shared with SQLite (approvals, the dashboard, the admin log) uses `?` placeholders.
    return sql.replace("%", "%%").replace("?", "%s")


class _Portable:
    """A transaction's connection that takes the `?` placeholders of the SQL shared with SQLite."""

    def __init__(self, db: psycopg.Connection[Any]) -> None:
        self._db = db

    def execute(self, sql: str, parameters: Sequence[object] = ()) -> psycopg.Cursor[Any]:
        return self._db.execute(_portable(sql), parameters)

    def executemany(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        with self._db.cursor() as cursor:
            cursor.executemany(_portable(sql), rows)


class PostgresStorage:
    """`Storage` over a PostgreSQL database (`postgresql://user:password@host:port/database`)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = 8, timeout: float = 10.0) -> None:
        self.where = describe_url(url)
        self.url = url
        with _connect(url, self.where, timeout) as db:
            check_schema(db, self.where)
        self._pool: psycopg_pool.ConnectionPool[Any] = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=pool_size, timeout=timeout, kwargs={"autocommit": True}, open=False
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except psycopg_pool.PoolTimeout:
            self._pool.close()
            raise StorageError(f"cannot open connections to the database {self.where}") from None
        self.pool_size = pool_size
        # The connection a thread holds for the whole of one decide (see `pinned`).
        self._pinned = threading.local()
        self._ledgers: dict[str, PostgresLedger] = {}
        # Keys found active, by id: their stored `created_at` and record (see `find_key`).
        self._active_keys: dict[str, tuple[object, ApiKeyRecord]] = {}
        self._ledger = self.tenant_ledger(DEFAULT_TENANT)
        self._approvals = Approvals(self)

    def __repr__(self) -> str:
        # Never the URL: it may hold the password.
        return f"PostgresStorage({self.where!r})"

    @property
    def ledger(self) -> PostgresLedger:
        """The default tenant's ledger."""
        return self._ledger

    def tenant_ledger(self, tenant: str) -> PostgresLedger:
        ledger = self._ledgers.get(tenant)
        if ledger is None:
            ledger = self._ledgers.setdefault(tenant, PostgresLedger(self, tenant))
        return ledger

    def key_tenant(self, key_id: str) -> str | None:
        rows = self.query("SELECT tenant FROM api_keys WHERE key_id = %s", (key_id,))
        return str(rows[0][0]) if rows else None

    @property
    def approvals(self) -> Approvals:
        return self._approvals

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Hold one pooled connection for this thread until the block ends: every statement in it uses it.

        A decide checks its key, reads the ledger and writes what it must through one connection,
        instead of taking one from the pool (and giving it back) for each statement. In a thread
        inside `held()`, the connection (and one cursor on it) stays with the thread from block to block.
        """
        local = self._pinned
        if getattr(local, "db", None) is not None:
            yield
            return
        if getattr(local, "hold", False):
            kept = getattr(local, "kept", None)
            if kept is None:
                kept = local.kept = self._take_kept()
            local.db, local.cursor = kept
            local.memo = {}
            try:
                yield
            finally:
                local.db = local.cursor = local.memo = None
                self._check_kept(kept[0])
            return
        with contextlib.ExitStack() as stack:
            try:
                # Given back when the block ends; the pool drops a connection that broke meanwhile.
                local.db = stack.enter_context(self._pool.connection())
                local.memo = {}
            except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
                raise StorageError(f"the database {self.where} failed: {_safe_message(exc, self.url)}") from None
            try:
                yield
            finally:
                local.db = local.memo = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """For a thread that decides call after call: its `pinned()` blocks keep one connection until this ends.

        The connection is taken from the pool by the first block and given back when this block ends;
        it is swapped for another when it broke, or after `_KEEP_SECONDS` so that the pool renews it.
        """
        local = self._pinned
        local.hold = True
        try:
            yield
        finally:
            local.hold = False
            kept, local.kept = getattr(local, "kept", None), None
            if kept is not None:
                self._give_back(kept[0])

    def _take_kept(self) -> tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]:
        try:
            db = self._pool.getconn()
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StorageError(f"the database {self.where} failed: {_safe_message(exc, self.url)}") from None
        self._pinned.kept_since = time.monotonic()
        return db, db.cursor()

    def _check_kept(self, db: psycopg.Connection[Any]) -> None:
        # A connection that broke, was left in a transaction, or was kept long goes back to the pool.
        local = self._pinned
        idle = db.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        if db.closed or db.broken or not idle or time.monotonic() - local.kept_since > _KEEP_SECONDS:
            local.kept = None
            self._give_back(db)

    def _give_back(self, db: psycopg.Connection[Any]) -> None:
        with contextlib.suppress(psycopg.Error, psycopg_pool.PoolTimeout):
            self._pool.putconn(db)

    def decide_memo(self) -> dict[Any, Any] | None:
        """What the ledger read in this thread's `pinned()` block (one decide), to reuse; None outside one."""
        memo: dict[Any, Any] | None = getattr(self._pinned, "memo", None)
        return memo

    def _connection(self) -> contextlib.AbstractContextManager[psycopg.Connection[Any]]:
        db = getattr(self._pinned, "db", None)
        return contextlib.nullcontext(db) if db is not None else self._pool.connection()

    @contextlib.contextmanager
    def transaction(self, *, pipeline: bool = False) -> Iterator[psycopg.Connection[Any]]:
        """One transaction on a pooled connection (`%s` placeholders); a driver error is a `StorageError`.

        With `pipeline`, statements are sent without waiting for each one's answer until a result is
        fetched (and at the commit): the database still runs them one after the other, in order, each
        on a fresh snapshot, so the transaction means the same and takes fewer round trips.
        """
        try:
            with self._connection() as db, _pipelined(db) if pipeline else db.transaction():
                yield db
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StorageError(f"the database {self.where} failed: {_safe_message(exc, self.url)}") from None

    @contextlib.contextmanager
    def write(self) -> Iterator[_Portable]:
        """One transaction taking the `?` placeholders of the SQL shared with SQLite."""
        with self.transaction() as db:
            yield _Portable(db)

    def read(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[object, ...]]:
        """Rows of one query in `?` placeholders (the SQL shared with SQLite)."""
        return self.query(_portable(sql), parameters)

    def query(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[object, ...]]:
        """Rows of one query in `%s` placeholders."""
        try:
            cursor = getattr(self._pinned, "cursor", None)
            if cursor is not None:
                # In a decide on a kept connection: its one cursor, not a new one per statement.
                rows: list[tuple[object, ...]] = cursor.execute(sql, parameters).fetchall()
                return rows
            with self._connection() as db:
                rows = db.execute(sql, parameters).fetchall()
                return rows
        except (psycopg.Error, psycopg_pool.PoolTimeout) as exc:
            raise StorageError(f"cannot read the database {self.where}: {_safe_message(exc, self.url)}") from None

    def add_key(self, record: ApiKeyRecord) -> None:
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO api_keys ({_KEY_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    record.key_id,
                    record.prefix,
                    record.salt,
                    record.digest,
                    _iso(record.created_at),
                    None,
                    record.label,
                    record.tenant,
                ),
            )

    def find_key(self, key_id: str) -> ApiKeyRecord | None:
        """The key as it stands in the database now (every call reads whether it is revoked)."""
        active = self._active_keys.get(key_id)
        if active is not None:
            # Only `revoked_at` of a key ever changes: read it (and `created_at`, which tells the same key).
            rows = self.query("SELECT created_at FROM api_keys WHERE key_id = %s AND revoked_at IS NULL", (key_id,))
            if rows and rows[0][0] == active[0]:
                return active[1]
        rows = self.query(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE key_id = %s", (key_id,))
        record = _key_from_row(rows[0]) if rows else None
        if record is None or not record.active:
            self._active_keys.pop(key_id, None)
        else:
            if len(self._active_keys) >= _ACTIVE_KEYS:
                self._active_keys.clear()
            self._active_keys[key_id] = (rows[0][4], record)
        return record

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        if tenant is None:
            rows = self.query(f"SELECT {_KEY_COLUMNS} FROM api_keys ORDER BY created_at")
        else:
            rows = self.query(f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE tenant = %s ORDER BY created_at", (tenant,))
        return [_key_from_row(row) for row in rows]

    def revoke_key(self, key_id: str, now: datetime.datetime) -> None:
        with self.transaction() as db:
            cursor = db.execute(
                "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, %s) WHERE key_id = %s", (_iso(now), key_id)
            )
            if cursor.rowcount == 0:
                raise UnknownKeyError(key_id)

    def has_active_keys(self) -> bool:
        return bool(self.query("SELECT 1 FROM api_keys WHERE revoked_at IS NULL LIMIT 1"))

    def touch_sessions(self, seen: Sequence[Sighting]) -> None:
        if not seen:
            return
        # One row per session, as storing the sightings one by one in order would leave it: the first
        # sighting's client and time, the last one's time (one statement may not change a row twice).
        sessions: dict[tuple[str, str], list[Any]] = {}
        for one in seen:
            at = _iso(one[2])
            row = sessions.get((sighting_tenant(one), one[0]))
            if row is None:
                sessions[(sighting_tenant(one), one[0])] = [one[1], at, at]
            else:
                row[2] = at
        keys, rows = list(sessions), list(sessions.values())
        columns = ([key[0] for key in keys], [key[1] for key in keys], *([row[i] for row in rows] for i in range(3)))
        with self.transaction() as db:
            db.execute(
                "INSERT INTO sessions (tenant, session_id, client, first_seen, last_seen)"
                " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[])"
                " ON CONFLICT (tenant, session_id) DO UPDATE SET last_seen = excluded.last_seen",
                columns,
            )

    def append_decisions(self, entries: Sequence[DecisionLogEntry]) -> None:
        if not entries:
            return
        rows = [
            (
                e.decision_id, _iso(e.at), e.client, e.session_id, e.upstream, e.tool_name, e.category, e.decision,
                e.rule, e.reason, json.dumps(e.arguments, separators=(",", ":")), e.request_id, e.key_id, e.tenant,
            )
            for e in entries
        ]  # fmt: skip
        with (
            self.transaction() as db,
            db.cursor() as cursor,
            cursor.copy(f"COPY decisions ({DECISION_COLUMNS}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def recent_decisions(self, limit: int = 100, tenant: str | None = None) -> list[DecisionLogEntry]:
        where, parameters = ("WHERE tenant = %s ", (tenant,)) if tenant is not None else ("", ())
        rows = self.query(
            f"SELECT {DECISION_COLUMNS} FROM decisions {where}ORDER BY id DESC LIMIT %s", (*parameters, limit)
        )
        entries = []
        for row in rows:
            values = list(row)
            values[1] = datetime.datetime.fromisoformat(str(values[1]))
            values[10] = json.loads(str(values[10]))
            entries.append(DecisionLogEntry(*values))  # type: ignore[arg-type]
        return entries

    def maintain(self) -> None:
        """Nothing to do: PostgreSQL's autovacuum keeps the tables."""

    def close(self) -> None:
        self._pool.close()


@contextlib.contextmanager
def _pipelined(db: psycopg.Connection[Any]) -> Iterator[None]:
    """One transaction in pipeline mode: BEGIN, the block's statements and COMMIT go out without waits.

    The connection waits only where the block fetches a result, and once at the end; a block that
    raises (or a statement that fails) is rolled back.
    """
    committed = False
    try:
        with db.pipeline():
            db.execute("BEGIN")
            yield
            db.execute("COMMIT")
        # Only now: a statement's failure may surface only at the pipeline's last sync.
        committed = True
    finally:
        if not committed and not db.closed and db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):
                db.execute("ROLLBACK")


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


def _key_from_row(row: tuple[object, ...]) -> ApiKeyRecord:
    key_id, prefix, salt, digest, created_at, revoked_at, label, tenant = row
    return ApiKeyRecord(
        key_id=str(key_id),
        prefix=str(prefix),
        salt=bytes(salt),  # type: ignore[call-overload]
        digest=bytes(digest),  # type: ignore[call-overload]
        created_at=datetime.datetime.fromisoformat(str(created_at)),
        revoked_at=None if revoked_at is None else datetime.datetime.fromisoformat(str(revoked_at)),
        label=str(label),
        tenant=str(tenant),
    )
