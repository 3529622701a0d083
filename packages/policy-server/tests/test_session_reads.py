"""What sessions read and the known recipients, the same in memory, in SQLite and in PostgreSQL: expiry, bounds,
tenants; and outcome reports through the decide and outcome endpoints."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import pytest

from inherence_policy_server import create_app
from inherence_policy_server.rules import InMemoryLedger, ReadItem, SessionLedger
from inherence_policy_server.rules import _material as material

from .conftest import BACKENDS, START, open_backend

HOUR = datetime.timedelta(hours=1)


@pytest.fixture(params=["memory", *BACKENDS])
def ledger(request, tmp_path) -> Iterator[SessionLedger]:
    if request.param == "memory":
        yield InMemoryLedger()
        return
    storage = open_backend(request.param, request, tmp_path)
    yield storage.ledger
    storage.close()


def _items(kind: str, count: int, start: int = 0) -> list[ReadItem]:
    return [ReadItem(kind, start + index, "an IBAN" if kind == material.IDENTIFIER else "") for index in range(count)]


def test_read_items_are_found_per_session_and_forgotten_after_a_day(ledger) -> None:
    ledger.record_read_items("s1", [ReadItem(material.SECRET, -5, "a secret setting"), *_items("shingle", 3)], START)
    assert ledger.has_read_items("s1", START)
    assert not ledger.has_read_items("s2", START)
    found = ledger.read_items("s1", [-5, 1, 99], START + HOUR)
    assert sorted(found, key=lambda item: item.digest) == [
        ReadItem(material.SECRET, -5, "a secret setting"),
        ReadItem(material.SHINGLE, 1, ""),
    ]
    assert ledger.read_items("s2", [-5], START) == []
    later = START + material.READ_TTL + datetime.timedelta(seconds=1)
    assert ledger.read_items("s1", [-5, 1], later) == []
    assert not ledger.has_read_items("s1", later)


def test_a_session_keeps_only_its_newest_items(ledger, monkeypatch) -> None:
    for module in _modules_with_caps():
        monkeypatch.setattr(module, "MAX_READ_ITEMS", 5)
        monkeypatch.setattr(module, "MAX_READ_TOKENS", 2)
    ledger.record_read_items("s", _items(material.SHINGLE, 5), START)
    ledger.record_read_items("s", _items(material.SHINGLE, 3, start=100), START + HOUR)
    ledger.record_read_items("s", _items(material.IDENTIFIER, 3, start=200), START + HOUR)
    shingles = {item.digest for item in ledger.read_items("s", range(110), START + HOUR)}
    assert shingles == {3, 4, 100, 101, 102}
    assert len(ledger.read_items("s", range(200, 203), START + HOUR)) == 2


def test_the_oldest_sessions_are_dropped_past_the_cap(ledger, monkeypatch) -> None:
    for module in _modules_with_caps():
        monkeypatch.setattr(module, "MAX_READ_SESSIONS", 3)
    for number in range(5):
        ledger.record_read_items(f"s{number}", _items(material.SHINGLE, 1), START + number * HOUR)
    kept = [number for number in range(5) if ledger.has_read_items(f"s{number}", START + 5 * HOUR)]
    assert kept == [2, 3, 4]


def test_unreported_reads_are_the_credential_reads_after_the_last_report(ledger) -> None:
    ledger.record_sensitive_read("s", "~/.aws/credentials", START)
    assert ledger.unreported_reads("s", START) == ["~/.aws/credentials"]
    ledger.record_read_items("s", [], START + HOUR)
    assert ledger.unreported_reads("s", START + HOUR) == []
    ledger.record_sensitive_read("s", "~/.netrc", START + 2 * HOUR)
    assert ledger.unreported_reads("s", START + 2 * HOUR) == ["~/.netrc"]
    assert ledger.sensitive_reads("s") == ["~/.aws/credentials", "~/.netrc"]
    assert ledger.unreported_reads("s", START + 2 * HOUR + material.READ_TTL) == []


def test_known_recipients_in_memory_belong_to_the_key_that_made_them_known() -> None:
    # The rules' reference ledger has no tenants: it keeps them per key (the rules' `tenant_of`).
    ledger = InMemoryLedger()
    ledger.add_known_recipient("k1", "ana@partner.example", "confirmed", START)
    ledger.add_known_recipient("k1", "ana@partner.example", "paid", START + HOUR)
    ledger.add_known_recipient("k2", "payee:acct-1", "paid", START)
    assert ledger.is_known_recipient("k1", "ana@partner.example")
    assert not ledger.is_known_recipient("k2", "ana@partner.example")
    [known] = ledger.known_recipients("k1")
    assert (known.source, known.first_seen, known.last_seen) == ("confirmed", START, START + HOUR)
    assert [entry.recipient for entry in ledger.known_recipients()] == ["ana@partner.example", "payee:acct-1"]


@pytest.mark.parametrize("kind", BACKENDS)
def test_known_recipients_are_shared_by_the_keys_of_a_tenant_and_by_no_other_tenant(kind, request, tmp_path) -> None:
    storage = open_backend(kind, request, tmp_path)
    try:
        acme, globex = storage.tenant_ledger("acme"), storage.tenant_ledger("globex")
        acme.add_known_recipient("k1", "ana@partner.example", "confirmed", START)
        acme.add_known_recipient("k2", "ana@partner.example", "paid", START + HOUR)
        acme.add_known_recipient("k2", "payee:acct-1", "paid", START)
        # Made known by one key, known to every key of the tenant: the first key, source and time stay.
        assert acme.is_known_recipient("k1", "payee:acct-1")
        assert acme.is_known_recipient("k3", "ana@partner.example")
        assert not globex.is_known_recipient("k1", "ana@partner.example")
        assert not storage.ledger.is_known_recipient("k2", "payee:acct-1")
        ana, payee = acme.known_recipients()
        assert (ana.recipient, ana.tenant, ana.source) == ("ana@partner.example", "k1", "confirmed")
        assert (ana.first_seen, ana.last_seen) == (START, START + HOUR)
        assert payee.recipient == "payee:acct-1"
        assert [entry.recipient for entry in acme.known_recipients("k2")] == ["payee:acct-1"]
        assert globex.known_recipients() == []
        globex.add_known_recipient("k9", "ana@partner.example", "confirmed", START + 2 * HOUR)
        assert [(entry.tenant, entry.last_seen) for entry in globex.known_recipients()] == [("k9", START + 2 * HOUR)]
        assert acme.known_recipients()[0].last_seen == START + HOUR
    finally:
        storage.close()


def _modules_with_caps() -> list[Any]:
    from inherence_policy_server import _postgres_ledger, _sqlite_reads
    from inherence_policy_server.rules import _memory

    return [_sqlite_reads, _postgres_ledger, _memory]


CUSTOMERS = "name,email\nAlice Johnson,alice.johnson@example.org\n"


@pytest.fixture
def app(tmp_path, clock):
    made = create_app(data_dir=tmp_path / "data", clock=clock, require_key=False)
    yield made
    made.close()


async def _post(client: Any, path: str, body: dict[str, Any]) -> Any:
    return await client.post(path, json=body)


async def test_a_reported_result_makes_the_send_that_carries_it_ask(app) -> None:
    import httpx2

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        read = {"tool_name": "query", "classification": "database_query", "arguments": {"sql": "SELECT * FROM c"}}
        send = {
            "tool_name": "send_email",
            "classification": "outbound_send",
            "arguments": {"to": "ops@vendor.example", "body": "alice.johnson@example.org"},
            "confirmable": True,
        }
        scope = {"session_id": "sess-9", "upstream": "db"}
        decided = (await _post(client, "/api/proxy/decide", {**read, **scope})).json()
        assert decided["decision"] == "allow"
        assert (await _post(client, "/api/proxy/decide", {**send, **scope})).json()["decision"] == "allow"
        report = {"decision_id": decided["receipt_id"], "session_id": "sess-9", "content_text": CUSTOMERS}
        assert (await _post(client, "/api/proxy/outcome", report)).status_code == 202
        asked = (await _post(client, "/api/proxy/decide", {**send, **scope})).json()
        assert asked["decision"] == "confirm"
        assert asked["failed_clauses"] == ["unauthorized_exfiltration.private_data_to_new_recipient"]
        assert "alice" not in asked["reason"]
        other = (await _post(client, "/api/proxy/decide", {**send, "session_id": "sess-10"})).json()
        assert other["decision"] == "allow"
        # The person says yes in band: the recipient becomes known, and the next such send is logged.
        answer = {"decision_id": asked["receipt_id"], "session_id": "sess-9", "confirmation": "accepted"}
        assert (await _post(client, "/api/proxy/outcome", answer)).status_code == 202
        assert [(r.recipient, r.source) for r in app.storage.ledger.known_recipients()] == [
            ("ops@vendor.example", "confirmed")
        ]
        again = (await _post(client, "/api/proxy/decide", {**send, **scope})).json()
        assert again["decision"] == "allow_with_log"


async def test_a_result_reported_with_another_key_is_ignored(tmp_path, clock) -> None:
    import httpx2

    from inherence_policy_server import issue_key

    app = create_app(data_dir=tmp_path / "data", clock=clock)
    keys = [issue_key(clock(), label) for label in ("a", "b")]
    for issued in keys:
        app.storage.add_key(issued.record)
    headers = [{"authorization": f"Bearer {issued.secret_key}"} for issued in keys]
    try:
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            read = {"tool_name": "query", "classification": "database_query", "arguments": {}, "session_id": "s"}
            decided = (await client.post("/api/proxy/decide", json=read, headers=headers[0])).json()
            report = {"decision_id": decided["receipt_id"], "session_id": "s", "content_text": CUSTOMERS}
            assert (await client.post("/api/proxy/outcome", json=report, headers=headers[1])).status_code == 202
        assert not app.storage.ledger.has_read_items("s", clock())
    finally:
        app.close()


async def test_the_account_s_own_profile_places_its_mail_domain_inside(app) -> None:
    import httpx2

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        scope = {"session_id": "sess-acct", "upstream": "mail", "confirmable": True}
        profile = {"tool_name": "get_account", "classification": "private_data_read", "arguments": {}}
        read = {"tool_name": "read_email", "classification": "private_data_read", "arguments": {"id": "m1"}}

        def send(to: str) -> dict[str, Any]:
            arguments = {"to": to, "subject": "fyi", "body": "alice.johnson@example.org"}
            return {"tool_name": "send_email", "classification": "outbound_send", "arguments": arguments, **scope}

        for call, text in ((read, CUSTOMERS), (profile, '{"email": "dana@northwind-labs.example"}')):
            decided = (await _post(client, "/api/proxy/decide", {**call, **scope})).json()
            report = {"decision_id": decided["receipt_id"], "session_id": "sess-acct", "content_text": text}
            assert (await _post(client, "/api/proxy/outcome", report)).status_code == 202
        inside = (await _post(client, "/api/proxy/decide", send("jonas@northwind-labs.example"))).json()
        assert inside["decision"] == "allow"
        outside = (await _post(client, "/api/proxy/decide", send("jonas@northwind-labs-example.com"))).json()
        assert outside["decision"] == "confirm"
        recipients = [(r.recipient, r.source) for r in app.storage.ledger.known_recipients()]
        # The account's own address and its domain; nothing from the mail read.
        assert sorted(recipients) == [
            ("account-domain:northwind-labs.example", "account"),
            ("dana@northwind-labs.example", "account"),
        ]


async def test_the_user_s_own_address_from_a_public_provider_is_their_own(app) -> None:
    import httpx2

    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        scope = {"session_id": "sess-own", "upstream": "travel", "confirmable": True}
        profile = {"tool_name": "travel__get_traveler_profile", "classification": "private_data_read", "arguments": {}}
        text = '{"name": "Emma Schultz", "email": "emma.schultz@gmail.com", "passport": "C01X00T47"}'
        decided = (await _post(client, "/api/proxy/decide", {**profile, **scope})).json()
        report = {"decision_id": decided["receipt_id"], "session_id": "sess-own", "content_text": text}
        assert (await _post(client, "/api/proxy/outcome", report)).status_code == 202

        def send(to: str) -> dict[str, Any]:
            arguments = {"to": to, "subject": "trip", "body": "passport C01X00T47"}
            return {"tool_name": "mail__send_email", "classification": "outbound_send", "arguments": arguments, **scope}

        # Mail to the user's own address is logged, not asked; the same details to another address ask.
        mine = (await _post(client, "/api/proxy/decide", send("emma.schultz@gmail.com"))).json()
        assert mine["decision"] == "allow_with_log"
        other = (await _post(client, "/api/proxy/decide", send("emma.schultz@gmail.co"))).json()
        assert other["decision"] == "confirm"
        # The same service is given the user's own details back (a booking); another service is not.
        booking = {"flight_id": "TP551", "passenger": {"name": "Emma Schultz", "passport": "C01X00T47"}}
        book = {"tool_name": "travel__book_flight", "classification": "payment", "arguments": booking, **scope}
        assert (await _post(client, "/api/proxy/decide", book)).json()["decision"] == "allow"
        elsewhere = {**book, "tool_name": "notes__share_note", "upstream": "notes", "classification": "outbound_send"}
        assert (await _post(client, "/api/proxy/decide", elsewhere)).json()["decision"] == "confirm"


async def test_money_to_an_account_the_bank_listed_as_the_user_s_own_is_no_first_payment(app) -> None:
    import httpx2

    listing = "chk-1120 Checking EUR 310.02 IBAN DE44 5001 0517 5407 3249 31\nsav-0087 Savings EUR 9,900.00"
    # What the transaction history says is other people's text: an account named there stays a stranger's.
    history = "2026-11-02 rent to DE89 3704 0044 0532 0130 00 -900.00\nacct-7731 refund +12.00"
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        scope = {"session_id": "sess-own", "upstream": "bank", "confirmable": True}
        for tool, text in (("get_accounts", listing), ("get_transactions", history)):
            call = {"tool_name": tool, "classification": "private_data_read", "arguments": {}, **scope}
            decided = (await _post(client, "/api/proxy/decide", call)).json()
            report = {"decision_id": decided["receipt_id"], "session_id": "sess-own", "content_text": text}
            assert (await _post(client, "/api/proxy/outcome", report)).status_code == 202

        async def transfer(to: str) -> dict[str, Any]:
            arguments = {"from_account": "chk-1120", "to": to, "amount": 800, "currency": "EUR"}
            call = {"tool_name": "transfer_funds", "classification": "payment", "arguments": arguments, **scope}
            return (await _post(client, "/api/proxy/decide", call)).json()  # type: ignore[no-any-return]

        assert (await transfer("sav-0087"))["decision"] == "allow"
        assert (await transfer("DE44500105175407324931"))["decision"] == "allow"
        for stranger in ("DE89370400440532013000", "acct-7731", "sav-0088"):
            answer = await transfer(stranger)
            assert (answer["decision"], "financial_drain.new_recipient" in answer["failed_clauses"]) == (
                "confirm",
                True,
            )
