"""Odd and hostile input to the admin API and the pages: a 4xx naming the field, never a 500."""

from __future__ import annotations

import datetime
import json
from collections.abc import AsyncIterator

import pytest

from inherence_policy_server import DecisionLogEntry, PolicyApp, load_rules_config

from .support import BEARER, decide, new_key, payment

CHUNK = 64 * 1024


class CountingBody:
    """An endless request body that counts how much of it the server read."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < self.total:
            self.sent += CHUNK
            yield b"a" * CHUNK


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/login"),
        ("POST", "/keys"),
        ("POST", "/rules/financial_drain"),
        ("PUT", "/api/admin/rules/financial_drain"),
        ("POST", "/api/admin/keys"),
    ],
)
async def test_a_body_is_bounded_while_it_is_read(client, method, path) -> None:
    body = CountingBody(400 * 1024 * 1024)
    answer = await client.request(method, path, content=body, headers=BEARER)
    assert answer.status_code == 413
    assert body.sent <= 2 * 1024 * 1024


async def test_a_declared_length_over_the_limit_is_refused_unread(client) -> None:
    body = CountingBody(400 * 1024 * 1024)
    headers = {"content-length": str(body.total), "content-type": "application/x-www-form-urlencoded"}
    answer = await client.post("/login", content=body, headers=headers)
    assert answer.status_code == 413
    assert body.sent <= CHUNK


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),
        ({"until": "9999-12-31T23:59:59-01:00"}, "until"),
        ({"before": "9" * 30}, "before"),
        ({"after": "-" + "9" * 30}, "after"),
        ({"before": "9" * 5000}, "before"),
        ({"limit": "9" * 5000}, "limit"),
        ({"rule": "r" * 5000}, "rule"),
    ],
)
async def test_odd_feed_parameters_are_named_not_a_500(client, params, field) -> None:
    answer = await client.get("/api/admin/decisions", params=params, headers=BEARER)
    assert answer.status_code == 422
    assert field in answer.json()["fields"]
    page = await client.get("/", params=params, headers=BEARER)
    assert page.status_code in (303, 422)


async def test_a_deeply_nested_body_is_a_400(client) -> None:
    nested = b"[" * 20000 + b"]" * 20000
    for method, path in (("PUT", "/api/admin/rules/financial_drain"), ("POST", "/api/admin/keys")):
        answer = await client.request(method, path, content=b'{"a": ' + nested + b"}", headers=BEARER)
        assert answer.status_code in (400, 422), (path, answer.text)
        assert answer.json()["error"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"per_call_limit_cents": 10**30}, "per_call_limit_cents"),
        ({"week_limit_cents": 10**13}, "week_limit_cents"),
        ({"week_count_limit": 10**15}, "week_count_limit"),
        ('{"per_call_limit_cents": 1' + "0" * 5000 + "}", ""),
    ],
)
async def test_amounts_have_a_ceiling(client, config_path, changes, field) -> None:
    before = config_path.read_text()
    content = changes if isinstance(changes, str) else json.dumps(changes)
    answer = await client.put("/api/admin/rules/financial_drain", content=content, headers=BEARER)
    assert 400 <= answer.status_code < 500
    if field:
        assert field in answer.json()["fields"]
    assert config_path.read_text() == before


async def test_a_form_number_past_the_ceiling_is_named(client, board_app) -> None:
    from .support import login

    csrf = await login(client)
    form = {"csrf": csrf, "per_call_limit_cents": "9" * 5000, "mode": "enforce"}
    answer = await client.post("/rules/financial_drain", data=form)
    assert answer.status_code == 422
    assert board_app.config.financial_drain.per_call_limit_cents == 100000


def test_a_rules_file_is_held_to_the_ceiling_too(tmp_path) -> None:
    from inherence_policy_server import ConfigError

    path = tmp_path / "rules.toml"
    path.write_text("[financial_drain]\nper_call_limit_cents = 1000000000000000\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="per_call_limit_cents"):
        load_rules_config(path)


@pytest.mark.parametrize(
    "changes",
    [
        {"allowed_hosts": ["x" * 5000]},
        {"allowed_hosts": ["a.example"] * 5000},
        '{"allowed_hosts": ["\\ud800.example"]}',
    ],
)
async def test_list_settings_are_bounded(client, changes) -> None:
    content = changes if isinstance(changes, str) else json.dumps(changes)
    answer = await client.put("/api/admin/rules/unauthorized_exfiltration", content=content, headers=BEARER)
    assert answer.status_code == 422
    assert "allowed_hosts" in answer.json()["fields"]


async def test_a_label_that_is_not_text_is_named(client) -> None:
    answer = await client.post("/api/admin/keys", content=b'{"label": "\\ud800"}', headers=BEARER)
    assert answer.status_code == 422
    assert "label" in answer.json()["fields"]


async def test_a_decide_with_nan_or_infinity_is_refused_naming_the_field(client) -> None:
    key = await new_key(client)
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    for number in (b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-2.5E+400", b"1" + b"0" * 400 + b".5"):
        body = b'{"tool_name": "pay", "classification": "payment", "arguments": {"items": [1, {"amount": %s}]}}'
        answer = await client.post("/api/proxy/decide", content=body % number, headers=headers)
        assert answer.status_code == 400, number
        assert answer.json()["error"] == "INVALID_REQUEST"
        assert "arguments.items[1].amount" in answer.json()["detail"]


async def test_rows_stored_with_nan_still_render(client, board_app: PolicyApp) -> None:
    key = await new_key(client)
    await decide(client, key, payment(1, "acct_a"), board_app)
    at = datetime.datetime(2026, 3, 2, 9, 5, tzinfo=datetime.timezone.utc)
    odd = {"amount": float("nan"), "fee": float("inf"), "nested": [float("-inf")]}
    entry = DecisionLogEntry("dec_old", at, "c", "sess-1", "u", "pay", "payment", "allow", None, None, odd)
    board_app.storage.append_decisions([entry])
    answer = await client.get("/api/admin/decisions", headers=BEARER)
    assert answer.status_code == 200
    assert answer.json()["decisions"][0]["arguments"] == {"amount": "NaN", "fee": "Infinity", "nested": ["-Infinity"]}
    assert (await client.get("/api/admin/sessions/sess-1", headers=BEARER)).status_code == 200
    from .support import login

    await login(client)
    for path in ("/", "/sessions/sess-1", "/sessions"):
        assert (await client.get(path)).status_code == 200, path
