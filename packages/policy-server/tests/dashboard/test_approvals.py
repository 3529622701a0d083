"""Approvals on the dashboard: the admin API, the Approvals page, and questions and answers in the feed."""

from __future__ import annotations

import re
from typing import Any

import httpx2

from inherence_policy_server import PolicyApp

from .support import BEARER, decide, login, new_key


def password_change(session: str = "sess-1", tool_name: str = "change_password") -> dict[str, Any]:
    return {
        "tool_name": tool_name,
        "classification": "identity_admin",
        "arguments": {"user": "bob", "new_password": "correct horse battery staple"},
        "session_id": session,
        "upstream": "idp",
        "client": "cursor",
        "confirmable": True,
    }


async def ask(client: httpx2.AsyncClient, app: PolicyApp, body: dict[str, Any] | None = None) -> tuple[str, str]:
    """A question through the Policy API: (the API key, the approval id)."""
    key = await new_key(client)
    asked = await decide(client, key, body or password_change(), app)
    assert asked["decision"] == "confirm", asked
    return key, str(asked["approval_id"])


async def test_the_admin_api_lists_and_grants_an_approval(client, board_app) -> None:
    key, approval_id = await ask(client, board_app)
    listed = (await client.get("/api/admin/approvals", headers=BEARER)).json()
    (pending,) = listed["pending"]
    assert (pending["id"], pending["state"], pending["tool_name"], pending["upstream"]) == (
        approval_id,
        "pending",
        "change_password",
        "idp",
    )
    assert pending["clauses"] == ["identity_escalation.password_change"]
    assert "correct horse" not in str(listed)  # the password is masked in the summary
    granted = await client.post(f"/api/admin/approvals/{approval_id}/approve", headers=BEARER)
    assert granted.status_code == 200
    assert granted.json()["approval"]["state"] == "approved"
    assert (await decide(client, key, password_change(), board_app))["decision"] == "allow_with_log"
    again = await client.post(f"/api/admin/approvals/{approval_id}/approve", headers=BEARER)
    assert again.status_code == 409
    assert again.json()["error"] == "CLOSED"
    recent = (await client.get("/api/admin/approvals", headers=BEARER)).json()["recent"]
    assert [(row["id"], row["state"]) for row in recent] == [(approval_id, "used")]


async def test_the_admin_api_declines_and_knows_no_other_ids(client, board_app) -> None:
    key, approval_id = await ask(client, board_app)
    declined = await client.post(f"/api/admin/approvals/{approval_id}/decline", headers=BEARER)
    assert declined.json()["approval"]["state"] == "declined"
    assert (await decide(client, key, password_change(), board_app))["decision"] == "confirm"
    missing = await client.post("/api/admin/approvals/apr_nope/approve", headers=BEARER)
    assert missing.status_code == 404
    assert (await client.post(f"/api/admin/approvals/{approval_id}/approve")).status_code == 401


async def test_a_browser_session_needs_its_csrf_token_to_answer_by_api(client, board_app) -> None:
    _key, approval_id = await ask(client, board_app)
    csrf = await login(client)
    refused = await client.post(f"/api/admin/approvals/{approval_id}/approve")
    assert refused.status_code == 403
    assert board_app.storage.approvals.get(approval_id, board_app.clock()).state == "pending"
    taken = await client.post(f"/api/admin/approvals/{approval_id}/approve", headers={"x-csrf-token": csrf})
    assert taken.status_code == 200


async def test_the_approvals_page_answers_with_its_forms(client, board_app) -> None:
    key, approval_id = await ask(client, board_app)
    csrf = await login(client)
    page = (await client.get("/approvals")).text
    row = re.search(rf'<tr data-approval="{approval_id}">.*?</tr>', page)
    assert row is not None
    assert "change_password" in row.group(0)
    assert f'action="/approvals/{approval_id}/approve"' in row.group(0)
    assert f'name="csrf" value="{csrf}"' in row.group(0)
    assert "correct horse" not in page
    forged = await client.post(f"/approvals/{approval_id}/approve", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert board_app.storage.approvals.get(approval_id, board_app.clock()).state == "pending"
    answered = await client.post(f"/approvals/{approval_id}/approve", data={"csrf": csrf})
    assert (answered.status_code, answered.headers["location"]) == (303, "/approvals")
    assert (await decide(client, key, password_change(), board_app))["decision"] == "allow_with_log"
    after = (await client.get("/approvals")).text
    assert "no call is waiting for an answer" in after
    assert '<span class="verdict used">used</span>' in after
    late = await client.post(f"/approvals/{approval_id}/decline", data={"csrf": csrf})
    assert late.status_code == 409
    assert "can no longer be answered" in late.text
    audit = (await client.get("/audit")).text
    assert "approval.approve" in audit


async def test_the_approvals_page_escapes_what_a_client_sent(client, board_app) -> None:
    await ask(client, board_app, password_change(session="<b>s</b>", tool_name="<script>alert(1)</script>"))
    await login(client)
    page = (await client.get("/approvals")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>s</b>" not in page


async def test_the_feed_shows_the_question_and_the_answer(client, board_app) -> None:
    key, approval_id = await ask(client, board_app)
    asked_id = board_app.storage.recent_decisions(1)[0].decision_id
    report = {"decision_id": asked_id, "confirmation": "declined", "approval_id": approval_id, "tool_name": "x"}
    answer = await client.post("/api/proxy/outcome", json=report, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 202
    board_app.flush()
    rows = (await client.get("/api/admin/decisions", headers=BEARER)).json()["decisions"]
    assert [row["decision"] for row in rows] == ["confirm_declined", "confirm"]
    await login(client)
    page = (await client.get("/", params={"decision": "confirm"})).text
    assert '<span class="verdict confirm">confirm</span>' in page
    assert '<option value="confirm_declined">' in page
    answers = (await client.get("/", params={"decision": "confirm_declined"})).text
    assert "The person declined the call" in answers
