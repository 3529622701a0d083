"""The JSON admin API under `/api/admin/` (documented in DASHBOARD.md).

Every call needs the admin token (`Authorization: Bearer <token>`, or a login session's
cookie); a change by a session also needs its CSRF token in `X-CSRF-Token`. Errors are
`{"error": KIND, "detail": ...}`; invalid settings add `"fields": {name: message}`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inherence_policy_server._errors import UnknownKeyError
from inherence_policy_server._masking import mask_text
from inherence_policy_server.dashboard._access import Caller
from inherence_policy_server.dashboard._dashboard import Dashboard, key_json
from inherence_policy_server.dashboard._settings import SECTIONS, SettingsRejected, fields_of
from inherence_policy_server.dashboard._store import FeedFilter, role_of

__all__ = ["FeedQuery", "admin_api_routes", "parse_feed_query"]

_HEADERS = {"cache-control": "no-store"}
_MAX_LIMIT = 500
_MAX_RECIPIENTS = 1000


def _problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=_HEADERS)


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_HEADERS)


@dataclasses.dataclass(frozen=True)
class FeedQuery:
    where: FeedFilter
    before: int | None
    after: int | None
    limit: int


def _moment(text: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)


def parse_feed_query(params: Mapping[str, str]) -> FeedQuery | dict[str, str]:
    """The feed's filter and page from query parameters, or a message per bad parameter."""
    errors: dict[str, str] = {}
    found: dict[str, Any] = {}
    for name in ("decision", "rule", "upstream"):
        found[name] = params.get(name) or None
    for name in ("since", "until"):
        try:
            found[name] = _moment(params[name]) if params.get(name) else None
        except ValueError:
            errors[name] = "must be a date and time such as 2026-03-02T09:00"
    numbers: dict[str, int | None] = {}
    for name, default in (("before", None), ("after", None), ("limit", 50)):
        raw = params.get(name)
        try:
            numbers[name] = int(raw) if raw else default
        except ValueError:
            errors[name] = "must be a whole number"
    limit = numbers.get("limit", 50)
    if limit is None or not 1 <= limit <= _MAX_LIMIT:
        errors["limit"] = f"must be between 1 and {_MAX_LIMIT}"
    if errors:
        return errors
    return FeedQuery(FeedFilter(**found), numbers["before"], numbers["after"], limit or 50)


_Handler = Callable[[Dashboard, Request], Awaitable[Response]]


