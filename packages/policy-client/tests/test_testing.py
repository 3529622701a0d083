import pytest

from inherence_policy_client import DecideRequest, PolicyAuthError, PolicyClient, PolicyUnreachable, Verdict
from inherence_policy_client.testing import ScriptedPolicy


def call(tool: str) -> DecideRequest:
    return DecideRequest(tool_name=tool, classification="unknown", arguments={"x": 1}, session_id="s")


async def test_scripted_rules_decide_by_pattern_last_match_wins() -> None:
    policy = ScriptedPolicy()
    policy.deny("shell__*", reason="no shell")
    policy.allow_with_log("shell__echo")
    async with PolicyClient("inh_t", base_url="https://p.test", transport=policy.transport) as client:
        assert (await client.decide(call("fs__read"))).decision is Verdict.ALLOW
        denied = await client.decide(call("shell__run"))
        logged = await client.decide(call("shell__echo"))
    assert denied.decision is Verdict.DENY
    assert denied.reason == "no shell"
    assert denied.failed_clauses == ["test.deny"]
    assert logged.decision is Verdict.ALLOW_WITH_LOG
    assert [d.tool_name for d in policy.decisions] == ["fs__read", "shell__run", "shell__echo"]
    assert policy.decisions[0].session_id == "s"


async def test_scripted_failures_map_to_the_client_errors_and_recover() -> None:
    policy = ScriptedPolicy(api_key="inh_good")
    async with PolicyClient("inh_bad", base_url="https://p.test", transport=policy.transport) as client:
        with pytest.raises(PolicyAuthError):
            await client.decide(call("t"))
    async with PolicyClient("inh_good", base_url="https://p.test", transport=policy.transport) as client:
        policy.fail_with(503)
        with pytest.raises(PolicyUnreachable):
            await client.decide(call("t"))
        policy.unreachable()
        with pytest.raises(PolicyUnreachable, match="cannot connect"):
            await client.decide(call("t"))
        policy.recover()
        assert (await client.decide(call("t"))).allowed
    assert len(policy.decisions) == 1


async def test_scripted_classify_records_tools_and_answers_the_configured_category() -> None:
    from inherence_policy_client import ToolDescription

    policy = ScriptedPolicy(category="file_read")
    async with PolicyClient(None, base_url="http://127.0.0.1:1", transport=policy.transport) as client:
        answer = await client.classify([ToolDescription(name="read", schema_hash="sha256:0")])
    assert [(c.name, c.category) for c in answer] == [("read", "file_read")]
    assert policy.classified == ["read"]


async def test_scripted_confirm_answers_confirm_only_to_a_confirmable_request() -> None:
    policy = ScriptedPolicy()
    policy.confirm("bank__*", reason="new payee", clause="financial_drain.new_recipient", approval_id="apr_9")
    async with PolicyClient("inh_t", base_url="https://p.test", transport=policy.transport) as client:
        asked = await client.decide(call("bank__pay").model_copy(update={"confirmable": True}))
        plain = await client.decide(call("bank__pay"))
    assert asked.decision is Verdict.CONFIRM
    assert asked.approval_id == "apr_9"
    assert asked.failed_clauses == ["financial_drain.new_recipient"]
    assert plain.decision is Verdict.DENY
    assert plain.approval_id is None
    assert plain.reason == "new payee"


async def test_scripted_outcomes_are_recorded_or_refused_like_an_older_server() -> None:
    from inherence_policy_client import OutcomeReport

    report = OutcomeReport(decision_id="rcpt_1", content_text="done")
    policy = ScriptedPolicy()
    older = ScriptedPolicy(outcome_route=False)
    async with PolicyClient("inh_t", base_url="https://p.test", transport=policy.transport) as client:
        assert await client.report_outcome(report) is True
    async with PolicyClient("inh_t", base_url="https://p.test", transport=older.transport) as client:
        assert await client.report_outcome(report) is False
    assert policy.outcomes == [report]
    assert older.outcomes == []
