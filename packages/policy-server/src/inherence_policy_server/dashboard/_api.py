"""The JSON admin API under `/api/admin/` (documented in DASHBOARD.md).

Every call needs the admin token (`Authorization: Bearer <token>`, or a login session's
cookie); a change by a session also needs its CSRF token in `X-CSRF-Token`. Errors are
`{"error": KIND, "detail": ...}`; invalid settings add `"fields": {name: message}`.
Every call is about one tenant: `?tenant=NAME`, the default tenant without it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inherence_policy_server._errors import ApprovalExpired, ApprovalNotFound, ServerUsageError, UnknownKeyError
from inherence_policy_server._masking import mask_text
from inherence_policy_server._storage import DEFAULT_TENANT, check_tenant
from inherence_policy_server.dashboard._access import TENANT_COOKIE, Caller
from inherence_policy_server.dashboard._bodies import BodyRefused, json_object
from inherence_policy_server.dashboard._dashboard import Dashboard, approval_json, key_json
from inherence_policy_server.dashboard._settings import SECTIONS, SettingsRejected, fields_of
from inherence_policy_server.dashboard._store import FeedFilter, role_of

__all__ = ["FeedQuery", "admin_api_routes", "parse_feed_query"]

_HEADERS = {"cache-control": "no-store"}
_MAX_LIMIT = 500
_MAX_ID = 2**63 - 1  # SQLite's largest row id
_MAX_NAME = 200
_WHOLE = re.compile(r"\s*[+-]?[0-9]{1,20}\s*")
_MAX_RECIPIENTS = 1000


def _problem(status: int, kind: str, detail: str, **extra: Any) -> JSONResponse:
    fields = extra.pop("fields", None)
    if fields is not None:
        extra["fields"] = {shown_text(name, 100): shown_text(message, 300) for name, message in fields.items()}
    return JSONResponse({"error": kind, "detail": detail, **extra}, status_code=status, headers=_HEADERS)


def shown_text(text: str, limit: int) -> str:
    """`text` fit to be echoed in an answer: secrets masked, cut to `limit`, always valid UTF-8."""
    return mask_text(text)[:limit].encode("utf-8", "replace").decode("utf-8")


def _is_text(value: object, limit: int) -> bool:
    """A string of at most `limit` printable characters that UTF-8 can carry (no lone surrogates)."""
    if not isinstance(value, str) or len(value) > limit or not value.isprintable():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ok(body: Any, status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=_HEADERS)


@dataclasses.dataclass(frozen=True)
class FeedQuery:
    where: FeedFilter
    before: int | None
    after: int | None
    limit: int


def _moment(text: str) -> datetime.datetime:
    """An ISO 8601 time (UTC when it has no offset) that is a valid UTC moment; ValueError otherwise."""
    try:
        moment = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
        # A time near year 1 or 9999 with an offset has no UTC form: refuse it here, not in a query.
        return moment.astimezone(datetime.timezone.utc)
    except OverflowError:
        raise ValueError(text) from None


def _whole(raw: str | None, default: int | None, low: int, high: int) -> int | None:
    """A whole number from low to high, or `default` when absent; ValueError otherwise."""
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw):
        raise ValueError(raw)
    number = int(raw)
    if not low <= number <= high:
        raise ValueError(raw)
    return number


def parse_feed_query(params: Mapping[str, str]) -> FeedQuery | dict[str, str]:
    """The feed's filter and page from query parameters, or a message per bad parameter."""
    errors: dict[str, str] = {}
    found: dict[str, Any] = {}
    for name in ("decision", "rule", "upstream"):
        value = params.get(name) or None
        if value is not None and not _is_text(value, _MAX_NAME):
            errors[name] = f"must be text of at most {_MAX_NAME} characters"
        found[name] = value
    for name in ("since", "until"):
        try:
            found[name] = _moment(params[name]) if params.get(name) else None
        except ValueError:
            errors[name] = "must be a date and time such as 2026-03-02T09:00"
    numbers: dict[str, int | None] = {}
    bounds = {"before": (None, 0, _MAX_ID), "after": (None, 0, _MAX_ID), "limit": (50, 1, _MAX_LIMIT)}
    for name, (default, low, high) in bounds.items():
        try:
            numbers[name] = _whole(params.get(name), default, low, high)
        except ValueError:
            errors[name] = f"must be a whole number from {low} to {high}"
    if errors:
        return errors
    return FeedQuery(FeedFilter(**found), numbers["before"], numbers["after"], numbers["limit"] or 50)


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
        # A browser session looks at the tenant its pages show; a bearer caller names it, or gets the default one.
        chosen = None if caller.by_bearer else request.cookies.get(TENANT_COOKIE)
        tenant = request.query_params.get("tenant") or chosen or DEFAULT_TENANT
        try:
            request.state.tenant = check_tenant(tenant)
        except ServerUsageError as exc:
            return _problem(422, "INVALID_REQUEST", "bad query parameters", fields={"tenant": str(exc)})
        return await handler(dashboard, request)

    return endpoint


