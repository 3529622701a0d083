"""The narrow storage interface the server needs; SQLite implements it, PostgreSQL could.

The rules see only the `SessionLedger` part of it (through `Storage.ledger`); the HTTP layer
sees keys, sessions and the decision log. Nothing outside a backend module speaks SQL.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Any, Protocol

from inherence_policy_server._approvals import Approvals
from inherence_policy_server._keys import ApiKeyRecord
from inherence_policy_server.rules._api import SessionLedger

__all__ = ["DecisionLogEntry", "Storage"]


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
