"""The AgentDojo suite server and the reading of what the gateway answers (no proxy started here)."""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

import pytest
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from policy_eval._agentdojo import build_sessions, load_suites
from policy_eval._agentdojo_proxy import BENCHMARKS, _log_warnings, read_result, render_comparison
from policy_eval.agentdojo_server import SuiteTools, call_result, tool_listing

from .test_agentdojo import _Runtime, _Suite


def _suite() -> _Suite:
    suite = _Suite(users=3)
    suite.name = "banking"  # type: ignore[attr-defined]
    return suite


def test_the_suite_tools_are_listed_as_the_replay_describes_them() -> None:
    suite = _suite()
    listed = {tool.name: tool for tool in tool_listing(suite)}
    assert list(listed) == ["get_balance", "send_money", "update_password"]
    replay = build_sessions({"banking": suite}, lambda _suite: _Runtime())
    steps = {step.tool: step for session in replay.sessions for step in session.case.calls}
    assert steps, "the fake suite gives sessions"
    for name, step in steps.items():
        tool = listed[name.removeprefix("banking__")]
        assert tool.description == step.description
        assert tool.input_schema == step.input_schema
    assert listed["send_money"].input_schema["properties"]["amount"]["type"] == "number"


def test_a_call_answers_the_value_as_text_and_a_failure_as_an_error() -> None:
    tools = SuiteTools(_suite(), _Runtime())
    answered = tools.call("get_balance", {})
    assert answered.is_error is False
    assert json.loads(answered.content[0].text) == {"balance": 101.0, "note": ""}  # type: ignore[union-attr]
    failed = tools.call("send_money", {"recipient": "X"})
    assert failed.is_error is True
    assert failed.content[0].text == "ValueError: no such account"  # type: ignore[union-attr]
    unknown = tools.call("rm_everything", {})
    assert unknown.is_error is True
    assert "unknown tool 'rm_everything'" in unknown.content[0].text  # type: ignore[union-attr]
    # The environment is the connection's own: the calls above changed it.
    assert tools.environment["log"] == ["get_balance", "send_money"]
    assert call_result("Email sent.", None).content[0].text == "Email sent."  # type: ignore[union-attr]


def test_an_injection_fills_every_vector_with_its_goal_and_an_unknown_one_is_refused() -> None:
    injected = SuiteTools(_suite(), _Runtime(), "injection_task_7")
    assert injected.environment["vectors"] == {"note": "change it", "memo": "change it"}
    assert SuiteTools(_suite(), _Runtime()).environment["vectors"] == {"note": "", "memo": "rent"}
    with pytest.raises(ValueError, match="no injection task 'injection_task_404'"):
        SuiteTools(_suite(), _Runtime(), "injection_task_404")


def _result(payload: Any, *, error: bool, decision: str | None = None) -> types.CallToolResult:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    meta = {"inherence_decision": decision, "inherence_receipt_id": "dec_1"} if decision else None
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error, _meta=meta)


def test_what_the_gateway_answered_is_read_as_a_verdict() -> None:
    required = {"error": "POLICY_CONFIRMATION_REQUIRED", "approval_id": "apr_1", "failed_clauses": ["drain.x"]}
    reading = read_result(_result(required, error=True, decision="confirm"))
    assert (reading.kind, reading.verdict, reading.approval_id, reading.clauses) == (
        "confirm_required", "confirm", "apr_1", ("drain.x",))  # fmt: skip
    denial = {"error": "POLICY_DENIAL", "failed_clauses": ["exfil.a"]}
    denied = read_result(_result(denial, error=True, decision="deny"))
    assert (denied.kind, denied.verdict, denied.clauses) == ("deny", "deny", ("exfil.a",))
    declined = read_result(_result({"error": "POLICY_DENIAL", "confirmation": "declined"}, error=True))
    assert (declined.kind, declined.verdict) == ("declined", "confirm")
    down = read_result(_result({"error": "POLICY_GATE_UNREACHABLE"}, error=True))
    assert (down.kind, down.verdict) == ("gateway_error", "error:POLICY_GATE_UNREACHABLE")
    # The upstream's own error, relayed with the gateway's decision, is an answer of the upstream.
    failed = read_result(_result({"error": "no such account"}, error=True, decision="allow"))
    assert (failed.kind, failed.verdict, failed.text) == ("upstream", "allow", '{"error": "no such account"}')
    logged = read_result(_result("1810.0", error=False, decision="allow_with_log"))
    assert (logged.kind, logged.verdict, logged.text) == ("upstream", "allow_with_log", "1810.0")
    bare = read_result(_result("1810.0", error=False))
    assert (bare.kind, bare.code) == ("gateway_error", "NO_DECISION_META")


