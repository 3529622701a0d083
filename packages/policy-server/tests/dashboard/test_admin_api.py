"""The JSON admin API on its own: every endpoint, who may call it, and what bad input does."""

from __future__ import annotations

import datetime

import httpx2
import pytest

from inherence_policy_server import issue_key

from .support import ADMIN_TOKEN, BEARER, CONFIG_TEXT, decide, login, new_key, payment, read_key, shell

ENDPOINTS = [
    ("GET", "/api/admin/decisions"),
    ("GET", "/api/admin/counts"),
    ("GET", "/api/admin/sessions"),
    ("GET", "/api/admin/sessions/sess-1"),
    ("GET", "/api/admin/rules"),
    ("PUT", "/api/admin/rules/financial_drain"),
    ("GET", "/api/admin/keys"),
    ("POST", "/api/admin/keys"),
    ("POST", "/api/admin/keys/0123456789ab/revoke"),
    ("GET", "/api/admin/audit"),
    ("GET", "/api/admin/recipients"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789", f"Basic {ADMIN_TOKEN}"])
async def test_every_endpoint_refuses_a_caller_without_the_admin_token(client, method, path, authorization) -> None:
    headers = {"authorization": authorization} if authorization else {}
    answer = await client.request(method, path, json={}, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["error"] == "UNAUTHORIZED"


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_refuses_a_remote_peer_even_with_the_token(board_app, method, path) -> None:
    transport = httpx2.ASGITransport(app=board_app, client=("203.0.113.9", 4000))
    async with httpx2.AsyncClient(transport=transport, base_url="http://policy.example") as remote:
        answer = await remote.request(method, path, json={}, headers=BEARER)
    assert answer.status_code == 403


async def test_an_api_key_is_not_an_admin_token(client) -> None:
    key = await new_key(client)
    answer = await client.get("/api/admin/keys", headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 401


async def test_the_feed_lists_decisions_newest_first_with_masked_arguments(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, payment(50, "acct_a"), board_app)
    body = read_key()
    body["arguments"]["token"] = "sk_live_" + "a" * 30
    await decide(client, key, body, board_app)
    rows = (await client.get("/api/admin/decisions", headers=BEARER)).json()["decisions"]
    assert [row["tool_name"] for row in rows] == ["read_file", "send_payment"]
    newest = rows[0]
    assert (newest["decision"], newest["rule"], newest["upstream"], newest["client"]) == (
        "deny",
        "credential_access",
        "files",
        "cursor",
    )
    assert newest["session_id"] == "sess-1"
    assert "a" * 30 not in str(newest["arguments"])
    assert newest["reason"]


async def test_the_feed_filters_by_decision_rule_upstream_and_time(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, payment(50, "acct_a"), board_app)
    await decide(client, key, read_key(), board_app)
    await decide(client, key, shell("rm -rf /"), board_app)

    async def tools(**params) -> list[str]:
        answer = await client.get("/api/admin/decisions", params=params, headers=BEARER)
        assert answer.status_code == 200
        return [row["tool_name"] + ":" + row["decision"] for row in answer.json()["decisions"]]

    assert await tools(decision="deny") == ["run:deny", "read_file:deny"]
    assert await tools(rule="mass_destruction") == ["run:deny"]
    assert await tools(upstream="files") == ["read_file:deny"]
    everything = (await client.get("/api/admin/decisions", headers=BEARER)).json()["decisions"]
    middle = everything[1]["at"]
    assert await tools(since=middle) == ["run:deny", "read_file:deny"]
    assert await tools(until=middle) == ["send_payment:allow"]


async def test_the_feed_pages_by_keyset_without_gaps_or_repeats(client, board_app) -> None:
    key = await new_key(client)
    for dollars in range(1, 8):
        await decide(client, key, payment(dollars, f"acct_{dollars}"), board_app)
    seen: list[int] = []
    before = None
    while True:
        params = {"limit": 3, **({"before": before} if before else {})}
        page = (await client.get("/api/admin/decisions", params=params, headers=BEARER)).json()
        seen += [row["id"] for row in page["decisions"]]
        before = page["next_before"]
        if before is None:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) == 7
    newer = (await client.get("/api/admin/decisions", params={"after": seen[1]}, headers=BEARER)).json()
    assert [row["id"] for row in newer["decisions"]] == [seen[0]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"before": "x"}, "before"),
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
    ],
)
async def test_bad_feed_parameters_are_named(client, params, field) -> None:
    answer = await client.get("/api/admin/decisions", params=params, headers=BEARER)
    assert answer.status_code == 422
    assert field in answer.json()["fields"]


