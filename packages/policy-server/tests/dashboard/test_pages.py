"""The pages: login, the session cookie, CSRF on every form, field messages, escaping."""

from __future__ import annotations

import re

import httpx2
import pytest

from inherence_policy_server import DashboardOptions, create_app, load_rules_config

from .support import ADMIN_TOKEN, BEARER, decide, login, new_key, read_key

PAGES = ["/", "/approvals", "/activity", "/sessions", "/sessions/sess-1", "/rules", "/keys", "/audit"]


@pytest.mark.parametrize("path", PAGES)
async def test_a_page_without_a_login_goes_to_the_login_form(client, path) -> None:
    answer = await client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login"


async def test_a_wrong_token_is_refused_and_opens_no_session(client) -> None:
    answer = await client.post("/login", data={"token": "not-the-token-at-all"})
    assert answer.status_code == 401
    assert "That is not the admin token." in answer.text
    assert (await client.get("/")).status_code == 303


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_renders_after_login_with_strict_headers(client, path) -> None:
    await login(client)
    answer = await client.get(path)
    assert answer.status_code == 200
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert not re.search(r"(src|href)=\"https?://", answer.text)


async def test_the_session_cookie_is_strict_and_http_only(client) -> None:
    answer = await client.post("/login", data={"token": ADMIN_TOKEN})
    cookie = answer.headers["set-cookie"].lower()
    assert "samesite=strict" in cookie
    assert "httponly" in cookie


async def test_logging_out_ends_the_session(client) -> None:
    csrf = await login(client)
    assert (await client.post("/logout", data={"csrf": csrf})).status_code == 303
    assert (await client.get("/keys")).status_code == 303


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/keys", {"label": "x"}),
        ("/rules/mass_destruction", {"mode": "off", "bulk_delete_threshold": "25"}),
        ("/logout", {}),
    ],
)
@pytest.mark.parametrize("csrf", [None, "forged-token"])
async def test_a_form_without_the_sessions_csrf_token_changes_nothing(client, board_app, path, form, csrf) -> None:
    await login(client)
    before = board_app.config
    answer = await client.post(path, data={**form, **({"csrf": csrf} if csrf else {})})
    assert answer.status_code == 403
    assert board_app.config is before
    assert (await client.get("/api/admin/keys", headers=BEARER)).json()["keys"] == []
    assert (await client.get("/keys")).status_code == 200  # still logged in


async def test_the_feed_escapes_what_a_client_sent(client, board_app) -> None:
    key = await new_key(client)
    body = read_key()
    body["tool_name"] = "<script>alert(1)</script>"
    body["upstream"] = '"><img src=x>'
    await decide(client, key, body, board_app)
    await login(client)
    page = (await client.get("/")).text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x>" not in page


async def test_the_rules_form_shows_field_messages_and_changes_nothing(client, board_app, config_path) -> None:
    csrf = await login(client)
    before = config_path.read_bytes()
    form = {"csrf": csrf, "mode": "enforce", "bulk_delete_threshold": "zero"}
    answer = await client.post("/rules/mass_destruction", data=form)
    assert answer.status_code == 422
    assert re.search(r'class="field invalid"><label for="mass_destruction-bulk_delete_threshold">', answer.text)
    assert "must be a whole number" in answer.text
    assert 'value="zero"' in answer.text  # what was typed stays in the field
    assert config_path.read_bytes() == before
    assert board_app.config.mass_destruction.bulk_delete_threshold == 25


async def test_the_rules_form_saves_a_good_change(client, board_app, config_path) -> None:
    csrf = await login(client)
    form = {"csrf": csrf, "mode": "log", "bulk_delete_threshold": "40", "many_items_threshold": "10"}
    form["allowed_paths"] = "/tmp/*\n/var/cache/*"
    answer = await client.post("/rules/mass_destruction", data=form)
    assert answer.status_code == 200
    assert "bulk_delete_threshold: 25 -&gt; 40" in answer.text
    saved = load_rules_config(config_path).mass_destruction
    assert (saved.mode.value, saved.bulk_delete_threshold, saved.allowed_paths) == (
        "log",
        40,
        ("/tmp/*", "/var/cache/*"),
    )
    assert board_app.config.mass_destruction == saved


async def test_a_key_created_in_the_page_is_shown_once(client) -> None:
    csrf = await login(client)
    created = await client.post("/keys", data={"csrf": csrf, "label": "laptop"})
    assert created.status_code == 201
    secret = re.search(r'<code id="new-key">(inh_[^<]+)</code>', created.text)
    assert secret is not None
    listed = await client.get("/keys")
    assert secret.group(1) not in listed.text
    assert "laptop" in listed.text
    key_id = secret.group(1).split("_")[1]
    revoked = await client.post(f"/keys/{key_id}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert (await client.get("/api/admin/keys", headers=BEARER)).json()["keys"][0]["active"] is False


async def test_the_session_page_marks_the_stopped_call(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, read_key("sess-4"), board_app)
    await login(client)
    page = (await client.get("/sessions/sess-4")).text
    assert "1 calls: 1 read, 0 sent, <strong>1 stopped</strong>" in page
    assert '<tr class="stopped">' in page


async def test_the_activity_chart_has_a_row_per_rule(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, read_key(), board_app)
    await login(client)
    page = (await client.get("/activity")).text
    assert "<svg" in page
    assert "credential_access 2026-03-02T09:00 UTC: 1" in page


async def test_static_assets_are_served_locally(client) -> None:
    assert (await client.get("/static/dashboard.js")).status_code == 200
    assert (await client.get("/static/dashboard.css")).headers["content-type"].startswith("text/css")
    assert (await client.get("/static/other.js")).status_code == 404


@pytest.mark.parametrize("path", ["/login", "/", "/static/dashboard.js"])
async def test_a_remote_peer_gets_no_page_not_even_the_login_form(board_app, path) -> None:
    transport = httpx2.ASGITransport(app=board_app, client=("198.51.100.7", 5000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://policy.example") as remote:
        answer = await remote.get(path)
    assert answer.status_code == (200 if path.startswith("/static/") else 403)


async def test_remote_peers_may_be_allowed_and_still_need_the_token(tmp_path) -> None:
    app = create_app(
        data_dir=tmp_path / "remote",
        dashboard=DashboardOptions(admin_token=ADMIN_TOKEN, allow_remote=True),
    )
    transport = httpx2.ASGITransport(app=app, client=("198.51.100.7", 5000))
    try:
        async with httpx2.AsyncClient(transport=transport, base_url="http://policy.example") as remote:
            assert (await remote.get("/api/admin/keys")).status_code == 401
            assert (await remote.get("/api/admin/keys", headers=BEARER)).status_code == 200
    finally:
        app.close()


async def test_the_feed_pages_through_older_decisions(client, board_app) -> None:
    key = await new_key(client)
    for n in range(55):
        body = read_key()
        body["arguments"] = {"path": f"/home/u/.ssh/id_{n}"}
        await client.post("/api/proxy/decide", json=body, headers={"authorization": f"Bearer {key}"})
    board_app.flush()
    await login(client)
    first = (await client.get("/")).text
    assert first.count("<tr data-id=") == 50
    older = re.search(r'<a href="([^"]+)" rel="next">Older</a>', first)
    assert older is not None
    second = (await client.get(older.group(1).replace("&amp;", "&"))).text
    assert second.count("<tr data-id=") == 5
    assert "id_0" in second
    assert "id_0" not in first
    assert 'rel="next"' not in second
