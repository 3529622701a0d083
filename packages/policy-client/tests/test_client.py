import json
import logging
from collections.abc import Callable

import httpx2
import pytest

from inherence_policy_client import (
    DecideRequest,
    Heartbeat,
    OutcomeReport,
    PolicyAuthError,
    PolicyClient,
    PolicyUnreachable,
    PolicyUsageError,
    Timeouts,
    ToolDescription,
    UpstreamRegistration,
    Verdict,
    __version__,
    is_loopback,
)

KEY = "inh_unit_3f9c2a71d0e84b5f"
Handler = Callable[[httpx2.Request], httpx2.Response]


def make_client(handler: Handler, **kwargs: object) -> PolicyClient:
    return PolicyClient(KEY, base_url="https://policy.test", transport=httpx2.MockTransport(handler), **kwargs)  # type: ignore[arg-type]


def answer(status: int = 200, body: object = None, content: bytes | None = None) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if content is not None:
            return httpx2.Response(status, content=content)
        return httpx2.Response(status, json=body if body is not None else {})

    return handler


def decide_request() -> DecideRequest:
    return DecideRequest(tool_name="read_file", classification="file_read", arguments={"path": "/etc/hosts"})


async def test_decide_sends_the_hosted_request_and_reads_the_answer() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"decision": "allow_with_log", "receipt_id": "r9", "reason": "logged"})

    async with make_client(handler, user_agent="inherence-proxy/0.2.0") as client:
        decision = await client.decide(decide_request())
    assert decision.decision is Verdict.ALLOW_WITH_LOG
    assert decision.receipt_id == "r9"
    (request,) = seen
    assert request.method == "POST"
    assert request.url == "https://policy.test/api/proxy/decide"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"inherence-proxy/0.2.0 inherence-policy-client/{__version__}"
    body = json.loads(request.content)
    assert body.pop("request_id")
    assert body == {"tool_name": "read_file", "classification": "file_read", "arguments": {"path": "/etc/hosts"}}


async def test_every_endpoint_uses_its_hosted_path_and_body() -> None:
    seen: dict[str, object] = {}

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen[request.url.path] = json.loads(request.content) if request.content else None
        if request.url.path.endswith("/classify"):
            return httpx2.Response(200, json={"classifications": [{"name": "echo", "category": "read_only"}]})
        if request.url.path.endswith("/health"):
            return httpx2.Response(200, json={"status": "ok", "version": "1"})
        if request.url.path.endswith("/heartbeat"):
            return httpx2.Response(204)
        return httpx2.Response(200, json={"registered": 1})

    tool = ToolDescription(name="echo", schema_hash="sha256:1", description="Echo", input_schema={"type": "object"})
    async with make_client(handler) as client:
        await client.verify_key()
        registered = await client.register([UpstreamRegistration(name="fs", transport="stdio")])
        classified = await client.classify([tool])
        await client.heartbeat(
            Heartbeat(proxy_version="0.2.0", upstream_count=1, tool_count=1, classification_cache_size=1)
        )
        health = await client.health()
    assert seen["/api/proxy/auth/verify"] == {}
    assert seen["/api/proxy/register"] == {"upstreams": [{"name": "fs", "transport": "stdio"}]}
    assert seen["/api/proxy/classify"] == {"tools": [tool.to_wire()]}
    assert seen["/api/proxy/heartbeat"] == {
        "proxy_version": "0.2.0",
        "upstream_count": 1,
        "tool_count": 1,
        "classification_cache_size": 1,
    }
    assert seen["/api/proxy/health"] is None
    assert registered.model_extra == {"registered": 1}
    assert [(c.name, c.category) for c in classified] == [("echo", "read_only")]
    assert health.status == "ok"


async def test_classify_of_no_tools_sends_nothing() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise AssertionError("no request expected")

    async with make_client(handler) as client:
        assert await client.classify([]) == []