async def test_counts_per_rule_per_hour(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, read_key(), board_app)
    await decide(client, key, read_key(), board_app)
    await decide(client, key, payment(1, "acct_a"), board_app)
    answer = (await client.get("/api/admin/counts", params={"hours": 2}, headers=BEARER)).json()
    assert answer["counts"] == {"credential_access": {"2026-03-02T09": 2}}
    assert (await client.get("/api/admin/counts", params={"hours": "0"}, headers=BEARER)).status_code == 422


async def test_a_session_shows_what_was_read_sent_and_stopped(client, board_app) -> None:
    key = await new_key(client)
    await decide(client, key, read_key("sess-9"), board_app)
    await decide(client, key, payment(20, "acct_a", "sess-9"), board_app)
    await decide(client, key, payment(1, "acct_a", "other"), board_app)
    sessions = (await client.get("/api/admin/sessions", headers=BEARER)).json()["sessions"]
    assert {(s["session_id"], s["calls"], s["denied"]) for s in sessions} == {("sess-9", 2, 1), ("other", 1, 0)}
    calls = (await client.get("/api/admin/sessions/sess-9", headers=BEARER)).json()["calls"]
    assert [(c["tool_name"], c["role"], c["stopped"]) for c in calls] == [
        ("read_file", "read", True),
        ("send_payment", "sent", False),
    ]
    assert (await client.get("/api/admin/sessions/nobody", headers=BEARER)).status_code == 404


async def test_keys_are_created_once_listed_and_revoked(client, board_app) -> None:
    created = (await client.post("/api/admin/keys", json={"label": "laptop"}, headers=BEARER)).json()
    secret = created["secret_key"]
    assert secret.startswith("inh_")
    listed = (await client.get("/api/admin/keys", headers=BEARER)).json()["keys"]
    assert [(k["key_id"], k["label"], k["active"]) for k in listed] == [(created["key_id"], "laptop", True)]
    assert secret not in str(listed)
    assert (await decide(client, secret, payment(1, "a"), board_app))["decision"] == "allow"
    revoked = await client.post(f"/api/admin/keys/{created['key_id']}/revoke", headers=BEARER)
    assert revoked.status_code == 200
    refused = await client.post(
        "/api/proxy/decide", json=payment(1, "a"), headers={"authorization": f"Bearer {secret}"}
    )
    assert refused.status_code == 401
    assert (await client.get("/api/admin/keys", headers=BEARER)).json()["keys"][0]["active"] is False
    assert (await client.post("/api/admin/keys/ffffffffffff/revoke", headers=BEARER)).status_code == 404
    bad_label = await client.post("/api/admin/keys", json={"label": 5}, headers=BEARER)
    assert bad_label.status_code == 422
    assert bad_label.json()["fields"] == {"label": "must be text, at most 200"}
    assert len((await client.get("/api/admin/keys", headers=BEARER)).json()["keys"]) == 1


async def test_the_audit_log_records_every_change(client) -> None:
    created = (await client.post("/api/admin/keys", json={"label": "ci"}, headers=BEARER)).json()
    await client.post(f"/api/admin/keys/{created['key_id']}/revoke", headers=BEARER)
    await client.put("/api/admin/rules/mass_destruction", json={"bulk_delete_threshold": 10}, headers=BEARER)
    events = (await client.get("/api/admin/audit", headers=BEARER)).json()["events"]
    assert [(e["action"], e["target"]) for e in events] == [
        ("rules.change", "mass_destruction"),
        ("key.revoke", created["key_id"]),
        ("key.create", created["key_id"]),
    ]
    assert events[0]["detail"] == "bulk_delete_threshold: 25 -> 10"


