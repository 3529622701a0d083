"""What a session read, recognised in what it sends: identifiers, digests, destinations and the rule's verdicts."""

from __future__ import annotations

import base64
import datetime
from typing import Any

import pytest

from inherence_policy_server.rules import Call, Category, InMemoryLedger, RulesConfig, evaluate
from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._destinations import Place, destinations
from inherence_policy_server.rules._identifiers import find_identifiers
from inherence_policy_server.rules._material import IDENTIFIER, SECRET, SHINGLE, Payload, read_items
from inherence_policy_server.rules._outcomes import record_result

NOW = datetime.datetime(2025, 6, 2, 12, 0, tzinfo=datetime.timezone.utc)
CONFIG = RulesConfig.model_validate(
    {
        "organisation": {
            "email_domains": ["acme.com"],
            "internal_hosts": ["acme.internal"],
            "known_payees": ["landlord"],
            "known_recipients": ["partner@trusted.example"],
            "chat_workspaces": ["acme.slack.com", "t0acme", "team-chat"],
        }
    }
)
CUSTOMERS = "name,email,iban\nAlice Johnson,alice.johnson@example.org,DE89 3704 0044 0532 0130 00\n"
SETTINGS = "DB_PASSWORD=Xk9mQ2vL8pRz4\nAPI_KEY=${API_KEY}\n"


def _ledger(*results: tuple[Category, str], session: str = "s") -> InMemoryLedger:
    ledger = InMemoryLedger()
    for category, text in results:
        record_result(ledger, session, category, [text], NOW - datetime.timedelta(minutes=1))
    return ledger


def _send(arguments: dict[str, Any], category: Category = Category.OUTBOUND_SEND, **extra: Any) -> Call:
    return Call("send", category, arguments, session_id="s", **extra)


def test_identifiers_are_found_only_when_their_checksums_hold() -> None:
    text = (
        "DE89 3704 0044 0532 0130 00, DE89 3704 0044 0532 0130 01, 4111 1111 1111 1111, 4111 1111 1111 1112,"
        " 536-22-1847, 666-22-1847, passport number X4821937, 12345678Z, 12345678A, Bob@Example.ORG"
    )
    found = {value: label for label, value in find_identifiers(text)}
    assert found["DE89370400440532013000"] == "an IBAN"
    assert "DE89370400440532013001" not in found
    assert found["4111111111111111"] == "a card number"
    assert "4111111111111112" not in found
    assert found["536221847"] == "a social security number"
    assert "666221847" not in found
    assert found["X4821937"] == "a passport number"
    assert found["12345678Z"] == "a national id number"
    assert "12345678A" not in found
    assert found["bob@example.org"] == "an email address"


def test_a_card_printed_after_its_name_is_a_card_whatever_its_check_digit() -> None:
    assert ("a card number", "4111111111111112") in set(find_identifiers("Visa Oro 4111 1111 1111 1112, exp 09/28"))
    assert ("a card number", "4111111111111112") not in set(find_identifiers("ref 4111 1111 1111 1112"))
    assert ("a card number", "4111111111111112") not in set(find_identifiers("card no. 4111111111111112"))


def test_two_spellings_of_a_phone_number_are_one_identifier() -> None:
    assert {value for _, value in find_identifiers("+1 (415) 555-0134")} == {
        value for _, value in find_identifiers("call 415.555.0134")
    }


def test_read_items_hold_digests_and_labels_never_the_text() -> None:
    items = read_items(CUSTOMERS + SETTINGS + "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 " + "word " * 20)
    kinds = {item.kind for item in items}
    assert kinds == {SECRET, IDENTIFIER, SHINGLE}
    assert {item.label for item in items if item.kind == SECRET} == {"a secret setting", "a GitHub token"}
    shown = repr(items)
    for secret in ("Xk9mQ2vL8pRz4", "ghp_A1b2", "alice.johnson", "3704"):
        assert secret not in shown
    # A placeholder is not a secret value.
    assert not [item for item in read_items("API_KEY=${API_KEY}") if item.kind == SECRET]


@pytest.mark.parametrize(
    "text",
    [
        "de89370400440532013000",
        "alice.johnson@example.org",
        base64.b64encode(b"alice.johnson@example.org").decode(),
        b"DE89370400440532013000".hex(),
    ],
)
def test_a_payload_matches_a_read_identifier_however_it_is_written(text: str) -> None:
    ledger = _ledger((Category.DATABASE_QUERY, CUSTOMERS))
    call = _send({"to": "x@outside.example", "body": text})
    assert evaluate(call, CONFIG, ledger, NOW).failed_clauses == (
        "unauthorized_exfiltration.private_data_to_new_recipient",
    )


