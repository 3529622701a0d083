"""The dashboard's pages as HTML text (the frame and helpers are in `_layout`)."""

from __future__ import annotations

from collections.abc import Sequence

from inherence_policy_server._keys import ApiKeyRecord
from inherence_policy_server.dashboard._layout import arguments_text, h, link, options, table
from inherence_policy_server.dashboard._settings import MODES, SettingField
from inherence_policy_server.dashboard._store import AdminEvent, FeedFilter, FeedRow, SessionSummary, role_of

__all__ = ["audit_body", "feed_body", "keys_body", "rules_section", "session_body", "sessions_body"]

FEED_HEADERS = ("Time", "Client", "Session", "Upstream", "Tool", "Category", "Decision", "Rule", "Reason", "Arguments")
_DECISIONS = ("allow", "allow_with_log", "deny")


def feed_row(row: FeedRow) -> str:
    session = f'<a href="{link("/sessions/" + row.session_id)}">{h(row.session_id)}</a>' if row.session_id else ""
    cells = (
        f"<td>{h(row.at[:19].replace('T', ' '))}</td><td>{h(row.client)}</td><td>{session}</td>"
        f"<td>{h(row.upstream)}</td><td>{h(row.tool_name)}</td><td>{h(row.category)}</td>"
        f'<td><span class="verdict {h(row.decision)}">{h(row.decision)}</span></td><td>{h(row.rule)}</td>'
        f"<td>{h(row.reason)}</td><td><code>{h(arguments_text(row.arguments))}</code></td>"
    )
    return f'<tr data-id="{row.id}">{cells}</tr>'


def feed_body(
    rows: Sequence[FeedRow], where: FeedFilter, choices: dict[str, list[str]], *, before: int | None, more: bool
) -> str:
    since = where.since.strftime("%Y-%m-%dT%H:%M") if where.since else ""
    until = where.until.strftime("%Y-%m-%dT%H:%M") if where.until else ""
    filters = (
        '<form class="filters" method="get" action="/">'
        f'<label>Decision <select name="decision">{options(_DECISIONS, where.decision)}</select></label>'
        f'<label>Rule <select name="rule">{options(choices["rule"], where.rule)}</select></label>'
        f'<label>Upstream <select name="upstream">{options(choices["upstream"], where.upstream)}</select></label>'
        f'<label>From (UTC) <input type="datetime-local" name="since" value="{h(since)}"></label>'
        f'<label>To (UTC) <input type="datetime-local" name="until" value="{h(until)}"></label>'
        '<button type="submit">Filter</button> <a href="/">Clear</a></form>'
    )
    live = before is None
    status = '<p class="hint" id="live">Live: new decisions appear at the top.</p>' if live else ""
    newest = rows[0].id if rows else 0
    body = table(FEED_HEADERS, (feed_row(row) for row in rows), table_id="feed", empty="no decisions match")
    pages = [f'<a href="{link("/", where.query())}">Newest</a>'] if not live else []
    if more and rows:
        pages.append(f'<a href="{link("/", {**where.query(), "before": rows[-1].id})}" rel="next">Older</a>')
    wrapped = f'<div class="scroll" data-live="{int(live)}" data-newest="{newest}">{body}</div>'
    return f'{filters}{status}{wrapped}<p class="pages">{" · ".join(pages)}</p>'


def sessions_body(sessions: Sequence[SessionSummary]) -> str:
    rows = (
        f'<tr><td><a href="{link("/sessions/" + s.session_id)}">{h(s.session_id)}</a></td><td>{h(s.client)}</td>'
        f"<td>{h(s.first_seen[:19])}</td><td>{h(s.last_seen[:19])}</td><td>{s.calls}</td><td>{s.denied}</td></tr>"
        for s in sessions
    )
    return table(("Session", "Client", "First seen", "Last seen", "Calls", "Stopped"), rows, empty="no sessions yet")


