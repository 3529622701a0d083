"""The narrow storage interface the server needs; SQLite and PostgreSQL implement it.

The rules see only the `SessionLedger` part of it (through `Storage.ledger`); the HTTP layer
sees keys, sessions and the decision log. Nothing outside a backend module speaks SQL.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from inherence_policy_server._approvals import Approvals
from inherence_policy_server._errors import ServerUsageError
from inherence_policy_server._keys import DEFAULT_TENANT, ApiKeyRecord
from inherence_policy_server.rules._api import SessionLedger

__all__ = [
    "DECISION_COLUMNS",
    "DEFAULT_TENANT",
    "DecisionLogEntry",
    "SQLStorage",
    "Sighting",
    "Storage",
    "check_tenant",
    "open_storage",
    "sighting_tenant",
]

# The decision log's columns, in `DecisionLogEntry` order.
DECISION_COLUMNS = (
    "decision_id, at, client, session_id, upstream, tool_name, category, decision, rule, reason, arguments,"
    " request_id, key_id, tenant"
)
_TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def check_tenant(name: str) -> str:
    """A tenant name as given (1 to 64 of `a-z`, `0-9`, `.`, `_`, `-`); `ServerUsageError` naming the problem."""
    if not _TENANT_NAME.match(name):
        raise ServerUsageError(
            "a tenant name is 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit"
        )
    return name


@dataclasses.dataclass(frozen=True)
class DecisionLogEntry:
    """One decided call for the decision log; the writer masks secrets before storing it."""

    decision_id: str
    at: datetime.datetime
    client: str | None
    session_id: str | None
    upstream: str | None
    tool_name: str
    category: str
    decision: str
    rule: str | None
    reason: str | None
    arguments: Any
    request_id: str | None = None
    key_id: str | None = None
    tenant: str = DEFAULT_TENANT


# A session seen: (session id, client, time), or with its tenant as a fourth item (else the default tenant).
Sighting = tuple[str, str | None, datetime.datetime] | tuple[str, str | None, datetime.datetime, str]


def sighting_tenant(seen: Sighting) -> str:
    return seen[3] if len(seen) > 3 else DEFAULT_TENANT


class Storage(Protocol):
    """Everything the server keeps between calls and between processes."""

    @property
    def ledger(self) -> SessionLedger:
        """The sessions and velocity state the rules read and update."""
        ...

    @property
    def approvals(self) -> Approvals:
        """The questions to a person about calls answered `confirm`, and their answers (every tenant's)."""
        ...

    def tenant_ledger(self, tenant: str) -> SessionLedger:
        """The sessions and velocity state of one tenant, apart from every other tenant's."""
        ...

    def key_tenant(self, key_id: str) -> str | None:
        """The tenant a key belongs to (it never changes); None for an unknown key."""
        ...

    def add_key(self, record: ApiKeyRecord) -> None: ...

    def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_keys(self, tenant: str | None = None) -> list[ApiKeyRecord]:
        """The keys of one tenant, or of all."""
        ...

    def revoke_key(self, key_id: str, now: datetime.datetime) -> None:
        """Mark a key revoked; `UnknownKeyError` when there is no such key."""
        ...

    def has_active_keys(self) -> bool: ...

    def touch_sessions(self, seen: Sequence[Sighting]) -> None:
        """Record (session id, client, time[, tenant]) sightings: first and last seen per session."""
        ...

    def append_decisions(self, entries: Sequence[DecisionLogEntry]) -> None: ...

    def recent_decisions(self, limit: int = 100, tenant: str | None = None) -> list[DecisionLogEntry]:
        """The newest decisions first, of one tenant or of all."""
        ...

    def maintain(self) -> None:
        """Housekeeping that must stay off the request path; called by the decision log writer."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class SQLStorage(Storage, Protocol):
    """A storage the dashboard and the admin log can query in the SQL both backends take (`?` placeholders)."""

    def read(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[object, ...]]: ...

    def write(self) -> AbstractContextManager[Any]:
        """One transaction: `execute(sql, parameters)` and `executemany(sql, rows)`."""
        ...


def open_storage(*, data_dir: pathlib.Path | str | None = None, database_url: str | None = None) -> SQLStorage:
    """PostgreSQL when a database URL is given (its schema upgraded), else SQLite in the data dir."""
    if database_url:
        # Imported only here: a server on SQLite never loads the PostgreSQL driver.
        from inherence_policy_server._postgres import PostgresStorage

        return PostgresStorage(database_url)
    if data_dir is None:
        raise ServerUsageError("no state to use: give a data dir (SQLite) or a database URL (PostgreSQL)")
    from inherence_policy_server._sqlite import SQLiteStorage

    return SQLiteStorage(pathlib.Path(data_dir))
