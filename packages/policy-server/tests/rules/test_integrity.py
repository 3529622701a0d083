"""Gate integrity beyond the corpus: the embedder's own paths, the rule's modes, what a weakening is."""

from __future__ import annotations

import datetime

import pydantic
import pytest

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._integrity import protected_match
from inherence_policy_server.rules._weakening import weakenings

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _write(path: str) -> Call:
    return Call("write_file", Category.FILE_WRITE, {"path": path, "content": "x"}, session_id="s")


def test_a_proxy_home_elsewhere_is_protected_once_the_embedder_names_it() -> None:
    call = _write("/srv/gate-home/rules.toml")
    assert evaluate(call, RulesConfig(), InMemoryLedger(), NOW).verdict.value == "allow"
    config = RulesConfig()
    section = config.gate_integrity.model_copy(update={"runtime_paths": ("/srv/gate-home",)})
    protected = config.model_copy(update={"gate_integrity": section})
    evaluation = evaluate(call, protected, InMemoryLedger(), NOW)
    assert evaluation.verdict.value == "deny"
    assert evaluation.failed_clauses == ("gate_integrity.protected_file",)


def test_runtime_paths_are_never_written_back_to_a_rules_file() -> None:
    section = RulesConfig().gate_integrity.model_copy(update={"runtime_paths": ("/srv/gate-home",)})
    assert "runtime_paths" not in section.model_dump()


def test_the_rule_has_no_confirm_mode() -> None:
    with pytest.raises(pydantic.ValidationError, match="no confirm mode"):
        RulesConfig.model_validate({"gate_integrity": {"mode": "confirm"}})


def test_turned_off_by_hand_the_rule_lets_writes_through() -> None:
    # The human may switch it off in the file; the agent cannot write the file while it is on.
    config = RulesConfig.model_validate({"gate_integrity": {"mode": "off"}})
    assert evaluate(_write("~/.inherence-proxy/rules.toml"), config, InMemoryLedger(), NOW).verdict.value == "allow"


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("~/.inherence-proxy", "~/.inherence-proxy"),
        ("~/.inherence-proxy/policy/state.db", "~/.inherence-proxy"),
        ("~/.inherence-*", "~/.inherence-proxy"),
        ("~/.inh*/*.toml", "~/.inherence-proxy"),
        ("~/.inherence-proxy-old", None),
        ("~/projects/.inherence-proxy.md", None),
        ("", None),
    ],
)
def test_protected_match(path: str, expected: str | None) -> None:
    assert protected_match(path, ("~/.inherence-proxy", "~/.cursor/mcp.json")) == expected


def test_weakenings_name_each_setting_that_lets_more_through() -> None:
    old = RulesConfig()
    new = RulesConfig.model_validate(
        {
            "credential_access": {"mode": "off", "allowed_paths": ["~/.aws/*"]},
            "mass_destruction": {"mode": "log", "bulk_delete_threshold": 500},
            "financial_drain": {"per_call_limit_cents": 1_000_000},
            "unauthorized_exfiltration": {"scan_secrets": False},
            "organisation": {"email_domains": ["evil.example"]},
            "gate_integrity": {"protected_paths": ["~/.inherence-proxy"]},
        }
    )
    found = "\n".join(weakenings(old, new))
    for expected in (
        "credential_access.mode is now off (was enforce)",
        "credential_access.allowed_paths now also allows ~/.aws/*",
        "mass_destruction.mode is now log",
        "mass_destruction.bulk_delete_threshold raised from 25 to 500",
        "financial_drain.per_call_limit_cents raised",
        "unauthorized_exfiltration.scan_secrets turned off",
        "organisation.email_domains now also allows evil.example",
        "gate_integrity.protected_paths no longer holds ~/library/application support/claude",
    ):
        assert expected in found
    assert len(weakenings(old, new)) == 8


def test_tightening_is_no_weakening() -> None:
    old = RulesConfig.model_validate({"credential_access": {"mode": "log", "allowed_paths": ["~/.aws/*"]}})
    new = RulesConfig.model_validate(
        {"credential_access": {"mode": "enforce"}, "financial_drain": {"per_call_limit_cents": 5_000}}
    )
    assert weakenings(old, new) == []
    assert weakenings(new, new) == []


def test_no_clause_of_the_rule_can_be_set_to_confirm() -> None:
    with pytest.raises(pydantic.ValidationError, match="no confirm mode"):
        RulesConfig.model_validate({"gate_integrity": {"clauses": {"switch_off": "confirm"}}})