def _guarded(dashboard: Dashboard, handler: _Handler, *, change: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        access = dashboard.access
        if not access.peer_allowed(request):
            return _problem(403, "FORBIDDEN", "the dashboard answers loopback clients only")
        caller: Caller | None = access.caller(request)
        if caller is None:
            return _problem(
                401,
                "UNAUTHORIZED",
                "the admin token is required",
            )
        if change and not access.change_allowed(request, caller, request.headers.get("x-csrf-token")):
            return _problem(403, "CSRF", "a change from a browser session needs its CSRF token")
        return await handler(dashboard, request)

    return endpoint


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _decisions(dashboard: Dashboard, request: Request) -> Response:
    query = parse_feed_query(request.query_params)
    if isinstance(query, dict):
        return _problem(422, "INVALID_REQUEST", "bad query parameters", fields=query)
    rows = dashboard.store.feed(query.where, before=query.before, after=query.after, limit=query.limit)
    following = rows[-1].id if len(rows) == query.limit else None
    return _ok({"decisions": [row.as_json() for row in rows], "next_before": following})


async def _counts(dashboard: Dashboard, request: Request) -> Response:
    try:
        hours = int(request.query_params.get("hours", "24"))
    except ValueError:
        hours = 0
    if not 1 <= hours <= 24 * 31:
        return _problem(422, "INVALID_REQUEST", "bad query parameters", fields={"hours": "must be 1 to 744"})
    since = dashboard.clock() - datetime.timedelta(hours=hours)
    return _ok({"since": since.isoformat(), "counts": dashboard.store.rule_counts(since)})


async def _sessions(dashboard: Dashboard, _request: Request) -> Response:
    return _ok({"sessions": [dataclasses.asdict(summary) for summary in dashboard.store.sessions()]})


async def _session(dashboard: Dashboard, request: Request) -> Response:
    calls = dashboard.store.session_calls(request.path_params["session_id"])
    if not calls:
        return _problem(404, "NOT_FOUND", "no decisions in that session")
    return _ok({"calls": [{**row.as_json(), "role": role_of(row), "stopped": row.decision == "deny"} for row in calls]})


def _rules_body(dashboard: Dashboard) -> dict[str, Any]:
    config = dashboard.rules
    sections = {name: {field.name: field.value for field in fields_of(config, name)} for name in SECTIONS}
    path = str(dashboard.config_path) if dashboard.config_path else None
    return {"config_path": path, "saved_to_file": path is not None, "rules": sections}


async def _rules(dashboard: Dashboard, _request: Request) -> Response:
    try:
        return _ok(_rules_body(dashboard))
    except SettingsRejected as exc:
        return _problem(409, "NOT_EDITABLE", str(exc))


async def _change_rules(dashboard: Dashboard, request: Request) -> Response:
    changes = await _json_object(request)
    if changes is None:
        return _problem(400, "INVALID_REQUEST", "expected a JSON object of settings")
    try:
        changed = dashboard.change_rules(request.path_params["section"], changes)
    except SettingsRejected as exc:
        return _problem(422, "INVALID_SETTINGS", "nothing was changed", fields=exc.fields)
    return _ok({"changed": changed, **_rules_body(dashboard)})


async def _keys(dashboard: Dashboard, _request: Request) -> Response:
    return _ok({"keys": [key_json(record) for record in dashboard.list_keys()]})


async def _create_key(dashboard: Dashboard, request: Request) -> Response:
    body = await _json_object(request)
    label = body.get("label", "") if body is not None else None
    if not isinstance(label, str) or len(label) > 200:
        return _problem(422, "INVALID_SETTINGS", "nothing was changed", fields={"label": "must be text, at most 200"})
    issued = dashboard.create_key(label)
    return _ok({"secret_key": issued.secret_key, **key_json(issued.record)}, status=201)


async def _revoke_key(dashboard: Dashboard, request: Request) -> Response:
    key_id = request.path_params["key_id"]
    try:
        dashboard.revoke_key(key_id)
    except UnknownKeyError:
        return _problem(404, "NOT_FOUND", "no key with that id")
    return _ok({"revoked": key_id})


async def _recipients(dashboard: Dashboard, request: Request) -> Response:
    tenant = request.query_params.get("tenant") or None
    try:
        limit = int(request.query_params.get("limit", "200"))
    except ValueError:
        return _problem(400, "INVALID_REQUEST", "limit must be a whole number")
    if not 1 <= limit <= _MAX_RECIPIENTS or (tenant is not None and len(tenant) > 200):
        return _problem(400, "INVALID_REQUEST", f"limit must be 1 to {_MAX_RECIPIENTS}, tenant at most 200 characters")
    known = dashboard.store.storage.ledger.known_recipients(tenant, limit)
    return _ok(
        {
            "recipients": [
                {
                    "tenant": entry.tenant,
                    "recipient": mask_text(entry.recipient),
                    "source": entry.source,
                    "first_seen": entry.first_seen.isoformat(),
                    "last_seen": entry.last_seen.isoformat(),
                }
                for entry in known
            ]
        }
    )


async def _audit(dashboard: Dashboard, _request: Request) -> Response:
    return _ok({"events": [dataclasses.asdict(event) for event in dashboard.store.events()]})


def admin_api_routes(dashboard: Dashboard) -> list[Route]:
    def route(path: str, handler: _Handler, method: str) -> Route:
        return Route(f"/api/admin{path}", _guarded(dashboard, handler, change=method != "GET"), methods=[method])

    return [
        route("/decisions", _decisions, "GET"),
        route("/counts", _counts, "GET"),
        route("/sessions", _sessions, "GET"),
        route("/sessions/{session_id:path}", _session, "GET"),
        route("/rules", _rules, "GET"),
        route("/rules/{section}", _change_rules, "PUT"),
        route("/keys", _keys, "GET"),
        route("/keys", _create_key, "POST"),
        route("/keys/{key_id}/revoke", _revoke_key, "POST"),
        route("/audit", _audit, "GET"),
        route("/recipients", _recipients, "GET"),
    ]