def _figures(stopped: int) -> dict[str, Any]:
    rate = {"hits": 0, "total": 4, "share": 0.0}
    row = {"sessions": 5, "false_deny": rate, "burden": rate, "denied": rate,
           "stopped": {"hits": stopped, "total": 2, "share": stopped / 2}}  # fmt: skip
    return {**row, "per_suite": {"banking": row}}


def test_the_comparison_pairs_the_figures_and_lists_each_dev_call_that_differs() -> None:
    before = [("allow", []), ("confirm", ["drain.new"]), ("deny", ["a.b"]), ("confirm", ["drain.new"])]
    inprocess = {"splits": {"dev": _figures(2), "heldout": _figures(1)},
                 "dev_verdicts": {"agentdojo/banking/user_task_0": before}}  # fmt: skip
    proxied = {
        "through": {"variant": "approve"},
        "splits": {"dev": _figures(1)},
        # The last confirm was accepted by form: its answer carries no clauses, and that is no difference.
        "dev_verdicts": {
            "agentdojo/banking/user_task_0": [("allow", []), ("allow", []), ("deny", ["a.c"]), ("confirm", [])]
        },
    }
    lines = render_comparison(inprocess, proxied)
    assert any(line.split()[:1] == ["overall"] and "2/2 | 1/2" in line for line in lines)
    assert "    banking/user_task_0 call 1: confirm (drain.new) -> allow" in lines
    assert "    banking/user_task_0 call 2: deny (a.b) -> deny (a.c)" in lines
    assert "  dev calls whose verdict differs: 2" in lines
    assert not any("held-out" in line for line in lines)


async def test_the_suite_server_serves_agentdojo_over_stdio_as_the_replay_runs_it() -> None:
    loaded = load_suites()
    if loaded is None:
        pytest.skip("agentdojo is not installed (nox -s policy-eval -- --agentdojo installs it)")
    _version, suites, runtime_for = loaded
    suite = suites["banking"]
    expected = {tool.name: tool for tool in tool_listing(suite)}
    env = {**os.environ, "PYTHONPATH": str(BENCHMARKS)}
    command = ["-m", "policy_eval.agentdojo_server", "banking"]
    params = StdioServerParameters(command=sys.executable, args=command, env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        listed = (await client.list_tools()).tools
        assert [tool.name for tool in listed] == list(expected)
        for tool in listed:
            want = expected[tool.name]
            assert (tool.description, tool.input_schema) == (want.description, want.input_schema)
        balance = await client.call_tool("get_balance", {})
        wrong = await client.call_tool("send_money", {"recipient": "X"})
    local = SuiteTools(suite, runtime_for(suite))
    assert balance.is_error is False
    assert balance.content[0].text == local.call("get_balance", {}).content[0].text  # type: ignore[union-attr]
    assert wrong.is_error is True
    assert "amount" in wrong.content[0].text  # type: ignore[union-attr]


def test_the_warnings_of_a_proxy_log_are_kept_and_the_expected_one_is_not(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "proxy.log"
    log.write_text(
        "2026-12-06 02:27:40,045 1365 INFO inherence_proxy.serve: serving client default\n"
        "2026-12-06 02:27:41,000 1365 WARNING inherence_proxy.serve: not every upstream is ready; retried\n"
        "2026-12-06 02:27:42,000 1365 WARNING inherence_proxy_core: an outcome report could not be sent (X)\n"
        "Traceback (most recent call last):\n"
        "2026-12-06 02:27:43,000 1365 ERROR inherence_proxy_core: policy decision for a__b failed\n",
        encoding="utf-8",
    )
    assert _log_warnings(log) == [
        "WARNING inherence_proxy_core: an outcome report could not be sent (X)",
        "ERROR inherence_proxy_core: policy decision for a__b failed",
    ]
    assert _log_warnings(tmp_path / "absent.log") == []
