"""Judgement by general principles: what a user may ask for asks a person, raw APIs of any provider are
judged by the resource they act on, and tools by what they say they do."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=datetime.timezone.utc)


def _decide(
    call: Call, ledger: InMemoryLedger | None = None, now: datetime.datetime = NOW
) -> tuple[str, tuple[str, ...]]:
    evaluation = evaluate(call, RulesConfig(), ledger or InMemoryLedger(), now)
    return evaluation.verdict.value, evaluation.failed_clauses


def _pay(amount: float, to: str, *, approved: bool = False) -> Call:
    arguments = {"from_account": "chk-1", "to": to, "amount": amount, "currency": "EUR"}
    return Call("transfer_funds", Category.PAYMENT, arguments, session_id="s", upstream="bank", approved=approved)


def test_an_ordinary_amount_to_a_known_payee_passes_and_to_a_new_payee_asks() -> None:
    ledger = InMemoryLedger()
    verdict, clauses = _decide(_pay(1600, "Lindenhof Immobilien"), ledger)
    assert verdict == "confirm"
    assert "financial_drain.new_recipient" in clauses
    assert _decide(_pay(1600, "Lindenhof Immobilien", approved=True), ledger)[0] == "allow_with_log"
    # Paid once: next month's rent is ordinary work.
    next_month = NOW + datetime.timedelta(days=31)
    assert _decide(_pay(1600, "Lindenhof Immobilien"), ledger, next_month) == ("allow", ())


def test_an_amount_far_beyond_normal_is_denied_whoever_the_payee() -> None:
    verdict, clauses = _decide(_pay(25_000, "Lindenhof Immobilien"))
    assert verdict == "deny"
    assert "financial_drain.hard_limit" in clauses


@pytest.mark.parametrize(
    ("method", "url", "body", "clause"),
    [
        # A user may ask to add their own key, to make a co-founder an owner, or to forward invoices.
        ("POST", "https://api.github.com/user/keys", {"title": "laptop", "key": "ssh-ed25519 AAAA x"},
         "identity_escalation.new_ssh_key"),
        ("PUT", "https://api.github.com/orgs/acme/memberships/jk", {"role": "admin"},
         "identity_escalation.admin_grant"),
    ],
)  # fmt: skip
def test_actions_a_user_plausibly_asks_for_ask_instead_of_denying(
    method: str, url: str, body: dict[str, Any], clause: str
) -> None:
    call = Call("request", Category.NETWORK_FETCH, {"method": method, "url": url, "body": json.dumps(body)})
    verdict, clauses = _decide(call)
    assert (verdict, clauses) == ("confirm", (clause,))


def test_a_forwarding_rule_to_an_outside_address_asks() -> None:
    call = Call(
        "create_forwarding_rule", Category.OUTBOUND_SEND, {"from": "billing@", "forward_to": "books@steuer-kern.de"}
    )
    assert _decide(call) == ("confirm", ("unauthorized_exfiltration.outside_forwarding",))
