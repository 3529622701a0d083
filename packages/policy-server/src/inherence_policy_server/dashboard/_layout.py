"""The pages' frame: escaping, the layout with its navigation, the login page, small helpers.

Every value from storage or a request passes through `h()` (HTML escaping) before it is
put into a page; the pages load only `/static/` files of this package.
"""

from __future__ import annotations

import contextvars
import html
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["NAV", "SHOWN_TENANT", "h", "layout", "link", "login_page", "options", "table"]

NAV = (("/", "Decisions"), ("/approvals", "Approvals"), ("/activity", "Activity"), ("/sessions", "Sessions"),
       ("/rules", "Rules"), ("/keys", "API keys"), ("/audit", "Admin log"))  # fmt: skip
# The tenant the page being built shows (set around each page handler).
SHOWN_TENANT: contextvars.ContextVar[str] = contextvars.ContextVar("shown_tenant", default="default")


def h(value: object) -> str:
    """Text for HTML: escaped, with None as an empty string."""
    return "" if value is None else html.escape(str(value), quote=True)


def link(path: str, query: Mapping[str, object] | None = None) -> str:
    """An escaped URL for an href attribute."""
    encoded = urllib.parse.urlencode({name: value for name, value in (query or {}).items() if value is not None})
    return h(f"{path}?{encoded}" if encoded else path)


def arguments_text(arguments: Any) -> str:
    return json.dumps(arguments, separators=(", ", ": "), ensure_ascii=False)[:600]


def options(values: Iterable[str], selected: str | None, *, blank: str = "any") -> str:
    rows = [f'<option value="">{h(blank)}</option>'] if blank else []
    for value in values:
        chosen = " selected" if value == selected else ""
        rows.append(f'<option value="{h(value)}"{chosen}>{h(value)}</option>')
    return "".join(rows)


def table(headers: Iterable[str], rows: Iterable[str], *, table_id: str = "", empty: str = "nothing yet") -> str:
    head = "".join(f"<th>{h(name)}</th>" for name in headers)
    body = "".join(rows) or f'<tr class="empty"><td colspan="99">{h(empty)}</td></tr>'
    attribute = f' id="{h(table_id)}"' if table_id else ""
    return f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def layout(title: str, body: str, *, csrf: str, active: str, notice: str = "") -> str:
    tabs = "".join(f'<a href="{path}"{" class=active" if path == active else ""}>{h(name)}</a>' for path, name in NAV)
    tabs += (
        f'<form method="get" action="{h(active)}" class="tenant"><label>Tenant'
        f' <input name="tenant" value="{h(SHOWN_TENANT.get())}" size="12" required></label></form>'
    )
    shown = f'<p class="notice" role="status">{h(notice)}</p>' if notice else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)} · inherence policy</title><link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script></head>
<body data-csrf="{h(csrf)}"><header><strong>inherence policy</strong><nav>{tabs}</nav>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{h(csrf)}">
<button type="submit" class="quiet">Log out</button></form></header>
<main><h1>{h(title)}</h1>{shown}{body}</main></body></html>"""


def login_page(message: str = "") -> str:
    error = f'<p class="error" role="alert">{h(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · inherence policy</title><link rel="stylesheet" href="/static/dashboard.css"></head>
<body><main class="login"><h1>inherence policy</h1>{error}
<form method="post" action="/login"><label>Admin token
<input type="password" name="token" autocomplete="current-password" autofocus required></label>
<button type="submit">Log in</button></form>
<p class="hint">The server printed the admin token when it started.</p></main></body></html>"""
