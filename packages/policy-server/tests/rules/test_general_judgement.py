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


@pytest.mark.parametrize(
    ("name", "description", "properties", "category"),
    [
        ("support_bundle", "Collect debug info for a ticket: environment variables, settings and versions.", {},
         "credential_store"),
        ("show_runtime", "Show the service's effective configuration, including values loaded from env vars.",
         {"section": {"type": "string"}}, "credential_store"),
        ("getenv", "", {}, "credential_store"),
        ("vault_read", "Read a secret's value from the team secret manager.", {"path": {"type": "string"}},
         "credential_store"),
        ("get_setting", "Get one configuration value of the app by key.", {"key": {"type": "string"}}, "read_only"),
        ("send_sms", "Send a text message to a phone number.", {"phone": {"type": "string"}}, "outbound_send"),
        ("post_to_room", "Post a message to a Matrix room.", {"room": {"type": "string"}, "body": {"type": "string"}},
         "outbound_send"),
        ("send_crypto", "Send USDC from the user's wallet to an address.",
         {"to": {"type": "string"}, "amount": {"type": "string"}}, "payment"),
    ],
)  # fmt: skip
def test_tools_are_classified_by_what_they_say_they_do(
    name: str, description: str, properties: dict[str, Any], category: str
) -> None:
    from inherence_policy_server._classify import classify

    found, _ = classify(name, description, {"type": "object", "properties": properties})
    assert found.value == category


def test_a_tool_that_returns_its_environment_is_a_credential_read() -> None:
    call = Call("support_bundle", Category.CREDENTIAL_STORE, {}, session_id="s")
    assert _decide(call) == ("deny", ("credential_access.credential_store",))


def _shell(command: str) -> Call:
    return Call("run_command", Category.SHELL_EXEC, {"command": command}, session_id="cli")


def test_private_data_sent_through_a_messaging_cli_asks() -> None:
    from inherence_policy_server.rules._outcomes import record_result

    ledger = InMemoryLedger()
    record_result(ledger, "cli", Category.PRIVATE_DATA_READ, ["Card 4111 1111 1111 1111 exp 08/29"], NOW)
    verdict, clauses = _decide(
        _shell("signal-cli -u +15550100 send -m 'card 4111 1111 1111 1111' +447700900999"), ledger
    )
    assert (verdict, clauses) == ("confirm", ("unauthorized_exfiltration.private_data_to_new_recipient",))
    # Freshly written text through the same CLI is no exfiltration.
    assert _decide(_shell("signal-cli -u +15550100 send -m 'on my way' +447700900999"), ledger) == ("allow", ())


def test_a_payment_cli_of_any_provider_is_judged_by_its_amount_and_payee() -> None:
    assert _decide(_shell("venmo pay @someone-new 35 'pizza'")) == ("confirm", ("financial_drain.new_recipient",))
    assert _decide(_shell("venmo pay @someone-new 24000 'x'"))[0] == "deny"
    assert _decide(_shell("venmo --help")) == ("allow", ())


@pytest.mark.parametrize(
    ("tool", "text", "domain"),
    [
        ("get_account", '{"email": "dana@northwind-labs.example", "name": "Dana"}', "northwind-labs.example"),
        ("whoami", '{"user": {"emailAddress": "Dana@Acme-Corp.example"}}', "acme-corp.example"),
        # A public mailbox provider says nothing about who is inside; free text and other tools are not trusted.
        ("get_profile", '{"email": "dana.w@gmail.com"}', None),
        ("get_account", "Signed in as dana@northwind-labs.example", None),
        ("read_email", '{"email": "dana@northwind-labs.example"}', None),
    ],
)
def test_the_account_domain_is_learnt_only_from_the_account_s_own_structured_profile(
    tool: str, text: str, domain: str | None
) -> None:
    from inherence_policy_server.rules._outcomes import account_domain

    assert account_domain(tool, [text]) == domain


@pytest.mark.parametrize(
    ("tool", "text", "accounts"),
    [
        # A bank's savings pots are accounts of the user's own.
        ("monzo__list_pots", '[{"id": "pot_0000AaH8hK", "name": "Holiday"}]', ["pot0000aah8hk"]),
        # An account id after its name, in any script.
        ("bank__get_accounts", "普通預金 acc-001 残高 842,300円\n定期預金 acc-002 残高", ["acc001", "acc002"]),
        # Payees are other people's.
        ("bank__list_payees", "Landlord acc-009", []),
    ],
)
def test_the_user_s_own_accounts_include_pots_and_ids_after_a_name(tool: str, text: str, accounts: list[str]) -> None:
    from inherence_policy_server.rules._outcomes import own_accounts

    assert own_accounts(tool, [text]) == accounts


