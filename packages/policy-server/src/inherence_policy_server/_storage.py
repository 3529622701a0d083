"""The narrow storage interface the server needs; SQLite and PostgreSQL implement it.

The rules see only the `SessionLedger` part of it (through `Storage.ledger`); the HTTP layer
sees keys, sessions and the decision log. Nothing outside a backend module speaks SQL.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from inherence_policy_server._approvals import Approvals
from inherence_policy_server._errors import ServerUsageError
from inherence_policy_server._keys import ApiKeyRecord
from inherence_policy_server.rules._api import SessionLedger

__all__ = ["DecisionLogEntry", "SQLStorage", "Storage", "open_storage"]


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


class Storage(Protocol):
    """Everything the server keeps between calls and between processes."""

    @property
    def ledger(self) -> SessionLedger:
        """The sessions and velocity state the rules read and update."""
        ...

    @property
    def approvals(self) -> Approvals:
        """The questions to a person about calls answered `confirm`, and their answers."""
        ...

    def add_key(self, record: ApiKeyRecord) -> None: ...

    def find_key(self, key_id: str) -> ApiKeyRecord | None: ...

    def list_keys(self) -> list[ApiKeyRecord]: ...

    def revoke_key(self, key_id: str, now: datetime.datetime) -> None:
        """Mark a key revoked; `UnknownKeyError` when there is no such key."""
        ...

    def has_active_keys(self) -> bool: ...

    def touch_sessions(self, seen: Sequence[tuple[str, str | None, datetime.datetime]]) -> None:
        """Record (session id, client, time) sightings: first and last seen per session."""
        ...

    def append_decisions(self, entries: Sequence[DecisionLogEntry]) -> None: ...

    def recent_decisions(self, limit: int = 100) -> list[DecisionLogEntry]:
        """The newest decisions first."""
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
