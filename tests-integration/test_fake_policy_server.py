"""The fake hosted policy server does what each behaviour says, on a real socket, and records exactly what it got."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import fake_policy as fake_policy_package
import httpx2
import pytest
from fake_policy import (
    ENDPOINTS,
    Allow,
    AllowWithLog,
    CloseConnection,
    Confirm,
    Delay,
    Deny,
    FakePolicyServer,
    Hangup,
    Headers,
    Hosted,
    MalformedJson,
    MissingFields,
    Reply,
    Response,
    Sequence,
    StallAfterHeaders,
    Status,
)

DECIDE_BODY = {"tool_name": "fs__read_file", "classification": "read", "arguments": {"path": "/tmp/x"}}
DECISION_FIELDS = {"decision", "receipt", "receipt_id", "reason", "failed_clauses"}


@pytest.fixture
def client(fake_policy) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {fake_policy.api_key}"}
    with httpx2.Client(base_url=fake_policy.base_url, headers=headers, timeout=2.0) as client:
        yield client


def decide(client: httpx2.Client, tool_name: str = "fs__read_file") -> httpx2.Response:
    return client.post("/api/proxy/decide", json={**DECIDE_BODY, "tool_name": tool_name})


def test_exported_names_are_pinned():
    assert set(fake_policy_package.__all__) == {
        "ENDPOINTS",
        "Allow",
        "AllowWithLog",
        "Behaviour",
        "CloseConnection",
        "Confirm",
        "Delay",
        "Deny",
        "Exchange",
        "FakePolicyServer",
        "Hangup",
        "Headers",
        "Hosted",
        "MalformedJson",
        "MissingFields",
        "Outcome",
        "RecordedRequest",
        "Reply",
        "Response",
        "Sequence",
        "StallAfterHeaders",
        "Status",
        "Withhold",
        "category_for",
        "endpoint_path",
    }


# The hosted protocol, unscripted ------------------------------------------------------------------


def test_health_needs_no_key(fake_policy):
    with httpx2.Client(base_url=fake_policy.base_url) as anonymous:
        response = anonymous.get("/api/proxy/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_verify_accepts_the_fixture_key(client):
    assert client.post("/api/proxy/auth/verify", json={}).status_code == 200


@pytest.mark.parametrize("authorization", [None, "Bearer inh_not_a_known_key", "Basic abc", "Bearer"])
def test_a_missing_or_unknown_key_is_401_on_every_authenticated_endpoint(fake_policy, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with httpx2.Client(base_url=fake_policy.base_url, headers=headers) as stranger:
        statuses = {path: stranger.post(path, json={}).status_code for path in ENDPOINTS[1:]}
    assert set(statuses.values()) == {401}, statuses


def test_bad_keys_can_be_refused_with_403(fake_policy):
    fake_policy.reject_bad_keys_with(403)
    with httpx2.Client(base_url=fake_policy.base_url) as stranger:
        assert stranger.post("/api/proxy/auth/verify", json={}).status_code == 403


def test_a_revoked_key_is_refused(fake_policy, client):
    fake_policy.revoke_key(fake_policy.api_key)
    assert client.post("/api/proxy/auth/verify", json={}).status_code == 401


def test_register_answers_a_json_object(client):
    response = client.post("/api/proxy/register", json={"upstreams": [{"name": "fs", "transport": "stdio"}]})
    assert response.status_code == 200
    assert response.json() == {"registered": 1, "proxy_id": "fake-proxy"}


def test_classify_gives_each_tool_a_deterministic_category(client):
    tools = [
        {"name": name, "schema_hash": "sha256:00", "description": "", "input_schema": {}}
        for name in ("fs__read_file", "shell__run", "db__drop_table", "mail__send", "weather")
    ]
    response = client.post("/api/proxy/classify", json={"tools": tools})
    assert response.status_code == 200
    classifications = response.json()["classifications"]
    assert [(c["name"], c["category"]) for c in classifications] == [
        ("fs__read_file", "read"),
        ("shell__run", "execute"),
        ("db__drop_table", "destructive"),
        ("mail__send", "network"),
        ("weather", "unknown"),
    ]
    assert all(set(c) == {"name", "category", "source", "confidence"} for c in classifications)
    assert client.post("/api/proxy/classify", json={"tools": tools}).json()["classifications"] == classifications


def test_decide_allows_by_default_with_a_unique_receipt_id_per_decision(client):
    first, second = decide(client).json(), decide(client).json()
    assert set(first) == DECISION_FIELDS
    assert first["decision"] == second["decision"] == "allow"
    assert first["failed_clauses"] == []
    assert first["receipt_id"] != second["receipt_id"]
    assert first["receipt_id"] in first["receipt"]


def test_heartbeat_answers_204_without_a_body(client):
    response = client.post("/api/proxy/heartbeat", json={"proxy_version": "0.2.0"})
    assert response.status_code == 204
    assert response.content == b""


def test_unknown_path_is_404_and_wrong_method_is_405(client):
    assert client.post("/api/proxy/nope", json={}).status_code == 404
    assert client.get("/api/proxy/decide").status_code == 405


# Scripted decisions --------------------------------------------------------------------------------


def test_deny_by_pattern_gives_reason_and_clauses_and_allows_the_rest(fake_policy, client):
    fake_policy.decide(Deny(["shell__*", "*delete*"], reason="no shells", failed_clauses=["c.shell"]))
    denied = decide(client, "shell__run").json()
    assert denied["decision"] == "deny"
    assert denied["reason"] == "no shells"
    assert denied["failed_clauses"] == ["c.shell"]
    assert decide(client, "fs__delete_file").json()["decision"] == "deny"
    assert decide(client, "fs__read_file").json()["decision"] == "allow"
    assert decide(client, "SHELL__run").json()["decision"] == "allow"  # fnmatch here is case-sensitive


def test_deny_without_pattern_denies_everything(fake_policy, client):
    fake_policy.decide(Deny())
    assert decide(client, "anything").json()["decision"] == "deny"


def test_allow_with_log(fake_policy, client):
    fake_policy.decide(AllowWithLog("fs__*"))
    assert decide(client, "fs__read_file").json()["decision"] == "allow_with_log"
    assert decide(client, "web__fetch").json()["decision"] == "allow"


def test_behaviours_compose(fake_policy, client):
    fake_policy.decide(Deny("shell*", otherwise=AllowWithLog()))
    assert decide(client, "shell").json()["decision"] == "deny"
    assert decide(client, "fs").json()["decision"] == "allow_with_log"


def test_reply_sends_a_fixed_json_answer_as_is(fake_policy, client):
    fake_policy.on("/api/proxy/decide", Reply({"decision": "maybe", "extra": [1, 2]}, status=200))
    response = decide(client)
    assert response.json() == {"decision": "maybe", "extra": [1, 2]}


def test_missing_fields_removes_them_from_the_usual_answer(fake_policy, client):
    fake_policy.decide(MissingFields("decision", "failed_clauses"))
    answer = decide(client).json()
    assert set(answer) == DECISION_FIELDS - {"decision", "failed_clauses"}


def test_missing_fields_applies_to_another_behaviour(fake_policy, client):
    fake_policy.decide(MissingFields("reason", then=Deny()))
    answer = decide(client).json()
    assert answer["decision"] == "deny"
    assert "reason" not in answer


# Faults --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 404, 409, 422, 429, 500, 502, 503, 504])
def test_status_is_that_status_and_the_connection_stays_usable(fake_policy, client, status):
    fake_policy.decide(Status(status))
    response = decide(client)
    assert response.status_code == status
    assert response.json() == {"error": response.reason_phrase}
    assert client.post("/api/proxy/auth/verify", json={}).status_code == 200
    assert fake_policy.connection_count == 1


def test_status_can_apply_to_any_endpoint(fake_policy, client):
    fake_policy.on("heartbeat", Status(500))
    fake_policy.on("classify", Status(200, json={"classifications": []}))
    assert client.post("/api/proxy/heartbeat", json={}).status_code == 500
    assert client.post("/api/proxy/classify", json={"tools": []}).json() == {"classifications": []}


def test_close_connection_sends_no_byte_and_the_client_sees_a_disconnect(fake_policy, client):
    fake_policy.decide(CloseConnection())
    with pytest.raises(httpx2.RemoteProtocolError):
        decide(client)
    assert len(fake_policy.requests_to("decide")) == 1  # the request did arrive


def test_abrupt_close_resets_the_connection(fake_policy, client):
    fake_policy.decide(CloseConnection(abrupt=True))
    with pytest.raises((httpx2.ReadError, httpx2.RemoteProtocolError)):
        decide(client)


def test_stall_sends_the_headers_then_the_read_timeout_fires(fake_policy, client):
    fake_policy.decide(StallAfterHeaders(declared_length=100))
    started = time.monotonic()
    request = client.build_request("POST", "/api/proxy/decide", json=DECIDE_BODY, timeout=httpx2.Timeout(2.0, read=0.2))
    response = client.send(request, stream=True)
    try:
        assert response.status_code == 200
        assert response.headers["content-length"] == "100"
        with pytest.raises(httpx2.ReadTimeout):
            response.read()
    finally:
        response.close()
    assert time.monotonic() - started < 10, "the stall must end in the client's read timeout, not hang"


def test_reset_releases_a_stalled_connection(fake_policy):
    fake_policy.decide(StallAfterHeaders())
    with socket.create_connection(("127.0.0.1", fake_policy.server.port), timeout=2) as raw:
        raw.sendall(
            b"POST /api/proxy/decide HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + fake_policy.api_key.encode()
            + b"\r\nContent-Length: 2\r\n\r\n{}"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += raw.recv(1024)
        assert head.startswith(b"HTTP/1.1 200 ")
        fake_policy.reset()
        assert raw.recv(1024) == b""  # closed by the server, body never sent
    assert fake_policy.open_connection_count == 0


def test_malformed_json_is_a_2xx_whose_body_does_not_parse(fake_policy, client):
    fake_policy.decide(MalformedJson())
    response = decide(client)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):  # noqa: PT011 - json.JSONDecodeError is a ValueError
        response.json()


def test_delay_holds_each_answer_without_blocking_other_requests(fake_policy):
    fake_policy.decide(Delay(0.3))

    async def run() -> tuple[float, list[str]]:
        headers = {"Authorization": f"Bearer {fake_policy.api_key}"}
        async with httpx2.AsyncClient(base_url=fake_policy.base_url, headers=headers, timeout=2.0) as async_client:
            started = time.monotonic()
            answers = await asyncio.gather(
                *(async_client.post("/api/proxy/decide", json=DECIDE_BODY) for _ in range(3))
            )
            return time.monotonic() - started, [answer.json()["decision"] for answer in answers]

    elapsed, decisions = asyncio.run(run())
    assert decisions == ["allow"] * 3
    assert 0.3 <= elapsed < 0.85  # three concurrent delays overlap: one after another they would take 0.9 s


def test_sequence_scripts_successive_requests_then_falls_back(fake_policy, client):
    fake_policy.decide(Sequence(CloseConnection(), Status(503), Deny()))
    with pytest.raises(httpx2.RemoteProtocolError):
        decide(client)
    assert decide(client).status_code == 503
    assert decide(client).json()["decision"] == "deny"
    assert decide(client).json()["decision"] == "allow"  # the endpoint's unscripted answer
    assert len(fake_policy.requests_to("decide")) == 4


def test_a_custom_behaviour_that_fails_becomes_a_500_and_is_reported(fake_policy, client):
    class Broken(Hosted):
        async def answer(self, exchange):
            raise RuntimeError("boom")

    fake_policy.decide(Broken())
    assert decide(client).status_code == 500
    assert [type(error) for error in fake_policy.errors] == [RuntimeError]
    fake_policy.server.reset()  # the fixture would otherwise (rightly) fail the test


# Connections and records ---------------------------------------------------------------------------


def test_keep_alive_reuses_one_connection(fake_policy, client):
    for _ in range(5):
        assert decide(client).status_code == 200
    assert fake_policy.connection_count == 1
    assert {record.connection for record in fake_policy.requests} == {1}


def test_connection_close_is_honoured_and_counted(fake_policy, client):
    for _ in range(3):
        assert client.post("/api/proxy/decide", json=DECIDE_BODY, headers={"Connection": "close"}).status_code == 200
    assert fake_policy.connection_count == 3
    assert [record.connection for record in fake_policy.requests] == [1, 2, 3]


def test_records_are_exact(fake_policy, client):
    body = b'{"tool_name": "x", "arguments": {"a": null}}'
    client.post(
        "/api/proxy/decide?trace=1", content=body, headers={"Content-Type": "application/json", "X-Request-Id": "r1"}
    )
    client.post("/api/proxy/heartbeat", content=b"not json")
    decide_record, heartbeat_record = fake_policy.requests
    assert decide_record.method == "POST"
    assert decide_record.target == "/api/proxy/decide?trace=1"
    assert decide_record.path == "/api/proxy/decide"
    assert decide_record.endpoint == "decide"
    assert decide_record.body == body
    assert decide_record.json == {"tool_name": "x", "arguments": {"a": None}}
    assert decide_record.headers["x-request-id"] == decide_record.headers["X-REQUEST-ID"] == "r1"
    assert decide_record.headers["authorization"] == f"Bearer {fake_policy.api_key}"
    assert decide_record.api_key == fake_policy.api_key
    assert decide_record.connection == heartbeat_record.connection == 1
    assert decide_record.received_at <= heartbeat_record.received_at <= time.monotonic()
    assert heartbeat_record.body == b"not json"
    assert heartbeat_record.json is None
    assert fake_policy.requests_to("classify") == []
    assert fake_policy.requests_to("heartbeat") == [heartbeat_record]


def test_headers_keep_repeats_and_original_case():
    headers = Headers([("X-Thing", "a"), ("x-thing", "b"), ("Host", "h")])
    assert headers["X-THING"] == "a, b"
    assert headers.get_all("x-thing") == ["a", "b"]
    assert headers.get("missing") is None
    assert list(headers) == ["x-thing", "host"]
    assert headers.raw[0] == ("X-Thing", "a")


def test_reset_clears_records_scripts_keys_and_counts(fake_policy, client):
    fake_policy.decide(Deny())
    decide(client)
    fake_policy.server.reset()
    assert fake_policy.requests == []
    assert fake_policy.connection_count == 0
    assert client.post("/api/proxy/auth/verify", json={}).status_code == 401  # per-test keys are forgotten
    fake_policy.add_key(fake_policy.api_key)
    assert decide(client).json()["decision"] == "allow"
    assert fake_policy.connection_count == 1  # reset closed the old connection; the client opened a new one


async def test_usable_from_an_async_test_and_waits_without_blocking_the_loop(fake_policy):
    headers = {"Authorization": f"Bearer {fake_policy.api_key}"}
    async with httpx2.AsyncClient(base_url=fake_policy.base_url, headers=headers) as async_client:
        sending = asyncio.ensure_future(async_client.post("/api/proxy/heartbeat", json={"tool_count": 3}))
        (record,) = await fake_policy.wait_for_requests_async("heartbeat")
        assert (await sending).status_code == 204
    assert record.json == {"tool_count": 3}


def test_wait_for_requests_times_out(fake_policy):
    with pytest.raises(TimeoutError):
        fake_policy.wait_for_requests("decide", timeout=0.05)


# Lifecycle -----------------------------------------------------------------------------------------


def test_a_server_stops_cleanly_even_with_a_stalled_client():
    threads_before = set(threading.enumerate())
    server = FakePolicyServer(api_keys=["inh_test_lifecycle"])
    with server:
        server.decide(StallAfterHeaders())
        with httpx2.Client(base_url=server.base_url, headers={"Authorization": "Bearer inh_test_lifecycle"}) as c:
            response = c.send(c.build_request("POST", "/api/proxy/decide", json={}), stream=True)
            assert response.status_code == 200
            server.stop()  # must not wait for the stalled body
            with pytest.raises(httpx2.RemoteProtocolError):
                response.read()
            response.close()
        port = server.port
    assert set(threading.enumerate()) == threads_before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


@pytest.mark.parametrize("not_a_behaviour", [Hangup(), Response(status=200), Allow, None])
def test_scripting_something_that_is_not_a_behaviour_fails_at_once(fake_policy, not_a_behaviour):
    with pytest.raises(TypeError, match="expected a Behaviour"):
        fake_policy.decide(not_a_behaviour)


def test_start_twice_is_a_mistake():
    with FakePolicyServer() as server, pytest.raises(RuntimeError, match="already started"):
        server.start()


def test_each_decision_uses_allow_by_default_even_after_a_sequence_is_replaced(fake_policy, client):
    fake_policy.decide(Sequence(Deny()))
    fake_policy.decide(Allow())
    assert decide(client).json()["decision"] == "allow"


def test_confirm_answers_a_confirmable_caller_and_denies_the_others(fake_policy, client):
    fake_policy.decide(Confirm("pay__*", approval_id="apr_1"))
    confirmable = client.post("/api/proxy/decide", json={**DECIDE_BODY, "tool_name": "pay__send", "confirmable": True})
    plain = decide(client, "pay__send")
    other = client.post("/api/proxy/decide", json={**DECIDE_BODY, "confirmable": True})
    assert confirmable.json()["decision"] == "confirm"
    assert confirmable.json()["approval_id"] == "apr_1"
    assert confirmable.json()["failed_clauses"] == ["fake_policy.confirm"]
    assert (plain.json()["decision"], "approval_id" in plain.json()) == ("deny", False)
    assert other.json()["decision"] == "allow"
    fake_policy.decide(Confirm(approval_id=None))
    bare = client.post("/api/proxy/decide", json={**DECIDE_BODY, "confirmable": True}).json()
    assert (bare["decision"], "approval_id" in bare) == ("confirm", False)


def test_outcome_reports_are_taken_and_recorded(fake_policy, client):
    report = {"decision_id": "r1", "content_text": "hello", "confirmation": None}
    response = client.post("/api/proxy/outcome", json=report)
    assert (response.status_code, response.json()) == (202, {"accepted": True})
    assert fake_policy.requests_to("outcome")[0].json == report
    fake_policy.on("outcome", Status(404))
    assert client.post("/api/proxy/outcome", json=report).status_code == 404