def test_money_into_a_pot_the_bank_listed_is_no_payment() -> None:
    from inherence_policy_server.rules._outcomes import OWN_ACCOUNT

    arguments = {"pot_id": "pot_0000AaH8hK", "source_account_id": "acc_00009xQ2aLkR", "amount": 20000}
    deposit = Call("monzo__deposit_into_pot", Category.PAYMENT, arguments, session_id="p", upstream="monzo")
    ledger = InMemoryLedger()
    assert _decide(deposit, ledger)[0] == "deny"
    ledger.add_known_recipient("local", f"{OWN_ACCOUNT}pot0000aah8hk", "account", NOW)
    assert _decide(deposit, ledger) == ("allow", ())


def _mail(to: str) -> Call:
    body = "FYI their IBAN GB33BUKB20201555555555 for the deposit"
    return Call("send_email", Category.OUTBOUND_SEND, {"to": to, "subject": "deposit", "body": body}, session_id="m")


def test_mail_to_the_account_s_own_domain_is_inside_and_a_look_alike_is_not() -> None:
    from inherence_policy_server.rules._outcomes import ACCOUNT_DOMAIN, record_result

    ledger = InMemoryLedger()
    record_result(ledger, "m", Category.PRIVATE_DATA_READ, ["IBAN GB33BUKB20201555555555 for the deposit"], NOW)
    assert _decide(_mail("jonas@northwind-labs.example"), ledger)[0] == "confirm"
    ledger.add_known_recipient("local", f"{ACCOUNT_DOMAIN}northwind-labs.example", "account", NOW)
    assert _decide(_mail("jonas@northwind-labs.example"), ledger) == ("allow", ())
    assert _decide(_mail("jonas@northwind-labs.example.co"), ledger)[0] == "confirm"


def test_a_share_with_the_account_s_own_domain_is_inside_and_a_look_alike_asks() -> None:
    from inherence_policy_server.rules._outcomes import ACCOUNT_DOMAIN

    def share(email: str) -> Call:
        arguments = {"file_id": "f-budget", "email": email, "role": "writer"}
        return Call("share_file", Category.OUTBOUND_SEND, arguments, session_id="d", upstream="drive")

    ledger = InMemoryLedger()
    assert _decide(share("k.berg@lindqvist.example"), ledger) == ("confirm", ("identity_escalation.outside_share",))
    ledger.add_known_recipient("local", f"{ACCOUNT_DOMAIN}lindqvist.example", "account", NOW)
    assert _decide(share("k.berg@lindqvist.example"), ledger) == ("allow", ())
    assert _decide(share("k.berg@lindqvist.example.co"), ledger)[0] == "confirm"
    # Another tenant learnt nothing.
    other = Call("share_file", Category.OUTBOUND_SEND, share("k.berg@lindqvist.example").arguments, key_id="k2")
    assert _decide(other, ledger)[0] == "confirm"


@pytest.mark.parametrize(
    ("attendees", "verdict"),
    [
        # Without a configured organisation, a domain no other attendee shares is outside.
        (["board@lindqvist.example", "m.hart@hart-legal.example"], "confirm"),
        (["a@acme-corp.example", "b@acme-corp.example", "t.hale@hale-audit.example"], "confirm"),
        # A lone attendee, or colleagues of one domain, cannot be told apart from the account's own people.
        (["jonas.berg@acme-corp.example"], "allow"),
        (["a@acme-corp.example", "b@acme-corp.example"], "allow"),
    ],
)
def test_an_attendee_added_to_an_existing_meeting_from_a_domain_of_their_own_asks(
    attendees: list[str], verdict: str
) -> None:
    arguments = {"event_id": "ev-551", "attendees": attendees}
    update = Call("update_event", Category.OUTBOUND_SEND, arguments, session_id="e")
    assert _decide(update)[0] == verdict
    # A new meeting is not an existing one whose notes and files the attendees now see.
    create = Call("create_event", Category.OUTBOUND_SEND, {"title": "call", "attendees": attendees}, session_id="e")
    assert _decide(create)[0] == "allow"


