"""Property-based fuzzing of decide: any input gets a decision or a 4xx, never a 5xx."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inherence_policy_client import Decision, Verdict
from inherence_policy_server import create_app

DECIDE = "/api/proxy/decide"
OUTCOME = "/api/proxy/outcome"
LIMIT = 64 * 1024

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=40,
)
categories = st.sampled_from(
    ["shell_exec", "file_read", "payment", "outbound_send", "unknown", "network_fetch", "database_query", ""]
) | st.text(max_size=20)
shaped = st.fixed_dictionaries(
    {"tool_name": st.text(max_size=40) | json_values, "classification": categories | json_values},
    optional={
        "arguments": st.dictionaries(st.text(max_size=20), json_values, max_size=8) | json_values,
        "session_id": st.text(max_size=20) | json_values,
        "upstream": st.text(max_size=20) | json_values,
        "request_id": st.text(max_size=20) | json_values,
        "kind": st.sampled_from(["tool", "resource", "prompt"]) | json_values,
        "confirmable": st.booleans() | json_values,
        "extra": json_values,
    },
)


_OUTCOME = {
    "session_id": st.text(max_size=20) | json_values,
    "tool_name": st.text(max_size=20) | json_values,
    "is_error": st.booleans() | json_values,
    "content_text": st.text(max_size=60) | json_values,
    "confirmation": st.sampled_from(["accepted", "declined", "timed_out"]) | json_values,
    "approval_id": st.text(max_size=20) | json_values,
}


@pytest.fixture(scope="module")
def post(tmp_path_factory):
    """A function posting raw bytes to decide of one app with the real rules (one event loop for all examples)."""
    app = create_app(data_dir=tmp_path_factory.mktemp("fuzz"), require_key=False, max_body_bytes=LIMIT)
    loop = asyncio.new_event_loop()
    client = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://policy.local")

    def send(body: bytes, path: str = DECIDE) -> httpx2.Response:
        return loop.run_until_complete(client.post(path, content=body))

    yield send
    loop.run_until_complete(client.aclose())
    loop.close()
    app.close()


def _check(response: httpx2.Response, body: object = None) -> None:
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        decision = Decision.model_validate_json(response.content)
        assert decision.receipt_id
        if decision.decision is Verdict.CONFIRM:
            assert isinstance(body, dict), "a confirm needs a request that said confirmable: true"
            assert body.get("confirmable") is True
    else:
        assert 400 <= response.status_code < 500
        assert "error" in response.json()


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(body=shaped)
def test_decide_shaped_requests(post, body) -> None:
    _check(post(json.dumps(body).encode()), body)


@FUZZ
@given(body=json_values)
def test_decide_any_json(post, body) -> None:
    _check(post(json.dumps(body).encode()), body)


@FUZZ
@given(body=st.binary(max_size=300))
def test_decide_any_bytes(post, body) -> None:
    _check(post(body))


@pytest.mark.parametrize(
    "body",
    [
        b'{"tool_name": "t", "classification": "shell_exec", "arguments": {"a": ' + b"[" * 5000 + b"]" * 5000 + b"}}",
        b'{"tool_name": "t", "classification": "x", "arguments": {"a": ' + b'{"b":' * 3000 + b"1" + b"}" * 3001 + b"}",
        b'{"tool_name": "t", "classification": "x", "arguments": {"a": "' + b"\\ud800" * 100 + b'"}}',
        b'{"tool_name": "t", "classification": "x", "arguments": {"a": "\xed\xa0\x80\xff"}}',
        b'{"tool_name": "t", "classification": "x", "arguments": {"a": [' + b"1," * 20000 + b"1]}}",
        b'{"tool_name": "' + b"A" * 60000 + b'", "classification": "x"}',
        b'{"tool_name": "t", "classification": "x", "arguments": {"n": 1e999999, "m": -0, "k": 1' + b"0" * 400 + b"}}",
        b'{"tool_name": "t", "classification": "x", "tool_name": "u"}',
        b"\xef\xbb\xbf{}",
        b"",
    ],
    ids=["deep-arrays", "deep-objects", "lone-surrogates", "invalid-utf8", "giant-array", "huge-string", "numbers",
         "duplicate-keys", "bom", "empty"],
)  # fmt: skip
def test_decide_hostile_bodies(post, body: bytes) -> None:
    _check(post(body))


def test_decide_over_the_limit_is_413(post) -> None:
    response = post(b'{"tool_name": "t", "classification": "x", "arguments": {"a": "' + b"x" * LIMIT + b'"}}')
    assert response.status_code == 413


confirm_calls = st.fixed_dictionaries(
    {
        "tool_name": st.sampled_from(["send_payment", "change_password", "share_document"]),
        "classification": st.sampled_from(["payment", "identity_admin", "unknown"]),
        "arguments": st.fixed_dictionaries(
            {"amount": st.integers(1, 50), "recipient": st.text(min_size=1, max_size=12)},
            optional={"new_password": st.text(max_size=8), "email": st.emails()},
        ),
        "session_id": st.text(min_size=1, max_size=12),
        "confirmable": st.booleans(),
    }
)


@FUZZ
@given(body=confirm_calls)
def test_decide_confirm_only_to_confirmable_requests(post, body) -> None:
    response = post(json.dumps(body).encode())
    _check(response, body)
    decision = Decision.model_validate_json(response.content)
    if decision.decision is Verdict.CONFIRM:
        assert decision.approval_id is not None
        assert decision.approval_id.startswith("apr_")
    else:
        assert decision.approval_id is None


@FUZZ
@given(body=shaped | json_values | st.fixed_dictionaries({"decision_id": st.text(max_size=20)}, optional=_OUTCOME))
def test_outcome_any_json_is_taken_or_refused_never_a_5xx(post, body) -> None:
    response = post(json.dumps(body).encode(), OUTCOME)
    assert response.status_code in (202, 400, 422), response.text
