"""The PostgreSQL schema: its versions, `db upgrade`, and the check every server makes before serving.

The schema holds what the SQLite file holds, table for table. Its version is one row of
`inherence_schema`. `upgrade()` brings a database to `SCHEMA_VERSION` in one transaction,
holding an advisory lock so two upgrades started at once run one after the other; a server
only checks the version and refuses a database it was not upgraded for, or one a newer
release upgraded. Times compared as text (ISO 8601) and names ordered as text use the "C"
collation, so their order is the byte order SQLite uses, whatever the database's locale.
"""

from __future__ import annotations

from typing import Any

from inherence_policy_server._errors import StorageError

__all__ = ["SCHEMA_VERSION", "check_schema", "schema_version", "upgrade"]

_UPGRADE_LOCK = 0x1E4E_0001
_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS inherence_schema (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), version INTEGER NOT NULL,
    upgraded_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""
_VERSION_1 = """
CREATE TABLE api_keys (
    key_id TEXT PRIMARY KEY, prefix TEXT NOT NULL, salt BYTEA NOT NULL, digest BYTEA NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL, revoked_at TEXT, label TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY, client TEXT, first_seen TEXT COLLATE "C" NOT NULL,
    last_seen TEXT COLLATE "C" NOT NULL
);
CREATE TABLE sensitive_reads (
    session_id TEXT NOT NULL, label TEXT NOT NULL, at DOUBLE PRECISION NOT NULL,
    seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (session_id, label)
);
CREATE INDEX sensitive_reads_by_time ON sensitive_reads (at);
CREATE TABLE transfers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, account TEXT NOT NULL, recipient TEXT NOT NULL,
    amount_cents BIGINT NOT NULL, at DOUBLE PRECISION NOT NULL
);
CREATE INDEX transfers_by_account ON transfers (account, at);
CREATE TABLE recipients (
    account TEXT NOT NULL, recipient TEXT NOT NULL, first_paid DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (account, recipient)
);
CREATE TABLE decisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, decision_id TEXT NOT NULL, at TEXT COLLATE "C" NOT NULL,
    client TEXT, session_id TEXT, upstream TEXT COLLATE "C", tool_name TEXT NOT NULL, category TEXT NOT NULL,
    decision TEXT NOT NULL, rule TEXT COLLATE "C", reason TEXT, arguments TEXT NOT NULL, request_id TEXT, key_id TEXT
);
CREATE INDEX decisions_by_session ON decisions (session_id, id);
CREATE INDEX decisions_by_decision ON decisions (decision, id);
CREATE INDEX decisions_by_rule ON decisions (rule, id);
CREATE INDEX decisions_by_upstream ON decisions (upstream, id);
CREATE INDEX decisions_by_time ON decisions (at);
CREATE TABLE admin_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at TEXT COLLATE "C" NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL
);
CREATE TABLE approvals (
    approval_id TEXT PRIMARY KEY, binding TEXT NOT NULL, key_id TEXT, session_id TEXT NOT NULL, upstream TEXT,
    tool_name TEXT NOT NULL, rule TEXT, clauses TEXT NOT NULL, reason TEXT NOT NULL, summary TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL, expires_at DOUBLE PRECISION NOT NULL, state TEXT NOT NULL,
    decided_at DOUBLE PRECISION, used_at DOUBLE PRECISION
);
CREATE INDEX approvals_by_binding ON approvals (binding, state);
CREATE INDEX approvals_by_state ON approvals (state, created_at);
CREATE TABLE read_sessions (
    session_id TEXT PRIMARY KEY, touched DOUBLE PRECISION NOT NULL, reported DOUBLE PRECISION
);
CREATE INDEX read_sessions_by_time ON read_sessions (touched);
CREATE TABLE read_items (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, session_id TEXT NOT NULL, digest BIGINT NOT NULL,
    kind TEXT NOT NULL, label TEXT NOT NULL, at DOUBLE PRECISION NOT NULL, UNIQUE (session_id, digest)
);
CREATE INDEX read_items_by_age ON read_items (session_id, kind, at);
CREATE INDEX read_items_by_time ON read_items (at);
CREATE TABLE known_recipients (
    tenant TEXT NOT NULL, recipient TEXT COLLATE "C" NOT NULL, source TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL, PRIMARY KEY (tenant, recipient)
);
CREATE INDEX known_recipients_by_time ON known_recipients (tenant, last_seen);
"""
# Every key belongs to a tenant, and so does what its calls leave behind; what was kept before is the
# default tenant's. Dashboard logins and the live rule settings move here, shared by every server.
_VERSION_2 = """
ALTER TABLE api_keys ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX api_keys_by_tenant ON api_keys (tenant, created_at);
ALTER TABLE sessions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE sessions DROP CONSTRAINT sessions_pkey, ADD PRIMARY KEY (tenant, session_id);
CREATE INDEX sessions_by_time ON sessions (tenant, last_seen);
ALTER TABLE sensitive_reads ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE sensitive_reads DROP CONSTRAINT sensitive_reads_pkey, ADD PRIMARY KEY (tenant, session_id, label);
ALTER TABLE read_sessions ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE read_sessions DROP CONSTRAINT read_sessions_pkey, ADD PRIMARY KEY (tenant, session_id);
CREATE INDEX read_sessions_by_tenant ON read_sessions (tenant, touched);
ALTER TABLE read_items ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE read_items DROP CONSTRAINT read_items_session_id_digest_key, ADD UNIQUE (tenant, session_id, digest);
DROP INDEX read_items_by_age;
CREATE INDEX read_items_by_age ON read_items (tenant, session_id, kind, at);
ALTER TABLE transfers ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
DROP INDEX transfers_by_account;
CREATE INDEX transfers_by_account ON transfers (tenant, account, at);
ALTER TABLE recipients ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
ALTER TABLE recipients DROP CONSTRAINT recipients_pkey, ADD PRIMARY KEY (tenant, account, recipient);
ALTER TABLE decisions ADD COLUMN tenant TEXT COLLATE "C" NOT NULL DEFAULT 'default';
DROP INDEX decisions_by_session;
DROP INDEX decisions_by_decision;
DROP INDEX decisions_by_rule;
DROP INDEX decisions_by_upstream;
CREATE INDEX decisions_by_tenant ON decisions (tenant, id);
CREATE INDEX decisions_by_session ON decisions (tenant, session_id, id);
CREATE INDEX decisions_by_decision ON decisions (tenant, decision, id);
CREATE INDEX decisions_by_rule ON decisions (tenant, rule, id);
CREATE INDEX decisions_by_upstream ON decisions (tenant, upstream, id);
ALTER TABLE approvals ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX approvals_by_tenant ON approvals (tenant, state, created_at);
CREATE TABLE admin_sessions (digest TEXT PRIMARY KEY, csrf TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE rule_settings (
    only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row), version BIGINT NOT NULL, config TEXT NOT NULL,
    changed_at DOUBLE PRECISION NOT NULL
);
"""
# Known recipients move from their key to the key's tenant, shared by all its keys (a key no longer known,
# or the keyless `local`, to the default tenant). One recipient known to several keys of a tenant keeps
# the first key, source and time it became known, and the last time it was seen.
_VERSION_3 = """
ALTER TABLE known_recipients RENAME TO known_recipients_v2;
ALTER INDEX known_recipients_by_time RENAME TO known_recipients_v2_by_time;
ALTER TABLE known_recipients_v2 RENAME CONSTRAINT known_recipients_pkey TO known_recipients_v2_pkey;
CREATE TABLE known_recipients (
    tenant TEXT COLLATE "C" NOT NULL, recipient TEXT COLLATE "C" NOT NULL, key_id TEXT NOT NULL, source TEXT NOT NULL,
    first_seen DOUBLE PRECISION NOT NULL, last_seen DOUBLE PRECISION NOT NULL, PRIMARY KEY (tenant, recipient)
);
INSERT INTO known_recipients (tenant, recipient, key_id, source, first_seen, last_seen)
SELECT tenant, recipient, key_id, source, first_seen, latest FROM (
    SELECT moved.*, MAX(last_seen) OVER (PARTITION BY tenant, recipient) AS latest,
        ROW_NUMBER() OVER (PARTITION BY tenant, recipient ORDER BY first_seen, key_id) AS place
    FROM (
        SELECT COALESCE(api_keys.tenant, 'default') AS tenant, known.recipient, known.tenant AS key_id,
            known.source, known.first_seen, known.last_seen
        FROM known_recipients_v2 AS known LEFT JOIN api_keys ON api_keys.key_id = known.tenant
    ) AS moved
) AS ranked WHERE place = 1;
DROP TABLE known_recipients_v2;
CREATE INDEX known_recipients_by_time ON known_recipients (tenant, last_seen);
"""
# Step n brings a database from version n - 1 to version n.
_STEPS = (_VERSION_1, _VERSION_2, _VERSION_3)
SCHEMA_VERSION = len(_STEPS)
_UPGRADE_COMMAND = "inherence-policy-server db upgrade --database-url ..."


