"""The Policy API routes in-process, in embedded mode and with keys."""

from __future__ import annotations

import httpx2
import pytest

from inherence_policy_server import create_app, issue_key

from .conftest import SCRIPTED_CONFIG, START, scripted_evaluator

DECIDE = "/api/proxy/decide"


def _call(**arguments: object) -> dict[str, object]:
    return {"tool_name": "shell__run", "classification": "shell_exec", "arguments": arguments}


async def test_decide_answers_each_verdict_with_receipt_and_clauses(local_client) -> None:
    allowed = (await local_client.post(DECIDE, json=_call(command="ls"))).json()
    denied = (await local_client.post(DECIDE, json=_call(command="DENYME"))).json()
    logged = (await local_client.post(DECIDE, json=_call(command="LOGME"))).json()
    assert allowed["decision"] == "allow"
    assert denied["decision"] == "deny"
    assert denied["failed_clauses"] == ["mass_destruction.scripted"]
    assert denied["reason"] == "scripted deny"
    assert denied["receipt_id"].startswith("dec_")
    assert denied["receipt"]["rule"] == "mass_destruction"
    assert logged["decision"] == "allow_with_log"


async def test_unknown_fields_are_ignored(local_client) -> None:
    body = {**_call(command="DENYME"), "future_field": {"x": 1}, "session_id": "s1", "fingerprint": "sha256:0"}
    answer = await local_client.post(DECIDE, json=body)
    assert answer.status_code == 200
    assert answer.json()["decision"] == "deny"


async def test_an_evaluation_that_fails_is_a_deny_not_a_5xx(local_client) -> None:
    answer = await local_client.post(DECIDE, json=_call(command="BOOM"))
    assert answer.status_code == 200
    assert answer.json()["decision"] == "deny"
    assert answer.json()["failed_clauses"] == ["server.evaluation_failed"]


async def test_a_retry_with_the_same_request_id_gets_the_same_decision(local_client, local_app) -> None:
    body = {**_call(command="DENYME"), "request_id": "r-1"}
    first = (await local_client.post(DECIDE, json=body)).json()
    second = (await local_client.post(DECIDE, json=body)).json()
    assert first["receipt_id"] == second["receipt_id"]
    local_app.flush()
    assert len(local_app.storage.recent_decisions()) == 1


async def test_a_reused_request_id_with_another_call_is_decided_afresh(local_client) -> None:
    allowed = (await local_client.post(DECIDE, json={**_call(command="ls"), "request_id": "r-2"})).json()
    other = (await local_client.post(DECIDE, json={**_call(command="DENYME"), "request_id": "r-2"})).json()
    assert allowed["decision"] == "allow"
    assert other["decision"] == "deny"
    assert other["receipt_id"] != allowed["receipt_id"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"\xff\xfe\x00", 400),
        (b"not json", 400),
        (b"[]", 422),
        (b'{"tool_name": 3, "classification": "x"}', 422),
        (b'{"classification": "x"}', 422),
        (b'{"tool_name": "t", "classification": "x", "arguments": [1]}', 422),
    ],
)
async def test_bad_bodies_get_a_4xx(local_client, body: bytes, status: int) -> None:
    answer = await local_client.post(DECIDE, content=body)
    assert answer.status_code == status
    assert answer.json()["error"] == "INVALID_REQUEST"


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(tmp_path) -> None:
    app = create_app(
        data_dir=tmp_path, require_key=False, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, max_body_bytes=1000
    )

    async def chunks():
        for _ in range(100):
            yield b"x" * 100

    try:
        transport = httpx2.ASGITransport(app=app)
        headers = {"content-type": "application/json"}
        async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
            declared = await client.post(DECIDE, content=b"x" * 1001)
            streamed = await client.post(DECIDE, content=chunks())
            fits = await client.post(DECIDE, json=_call(command="ls"))
    finally:
        app.close()
    assert declared.status_code == 413
    assert streamed.status_code == 413
    assert fits.status_code == 200


