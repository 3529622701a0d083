"""Property-based fuzzing of the admin API: any input gets an answer or a 4xx naming the problem, never a 5xx."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inherence_policy_server import DashboardOptions, create_app, load_rules_config
from inherence_policy_server.dashboard._settings import SECTIONS

from .support import ADMIN_TOKEN, BEARER, CONFIG_TEXT, StepClock

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**11, max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5),
    max_leaves=30,
)
moments = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:00:00{}".format,
    st.integers(1, 9999),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 23),
    st.sampled_from(["", "Z", "+01:00", "-01:00", "+14:00", "-23:59"]),
)
numbers = st.integers(-(10**30), 10**30).map(str)
feed_values = st.one_of(st.text(max_size=40), moments, numbers, st.sampled_from(["deny", "allow", "", "0", "501"]))
feed_params = st.dictionaries(
    st.sampled_from(["decision", "rule", "upstream", "since", "until", "before", "after", "limit", "other"]),
    feed_values,
    max_size=6,
)
setting_names = st.sampled_from(
    ["mode", "per_call_limit_cents", "hour_limit_cents", "week_count_limit", "allowed_hosts", "email_domains",
     "scan_secrets", "bulk_delete_threshold", "known_payees"]
) | st.text(max_size=12)  # fmt: skip
setting_values = json_values | st.lists(st.text(max_size=40), max_size=5) | st.sampled_from(["enforce", "log", "off"])
settings_bodies = st.dictionaries(setting_names, setting_values, max_size=4)
path_segments = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=40).map(
    lambda text: urllib.parse.quote(text, safe="")
)
sections = st.sampled_from(SECTIONS) | path_segments


@pytest.fixture(scope="module")
def send(tmp_path_factory):
    """A function sending one admin request to one app with the real rules (one event loop for all examples)."""
    folder = tmp_path_factory.mktemp("fuzz-admin")
    config_path = folder / "rules.toml"
    config_path.write_text(CONFIG_TEXT, encoding="utf-8")
    app = create_app(
        data_dir=folder / "data",
        config=load_rules_config(config_path),
        clock=StepClock(),
        dashboard=DashboardOptions(admin_token=ADMIN_TOKEN, config_path=config_path),
    )
    loop = asyncio.new_event_loop()
    transport = httpx2.ASGITransport(app=app)
    client = httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787", headers=BEARER)

    def request(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        answer = loop.run_until_complete(client.request(method, path, **kwargs))
        _check(answer)
        return answer

    yield request
    loop.run_until_complete(client.aclose())
    loop.close()
    # Whatever was accepted and saved, the file still loads.
    load_rules_config(config_path)
    app.close()


def _check(answer: httpx2.Response) -> None:
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400 and answer.headers.get("content-type", "").startswith("application/json"):
        body = answer.json()
        assert body["error"]
        assert body["detail"]
        for name, message in body.get("fields", {}).items():
            assert isinstance(name, str)
            assert message


FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(params=feed_params)
def test_the_feed_and_its_page(send, params) -> None:
    answer = send("GET", "/api/admin/decisions", params=params)
    if answer.status_code == 422:
        assert set(answer.json()["fields"]) <= set(params)
    send("GET", "/", params=params)


@FUZZ
@given(hours=st.one_of(numbers, st.text(max_size=20)), session=path_segments)
def test_counts_and_sessions(send, hours, session) -> None:
    send("GET", "/api/admin/counts", params={"hours": hours})
    send("GET", f"/api/admin/sessions/{session}")
    send("GET", f"/sessions/{session}")


@FUZZ
@given(section=sections, body=settings_bodies)
def test_rule_changes(send, section, body) -> None:
    answer = send("PUT", f"/api/admin/rules/{section}", json=body)
    if answer.status_code == 200:
        assert send("GET", "/api/admin/rules").status_code == 200


@FUZZ
@given(section=sections, body=json_values | st.binary(max_size=200).map(lambda raw: raw.decode("latin-1")))
def test_rule_changes_of_any_shape(send, section, body) -> None:
    send("PUT", f"/api/admin/rules/{section}", content=json.dumps(body).encode())


@FUZZ
@given(body=json_values, raw=st.binary(max_size=200), key_id=path_segments)
def test_keys(send, body, raw, key_id) -> None:
    send("POST", "/api/admin/keys", json=body)
    send("POST", "/api/admin/keys", content=raw)
    send("POST", f"/api/admin/keys/{key_id}/revoke")


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b'{"per_call_limit_cents": 1' + b"0" * 10_000 + b"}",
        b'{"per_call_limit_cents": NaN}',
        b'{"per_call_limit_cents": 1e999}',
        b'{"allowed_hosts": ["\\ud800"]}',
        b"\xff\xfe",
    ],
    ids=["open-brackets", "deep", "huge-int", "nan", "infinity", "surrogate", "bad-utf8"],
)
def test_hostile_rule_bodies(send, raw: bytes) -> None:
    for section in ("financial_drain", "unauthorized_exfiltration"):
        assert 400 <= send("PUT", f"/api/admin/rules/{section}", content=raw).status_code < 500
    send("POST", "/api/admin/keys", content=raw)
