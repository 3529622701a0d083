"""Without API keys the server trusts its caller, so only a local program may be that caller.

A web page the user visits can send requests to 127.0.0.1 (a form posts `text/plain`; a
rebound DNS name reaches loopback under the page's own host name). Keyless calls therefore need
a loopback Host on the server's port, a JSON body and no foreign Origin; the dashboard checks
the Host too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest

from inherence_policy_client import DecideRequest, PolicyClient
from inherence_policy_server import DashboardOptions, PolicyApp, create_app

from .conftest import SCRIPTED_CONFIG, scripted_evaluator

DECIDE = "/api/proxy/decide"
CALL = {"tool_name": "run", "classification": "shell_exec", "arguments": {"command": "ls"}}
ADMIN_TOKEN = "admin-token-for-tests-0123456789"


@pytest.fixture
def keyless_app(tmp_path) -> AsyncIterator[PolicyApp]:
    app = create_app(
        data_dir=tmp_path / "data",
        require_key=False,
        evaluator=scripted_evaluator,
        config=SCRIPTED_CONFIG,
        dashboard=DashboardOptions(admin_token=ADMIN_TOKEN),
    )
    yield app
    app.close()


@pytest.fixture
async def served(keyless_app) -> AsyncIterator[httpx2.AsyncClient]:
    """A client of the app as uvicorn would serve it on 127.0.0.1:8787."""
    transport = httpx2.ASGITransport(app=keyless_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
        yield client


@pytest.mark.parametrize("host", ["127.0.0.1:8787", "localhost:8787", "[::1]:8787", "LOCALHOST:8787"])
async def test_a_local_json_call_is_answered(served, host) -> None:
    answer = await served.post(DECIDE, json=CALL, headers={"host": host})
    assert answer.status_code == 200
    assert answer.json()["decision"] == "allow"


@pytest.mark.parametrize(
    "host",
    ["evil.example:8787", "evil.example", "127.0.0.1:9999", "localhost", "127.0.0.1.evil.example:8787", "", "[::1]"],
)
async def test_a_call_to_another_host_name_or_port_is_refused(served, keyless_app, host) -> None:
    answer = await served.post(DECIDE, json=CALL, headers={"host": host})
    assert answer.status_code == 403
    assert answer.json()["error"] == "FORBIDDEN"
    assert "Host" in answer.json()["detail"]
    keyless_app.flush()
    assert keyless_app.storage.recent_decisions() == []


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
async def test_a_call_that_is_not_json_is_refused(served, content_type) -> None:
    headers = {"content-type": content_type} if content_type else {}
    answer = await served.post(DECIDE, content=httpx2.Request("POST", "x", json=CALL).content, headers=headers)
    assert answer.status_code == 415
    assert answer.json()["error"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_a_json_content_type_with_parameters_is_json(served) -> None:
    body = httpx2.Request("POST", "x", json=CALL).content
    answer = await served.post(DECIDE, content=body, headers={"content-type": "Application/JSON; charset=utf-8"})
    assert answer.status_code == 200


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:9999", "https://127.0.0.1:8787"])
async def test_a_cross_origin_call_is_refused(served, origin) -> None:
    answer = await served.post(DECIDE, json=CALL, headers={"origin": origin})
    assert answer.status_code == 403
    assert "Origin" in answer.json()["detail"]


async def test_a_call_from_the_servers_own_origin_is_answered(served) -> None:
    answer = await served.post(DECIDE, json=CALL, headers={"origin": "http://127.0.0.1:8787"})
    assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/api/proxy/auth/verify", "/api/proxy/register", "/api/proxy/heartbeat"])
async def test_every_policy_call_is_guarded(served, path) -> None:
    answer = await served.post(path, content=b"{}", headers={"content-type": "text/plain"})
    assert answer.status_code == 415
    answer = await served.post(path, json={}, headers={"host": "evil.example:8787"})
    assert answer.status_code == 403


async def test_the_embedded_use_keeps_working(keyless_app) -> None:
    transport = httpx2.ASGITransport(app=keyless_app)
    async with PolicyClient(None, base_url="http://127.0.0.1", transport=transport) as policy:
        await policy.verify_key()
        decision = await policy.decide(DecideRequest(tool_name="run", classification="shell_exec", arguments={}))
    assert decision.decision == "allow"


async def test_with_keys_the_key_is_the_guard(tmp_path) -> None:
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG)
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://policy.example") as c:
            answer = await c.post(DECIDE, json=CALL)
    finally:
        app.close()
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/login"), ("POST", "/login"), ("GET", "/"), ("GET", "/api/admin/decisions")]
)
async def test_the_dashboard_answers_loopback_host_names_only(served, method, path) -> None:
    headers = {"authorization": f"Bearer {ADMIN_TOKEN}", "host": "rebound.evil.example:8787"}
    answer = await served.request(method, path, headers=headers, data={"token": ADMIN_TOKEN})
    assert answer.status_code == 403
    local = await served.request(method, path, headers={**headers, "host": "localhost:8787"})
    assert local.status_code != 403
