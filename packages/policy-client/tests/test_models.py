import json

import pydantic
import pytest

from inherence_policy_client import (
    MAX_OUTCOME_TEXT,
    DecideRequest,
    Decision,
    Heartbeat,
    OutcomeReport,
    ToolDescription,
    Verdict,
)


@pytest.mark.parametrize(
    ("body", "verdict"),
    [
        ({"decision": "allow"}, Verdict.ALLOW),
        ({"decision": "deny"}, Verdict.DENY),
        ({"decision": "allow_with_log"}, Verdict.ALLOW_WITH_LOG),
        ({"decision": "confirm"}, Verdict.CONFIRM),
        ({"decision": "CONFIRM"}, Verdict.DENY),
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
    assert decision.allowed is (verdict in (Verdict.ALLOW, Verdict.ALLOW_WITH_LOG))


def test_a_confirm_does_not_let_the_call_through() -> None:
    assert [verdict.value for verdict in Verdict if verdict.allows] == ["allow", "allow_with_log"]
    assert not Verdict.CONFIRM.allows
    assert not Verdict.DENY.allows


def test_a_confirm_carries_what_a_deny_carries_and_its_approval_id() -> None:
    body = {
        "decision": "confirm",
        "receipt": {"id": "r2", "rule": "financial_drain"},
        "receipt_id": "r2",
        "reason": "first payment to a new payee",
        "failed_clauses": ["financial_drain.new_recipient"],
        "approval_id": "apr_5d1c",
    }
    decision = Decision.model_validate_json(json.dumps(body))
    assert decision.decision is Verdict.CONFIRM
    assert not decision.allowed
    assert decision.approval_id == "apr_5d1c"
    assert decision.failed_clauses == ["financial_drain.new_recipient"]
    assert Decision.model_validate({"decision": "confirm"}).approval_id is None


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
        confirmable=True,
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
        "confirmable": True,
    }


@pytest.mark.parametrize(("confirmable", "sent"), [(None, None), (False, False), (True, True)])
def test_confirmable_is_sent_only_when_set(confirmable: bool | None, sent: bool | None) -> None:
    body = DecideRequest(tool_name="t", classification="x", confirmable=confirmable).to_wire()
    assert body.get("confirmable", None) is sent
    assert ("confirmable" in body) is (confirmable is not None)


def test_an_outcome_report_body_leaves_out_unset_optionals() -> None:
    report = OutcomeReport(decision_id="rcpt_1", content_text="hello\nworld")
    assert report.to_wire() == {
        "decision_id": "rcpt_1",
        "is_error": False,
        "content_text": "hello\nworld",
        "structured_text": "",
    }
    answer = OutcomeReport(
        decision_id="rcpt_2", session_id="s", tool_name="pay", confirmation="declined", approval_id="apr_1"
    )
    assert answer.to_wire()["confirmation"] == "declined"
    assert answer.to_wire()["approval_id"] == "apr_1"


@pytest.mark.parametrize("field", ["content_text", "structured_text"])
def test_an_outcome_text_longer_than_the_bound_is_refused(field: str) -> None:
    assert (
        len(OutcomeReport(decision_id="d", **{field: "x" * MAX_OUTCOME_TEXT}).model_dump()[field]) == MAX_OUTCOME_TEXT
    )
    with pytest.raises(pydantic.ValidationError, match=field):
        OutcomeReport(decision_id="d", **{field: "x" * (MAX_OUTCOME_TEXT + 1)})


@pytest.mark.parametrize("answer", ["yes", "", "Accepted", None])
def test_an_outcome_confirmation_is_one_of_three_answers(answer: object) -> None:
    if answer is None:
        assert OutcomeReport(decision_id="d").confirmation is None
        return
    with pytest.raises(pydantic.ValidationError, match="confirmation"):
        OutcomeReport.model_validate({"decision_id": "d", "confirmation": answer})


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
