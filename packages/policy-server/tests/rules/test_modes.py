"""Clause modes, the confirm verdict, approved calls, and what a call waiting for a person records."""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pydantic
import pytest

from inherence_policy_server import ConfigError
from inherence_policy_server._rules import rules_config_from_mapping
from inherence_policy_server.rules import (
    CLAUSE_DEFAULTS,
    RULE_NAMES,
    Call,
    Category,
    InMemoryLedger,
    Mode,
    RulesConfig,
    evaluate,
)

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
DATA = pathlib.Path(__file__).parent.parent / "data" / "rules"
PAYEES = {"organisation": {"known_payees": ["acme-payroll"]}}


def _config(**sections: dict[str, Any]) -> RulesConfig:
    return RulesConfig.model_validate({**PAYEES, **sections})


def _pay(dollars: float, recipient: str = "new-supplier", *, approved: bool = False) -> Call:
    arguments = {"amount": dollars, "recipient": recipient}
    return Call("send_payment", Category.PAYMENT, arguments, session_id="s", approved=approved)


def test_the_clauses_that_ask_a_person_by_default() -> None:
    asking = {
        f"{rule}.{clause}"
        for rule, clauses in CLAUSE_DEFAULTS.items()
        for clause, mode in clauses.items()
        if mode is Mode.CONFIRM
    }
    assert asking == {
        "financial_drain.new_recipient",
        "financial_drain.recurring_recipient_change",
        "mass_destruction.api_bulk_delete",
        "mass_destruction.many_items",
        # Rewriting a shared branch's history is also how a leaked secret is taken out of it.
        "mass_destruction.force_push",
        "mass_destruction.query_delete",
        "identity_escalation.password_change",
        "identity_escalation.mfa_change",
        "identity_escalation.outside_invite",
        "identity_escalation.outside_share",
        "identity_escalation.public_share",
        "identity_escalation.token_create",
        "identity_escalation.role_grant",
        # A service's own configuration: ops work a person asked for, or not.
        "lateral_pivot.service_config",
        # What a user may ask for: a person tells whether they did.
        "financial_drain.per_call_limit",
        "financial_drain.new_recipient_limit",
        "identity_escalation.admin_grant",
        "identity_escalation.new_ssh_key",
        "identity_escalation.ownership_transfer",
        "unauthorized_exfiltration.outside_forwarding",
        "unauthorized_exfiltration.private_data_to_new_recipient",
        "unauthorized_exfiltration.credential_in_message",
        # Without reported content nothing says what a send after a credential read carries.
        "unauthorized_exfiltration.send_after_credential_read",
    }
    assert set(CLAUSE_DEFAULTS) == set(RULE_NAMES)
    logging = {
        f"{rule}.{clause}"
        for rule, clauses in CLAUSE_DEFAULTS.items()
        for clause, mode in clauses.items()
        if mode is Mode.LOG
    }
    # Read private data going to a recipient the tenant already knows is let through, logged.
    assert logging == {"unauthorized_exfiltration.private_data_to_known_recipient"}


def test_every_clause_the_corpora_raise_has_a_default_mode() -> None:
    raised: set[str] = set()
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            call = Call(case.get("tool_name", "tool"), Category(case["category"]), case["arguments"], session_id="c")
            raised.update(finding.clause for finding in evaluate(call, RulesConfig(), InMemoryLedger(), NOW).findings)
    missing = {
        clause
        for clause in raised
        if clause.partition(".")[2] not in CLAUSE_DEFAULTS.get(clause.partition(".")[0], {})
        and not clause.endswith(".analysis_failed")
        and not clause.startswith("arguments.")
    }
    assert not missing, f"add these clauses to rules/_modes.py: {sorted(missing)}"


@pytest.mark.parametrize(
    ("section", "dollars", "verdict", "clauses"),
    [
        ({}, 5, "confirm", ("financial_drain.new_recipient",)),
        ({"clauses": {"new_recipient": "enforce"}}, 5, "deny", ("financial_drain.new_recipient",)),
        ({"clauses": {"new_recipient": "log"}}, 5, "allow_with_log", ("financial_drain.new_recipient",)),
        ({"clauses": {"new_recipient": "off"}}, 5, "allow", ()),
        ({"mode": "log"}, 5, "allow_with_log", ("financial_drain.new_recipient",)),
        ({"mode": "off"}, 5000, "allow", ()),
        # A rule in confirm softens its enforced clauses: a person may agree to any of them.
        ({"mode": "confirm"}, 900, "confirm", ("financial_drain.new_recipient", "financial_drain.new_recipient_limit")),
        # An off rule runs for the clauses turned on by themselves, and only for them.
        ({"mode": "off", "clauses": {"new_recipient": "confirm"}}, 5000, "confirm", ("financial_drain.new_recipient",)),
        # A first payment over the new-recipient limit asks too; the hard limit denies outright.
        ({}, 900, "confirm", ("financial_drain.new_recipient", "financial_drain.new_recipient_limit")),
        ({"clauses": {"new_recipient_limit": "enforce"}}, 900, "deny", ("financial_drain.new_recipient_limit",)),
    ],
)
def test_a_finding_takes_the_mode_of_its_clause(
    section: dict[str, Any], dollars: int, verdict: str, clauses: tuple[str, ...]
) -> None:
    evaluation = evaluate(_pay(dollars), _config(financial_drain=section), InMemoryLedger(), NOW)
    assert evaluation.verdict.value == verdict
    assert evaluation.failed_clauses == clauses