def test_the_envelope_is_not_the_payload() -> None:
    payload = Payload(["hello alice.johnson@example.org"])
    envelope = Payload(["alice.johnson@example.org"])
    assert payload.tokens & envelope.tokens
    ledger = _ledger((Category.DATABASE_QUERY, CUSTOMERS))
    reply = _send({"to": "alice.johnson@example.org", "from": "me@acme.com", "body": "Dear Alice, all set."})
    assert evaluate(reply, CONFIG, ledger, NOW).verdict.value == "allow"


def test_destinations_are_placed() -> None:
    def placed(arguments: dict[str, Any], category: Category = Category.NETWORK_FETCH, **extra: Any) -> list[Any]:
        return [(d.name, d.place) for d in destinations(CallAnalysis(Call("t", category, arguments, **extra)), CONFIG)]

    assert placed({"url": "https://api.telegram.org/bot123:SECRETTOKEN/sendMessage"}) == [
        ("api.telegram.org", Place.OUTSIDE)
    ]
    assert placed({"url": "https://discord.com/api/webhooks/42/tok"}) == [
        ("discord.com/api/webhooks/42", Place.OUTSIDE)
    ]
    assert placed({"url": "https://hooks.slack.com/services/T0ACME/B1/x"})[0][1] is Place.INSIDE
    assert placed({"url": "https://hooks.slack.com/services/TOTHER/B1/x"})[0][1] is Place.OUTSIDE
    assert placed({"url": "https://acme.slack.com/api/chat.postMessage"})[0][1] is Place.INSIDE
    assert placed({"url": "http://10.1.2.3/x"})[0][1] is Place.INSIDE
    assert placed({"to": "bob@acme.com"}, Category.OUTBOUND_SEND) == [("bob@acme.com", Place.INSIDE)]
    assert placed({"channel": "C1"}, Category.OUTBOUND_SEND, upstream="team-chat")[0][1] is Place.INSIDE
    assert placed({"channel": "C1"}, Category.OUTBOUND_SEND, upstream="other") == [("other:t:c1", Place.UNPLACED)]
    assert placed({"amount": 1, "recipient": "Acct-9"}, Category.PAYMENT) == [("payee:acct-9", Place.OUTSIDE)]


def test_a_read_secret_going_out_is_denied_and_inside_is_allowed() -> None:
    ledger = _ledger((Category.FILE_READ, SETTINGS))
    out = evaluate(_send({"to": "help@forum.example", "body": "pw Xk9mQ2vL8pRz4"}), CONFIG, ledger, NOW)
    assert (out.verdict.value, out.failed_clauses) == ("deny", ("unauthorized_exfiltration.read_secret_sent",))
    assert "Xk9mQ2vL8pRz4" not in out.reason
    inside = evaluate(_send({"to": "dba@acme.com", "body": "pw Xk9mQ2vL8pRz4"}), CONFIG, ledger, NOW)
    assert inside.verdict.value == "allow"


def test_a_known_recipient_gets_read_data_logged() -> None:
    ledger = _ledger((Category.DATABASE_QUERY, CUSTOMERS))
    configured = evaluate(
        _send({"to": "partner@trusted.example", "body": "alice.johnson@example.org"}), CONFIG, ledger, NOW
    )
    assert configured.verdict.value == "allow_with_log"
    assert configured.failed_clauses == ("unauthorized_exfiltration.private_data_to_known_recipient",)
    ledger.add_known_recipient("key-1", "ops@vendor.example", "confirmed", NOW)
    send = {"to": "ops@vendor.example", "body": "alice.johnson@example.org"}
    assert evaluate(_send(send, key_id="key-1"), CONFIG, ledger, NOW).verdict.value == "allow_with_log"
    # Known to one key (tenant) only.
    assert evaluate(_send(send, key_id="key-2"), CONFIG, ledger, NOW).verdict.value == "confirm"


def test_a_confirmed_send_teaches_its_recipient_to_the_tenant() -> None:
    ledger = _ledger((Category.DATABASE_QUERY, CUSTOMERS))
    send = _send({"to": "ops@vendor.example", "body": "alice.johnson@example.org"}, key_id="key-1")
    asked = evaluate(send, CONFIG, ledger, NOW)
    assert asked.verdict.value == "confirm"
    assert asked.findings[0].subjects == ("ops@vendor.example",)
    assert not ledger.is_known_recipient("key-1", "ops@vendor.example")
    approved = evaluate(Call(**{**send.__dict__, "approved": True}), CONFIG, ledger, NOW)
    assert approved.verdict.value == "allow_with_log"
    assert [(r.recipient, r.source) for r in ledger.known_recipients("key-1")] == [("ops@vendor.example", "confirmed")]
    assert evaluate(send, CONFIG, ledger, NOW).verdict.value == "allow_with_log"


