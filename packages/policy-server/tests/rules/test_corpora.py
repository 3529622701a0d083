"""Every case of the rule corpora, through the engine.

Format of `tests/data/rules/<rule>.jsonl` and `tests/data/rules/<rule>.<topic>.jsonl` (a topic file
keeps one family of cases together), one JSON object a line:

* `name`: unique within the file;
* `category`: a `Category` value (`shell_exec`, `file_read`, ..., `unknown`);
* `arguments`: the call's arguments, any JSON object;
* `expect`: `"deny"`, `"confirm"` (a person must agree first) or `"allow"` (`allow_with_log` counts as allow);
* `note`: why the case is there;
* `clause` (optional, deny cases): the clause of the file's rule the case must raise (`git_clean` for
  `mass_destruction.git_clean`);
* `tool_name` (optional, default `tool`): the tool's name; `upstream` (optional): the server it is on;
* `session` (optional): earlier calls of the same session, each `{"category", "arguments", "tool_name"?,
  "upstream"?, "approved"?, "result"?}`, decided first in order (their verdicts are not asserted); `"approved": true`
  decides one as the retry a person approved; `result` is the text the tool returned, reported as the
  call's outcome (as `POST /api/proxy/outcome` does) when the call was let through.

Each case runs with a fresh ledger, the default thresholds and `CORPUS_CONFIG`'s organisation.
A `deny` case must be denied by the file's rule; a `confirm` case must be answered `confirm` for a
clause of the file's rule, and let through (logged) once approved; an `allow` case must be allowed
outright.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pytest

from inherence_policy_server.rules import RULE_NAMES, Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._outcomes import record_result

DATA = pathlib.Path(__file__).parent.parent / "data" / "rules"
NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
CORPUS_CONFIG = RulesConfig.model_validate(
    {
        "organisation": {
            "email_domains": ["acme.com"],
            "internal_hosts": ["acme.internal"],
            "known_payees": ["acme-payroll", "landlord"],
            "own_accounts": ["FR76 3000 6000 0112 3456 7890 189", "savings-7781"],
            "known_recipients": ["partner@trusted.example"],
            "chat_workspaces": ["acme.slack.com", "t0acme"],
        }
    }
)


def _cases() -> list[Any]:
    cases = []
    for path in sorted(DATA.glob("*.jsonl")):
        for line_number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            case = json.loads(line)
            rule = path.stem.split(".", 1)[0]
            cases.append(pytest.param(rule, case, id=f"{path.stem}:{line_number}:{case['name']}"))
    return cases


def _call(entry: dict[str, Any], *, approved: bool = False) -> Call:
    return Call(
        tool_name=entry.get("tool_name", "tool"),
        category=Category(entry["category"]),
        arguments=entry["arguments"],
        session_id="corpus-session",
        approved=approved or entry.get("approved", False),
        upstream=entry.get("upstream"),
    )


def _ledger_after_session(case: dict[str, Any]) -> InMemoryLedger:
    ledger = InMemoryLedger()
    for offset, earlier in enumerate(case.get("session", [])):
        at = NOW - datetime.timedelta(seconds=60 - offset)
        call = _call(earlier)
        if evaluate(call, CORPUS_CONFIG, ledger, at).verdict.allows and "result" in earlier:
            texts = [earlier["result"]]
            record_result(ledger, "corpus-session", call.category, texts, at, call.tool_name, call.upstream or "")
    return ledger


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_corpus_case(rule: str, case: dict[str, Any]) -> None:
    evaluation = evaluate(_call(case), CORPUS_CONFIG, _ledger_after_session(case), NOW)
    if case["expect"] in ("deny", "confirm"):
        assert evaluation.verdict.value == case["expect"], (case["note"], evaluation.reason)
        assert any(clause.startswith(f"{rule}.") for clause in evaluation.failed_clauses), evaluation.failed_clauses
        if "clause" in case:
            assert f"{rule}.{case['clause']}" in evaluation.failed_clauses, (case["note"], evaluation.failed_clauses)
    else:
        assert case["expect"] == "allow", case["name"]
        assert "clause" not in case, "an allow case names no clause"
        assert evaluation.verdict.value == "allow", (case["note"], evaluation.reason)
    if case["expect"] == "confirm":
        approved = evaluate(_call(case, approved=True), CORPUS_CONFIG, _ledger_after_session(case), NOW)
        assert approved.verdict.value == "allow_with_log", (case["note"], approved.reason)


def test_every_rule_has_forty_stopped_and_forty_allowed() -> None:
    expects: dict[str, list[str]] = {}
    for path in sorted(DATA.glob("*.jsonl")):
        rule = path.stem.split(".", 1)[0]
        expects.setdefault(rule, []).extend(
            json.loads(line)["expect"] for line in path.read_text(encoding="utf-8").splitlines()
        )
    assert set(expects) >= set(RULE_NAMES)
    for rule, seen in expects.items():
        assert rule in RULE_NAMES, f"{rule}: no such rule"
        assert seen.count("deny") + seen.count("confirm") >= 40, rule
        assert seen.count("allow") >= 40, rule
        assert set(seen) <= {"deny", "confirm", "allow"}, rule
