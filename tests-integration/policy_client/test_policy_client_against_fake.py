"""inherence-policy-client against a real HTTP server on loopback: every row of the error matrix."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import anyio
import pytest
from fake_policy import (
    Allow,
    AllowWithLog,
    CloseConnection,
    Delay,
    Deny,
    MalformedJson,
    MissingFields,
    Sequence,
    StallAfterHeaders,
    Status,
)

from inherence_policy_client import (
    DecideRequest,
    PolicyAuthError,
    PolicyClient,
    PolicyUnreachable,
    Timeouts,
    ToolDescription,
    Verdict,
)

FAST = Timeouts(connect=0.5, read=0.5, write=0.5, pool=0.5, deadline=1.5)


def request(tool: str = "fs__read_file", **extra: object) -> DecideRequest:
    return DecideRequest(tool_name=tool, classification="file_read", arguments={"path": "/tmp/a", "opt": None}, **extra)  # type: ignore[arg-type]


@pytest.fixture
async def client(fake_policy) -> AsyncIterator[PolicyClient]:
    async with PolicyClient(fake_policy.api_key, base_url=fake_policy.base_url, timeouts=FAST) as policy:
        yield policy


async def test_decisions_map_one_to_one(fake_policy, client: PolicyClient) -> None:
    fake_policy.decide(Deny(tools="shell__*", reason="no shell", otherwise=AllowWithLog(tools="git__*")))
    assert (await client.decide(request("shell__run"))).decision is Verdict.DENY
    assert (await client.decide(request("git__log"))).decision is Verdict.ALLOW_WITH_LOG
    assert (await client.decide(request("fs__read"))).decision is Verdict.ALLOW
    denied = fake_policy.requests_to("decide")[0]
    assert denied.json["tool_name"] == "shell__run"


async def test_the_body_sent_is_exactly_the_hosted_shape_plus_our_fields(fake_policy, client: PolicyClient) -> None:
    await client.decide(request(session_id="sess-1", upstream="fs", fingerprint="sha256:ab", client="cursor"))
    (sent,) = fake_policy.requests_to("decide")
    assert sent.method == "POST"
    assert sent.api_key == fake_policy.api_key
    assert sent.headers.get("user-agent").startswith("inherence-policy-client/")
    body = dict(sent.json)
    assert len(body.pop("request_id")) == 32
    assert body == {
        "tool_name": "fs__read_file",
        "classification": "file_read",
        "arguments": {"path": "/tmp/a", "opt": None},
        "session_id": "sess-1",
        "upstream": "fs",
        "fingerprint": "sha256:ab",
        "client": "cursor",
    }


async def test_every_hosted_call_works_against_the_fake(fake_policy, client: PolicyClient) -> None:
    await client.verify_key()
    tools = [ToolDescription(name="run_shell", schema_hash="sha256:1", description="Run a shell command")]
    (classified,) = await client.classify(tools)
    assert classified.name == "run_shell"
    assert [r.endpoint for r in fake_policy.requests] == ["auth/verify", "classify"]
    assert fake_policy.requests_to("classify")[0].json == {"tools": [tools[0].to_wire()]}


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_an_auth_error(fake_policy, status: int) -> None:
    fake_policy.reject_bad_keys_with(status)
    async with PolicyClient("inh_not_a_key_of_this_server", base_url=fake_policy.base_url, timeouts=FAST) as policy:
        with pytest.raises(PolicyAuthError) as caught:
            await policy.verify_key()
        with pytest.raises(PolicyAuthError):
            await policy.decide(request())
    assert caught.value.status == status


@pytest.mark.parametrize(
    "behaviour",
    [
        Status(500),
        Status(502),
        Status(503),
        Status(400),
        Status(404),
        Status(422),
        Status(429),
        CloseConnection(),
        CloseConnection(abrupt=True),
        MalformedJson(),
        StallAfterHeaders(),
    ],
    ids=lambda b: type(b).__name__ + str(getattr(b, "status", "")),
)
async def test_no_usable_answer_is_no_decision_and_is_sent_once(fake_policy, client: PolicyClient, behaviour) -> None:
    fake_policy.decide(behaviour)
    with anyio.fail_after(FAST.deadline + 2):
        with pytest.raises(PolicyUnreachable):
            await client.decide(request())
    assert len(fake_policy.requests_to("decide")) == 1, "a request that was sent must never be sent again"


async def test_a_missing_decision_is_a_deny(fake_policy, client: PolicyClient) -> None:
    fake_policy.decide(MissingFields("decision"))
    assert (await client.decide(request())).decision is Verdict.DENY


async def test_a_slow_server_hits_the_deadline_not_the_read_timeout(fake_policy) -> None:
    timeouts = Timeouts(connect=0.5, read=5.0, write=0.5, pool=0.5, deadline=0.5)
    fake_policy.decide(Delay(3.0, then=Allow()))
    async with PolicyClient(fake_policy.api_key, base_url=fake_policy.base_url, timeouts=timeouts) as policy:
        with anyio.fail_after(2.5):
            with pytest.raises(PolicyUnreachable, match="deadline"):
                await policy.decide(request())


async def test_one_failure_does_not_poison_the_next_call(fake_policy, client: PolicyClient) -> None:
    fake_policy.decide(Sequence(CloseConnection(), Status(503), Allow()))
    for _ in range(2):
        with pytest.raises(PolicyUnreachable):
            await client.decide(request())
    assert (await client.decide(request())).allowed


async def test_a_closed_port_is_tried_twice_then_no_decision() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with PolicyClient("inh_x", base_url=f"http://127.0.0.1:{port}", timeouts=FAST) as policy:
        with anyio.fail_after(FAST.deadline + 2):
            with pytest.raises(PolicyUnreachable, match="cannot connect"):
                await policy.decide(request())


async def test_one_connection_is_kept_alive_for_many_calls(fake_policy, client: PolicyClient) -> None:
    for _ in range(50):
        await client.decide(request())
    assert fake_policy.connection_count == 1
    assert {r.connection for r in fake_policy.requests_to("decide")} == {1}
    request_ids = {r.json["request_id"] for r in fake_policy.requests_to("decide")}
    assert len(request_ids) == 50


async def test_the_key_never_reaches_a_log_or_an_error(fake_policy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = fake_policy.api_key
    texts: list[str] = []
    for behaviour in (Status(500), CloseConnection(), MalformedJson(), StallAfterHeaders(), Allow()):
        fake_policy.decide(behaviour)
        async with PolicyClient(secret, base_url=fake_policy.base_url, timeouts=FAST) as policy:
            texts.append(repr(policy))
            try:
                await policy.decide(request())
            except PolicyUnreachable as exc:
                texts.extend([str(exc), repr(exc)])
    fake_policy.reject_bad_keys_with(401)
    fake_policy.revoke_key(secret)
    async with PolicyClient(secret, base_url=fake_policy.base_url, timeouts=FAST) as policy:
        with pytest.raises(PolicyAuthError) as caught:
            await policy.decide(request())
    texts.extend([str(caught.value), repr(caught.value)])
    assert len(texts) > 10
    assert caplog.records
    for text in [*texts, caplog.text]:
        assert secret not in text
