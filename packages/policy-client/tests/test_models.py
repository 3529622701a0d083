import json

import pytest

from inherence_policy_client import DecideRequest, Decision, Heartbeat, ToolDescription, Verdict


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"decision": "allow"}, Verdict.ALLOW),
        ({"decision": "deny"}, Verdict.DENY),
        ({"decision": "allow_with_log"}, Verdict.ALLOW_WITH_LOG),
        ({}, Verdict.DENY),
        ({"decision": None}, Verdict.DENY),
        ({"decision": "ALLOW"}, Verdict.DENY),
        ({"decision": "allow "}, Verdict.DENY),
        ({"decision": "permit"}, Verdict.DENY),
        ({"decision": True}, Verdict.DENY),
        ({"decision": 1}, Verdict.DENY),
    ],
)
def test_only_a_known_allow_allows(body: dict[str, object], verdict: Verdict) -> None:
    decision = Decision.model_validate_json(json.dumps(body))
    assert decision.decision is verdict
    assert decision.allowed is (verdict is not Verdict.DENY)


def test_decision_keeps_hosted_fields_and_ignores_unknown_ones() -> None:
    body = {
        "decision": "deny",
        "receipt": {"id": "r1", "signature": "abc"},
        "receipt_id": "r1",
        "reason": "credential read",
        "failed_clauses": ["credential_access.path", {"rule": "x", "clause": "y"}],
        "risk_score": 0.97,
        "new_field": {"nested": [1, 2]},
    }
    decision = Decision.model_validate_json(json.dumps(body))
    assert decision.receipt == {"id": "r1", "signature": "abc"}
    assert decision.receipt_id == "r1"
    assert decision.reason == "credential read"
    assert decision.failed_clauses == ["credential_access.path", {"rule": "x", "clause": "y"}]
    assert not hasattr(decision, "risk_score")


def test_null_failed_clauses_read_as_none() -> None:
    assert Decision.model_validate({"decision": "deny", "failed_clauses": None}).failed_clauses == []


def test_decide_body_is_the_hosted_shape_when_no_extras_are_set() -> None:
    request = DecideRequest(tool_name="read_file", classification="file_read", arguments={"path": "/tmp/x"})
    assert request.to_wire() == {
        "tool_name": "read_file",
        "classification": "file_read",
        "arguments": {"path": "/tmp/x"},
    }


def test_decide_body_keeps_explicit_nulls_and_nesting_inside_arguments() -> None:
    arguments = {"a": None, "b": {"c": None, "d": [1, None, {"e": None}]}, "f": [], "g": {}}
    request = DecideRequest(tool_name="t", classification="unknown", arguments=arguments)
    assert request.to_wire()["arguments"] == arguments


def test_decide_body_carries_every_additive_field() -> None:
    request = DecideRequest(
        tool_name="t",
        classification="shell_exec",
        session_id="s1",
        upstream="shell",
        request_id="r1",
        fingerprint="sha256:00",
        client="cursor",
        kind="tool",
    )
    assert request.to_wire() == {
        "tool_name": "t",
        "classification": "shell_exec",
        "arguments": {},
        "session_id": "s1",
        "upstream": "shell",
        "request_id": "r1",
        "fingerprint": "sha256:00",
        "client": "cursor",
        "kind": "tool",
    }


def test_decide_request_accepts_unknown_fields_from_newer_peers() -> None:
    request = DecideRequest.model_validate({"tool_name": "t", "classification": "x", "future": 1})
    assert request.to_wire() == {"tool_name": "t", "classification": "x", "arguments": {}}


def test_tool_description_and_heartbeat_bodies() -> None:
    tool = ToolDescription(name="echo", schema_hash="sha256:ab", description="d", input_schema={"type": "object"})
    assert tool.to_wire() == {
        "name": "echo",
        "schema_hash": "sha256:ab",
        "description": "d",
        "input_schema": {"type": "object"},
    }
    beat = Heartbeat(proxy_version="0.2.0", upstream_count=2, tool_count=9, classification_cache_size=9)
    assert beat.to_wire() == {
        "proxy_version": "0.2.0",
        "upstream_count": 2,
        "tool_count": 9,
        "classification_cache_size": 9,
    }