async def test_a_caller_request_id_is_kept() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return httpx2.Response(200, json={"decision": "allow"})

    async with make_client(handler) as client:
        await client.decide(decide_request().model_copy(update={"request_id": "req-1"}))
        await client.decide(decide_request())
        await client.decide(decide_request())
    assert bodies[0]["request_id"] == "req-1"
    assert bodies[1]["request_id"] != bodies[2]["request_id"]


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_an_auth_error(status: int) -> None:
    async with make_client(answer(status, {"error": "bad key"})) as client:
        with pytest.raises(PolicyAuthError) as caught:
            await client.decide(decide_request())
    assert caught.value.status == status
    assert caught.value.endpoint == "/api/proxy/decide"


@pytest.mark.parametrize("status", [400, 404, 409, 422, 429, 500, 502, 503, 504, 302, 101])
async def test_any_other_non_2xx_on_decide_is_no_decision(status: int) -> None:
    async with make_client(answer(status, {"decision": "allow"})) as client:
        with pytest.raises(PolicyUnreachable) as caught:
            await client.decide(decide_request())
    assert caught.value.status == status


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b'{"decision": "allow"',
        b"[]",
        b'"allow"',
        b"null",
        b"\xff\xfe",
        b'{"decision":"allow","reason":5}',
    ],
)
async def test_a_malformed_or_wrongly_shaped_answer_is_no_decision(content: bytes) -> None:
    async with make_client(answer(200, content=content)) as client:
        with pytest.raises(PolicyUnreachable, match="malformed answer"):
            await client.decide(decide_request())