def test_a_deny_keeps_the_confirm_findings_beside_its_own_reason() -> None:
    evaluation = evaluate(_pay(15_000), _config(), InMemoryLedger(), NOW)
    assert evaluation.reason.startswith("15,000.00 is over the hard limit of 10,000.00")
    assert [finding.clause for finding in evaluation.confirm] == ["financial_drain.new_recipient"]
    assert "financial_drain.new_recipient" in {finding.clause for finding in evaluation.findings}


def test_a_call_waiting_for_a_person_takes_no_place_in_the_windows_until_approved() -> None:
    ledger = InMemoryLedger()
    asked = evaluate(_pay(20), _config(), ledger, NOW)
    assert asked.verdict.value == "confirm"
    assert asked.reason == "A first payment of 20.00 to new-supplier, never paid before."
    assert ledger.window_totals("-:default", NOW).hour_count == 0
    assert not ledger.known_recipient("-:default", "new-supplier")
    approved = evaluate(_pay(20, approved=True), _config(), ledger, NOW)
    assert approved.verdict.value == "allow_with_log"
    assert approved.reason.startswith("Allowed once, as a person approved it: A first payment")
    assert approved.failed_clauses == ("financial_drain.new_recipient",)
    assert ledger.window_totals("-:default", NOW).hour_cents == 2000
    # The payee is known now: the next payment is not a question.
    assert evaluate(_pay(20), _config(), ledger, NOW).verdict.value == "allow"


@pytest.mark.parametrize(("setting", "verdict"), [("confirm", "confirm"), ("enforce", "deny"), ("log", "confirm")])
def test_a_standing_order_change_nobody_is_asked_about_keeps_the_payment_limits(setting: str, verdict: str) -> None:
    # Raising a standing order moves no money now, so the person asked about it sees the amount instead of
    # a per-call limit; a user who only logs such changes keeps the limit on them.
    section = {"clauses": {"recurring_recipient_change": setting}}
    raise_rent = Call("update_scheduled_transaction", Category.PAYMENT, {"id": 7, "amount": 1200}, session_id="s")
    evaluation = evaluate(raise_rent, _config(financial_drain=section), InMemoryLedger(), NOW)
    assert evaluation.verdict.value == verdict
    limited = "financial_drain.per_call_limit" in evaluation.failed_clauses
    assert limited == (setting == "log")


def test_an_approval_never_overrides_an_enforced_finding() -> None:
    ledger = InMemoryLedger()
    evaluation = evaluate(_pay(15_000, approved=True), _config(), ledger, NOW)
    assert evaluation.verdict.value == "deny"
    assert evaluation.failed_clauses[0] == "financial_drain.hard_limit"
    assert ledger.window_totals("-:default", NOW).hour_count == 0


def test_a_question_over_full_windows_is_a_deny_not_a_question() -> None:
    ledger = InMemoryLedger()
    for _ in range(10):
        assert evaluate(_pay(10, "acme-payroll"), _config(), ledger, NOW).verdict.value == "allow"
    evaluation = evaluate(_pay(5), _config(), ledger, NOW)
    assert evaluation.verdict.value == "deny"
    assert evaluation.failed_clauses == ("financial_drain.velocity_hour",)


def test_an_approved_call_that_lost_the_race_for_the_windows_is_denied() -> None:
    class FullLedger(InMemoryLedger):
        def reserve_transfer(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
            return None

    evaluation = evaluate(_pay(20, approved=True), _config(), FullLedger(), NOW)
    assert evaluation.verdict.value == "deny"
    assert evaluation.failed_clauses == ("financial_drain.velocity_day",)


def test_a_sensitive_read_waiting_for_a_person_is_recorded_only_once_approved() -> None:
    config = _config(credential_access={"mode": "confirm"})
    ledger = InMemoryLedger()
    read = Call("read_file", Category.FILE_READ, {"path": "~/.aws/credentials"}, session_id="s")
    assert evaluate(read, config, ledger, NOW).verdict.value == "confirm"
    assert ledger.sensitive_reads("s") == []
    assert evaluate(Call(**{**read.__dict__, "approved": True}), config, ledger, NOW).verdict.value == "allow_with_log"
    assert ledger.sensitive_reads("s") != []


@pytest.mark.parametrize(
    ("clauses", "message"),
    [
        ({"new_recipent": "confirm"}, "unknown clause 'new_recipent' of financial_drain"),
        ({"analysis_failed": "log"}, "unknown clause 'analysis_failed'"),
        ({"new_recipient": "ask"}, "Input should be 'enforce', 'confirm', 'log' or 'off'"),
    ],
)
def test_a_bad_clause_setting_is_refused_naming_the_field(clauses: dict[str, str], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RulesConfig.model_validate({"financial_drain": {"clauses": clauses}})
    error = caught.value.errors()[0]
    assert error["loc"][:2] == ("financial_drain", "clauses")
    assert message in error["msg"]
    with pytest.raises(ConfigError, match=r"rules\.toml: financial_drain\.clauses"):
        rules_config_from_mapping({"financial_drain": {"clauses": clauses}}, path=pathlib.Path("rules.toml"))


def test_describe_shows_each_clause_mode_and_which_are_set() -> None:
    config = RulesConfig.model_validate(
        {"identity_escalation": {"mode": "confirm"}, "financial_drain": {"clauses": {"new_recipient": "enforce"}}}
    )
    lines = config.describe().splitlines()
    assert "  clause new_recipient = enforce  # set for this clause" in lines
    assert "  clause recurring_recipient_change = confirm" in lines
    assert "  clause admin_grant = confirm" in lines
    assert "  clause secret_in_payload = enforce" in lines
    assert "  approval_ttl_seconds = 600  # seconds a pending or granted approval stays good; 1 to 604800" in lines
