"""The dashboard's pages: `/login`, the feed at `/`, approvals, activity, sessions, rules, keys, admin log.

A page without a login session redirects to `/login`; a form post without the session's CSRF
token is refused with 403 and changes nothing.
"""

from __future__ import annotations

import datetime
import importlib.resources
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from inherence_policy_server._errors import ApprovalExpired, ApprovalNotFound, ServerUsageError, UnknownKeyError
from inherence_policy_server._storage import DEFAULT_TENANT, check_tenant
from inherence_policy_server.dashboard import _pages
from inherence_policy_server.dashboard._access import SESSION_COOKIE, TENANT_COOKIE, Caller
from inherence_policy_server.dashboard._api import parse_feed_query
from inherence_policy_server.dashboard._bodies import BodyRefused, form_fields
from inherence_policy_server.dashboard._chart import hour_buckets, rule_chart
from inherence_policy_server.dashboard._dashboard import Dashboard
from inherence_policy_server.dashboard._layout import SHOWN_TENANT, h, layout, login_page
from inherence_policy_server.dashboard._settings import SECTIONS, SettingsRejected, fields_of

__all__ = ["page_routes"]

_HEADERS = {
    "cache-control": "no-store",
    "content-security-policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
_STATIC = {"dashboard.css": "text/css; charset=utf-8", "dashboard.js": "text/javascript; charset=utf-8"}
_Page = Callable[[Dashboard, Request, Caller], Awaitable[Response]]


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers=_HEADERS)


def _see(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers=_HEADERS)


def _refused(exc: BodyRefused) -> HTMLResponse:
    return _html(f"<p>{h(exc.detail)}</p>", exc.status)


def _page(dashboard: Dashboard, handler: _Page, *, change: bool) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        access = dashboard.access
        if not access.peer_allowed(request):
            return _html("<p>The dashboard answers loopback clients only.</p>", 403)
        caller = access.caller(request)
        if caller is None:
            return _see("/login") if not change else _html("<p>Log in first.</p>", 401)
        if change:
            try:
                form = await form_fields(request)
            except BodyRefused as exc:
                return _refused(exc)
            if not access.change_allowed(request, caller, form.get("csrf")):
                return _html("<p>This form is stale or came from elsewhere: reload the page and try again.</p>", 403)
            request.state.form = form
        chosen = request.query_params.get("tenant")
        tenant = chosen or request.cookies.get(TENANT_COOKIE) or DEFAULT_TENANT
        try:
            check_tenant(tenant)
        except ServerUsageError as exc:
            if chosen:
                return _html(f"<p>{h(exc)}</p>", 422)
            tenant = DEFAULT_TENANT
        request.state.tenant = tenant
        shown = SHOWN_TENANT.set(tenant)
        try:
            response = await handler(dashboard, request, caller)
        finally:
            SHOWN_TENANT.reset(shown)
        if chosen:
            # The tenant chosen is a view setting: the pages and the live feed show it until another is chosen.
            response.set_cookie(TENANT_COOKIE, tenant, path="/", httponly=True, samesite="strict")
        return response

    return endpoint


async def _login_form(dashboard: Dashboard, request: Request) -> Response:
    if not dashboard.access.peer_allowed(request):
        return _html("<p>The dashboard answers loopback clients only.</p>", 403)
    return _html(login_page())


async def _login(dashboard: Dashboard, request: Request) -> Response:
    access = dashboard.access
    if not access.peer_allowed(request):
        return _html("<p>The dashboard answers loopback clients only.</p>", 403)
    try:
        form = await form_fields(request)
    except BodyRefused as exc:
        return _refused(exc)
    if not access.token_matches(form.get("token")):
        return _html(login_page("That is not the admin token."), 401)
    response = _see("/")
    response.set_cookie(SESSION_COOKIE, access.open_session(), httponly=True, samesite="strict", path="/")
    dashboard.audit("login", "dashboard", "")
    return response