def session_body(calls: Sequence[FeedRow]) -> str:
    if not calls:
        return '<p class="empty">No decisions in this session.</p>'
    reads = [row for row in calls if role_of(row) == "read"]
    sends = [row for row in calls if role_of(row) == "sent"]
    stopped = [row for row in calls if row.decision == "deny"]
    summary = (
        f'<p class="summary">{len(calls)} calls: {len(reads)} read, {len(sends)} sent, '
        f"<strong>{len(stopped)} stopped</strong>.</p>"
    )
    rows = []
    for row in calls:
        mark = "stopped" if row.decision == "deny" else role_of(row)
        rows.append(
            f'<tr class="{h(mark)}"><td>{h(row.at[:19].replace("T", " "))}</td><td>{h(mark)}</td>'
            f"<td>{h(row.upstream)}</td><td>{h(row.tool_name)}</td><td>{h(row.category)}</td>"
            f'<td><span class="verdict {h(row.decision)}">{h(row.decision)}</span></td><td>{h(row.rule)}</td>'
            f"<td>{h(row.reason)}</td><td><code>{h(arguments_text(row.arguments))}</code></td></tr>"
        )
    headers = ("Time", "What", "Upstream", "Tool", "Category", "Decision", "Rule", "Reason", "Arguments")
    return summary + table(headers, rows, table_id="session")


def _input(field: SettingField, raw: str | None, element_id: str) -> str:
    name = f'{h(field.name)}" id="{h(element_id)}'
    if field.kind == "mode":
        return f'<select name="{name}">{options(MODES, raw or field.value, blank="")}</select>'
    if field.kind == "flag":
        checked = " checked" if field.value else ""
        return f'<input type="checkbox" name="{name}" value="on"{checked}>'
    if field.kind == "number":
        value = raw if raw is not None else field.value
        return f'<input type="text" inputmode="numeric" name="{name}" value="{h(value)}">'
    value = raw if raw is not None else "\n".join(field.value)
    return f'<textarea name="{name}" rows="3">{h(value)}</textarea>'


def rules_section(
    section: str, fields: Sequence[SettingField], csrf: str, errors: dict[str, str], submitted: dict[str, str]
) -> str:
    rows = []
    for field in fields:
        message = errors.get(field.name)
        error = f'<span class="error" role="alert">{h(message)}</span>' if message else ""
        rows.append(
            f'<div class="field{" invalid" if message else ""}"><label for="{h(section)}-{h(field.name)}">'
            f"{h(field.name)}</label>{_input(field, submitted.get(field.name), f'{section}-{field.name}')}"
            f"<small>{h(field.description)}</small>{error}</div>"
        )
    general = f'<p class="error" role="alert">{h(errors[""])}</p>' if errors.get("") else ""
    return (
        f'<section id="{h(section)}"><h2>{h(section)}</h2>{general}'
        f'<form method="post" action="/rules/{h(section)}"><input type="hidden" name="csrf" value="{h(csrf)}">'
        f'{"".join(rows)}<button type="submit">Save {h(section)}</button></form></section>'
    )


def keys_body(records: Sequence[ApiKeyRecord], csrf: str, issued: str | None) -> str:
    shown = (
        '<div class="secret" role="status"><p>The new key, shown this once: store it now.</p>'
        f'<code id="new-key">{h(issued)}</code></div>'
        if issued
        else ""
    )
    create = (
        f'<form method="post" action="/keys" class="inline"><input type="hidden" name="csrf" value="{h(csrf)}">'
        '<label>Label <input type="text" name="label" maxlength="200"></label>'
        '<button type="submit">Create key</button></form>'
    )
    rows = []
    for record in records:
        revoke = (
            f'<form method="post" action="/keys/{h(record.key_id)}/revoke" class="inline"'
            f' data-confirm="Revoke this key?"><input type="hidden" name="csrf" value="{h(csrf)}">'
            '<button type="submit" class="danger">Revoke</button></form>'
            if record.active
            else h(record.revoked_at.strftime("%Y-%m-%d %H:%M:%S") if record.revoked_at else "")
        )
        rows.append(
            f'<tr data-key="{h(record.key_id)}"><td>{h(record.key_id)}</td><td><code>{h(record.prefix)}…</code></td>'
            f"<td>{h(record.label)}</td><td>{h(record.created_at.strftime('%Y-%m-%d %H:%M:%S'))}</td>"
            f"<td>{revoke}</td></tr>"
        )
    return shown + create + table(("Id", "Prefix", "Label", "Created", "Revoked"), rows, empty="no API keys")


def audit_body(events: Sequence[AdminEvent]) -> str:
    rows = (
        f"<tr><td>{h(e.at[:19].replace('T', ' '))}</td><td>{h(e.action)}</td><td>{h(e.target)}</td>"
        f"<td>{h(e.detail)}</td></tr>"
        for e in events
    )
    return table(("Time", "Action", "Target", "Detail"), rows, table_id="audit", empty="no changes yet")
