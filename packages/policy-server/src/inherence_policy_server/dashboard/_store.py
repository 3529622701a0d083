"""What the dashboard reads from and adds to the storage (SQLite or PostgreSQL): the feed, counts, sessions, audit.

The feed pages by keyset on the decision row id (newest first), so page 500 costs what
page 1 costs; each filter column has an index that ends in the id. A time bound is also
turned into an id bound through the index on the time column.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from inherence_policy_server._storage import DEFAULT_TENANT, SQLStorage

__all__ = ["AdminEvent", "DashboardStore", "FeedFilter", "FeedRow", "SessionSummary", "iso", "role_of"]

_COLUMNS = "id, decision_id, at, client, session_id, upstream, tool_name, category, decision, rule, reason, arguments"


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.timezone.utc).isoformat()


@dataclasses.dataclass(frozen=True)
class FeedFilter:
    """Which decisions to show; None means any."""

    decision: str | None = None
    rule: str | None = None
    upstream: str | None = None
    since: datetime.datetime | None = None
    until: datetime.datetime | None = None

    def query(self) -> dict[str, str]:
        """The filter as query-string parameters (for links to the next page)."""
        values = {"decision": self.decision, "rule": self.rule, "upstream": self.upstream}
        values["since"] = self.since.isoformat() if self.since else None
        values["until"] = self.until.isoformat() if self.until else None
        return {name: value for name, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class FeedRow:
    """One stored decision as the feed shows it (arguments already masked by the log writer)."""

    id: int
    decision_id: str
    at: str
    client: str | None
    session_id: str | None
    upstream: str | None
    tool_name: str
    category: str
    decision: str
    rule: str | None
    reason: str | None
    arguments: Any

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class SessionSummary:
    session_id: str
    client: str | None
    first_seen: str
    last_seen: str
    calls: int
    denied: int


@dataclasses.dataclass(frozen=True)
class AdminEvent:
    """One change made through the dashboard or the admin API."""

    id: int
    at: str
    action: str
    target: str
    detail: str


def _constant(name: str) -> str:
    # NaN and Infinity are not JSON: a row stored with them (before decide refused them) shows them as text.
    return name


def _row(values: tuple[object, ...]) -> FeedRow:
    fields = list(values)
    fields[11] = json.loads(str(fields[11]), parse_constant=_constant)
    return FeedRow(*fields)  # type: ignore[arg-type]


class DashboardStore:
    """The dashboard's queries over one `SQLStorage` (SQLite or PostgreSQL)."""

    def __init__(self, storage: SQLStorage) -> None:
        self.storage = storage

    def feed(
        self,
        where: FeedFilter,
        *,
        before: int | None = None,
        after: int | None = None,
        limit: int = 50,
        tenant: str = DEFAULT_TENANT,
    ) -> list[FeedRow]:
        """Up to `limit` decisions of `tenant` matching `where`, newest first, ids below `before` / above `after`."""
        clauses: list[str] = ["tenant = ?"]
        parameters: list[object] = [tenant]
        for column, value in (("decision", where.decision), ("rule", where.rule), ("upstream", where.upstream)):
            if value is not None:
                clauses.append(f"{column} = ?")
                parameters.append(value)
        if where.since is not None:
            clauses.append("at >= ? AND id >= (SELECT COALESCE(MIN(id), 0) FROM decisions WHERE at >= ?)")
            parameters += [iso(where.since), iso(where.since)]
        if where.until is not None:
            clauses.append("at < ? AND id <= (SELECT COALESCE(MAX(id), 0) FROM decisions WHERE at < ?)")
            parameters += [iso(where.until), iso(where.until)]
        if before is not None:
            clauses.append("id < ?")
            parameters.append(before)
        if after is not None:
            clauses.append("id > ?")
            parameters.append(after)
        condition = f" WHERE {' AND '.join(clauses)}"
        sql = f"SELECT {_COLUMNS} FROM decisions{condition} ORDER BY id DESC LIMIT ?"
        return [_row(values) for values in self.storage.read(sql, [*parameters, limit])]

    def feed_plan(self, where: FeedFilter) -> str:
        """SQLite's query plan of a feed page (what the tests check for index use)."""
        column = "decision" if where.decision else "rule" if where.rule else "upstream"
        value = where.decision or where.rule or where.upstream or ""
        sql = (
            f"EXPLAIN QUERY PLAN SELECT {_COLUMNS} FROM decisions"
            f" WHERE tenant = ? AND {column} = ? AND id < ? ORDER BY id DESC LIMIT 50"
        )
        return " | ".join(str(row[-1]) for row in self.storage.read(sql, [DEFAULT_TENANT, value, 1 << 62]))

    def choices(self, tenant: str = DEFAULT_TENANT) -> dict[str, list[str]]:
        """The rules and upstreams seen in a tenant's log, for the filter menus (read from the indexes)."""
        rules = self.storage.read(
            "SELECT DISTINCT rule FROM decisions WHERE tenant = ? AND rule IS NOT NULL ORDER BY rule", [tenant]
        )
        upstreams = self.storage.read(
            "SELECT DISTINCT upstream FROM decisions WHERE tenant = ? AND upstream IS NOT NULL ORDER BY 1", [tenant]
        )
        return {"rule": [str(row[0]) for row in rules], "upstream": [str(row[0]) for row in upstreams]}

    def rule_counts(self, since: datetime.datetime, tenant: str = DEFAULT_TENANT) -> dict[str, dict[str, int]]:
        """Per rule, the number of a tenant's decisions naming it in each hour (`YYYY-MM-DDTHH`) since `since`."""
        rows = self.storage.read(
            "SELECT rule, substr(at, 1, 13), COUNT(*) FROM decisions"
            " WHERE tenant = ? AND at >= ? AND rule IS NOT NULL GROUP BY rule, substr(at, 1, 13)",
            [tenant, iso(since)],
        )
        counts: dict[str, dict[str, int]] = {}
        for rule, hour, count in rows:
            counts.setdefault(str(rule), {})[str(hour)] = int(str(count))
        return counts

    def sessions(self, limit: int = 100, tenant: str = DEFAULT_TENANT) -> list[SessionSummary]:
        same = "d.tenant = s.tenant AND d.session_id = s.session_id"
        rows = self.storage.read(
            "SELECT s.session_id, s.client, s.first_seen, s.last_seen,"
            f" (SELECT COUNT(*) FROM decisions d WHERE {same}),"
            f" (SELECT COUNT(*) FROM decisions d WHERE {same} AND d.decision = 'deny')"
            " FROM sessions s WHERE s.tenant = ? ORDER BY s.last_seen DESC LIMIT ?",
            [tenant, limit],
        )
        return [SessionSummary(*row) for row in rows]  # type: ignore[arg-type]

    def session_calls(self, session_id: str, limit: int = 1000, tenant: str = DEFAULT_TENANT) -> list[FeedRow]:
        """The calls of one session of a tenant, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM decisions WHERE tenant = ? AND session_id = ? ORDER BY id LIMIT ?"
        return [_row(values) for values in self.storage.read(sql, [tenant, session_id, limit])]

    def log_event(self, at: datetime.datetime, action: str, target: str, detail: str) -> None:
        with self.storage.write() as db:
            db.execute(
                "INSERT INTO admin_events (at, action, target, detail) VALUES (?, ?, ?, ?)",
                (iso(at), action, target, detail),
            )

    def events(self, limit: int = 200) -> list[AdminEvent]:
        rows = self.storage.read(
            "SELECT id, at, action, target, detail FROM admin_events ORDER BY id DESC LIMIT ?", [limit]
        )
        return [AdminEvent(*row) for row in rows]  # type: ignore[arg-type]


_READS = frozenset({"file_read", "private_data_read", "database_query", "credential_store", "read_only"})
_SENDS = frozenset({"outbound_send", "payment", "network_fetch"})


def role_of(row: FeedRow) -> str:
    """What a call did in its session, for the session view: read, sent, or acted."""
    return "read" if row.category in _READS else "sent" if row.category in _SENDS else "acted"