async def _logout(dashboard: Dashboard, request: Request, _caller: Caller) -> Response:
    dashboard.access.close_session(request.cookies.get(SESSION_COOKIE))
    response = _see("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def _feed(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    query = parse_feed_query(request.query_params)
    if isinstance(query, dict):
        notice = "; ".join(f"{name} {message}" for name, message in query.items())
        return _html(layout("Decisions", "", csrf=caller.csrf, active="/", notice=notice), 422)
    tenant = request.state.tenant
    rows = dashboard.store.feed(query.where, before=query.before, limit=query.limit, tenant=tenant)
    body = _pages.feed_body(
        rows, query.where, dashboard.store.choices(tenant), before=query.before, more=len(rows) == query.limit
    )
    return _html(layout("Decisions", body, csrf=caller.csrf, active="/"))


async def _approvals(dashboard: Dashboard, request: Request, caller: Caller, notice: str = "") -> Response:
    tenant = request.state.tenant
    pending, recent = dashboard.pending_approvals(tenant), dashboard.recent_approvals(tenant=tenant)
    body = _pages.approvals_body(pending, recent, caller.csrf)
    return _html(layout("Approvals", body, csrf=caller.csrf, active="/approvals", notice=notice))


async def _approve(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    return await _answer(dashboard, request, caller, grant=True)


async def _decline(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    return await _answer(dashboard, request, caller, grant=False)


async def _answer(dashboard: Dashboard, request: Request, caller: Caller, *, grant: bool) -> Response:
    approval_id = request.path_params["approval_id"]
    try:
        dashboard.answer_approval(approval_id, grant=grant, tenant=request.state.tenant)
    except ApprovalNotFound:
        return _html(layout("Approvals", "<p>No such approval.</p>", csrf=caller.csrf, active="/approvals"), 404)
    except ApprovalExpired as exc:
        notice = f"{approval_id} is {exc.state}: it can no longer be answered."
        response = await _approvals(dashboard, request, caller, notice)
        response.status_code = 409
        return response
    return _see("/approvals")


async def _activity(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    now = dashboard.clock()
    buckets = hour_buckets(now, 24)
    since = datetime.datetime.strptime(buckets[0], "%Y-%m-%dT%H").replace(tzinfo=datetime.timezone.utc)
    chart = rule_chart(dashboard.store.rule_counts(since, request.state.tenant), buckets)
    body = f'<p class="hint">Decisions naming each rule, per hour, over the last 24 hours.</p>{chart}'
    return _html(layout("Activity", body, csrf=caller.csrf, active="/activity"))


async def _sessions(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    body = _pages.sessions_body(dashboard.store.sessions(tenant=request.state.tenant))
    return _html(layout("Sessions", body, csrf=caller.csrf, active="/sessions"))


async def _session(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    session_id = request.path_params["session_id"]
    body = _pages.session_body(dashboard.store.session_calls(session_id, tenant=request.state.tenant))
    return _html(layout(f"Session {session_id}", body, csrf=caller.csrf, active="/sessions"))


def _rules_page(
    dashboard: Dashboard,
    caller: Caller,
    *,
    notice: str = "",
    failed: tuple[str, dict[str, str], dict[str, str]] | None = None,
) -> str:
    config = dashboard.rules
    parts = []
    if dashboard.config_path is None:
        parts.append('<p class="hint">Started without a config file: changes apply until the server stops.</p>')
    else:
        parts.append(
            f'<p class="hint">Changes apply at once and are saved to <code>{h(dashboard.config_path)}</code>.</p>'
        )
    for section in SECTIONS:
        errors, submitted = (failed[1], failed[2]) if failed and failed[0] == section else ({}, {})
        parts.append(_pages.rules_section(section, fields_of(config, section), caller.csrf, errors, submitted))
    return layout("Rules", "".join(parts), csrf=caller.csrf, active="/rules", notice=notice)


async def _rules(dashboard: Dashboard, _request: Request, caller: Caller) -> Response:
    try:
        return _html(_rules_page(dashboard, caller))
    except SettingsRejected as exc:
        return _html(layout("Rules", f"<p>{h(exc)}</p>", csrf=caller.csrf, active="/rules"), 409)


async def _change_rules(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    section = request.path_params["section"]
    form: dict[str, str] = request.state.form
    if section not in SECTIONS:
        return _html(layout("Rules", "<p>No such section.</p>", csrf=caller.csrf, active="/rules"), 404)
    fields = fields_of(dashboard.rules, section)
    changes = {f.name: form.get(f.name, "off" if f.kind == "flag" else "") for f in fields}
    try:
        changed = dashboard.change_rules(section, changes, form=True)
    except SettingsRejected as exc:
        notice = f"{section}: nothing was changed; see the messages below."
        return _html(_rules_page(dashboard, caller, notice=notice, failed=(section, exc.fields, changes)), 422)
    notice = f"{section}: " + ("; ".join(changed) if changed else "no change")
    return _html(_rules_page(dashboard, caller, notice=notice))


async def _keys(dashboard: Dashboard, request: Request, caller: Caller, issued: str | None = None) -> Response:
    body = _pages.keys_body(dashboard.list_keys(request.state.tenant), caller.csrf, issued)
    return _html(layout("API keys", body, csrf=caller.csrf, active="/keys"), 201 if issued else 200)


async def _create_key(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    issued = dashboard.create_key(request.state.form.get("label", "")[:200], request.state.tenant)
    return await _keys(dashboard, request, caller, issued.secret_key)


async def _revoke_key(dashboard: Dashboard, request: Request, caller: Caller) -> Response:
    try:
        dashboard.revoke_key(request.path_params["key_id"], request.state.tenant)
    except UnknownKeyError:
        return _html(layout("API keys", "<p>No such key.</p>", csrf=caller.csrf, active="/keys"), 404)
    return _see("/keys")


async def _audit(dashboard: Dashboard, _request: Request, caller: Caller) -> Response:
    return _html(layout("Admin log", _pages.audit_body(dashboard.store.events()), csrf=caller.csrf, active="/audit"))


def _static_route() -> Route:
    files = {name: (importlib.resources.files(__package__ or "") / "static" / name).read_bytes() for name in _STATIC}

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in files:
            return Response(b"not found", status_code=404)
        headers = {"cache-control": "no-cache", "x-content-type-options": "nosniff"}
        return Response(files[name], media_type=_STATIC[name], headers=headers)

    return Route("/static/{name}", static, methods=["GET"])


def page_routes(dashboard: Dashboard) -> list[Route]:
    def page(path: str, handler: _Page, method: str = "GET") -> Route:
        return Route(path, _page(dashboard, handler, change=method == "POST"), methods=[method])

    async def login_form(request: Request) -> Response:
        return await _login_form(dashboard, request)

    async def login(request: Request) -> Response:
        return await _login(dashboard, request)

    return [
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        page("/logout", _logout, "POST"),
        page("/", _feed),
        page("/approvals", _approvals),
        page("/approvals/{approval_id}/approve", _approve, "POST"),
        page("/approvals/{approval_id}/decline", _decline, "POST"),
        page("/activity", _activity),
        page("/sessions", _sessions),
        page("/sessions/{session_id:path}", _session),
        page("/rules", _rules),
        page("/rules/{section}", _change_rules, "POST"),
        page("/keys", _keys),
        page("/keys", _create_key, "POST"),
        page("/keys/{key_id}/revoke", _revoke_key, "POST"),
        page("/audit", _audit),
        _static_route(),
    ]