async def test_large_calls_are_decided_like_small_ones(local_client) -> None:
    padding = "x" * 200_000
    denied = await local_client.post(DECIDE, json=_call(command="DENYME", padding=padding))
    allowed = await local_client.post(DECIDE, json=_call(command="ls", padding=padding))
    broken = await local_client.post(DECIDE, json=_call(command="BOOM", padding=padding))
    assert [r.json()["decision"] for r in (denied, allowed, broken)] == ["deny", "allow", "deny"]


async def test_unknown_category_is_decided_as_unknown(local_client, local_app) -> None:
    body = {"tool_name": "x", "classification": "no-such-category", "arguments": {}}
    assert (await local_client.post(DECIDE, json=body)).status_code == 200
    local_app.flush()
    assert local_app.storage.recent_decisions()[0].category == "unknown"


async def test_classify_register_heartbeat_health(local_client) -> None:
    tools = [
        {"name": "run_command", "schema_hash": "sha256:1", "description": "Run a shell command"},
        {"name": "zzq", "schema_hash": "sha256:2"},
    ]
    classified = await local_client.post("/api/proxy/classify", json={"tools": tools})
    assert classified.json()["classifications"] == [
        {"name": "run_command", "category": "shell_exec", "source": "rules", "confidence": 0.95},
        {"name": "zzq", "category": "unknown", "source": "rules", "confidence": 0.0},
    ]
    upstreams = {"upstreams": [{"name": "a", "transport": "stdio"}]}
    registered = await local_client.post("/api/proxy/register", json=upstreams)
    assert registered.json() == {"status": "registered", "upstream_count": 1}
    heartbeat = {"proxy_version": "0.2.0", "upstream_count": 1, "tool_count": 2, "classification_cache_size": 2}
    assert (await local_client.post("/api/proxy/heartbeat", json=heartbeat)).status_code == 200
    assert (await local_client.post("/api/proxy/heartbeat", json={"x": 1})).status_code == 422
    health = await local_client.get("/api/proxy/health")
    assert health.json()["status"] == "ok"
    assert (await local_client.get(DECIDE)).status_code == 405
    assert (await local_client.post("/api/proxy/nope", json={})).status_code == 404


@pytest.fixture
async def keyed(tmp_path):
    app = create_app(data_dir=tmp_path, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG, clock=lambda: START)
    issued = issue_key(START)
    app.storage.add_key(issued.record)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://p") as client:
        yield app, client, issued
    app.close()


async def test_keys_are_required_and_checked(keyed) -> None:
    app, client, issued = keyed
    good = {"Authorization": f"Bearer {issued.secret_key}"}
    wrong = {"Authorization": f"Bearer {issued.secret_key[:-2]}xx"}
    unknown = {"Authorization": "Bearer inh_000000000000_" + "a" * 43}
    assert (await client.post("/api/proxy/auth/verify", json={}, headers=good)).status_code == 200
    assert (await client.post("/api/proxy/auth/verify", json={}, headers=wrong)).status_code == 401
    assert (await client.post("/api/proxy/auth/verify", json={}, headers=unknown)).status_code == 401
    assert (await client.post("/api/proxy/auth/verify", json={})).status_code == 401
    assert (await client.post(DECIDE, json=_call(command="ls"))).status_code == 401
    assert (await client.post(DECIDE, json=_call(command="ls"), headers=good)).status_code == 200
    assert (await client.get("/api/proxy/health")).status_code == 200
    app.storage.revoke_key(issued.record.key_id, START)
    assert (await client.post("/api/proxy/auth/verify", json={}, headers=good)).status_code == 401


async def test_the_decision_log_names_the_key_id_never_the_key(keyed) -> None:
    app, client, issued = keyed
    headers = {"Authorization": f"Bearer {issued.secret_key}"}
    await client.post(DECIDE, json=_call(command="ls", token=issued.secret_key), headers=headers)
    app.flush()
    (entry,) = app.storage.recent_decisions()
    assert entry.key_id == issued.record.key_id
    assert issued.secret_key not in repr(entry)
    assert issued.secret_key.encode() not in app.storage.path.read_bytes()
