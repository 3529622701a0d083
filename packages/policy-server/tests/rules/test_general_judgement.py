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


def _request(method: str, url: str, body: dict[str, Any] | None = None, config: RulesConfig | None = None) -> str:
    arguments: dict[str, Any] = {"method": method, "url": url}
    if body is not None:
        arguments["body"] = json.dumps(body)
    call = Call("http_request", Category.NETWORK_FETCH, arguments, session_id="s")
    evaluation = evaluate(call, config or RulesConfig(), InMemoryLedger(), NOW)
    return f"{evaluation.verdict.value} {' '.join(evaluation.failed_clauses)}".strip()


@pytest.mark.parametrize(
    ("method", "url", "body", "expected"),
    [
        # Money through an API no table lists: a payment judged by its amount, a payee or standing order asks.
        ("POST", "https://api.payments-co.example/v2/payments", {"amount": "75.00", "currency": "EUR"},
         "confirm financial_drain.new_recipient"),
        ("POST", "https://api.payments-co.example/v2/transfers", {"amount": "48000.00", "currency": "EUR"},
         "deny financial_drain.hard_limit"),
        ("POST", "https://bank.example/api/beneficiaries", {"name": "X", "iban": "GB33BUKB20201555555555"},
         "confirm financial_drain.new_recipient"),
        ("POST", "https://bank.example/ob/v3/domestic-scheduled-payments", {"amount": "20.00"},
         "confirm financial_drain.recurring_recipient_change financial_drain.new_recipient"),
        # Identity of another user, one's own, and who may do what.
        ("POST", "https://idp.example.org/api/v1/users/u-81/factors/reset", None,
         "deny identity_escalation.admin_mfa_change"),
        ("DELETE", "https://idp.example.org/v2/users/u-81/authenticators/a-9", None,
         "deny identity_escalation.admin_mfa_change"),
        ("PATCH", "https://idp.example.org/v2/users/u-81", {"recovery_email": "x@evil.example"},
         "deny identity_escalation.admin_mfa_change"),
        ("PUT", "https://idp.example.org/v2/users/u-81/password", {"value": "Hunter2!"},
         "deny identity_escalation.password_reset"),
        ("POST", "https://saas.example/v1/orgs/o-1/owners", {"email": "a@b.example"},
         "confirm identity_escalation.admin_grant"),
        ("POST", "https://saas.example/v1/teams/t-1/members", {"email": "a@b.example"},
         "confirm identity_escalation.outside_invite"),
        ("POST", "https://files.example/api/files/f-1/permissions", {"email": "a@b.example", "role": "reader"},
         "confirm identity_escalation.outside_share"),
        ("POST", "https://mail.example/api/v1/me/inbox-rules", {"forward_to": "a@b.example"},
         "confirm unauthorized_exfiltration.outside_forwarding"),
        # Secrets and destruction.
        ("GET", "https://secrets.example/v1/projects/web/secrets", None, "deny credential_access.api_secret_read"),
        ("DELETE", "https://search.example/v1/indices/products", None, "deny mass_destruction.api_resource_delete"),
        ("DELETE", "https://code.example/api/repos/acme/site", None, "deny mass_destruction.api_resource_delete"),
        # Ordinary work through the same APIs stays allowed.
        ("GET", "https://api.payments-co.example/v2/payments?limit=10", None, "allow"),
        ("POST", "https://tracker.example/api/issues/77/comments", {"body": "done"}, "allow"),
        ("POST", "https://cal.example/v1/calendars/primary/events", {"summary": "Review"}, "allow"),
        ("DELETE", "https://tracker.example/api/issues/77/comments/5", None, "allow"),
        ("DELETE", "https://tasks.example/v1/tasks/991", None, "allow"),
        ("GET", "https://idp.example.org/v2/users/u-81", None, "allow"),
        # A developer's own service under test is not a third-party API.
        ("DELETE", "http://127.0.0.1:8000/api/projects/3", None, "allow"),
    ],
)  # fmt: skip
def test_raw_api_calls_are_judged_by_the_resource_they_act_on(
    method: str, url: str, body: dict[str, Any] | None, expected: str
) -> None:
    assert _request(method, url, body) == expected


def test_the_api_resources_pack_takes_entries_and_disables_from_the_rules_file() -> None:
    config = RulesConfig.model_validate(
        {
            "packs": {
                "api_resources": {
                    "disable": ["destroy.whole"],
                    "entries": [
                        {"id": "my-payroll-runs", "methods": ["POST"], "path": "**/payroll-runs",
                         "clause": "financial_drain.api_money_movement"},
                    ],
                }
            }
        }
    )  # fmt: skip
    assert _request("DELETE", "https://search.example/v1/indices/products", config=config) == "allow"
    assert _request("POST", "https://hr.example/api/payroll-runs", {}, config=config) == (
        "deny financial_drain.api_money_movement"
    )


def test_a_resource_path_that_names_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="names no resource word"):
        RulesConfig.model_validate(
            {"packs": {"api_resources": {"entries": [
                {"id": "x", "methods": ["DELETE"], "path": "**/{id}", "clause": "mass_destruction.api_resource_delete"}
            ]}}}
        )  # fmt: skip
