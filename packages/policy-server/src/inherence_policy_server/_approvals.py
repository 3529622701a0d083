"""Approvals: a person's out-of-band yes to one call the policy answered `confirm`.

An approval is bound to the question: the API key, the session, the upstream, the tool and
a SHA-256 of the arguments' canonical JSON. Another argument or another session is a new
question. It is single use and expires (`[confirmation] approval_ttl_seconds`):

    pending --approve--> approved --(the identical call, once)--> used
       |                    |
       +--decline-----------+--> declined          pending/approved past expires_at: expired

Every change happens in one write transaction of the storage, so two processes sharing the
data dir can never both use one approval. Approving and declining are written to the admin
log too, whoever did it (dashboard, admin API, `inherence-proxy approve`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from types import TracebackType
from typing import Any, Literal, Protocol

from inherence_policy_server._errors import ApprovalExpired, ApprovalNotFound
from inherence_policy_server._keys import DEFAULT_TENANT
from inherence_policy_server._masking import mask_arguments

__all__ = ["Approval", "ApprovalState", "Approvals", "Question", "approval_binding", "arguments_summary"]

ApprovalState = Literal["pending", "approved", "declined", "used", "expired"]
_OPEN = ("pending", "approved")
_COLUMNS = "approval_id, session_id, upstream, tool_name, rule, clauses, reason, created_at, expires_at, state, summary"
# Keys whose values say what a call would do, shown first in a summary.
_TELLING = ("recipient", "payee", "to", "amount", "currency", "path", "command", "cmd", "url", "uri", "address",
            "email", "user", "username", "role", "repo", "query")  # fmt: skip
_SUMMARY_KEYS = 8
_SUMMARY_CHARS = 200


class _Database(Protocol):
    def read(self, sql: str, parameters: Sequence[object] | Mapping[str, object] = ()) -> list[tuple[object, ...]]: ...

    def write(self) -> AbstractContextManager[Any]:
        """One transaction: `execute(sql, parameters)` with `?` placeholders (SQLite's or PostgreSQL's)."""
        ...

    def close(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class Approval:
    """One question to a person and where it stands; `summary` holds the telling arguments, masked."""

    id: str
    session_id: str
    upstream: str | None
    tool_name: str
    rule: str | None
    clauses: tuple[str, ...]
    reason: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    state: ApprovalState
    summary: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Question:
    """What the decision service asks about: the binding and what a person is shown."""

    binding: str
    key_id: str | None
    session_id: str
    upstream: str | None
    tool_name: str
    rule: str | None
    clauses: tuple[str, ...]
    reason: str
    summary: dict[str, Any]
    tenant: str = DEFAULT_TENANT


def approval_binding(key_id: str | None, session_id: str, upstream: str | None, tool_name: str, arguments: Any) -> str:
    """The hex SHA-256 naming one exact call: the key, the session, the upstream, the tool, the arguments."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    parts = (key_id or "", session_id, upstream or "", tool_name, digest)
    return hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def arguments_summary(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments a person needs to see to answer, secrets masked and each value cut short."""
    keys = [key for key in _TELLING if key in arguments]
    keys += [key for key in arguments if key not in keys]
    summary: dict[str, Any] = {}
    for key, value in mask_arguments({key: arguments[key] for key in keys[:_SUMMARY_KEYS]}).items():
        if isinstance(value, (dict, list)):
            value = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        if isinstance(value, str) and len(value) > _SUMMARY_CHARS:
            value = value[:_SUMMARY_CHARS] + "…"
        summary[str(key)[:_SUMMARY_CHARS]] = value
    return summary


def _moment(seconds: object) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(float(str(seconds)), tz=datetime.timezone.utc)


def _approval(row: tuple[object, ...], now: datetime.datetime) -> Approval:
    approval_id, session_id, upstream, tool_name, rule, clauses, reason, created, expires, state, summary = row
    expires_at = _moment(expires)
    shown = "expired" if state in _OPEN and expires_at <= now else str(state)
    return Approval(
        id=str(approval_id),
        session_id=str(session_id),
        upstream=None if upstream is None else str(upstream),
        tool_name=str(tool_name),
        rule=None if rule is None else str(rule),
        clauses=tuple(json.loads(str(clauses))),
        reason=str(reason),
        created_at=_moment(created),
        expires_at=expires_at,
        state=shown,  # type: ignore[arg-type]
        summary=json.loads(str(summary)),
    )


class Approvals:
    """The approvals of one data dir or database. `open_approvals(data_dir)` opens them outside a server.

    They are every tenant's; `for_tenant(name)` lists and answers one tenant's only.
    """

    def __init__(self, database: _Database, *, owns_database: bool = False, tenant: str | None = None) -> None:
        self._db = database
        self._owns_database = owns_database
        self.tenant = tenant
        # An extra condition on the approvals one tenant may see and answer.
        self._only_args: tuple[str, ...]
        self._only, self._only_args = ("", ()) if tenant is None else (" AND tenant = ?", (tenant,))

    def for_tenant(self, tenant: str) -> Approvals:
        """The approvals of one tenant (over the same storage, which stays open)."""
        return Approvals(self._db, tenant=tenant)

    def __enter__(self) -> Approvals:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the storage if these approvals opened it (`open_approvals`)."""
        if self._owns_database:
            self._db.close()

    def pending(self, now: datetime.datetime) -> list[Approval]:
        """The questions still waiting for an answer, oldest first."""
        rows = self._db.read(
            f"SELECT {_COLUMNS} FROM approvals WHERE state = 'pending' AND expires_at > ?{self._only}"
            " ORDER BY created_at",
            (now.timestamp(), *self._only_args),
        )
        return [_approval(row, now) for row in rows]

    def recent(self, now: datetime.datetime, limit: int = 100) -> list[Approval]:
        """The newest approvals in every state, newest first."""
        where = f"WHERE {self._only[5:]} " if self._only else ""
        rows = self._db.read(
            f"SELECT {_COLUMNS} FROM approvals {where}ORDER BY created_at DESC LIMIT ?", (*self._only_args, limit)
        )
        return [_approval(row, now) for row in rows]

    def get(self, approval_id: str, now: datetime.datetime) -> Approval:
        rows = self._db.read(
            f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = ?{self._only}", (approval_id, *self._only_args)
        )
        if not rows:
            raise ApprovalNotFound(approval_id)
        return _approval(rows[0], now)

    def approve(self, approval_id: str, now: datetime.datetime) -> Approval:
        """Grant the call once; `ApprovalExpired` when it can no longer be granted."""
        return self._answer(approval_id, "approved", now)

    def decline(self, approval_id: str, now: datetime.datetime) -> Approval:
        """Refuse the call; a granted approval not yet used can still be declined."""
        return self._answer(approval_id, "declined", now)

    def _answer(self, approval_id: str, answer: ApprovalState, now: datetime.datetime) -> Approval:
        with self._db.write() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE approval_id = ?{self._only}", (approval_id, *self._only_args)
            ).fetchone()
            if row is None:
                raise ApprovalNotFound(approval_id)
            current = _approval(row, now)
            if current.state == answer:
                return current
            if current.state not in _OPEN:
                raise ApprovalExpired(approval_id, current.state)
            db.execute(
                "UPDATE approvals SET state = ?, decided_at = ? WHERE approval_id = ?",
                (answer, now.timestamp(), approval_id),
            )
            action = "approval.approve" if answer == "approved" else "approval.decline"
            detail = f"{current.tool_name} on {current.upstream or '-'} in session {current.session_id}"
            db.execute(
                "INSERT INTO admin_events (at, action, target, detail) VALUES (?, ?, ?, ?)",
                (now.astimezone(datetime.timezone.utc).isoformat(), action, approval_id, detail),
            )
        return dataclasses.replace(current, state=answer)

    def ask(self, question: Question, now: datetime.datetime, ttl_seconds: int) -> Approval:
        """The pending approval for this exact question: the open one if there is, else a new one."""
        with self._db.write() as db:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM approvals WHERE binding = ? AND state = 'pending' AND expires_at > ?"
                " ORDER BY created_at DESC LIMIT 1",
                (question.binding, now.timestamp()),
            ).fetchone()
            if row is not None:
                return _approval(row, now)
            approval_id = f"apr_{secrets.token_hex(6)}"
            db.execute(
                "INSERT INTO approvals (approval_id, binding, key_id, session_id, upstream, tool_name, rule,"
                " clauses, reason, summary, created_at, expires_at, tenant, state)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                (
                    approval_id, question.binding, question.key_id, question.session_id, question.upstream,
                    question.tool_name, question.rule, json.dumps(list(question.clauses)), question.reason,
                    json.dumps(question.summary), now.timestamp(), now.timestamp() + ttl_seconds, question.tenant,
                ),
            )  # fmt: skip
            db.execute("DELETE FROM approvals WHERE expires_at < ?", (now.timestamp() - 7 * 24 * 3600,))
        return self.get(approval_id, now)

    def claim(self, binding: str, now: datetime.datetime) -> Approval | None:
        """Use the granted approval of this exact call, if there is one (it is `used` from now on)."""
        granted = (
            f"SELECT {_COLUMNS} FROM approvals WHERE binding = ? AND state = 'approved' AND expires_at > ?"
            " ORDER BY created_at LIMIT 1"
        )
        # Most questions were not granted: look first without taking the write lock.
        if not self._db.read(granted, (binding, now.timestamp())):
            return None
        with self._db.write() as db:
            row = db.execute(granted, (binding, now.timestamp())).fetchone()
            if row is None:
                return None
            approval = _approval(row, now)
            db.execute(
                "UPDATE approvals SET state = 'used', used_at = ? WHERE approval_id = ?", (now.timestamp(), approval.id)
            )
        return dataclasses.replace(approval, state="used")

    def release(self, approval_id: str) -> None:
        """Give back a claim whose call was denied after all: the approval stays granted."""
        with self._db.write() as db:
            db.execute(
                "UPDATE approvals SET state = 'approved', used_at = NULL WHERE approval_id = ? AND state = 'used'",
                (approval_id,),
            )

    def settle(self, approval_id: str, key_id: str | None, answer: ApprovalState, now: datetime.datetime) -> bool:
        """Close an open approval the proxy had answered in band (`used` or `declined`); False if none was open."""
        with self._db.write() as db:
            cursor = db.execute(
                "UPDATE approvals SET state = ?, decided_at = ? WHERE approval_id = ?"
                " AND COALESCE(key_id, '') = COALESCE(?, '') AND state IN ('pending', 'approved')",
                (answer, now.timestamp(), approval_id, key_id),
            )
            return bool(cursor.rowcount > 0)