async def test_a_connect_failure_is_retried_once_with_the_same_request_id() -> None:
    attempts: list[dict[str, object]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        attempts.append(json.loads(request.content))
        if len(attempts) == 1:
            raise httpx2.ConnectError("refused", request=request)
        return httpx2.Response(200, json={"decision": "allow"})

    async with make_client(handler) as client:
        assert (await client.decide(decide_request())).allowed
    assert len(attempts) == 2
    assert attempts[0]["request_id"] == attempts[1]["request_id"]


@pytest.mark.parametrize("failure", [httpx2.ConnectError, httpx2.ConnectTimeout])
async def test_two_connect_failures_are_no_decision(failure: type[httpx2.TransportError]) -> None:
    attempts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal attempts
        attempts += 1
        raise failure("down", request=request)

    async with make_client(handler) as client:
        with pytest.raises(PolicyUnreachable, match="cannot connect"):
            await client.decide(decide_request())
    assert attempts == 2


@pytest.mark.parametrize(
    "failure",
    [httpx2.ReadTimeout, httpx2.WriteTimeout, httpx2.PoolTimeout, httpx2.ReadError, httpx2.RemoteProtocolError],
)
async def test_a_failure_after_sending_is_never_retried(failure: type[httpx2.TransportError]) -> None:
    attempts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal attempts
        attempts += 1
        raise failure("gone", request=request)

    async with make_client(handler) as client:
        with pytest.raises(PolicyUnreachable):
            await client.decide(decide_request())
    assert attempts == 1


async def test_the_key_appears_in_no_error_repr_or_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failures: list[BaseException] = []
    handlers = [
        answer(401),
        answer(500),
        answer(200, content=b"{"),
        answer(200, content=KEY.encode()),
    ]

    def connect_fails(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError(f"cannot reach {request.url}", request=request)

    for handler in [*handlers, connect_fails]:
        async with make_client(handler) as client:
            assert KEY not in repr(client)
            assert KEY not in str(client)
            try:
                await client.decide(decide_request())
            except (PolicyUnreachable, PolicyAuthError) as exc:
                failures.append(exc)
    assert len(failures) == 5
    for exc in failures:
        assert KEY not in str(exc)
        assert KEY not in repr(exc)
        assert KEY not in str(vars(exc))
        assert exc.__cause__ is None
        # A chained transport error would print the request it failed on under the traceback.
        assert exc.__context__ is None or exc.__suppress_context__
    assert caplog.records, "expected debug logging from the client and its HTTP stack"
    assert KEY not in caplog.text


def test_repr_says_whether_a_key_is_set_without_showing_it() -> None:
    assert repr(PolicyClient(KEY)) == "PolicyClient(base_url='https://mcp.inherencelabs.com', api_key=<set>)"
    assert "api_key=<none>" in repr(PolicyClient(None, base_url="http://127.0.0.1:8787"))


async def test_without_a_key_no_authorization_header_is_sent() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json={"decision": "allow"})

    client = PolicyClient(None, base_url="http://127.0.0.1:8787", transport=httpx2.MockTransport(handler))
    async with client:
        await client.decide(decide_request())
    assert "authorization" not in seen[0].headers


@pytest.mark.parametrize(
    "base_url",
    [
        "http://policy.example.com",
        "http://10.0.0.5:8787",
        "ftp://policy.example.com",
        "policy.example.com",
        "https://",
        "https://policy.example.com/?key=x",
        "not a url at all",
    ],
)
def test_a_base_url_that_could_leak_the_key_is_refused(base_url: str) -> None:
    with pytest.raises(PolicyUsageError):
        PolicyClient(KEY, base_url=base_url)


@pytest.mark.parametrize(
    "base_url", ["https://policy.example.com", "http://127.0.0.1:8787", "http://localhost:1", "http://[::1]:9"]
)
def test_https_and_loopback_http_base_urls_are_accepted(base_url: str) -> None:
    assert PolicyClient(KEY, base_url=base_url).base_url.startswith(base_url.rstrip("/"))


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("app.localhost", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


def test_a_subdomain_of_localhost_is_still_a_loopback_base_url() -> None:
    assert PolicyClient(KEY, base_url="http://app.localhost:8787").base_url.startswith("http://app.localhost:8787")


@pytest.mark.parametrize("key", ["", "   ", "inh_a\nX-Evil: 1", "inh_a\r"])
def test_an_empty_or_multiline_key_is_refused_without_echoing_it(key: str) -> None:
    with pytest.raises(PolicyUsageError) as caught:
        PolicyClient(key)
    assert key.strip() == "" or key not in str(caught.value)


def test_default_timeouts_are_the_hosted_ones() -> None:
    timeouts = Timeouts()
    assert (timeouts.connect, timeouts.read) == (1.5, 1.5)
    assert timeouts.deadline >= timeouts.connect + timeouts.read


@pytest.mark.parametrize("field", ["connect", "read", "write", "pool", "deadline"])
@pytest.mark.parametrize("value", [0, -1, float("nan"), True, "1"])
def test_timeouts_must_be_positive_numbers(field: str, value: object) -> None:
    with pytest.raises(PolicyUsageError, match=field):
        Timeouts(**{field: value})  # type: ignore[arg-type]


async def test_report_outcome_posts_the_report_once_and_says_it_was_taken() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(202, json={"accepted": True})

    report = OutcomeReport(decision_id="rcpt_1", session_id="s", tool_name="pay", confirmation="accepted")
    async with make_client(handler) as client:
        assert await client.report_outcome(report) is True
    (request,) = seen
    assert request.url == "https://policy.test/api/proxy/outcome"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(request.content) == report.to_wire()


@pytest.mark.parametrize("status", [404, 405])
async def test_a_server_without_the_outcome_route_is_not_an_error(status: int) -> None:
    async with make_client(answer(status, {"error": "not found"})) as client:
        assert await client.report_outcome(OutcomeReport(decision_id="rcpt_1")) is False


@pytest.mark.parametrize("status", [400, 422, 500, 503])
async def test_other_outcome_failures_raise_as_decide_would(status: int) -> None:
    async with make_client(answer(status)) as client:
        with pytest.raises(PolicyUnreachable) as caught:
            await client.report_outcome(OutcomeReport(decision_id="rcpt_1"))
    assert caught.value.status == status
    assert caught.value.endpoint == "/api/proxy/outcome"


async def test_a_refused_key_on_outcome_is_an_auth_error() -> None:
    async with make_client(answer(401)) as client:
        with pytest.raises(PolicyAuthError):
            await client.report_outcome(OutcomeReport(decision_id="rcpt_1"))


@pytest.mark.parametrize("failure", [httpx2.ReadTimeout, httpx2.ReadError, httpx2.RemoteProtocolError])
async def test_an_outcome_report_is_never_sent_twice(failure: type[httpx2.TransportError]) -> None:
    attempts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal attempts
        attempts += 1
        raise failure("gone", request=request)

    async with make_client(handler) as client:
        with pytest.raises(PolicyUnreachable):
            await client.report_outcome(OutcomeReport(decision_id="rcpt_1"))
    assert attempts == 1
