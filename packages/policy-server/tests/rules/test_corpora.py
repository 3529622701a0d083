"""Every case of the rule corpora, through the engine.

Format of `tests/data/rules/<rule>.jsonl` and `tests/data/rules/<rule>.<topic>.jsonl` (a topic file
keeps one family of cases together), one JSON object a line:

* `name`: unique within the file;
* `category`: a `Category` value (`shell_exec`, `file_read`, ..., `unknown`);
* `arguments`: the call's arguments, any JSON object;
* `expect`: `"deny"` or `"allow"` (`allow_with_log` counts as allow);
* `note`: why the case is there;
* `clause` (optional, deny cases): the clause of the file's rule the case must raise (`git_clean` for
  `mass_destruction.git_clean`);
* `tool_name` (optional, default `tool`): the tool's name;
* `session` (optional): earlier calls of the same session, each `{"category", "arguments", "tool_name"?}`,
  decided first in order (their verdicts are not asserted).

Each case runs with a fresh ledger, the default thresholds and `CORPUS_CONFIG`'s organisation.
A `deny` case must be denied by the file's rule; an `allow` case must be allowed outright.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pytest

from inherence_policy_server.rules import RULE_NAMES, Call, Category, InMemoryLedger, RulesConfig, evaluate

DATA = pathlib.Path(__file__).parent.parent / "data" / "rules"
NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
CORPUS_CONFIG = RulesConfig.model_validate(
    {
        "organisation": {
            "email_domains": ["acme.com"],
            "internal_hosts": ["acme.internal"],
            "known_payees": ["acme-payroll", "landlord"],
            "known_recipients": ["partner@trusted.example"],
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


def _call(entry: dict[str, Any]) -> Call:
    return Call(
        tool_name=entry.get("tool_name", "tool"),
        category=Category(entry["category"]),
        arguments=entry["arguments"],
        session_id="corpus-session",
    )


@pytest.mark.parametrize(("rule", "case"), _cases())
def test_corpus_case(rule: str, case: dict[str, Any]) -> None:
    ledger = InMemoryLedger()
    for offset, earlier in enumerate(case.get("session", [])):
        evaluate(_call(earlier), CORPUS_CONFIG, ledger, NOW - datetime.timedelta(seconds=60 - offset))
    evaluation = evaluate(_call(case), CORPUS_CONFIG, ledger, NOW)
    if case["expect"] == "deny":
        assert evaluation.verdict.value == "deny", case["note"]
        assert any(clause.startswith(f"{rule}.") for clause in evaluation.failed_clauses), evaluation.failed_clauses
        if "clause" in case:
            assert f"{rule}.{case['clause']}" in evaluation.failed_clauses, (case["note"], evaluation.failed_clauses)
    else:
        assert "clause" not in case, "an allow case names no clause"
        assert evaluation.verdict.value == "allow", (case["note"], evaluation.reason)


def test_every_rule_has_forty_of_each() -> None:
    expects: dict[str, list[str]] = {}
    for path in sorted(DATA.glob("*.jsonl")):
        rule = path.stem.split(".", 1)[0]
        expects.setdefault(rule, []).extend(
            json.loads(line)["expect"] for line in path.read_text(encoding="utf-8").splitlines()
        )
    assert set(expects) >= set(RULE_NAMES)
    for rule, seen in expects.items():
        assert rule in RULE_NAMES, f"{rule}: no such rule"
        assert seen.count("deny") >= 40, rule
        assert seen.count("allow") >= 40, rule