async def test_a_session_cookie_needs_its_csrf_token_for_a_change(client) -> None:

    csrf = await login(client)
    assert (await client.get("/api/admin/keys")).status_code == 200
    assert (await client.post("/api/admin/keys", json={})).status_code == 403
    wrong = await client.post("/api/admin/keys", json={}, headers={"x-csrf-token": "not-it"})
    assert wrong.status_code == 403
    foreign = await client.post(
        "/api/admin/keys", json={}, headers={"x-csrf-token": csrf, "origin": "http://evil.test"}
    )
    assert foreign.status_code == 403
    assert (await client.get("/api/admin/keys")).json()["keys"] == []
    assert (await client.post("/api/admin/keys", json={}, headers={"x-csrf-token": csrf})).status_code == 201


async def test_the_rules_endpoint_shows_every_section_and_where_it_is_saved(client, config_path) -> None:
    answer = (await client.get("/api/admin/rules", headers=BEARER)).json()
    assert answer["config_path"] == str(config_path)
    assert answer["rules"]["financial_drain"]["per_call_limit_cents"] == 100000
    assert answer["rules"]["organisation"]["email_domains"] == ["example.com"]
    assert set(answer["rules"]) >= {"mass_destruction", "lateral_pivot", "unauthorized_exfiltration"}
    assert CONFIG_TEXT  # the file the fixture wrote


async def test_known_recipients_are_listed_newest_first_for_the_keys_of_one_tenant(client, board_app) -> None:
    storage = board_app.storage
    start = board_app.clock()
    first, second = issue_key(start, "a"), issue_key(start, "b")
    elsewhere = issue_key(start, "other team", "acme")
    for issued in (first, second, elsewhere):
        storage.add_key(issued.record)
    one_id, two_id, other_id = (issued.record.key_id for issued in (first, second, elsewhere))
    ledger = storage.ledger
    ledger.add_known_recipient(one_id, "ana@partner.example", "confirmed", start)
    ledger.add_known_recipient(one_id, "payee:acct_7", "paid", start + datetime.timedelta(seconds=1))
    ledger.add_known_recipient(two_id, "ops@vendor.example", "confirmed", start + datetime.timedelta(seconds=2))
    storage.tenant_ledger("acme").add_known_recipient(other_id, "x@acme.example", "confirmed", start)
    every = (await client.get("/api/admin/recipients", headers=BEARER)).json()["recipients"]
    assert [(row["key_id"], row["recipient"], row["source"]) for row in every] == [
        (two_id, "ops@vendor.example", "confirmed"),
        (one_id, "payee:acct_7", "paid"),
        (one_id, "ana@partner.example", "confirmed"),
    ]
    one = await client.get(f"/api/admin/recipients?key={one_id}&limit=1", headers=BEARER)
    assert [row["recipient"] for row in one.json()["recipients"]] == ["payee:acct_7"]
    assert one.json()["recipients"][0]["first_seen"] == (start + datetime.timedelta(seconds=1)).isoformat()
    acme = (await client.get("/api/admin/recipients?tenant=acme", headers=BEARER)).json()["recipients"]
    assert [(row["key_id"], row["recipient"]) for row in acme] == [(other_id, "x@acme.example")]
    # A key of another tenant named in the default tenant's view shows nothing.
    assert (await client.get(f"/api/admin/recipients?key={other_id}", headers=BEARER)).json()["recipients"] == []
    for bad in ("limit=0", "limit=1001", "limit=many"):
        assert (await client.get(f"/api/admin/recipients?{bad}", headers=BEARER)).status_code == 400