def schema_version(db: Any) -> int | None:
    """The version recorded in the database; None when it has no schema of ours."""
    if db.execute("SELECT to_regclass('inherence_schema')").fetchone()[0] is None:
        return None
    row = db.execute("SELECT version FROM inherence_schema").fetchone()
    return None if row is None else int(row[0])


def check_schema(db: Any, where: str) -> None:
    """Refuse (`StorageError`) a database that is not at this release's schema version."""
    found = schema_version(db)
    if found == SCHEMA_VERSION:
        return
    if found is None:
        raise StorageError(f"the database {where} has no policy schema yet: run `{_UPGRADE_COMMAND}` first")
    if found < SCHEMA_VERSION:
        raise StorageError(
            f"the database {where} is at schema version {found}, this server needs version {SCHEMA_VERSION}:"
            f" run `{_UPGRADE_COMMAND}`"
        )
    raise StorageError(
        f"the database {where} is at schema version {found}, newer than this server knows ({SCHEMA_VERSION}):"
        " upgrade inherence-policy-server, or use another database"
    )


def upgrade(db: Any, where: str) -> tuple[int, int]:
    """Bring the database to `SCHEMA_VERSION` (in the caller's transaction); the versions before and after."""
    db.execute("SELECT pg_advisory_xact_lock(%s)", (_UPGRADE_LOCK,))
    db.execute(_VERSION_TABLE)
    before = schema_version(db) or 0
    if before > SCHEMA_VERSION:
        check_schema(db, where)
    for version in range(before + 1, SCHEMA_VERSION + 1):
        db.execute(_STEPS[version - 1])
    db.execute(
        "INSERT INTO inherence_schema (version) VALUES (%s)"
        " ON CONFLICT (only_row) DO UPDATE SET version = excluded.version, upgraded_at = now()",
        (SCHEMA_VERSION,),
    )
    return before, SCHEMA_VERSION