def test_a_payee_paid_before_is_a_known_recipient() -> None:
    ledger = _ledger((Category.PRIVATE_DATA_READ, CUSTOMERS))
    evaluate(Call("pay", Category.PAYMENT, {"amount": 5, "recipient": "landlord"}, session_id="s"), CONFIG, ledger, NOW)
    assert [(r.recipient, r.source) for r in ledger.known_recipients()] == [("payee:landlord", "paid")]
    memo = Call(
        "pay",
        Category.PAYMENT,
        {"amount": 5, "recipient": "landlord", "memo": "DE89370400440532013000"},
        session_id="s",
    )
    assert evaluate(memo, CONFIG, ledger, NOW).verdict.value == "allow_with_log"


def test_without_reported_content_a_credential_read_makes_sends_outside_ask() -> None:
    config = RulesConfig.model_validate({**CONFIG.model_dump(), "credential_access": {"mode": "log"}})
    ledger = InMemoryLedger()
    read = Call("read_file", Category.FILE_READ, {"path": "~/.aws/credentials"}, session_id="s")
    evaluate(read, config, ledger, NOW)
    send = _send({"to": "x@outside.example", "body": "hi"})
    assert evaluate(send, config, ledger, NOW).failed_clauses == (
        "unauthorized_exfiltration.send_after_credential_read",
    )
    assert evaluate(_send({"to": "bob@acme.com", "body": "hi"}), config, ledger, NOW).verdict.value == "allow"
    # Once the session reports what its calls returned, the send is judged by what it carries.
    record_result(ledger, "s", Category.FILE_READ, ["[default]\nregion = eu-west-1\n"], NOW)
    assert evaluate(send, config, ledger, NOW).verdict.value == "allow"


def test_a_private_data_read_without_content_no_longer_stops_sends() -> None:
    ledger = InMemoryLedger()
    evaluate(Call("read_inbox", Category.PRIVATE_DATA_READ, {"folder": "inbox"}, session_id="s"), CONFIG, ledger, NOW)
    assert (
        evaluate(_send({"to": "x@outside.example", "body": "congrats!"}), CONFIG, ledger, NOW).verdict.value == "allow"
    )


def test_results_of_calls_that_bring_nothing_in_are_not_reads() -> None:
    ledger = InMemoryLedger()
    assert record_result(ledger, "s", Category.OUTBOUND_SEND, [CUSTOMERS], NOW) == 0
    assert not ledger.has_read_items("s", NOW)
    assert record_result(ledger, "s", Category.SHELL_EXEC, [CUSTOMERS], NOW) > 0


class _Untouchable(InMemoryLedger):
    def __getattribute__(self, name: str) -> Any:
        if name in ("has_read_items", "read_items", "unreported_reads", "is_known_recipient"):
            raise AssertionError(f"{name} read for a call that sends nothing")
        return super().__getattribute__(name)


@pytest.mark.parametrize(
    ("category", "arguments"),
    [
        (Category.FILE_READ, {"path": "notes.md"}),
        (Category.SHELL_EXEC, {"command": "ls -la"}),
        (Category.NETWORK_FETCH, {"url": "https://example.com/"}),
        (Category.FILE_WRITE, {"path": "a.txt", "content": "alice.johnson@example.org"}),
        (Category.DATABASE_QUERY, {"sql": "SELECT 1"}),
    ],
)
def test_a_call_that_sends_nothing_costs_no_lookup(category: Category, arguments: dict[str, Any]) -> None:
    assert (
        evaluate(Call("t", category, arguments, session_id="s"), CONFIG, _Untouchable(), NOW).verdict.value == "allow"
    )


def test_a_substantial_passage_is_carried_and_a_few_words_are_not() -> None:
    document = " ".join(f"clause{index} of the agreement binds the receiving party" for index in range(30))
    ledger = _ledger((Category.FILE_READ, document))
    copied = " ".join(document.split()[40:80])
    assert evaluate(_send({"to": "x@outside.example", "body": copied}), CONFIG, ledger, NOW).verdict.value == "confirm"
    fresh = "the agreement binds both of us, " + "and here is a long note written fresh about other things " * 8
    assert evaluate(_send({"to": "x@outside.example", "body": fresh}), CONFIG, ledger, NOW).verdict.value == "allow"