async def _decisions(dashboard: Dashboard, request: Request) -> Response:
    query = parse_feed_query(request.query_params)
    if isinstance(query, dict):
        return _problem(422, "INVALID_REQUEST", "bad query parameters", fields=query)
    rows = dashboard.store.feed(
        query.where, before=query.before, after=query.after, limit=query.limit, tenant=request.state.tenant
    )
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
    return _ok({"since": since.isoformat(), "counts": dashboard.store.rule_counts(since, request.state.tenant)})


async def _sessions(dashboard: Dashboard, request: Request) -> Response:
    sessions = dashboard.store.sessions(tenant=request.state.tenant)
    return _ok({"sessions": [dataclasses.asdict(summary) for summary in sessions]})


async def _session(dashboard: Dashboard, request: Request) -> Response:
    calls = dashboard.store.session_calls(request.path_params["session_id"], tenant=request.state.tenant)
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
    try:
        changes = await json_object(request)
    except BodyRefused as exc:
        return _problem(exc.status, "INVALID_REQUEST", exc.detail)
    try:
        changed = dashboard.change_rules(request.path_params["section"], changes)
    except SettingsRejected as exc:
        return _problem(422, "INVALID_SETTINGS", "nothing was changed", fields=exc.fields)
    return _ok({"changed": changed, **_rules_body(dashboard)})


async def _keys(dashboard: Dashboard, request: Request) -> Response:
    return _ok({"keys": [key_json(record) for record in dashboard.list_keys(request.state.tenant)]})


async def _tenants(dashboard: Dashboard, _request: Request) -> Response:
    return _ok({"tenants": dashboard.tenant_names()})


async def _create_key(dashboard: Dashboard, request: Request) -> Response:
    try:
        body = await json_object(request)
    except BodyRefused as exc:
        return _problem(exc.status, "INVALID_REQUEST", exc.detail)
    label = body.get("label", "")
    if not _is_text(label, 200):
        return _problem(422, "INVALID_SETTINGS", "nothing was changed", fields={"label": "must be text, at most 200"})
    issued = dashboard.create_key(label, request.state.tenant)
    return _ok({"secret_key": issued.secret_key, **key_json(issued.record)}, status=201)


async def _revoke_key(dashboard: Dashboard, request: Request) -> Response:
    key_id = request.path_params["key_id"]
    try:
        dashboard.revoke_key(key_id, request.state.tenant)
    except UnknownKeyError:
        return _problem(404, "NOT_FOUND", "no key with that id")
    return _ok({"revoked": key_id})


async def _approvals(dashboard: Dashboard, request: Request) -> Response:
    tenant = request.state.tenant
    pending = [approval_json(approval) for approval in dashboard.pending_approvals(tenant)]
    recent = [approval_json(approval) for approval in dashboard.recent_approvals(tenant=tenant)]
    return _ok({"pending": pending, "recent": recent})


async def _approve(dashboard: Dashboard, request: Request) -> Response:
    return _answer_approval(dashboard, request, grant=True)


async def _decline(dashboard: Dashboard, request: Request) -> Response:
    return _answer_approval(dashboard, request, grant=False)


def _answer_approval(dashboard: Dashboard, request: Request, *, grant: bool) -> Response:
    try:
        approval_id = request.path_params["approval_id"]
        approval = dashboard.answer_approval(approval_id, grant=grant, tenant=request.state.tenant)
    except ApprovalNotFound:
        return _problem(404, "NOT_FOUND", "no approval with that id")
    except ApprovalExpired as exc:
        return _problem(409, "CLOSED", f"the approval is {exc.state} and can no longer be answered")
    return _ok({"approval": approval_json(approval)})


async def _recipients(dashboard: Dashboard, request: Request) -> Response:
    key = request.query_params.get("key") or None
    try:
        limit = int(request.query_params.get("limit", "200"))
    except ValueError:
        return _problem(400, "INVALID_REQUEST", "limit must be a whole number")
    if not 1 <= limit <= _MAX_RECIPIENTS or (key is not None and len(key) > 200):
        return _problem(400, "INVALID_REQUEST", f"limit must be 1 to {_MAX_RECIPIENTS}, key at most 200 characters")
    # Recipients are known per tenant, shared by its keys; each names the key that made it known.
    known = dashboard.store.storage.tenant_ledger(request.state.tenant).known_recipients(key, limit)
    return _ok(
        {
            "recipients": [
                {
                    "key_id": entry.tenant,
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
        route("/tenants", _tenants, "GET"),
        route("/keys", _keys, "GET"),
        route("/keys", _create_key, "POST"),
        route("/keys/{key_id}/revoke", _revoke_key, "POST"),
        route("/audit", _audit, "GET"),
        route("/approvals", _approvals, "GET"),
        route("/approvals/{approval_id}/approve", _approve, "POST"),
        route("/approvals/{approval_id}/decline", _decline, "POST"),
        route("/recipients", _recipients, "GET"),
    ]