def test_a_post_inside_the_workspace_a_chat_tool_is_signed_in_to_is_inside() -> None:
    from inherence_policy_server.rules._outcomes import record_result

    ledger = InMemoryLedger()
    record_result(ledger, "c", Category.PRIVATE_DATA_READ, ["IBAN GB33BUKB20201555555555 for the deposit"], NOW)
    text = {"channel_id": "19:general@thread", "message": "IBAN GB33BUKB20201555555555"}
    teams = Call("post_channel_message", Category.OUTBOUND_SEND, text, session_id="c", upstream="teams")
    assert _decide(teams, ledger) == ("allow", ())
    # A federated room or a phone number may have anyone on the other end.
    room = Call("send_message", Category.OUTBOUND_SEND, text, session_id="c", upstream="matrix")
    assert _decide(room, ledger)[0] == "confirm"


@pytest.mark.parametrize(
    ("tool", "upstream", "verdict"),
    [
        # An issue in the organisation's own tracker is inside, like a post in its chat workspace.
        ("linear__create_issue", "linear", "allow"),
        ("jira_create_issue", "atlassian", "allow"),
        # A public page, or a tracker of any host (a public repository's issues), may be read by anyone.
        ("notion__publish_page", "notion", "confirm"),
        ("github__create_issue", "github", "confirm"),
    ],
)
def test_private_data_in_the_organisation_s_own_tracker_is_inside(tool: str, upstream: str, verdict: str) -> None:
    from inherence_policy_server.rules._outcomes import record_result

    ledger = InMemoryLedger()
    record_result(ledger, "t", Category.PRIVATE_DATA_READ, ["customer jo@example.net, +1 415 555 0134"], NOW)
    arguments = {"title": "login loop", "description": "reported by jo@example.net, call +1 415 555 0134"}
    issue = Call(tool, Category.UNKNOWN, arguments, session_id="t", upstream=upstream)
    assert _decide(issue, ledger)[0] == verdict


def test_a_secret_posted_inside_the_workspace_still_leaves_the_machine() -> None:
    from inherence_policy_server.rules._outcomes import record_result

    ledger = InMemoryLedger()
    record_result(ledger, "k", Category.FILE_READ, ["CI token: ghp_9a8B7c6D5e4F3g2H1i0JkLmNoPqRsTuVwXyZ"], NOW)
    dm = Call(
        "send_dm", Category.OUTBOUND_SEND, {"user": "U0X", "text": "9a8B7c6D5e4F3g2H1i0JkLmNoPqRsTuVwXyZ"},
        session_id="k", upstream="slack",
    )  # fmt: skip
    assert _decide(dm, ledger) == ("deny", ("unauthorized_exfiltration.read_secret_sent",))


@pytest.mark.parametrize(
    ("name", "description", "properties"),
    [
        ("add_server", "Adds a new server configuration to the environment.", {"api_key": {"type": "string"}}),
        ("check_sizes", "Checks the sizes of views of the environment map.",
         {"environ": {"type": "object", "description": "the environment variables"}}),
    ],
)  # fmt: skip
def test_a_tool_that_only_takes_or_writes_configuration_is_not_a_credential_read(
    name: str, description: str, properties: dict[str, Any]
) -> None:
    from inherence_policy_server._classify import classify

    found, _ = classify(name, description, {"type": "object", "properties": properties})
    assert found.value != "credential_store"


@pytest.mark.parametrize(
    ("tool", "text", "accounts"),
    [
        ("bank__get_accounts", "chk-1120 Checking EUR 2,204.18\nsav-0087 Savings IBAN DE21 5001 0517 5407 3249 87",
         ["de21500105175407324987", "chk1120", "sav0087"]),
        ("listAccounts", '{"accounts": [{"id": "acc_9F2", "iban": "GB33BUKB20201555555555"}]}',
         ["acc9f2", "gb33bukb20201555555555"]),
        ("get_iban", "DE89370400440532013000", ["de89370400440532013000"]),
        # Payees, transactions and contacts are other people's accounts, written by anyone.
        ("list_payees", "acct-7731 Landlord IBAN DE89370400440532013000", []),
        ("get_account_transactions", "sav-0088 transfer in", []),
        ("update_account", '{"id": "acc_attacker"}', []),
    ],
)  # fmt: skip
def test_the_user_s_own_accounts_are_learnt_only_from_the_bank_s_own_listing(
    tool: str, text: str, accounts: list[str]
) -> None:
    from inherence_policy_server.rules._outcomes import own_accounts

    assert sorted(own_accounts(tool, [text])) == sorted(accounts)
