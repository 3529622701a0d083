"""Two `serve` processes on one storage (a PostgreSQL database, or one SQLite data dir) as several workers run.

A rule changed through one server's dashboard is in force on the other soon after (polled with
a generous deadline: speed is not asserted here), a key revoked through one is refused by the
other at once, and both serve the dashboard to a person who logged in through either. With
`--workers 2`, every request of a logged-in person is answered, whichever worker takes it.
"""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest

from inherence_policy_server import issue_key
from inherence_policy_server._storage import open_storage

from .conftest import START
from .test_postgres_servers import ADMIN_TOKEN, _serving

# Several server processes on one storage: nox runs these on the oldest and newest Python only.
pytestmark = [pytest.mark.slow, pytest.mark.version_independent]

ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}
RULES = """
[organisation]
known_payees = ["landlord"]

[financial_drain]
per_call_limit_cents = 100000
"""
DEADLINE_SECONDS = 60


def _payment(dollars: str) -> dict[str, object]:
    arguments = {"amount": dollars, "currency": "usd", "recipient": "landlord", "account": "ops"}
    return {"tool_name": "pay", "classification": "payment", "arguments": arguments, "upstream": "bank"}


def _state_args(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> list[str]:
    if backend == "postgres":
        return ["--database-url", request.getfixturevalue("postgres_url")]
    return ["--data-dir", str(tmp_path / "state")]


def _new_key(state: list[str], label: str) -> str:
    flag, where = state
    storage = open_storage(**({"database_url": where} if flag == "--database-url" else {"data_dir": where}))
    try:
        issued = issue_key(START, label)
        storage.add_key(issued.record)
    finally:
        storage.close()
    return issued.secret_key


def _logged_in(base_url: str) -> httpx2.Client:
    """A browser-like client with a login session opened through `base_url`."""
    browser = httpx2.Client(base_url=base_url, trust_env=False, timeout=30)
    answer = browser.post("/login", data={"token": ADMIN_TOKEN})
    assert answer.status_code == 303, answer.text
    return browser


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_change_made_on_one_server_reaches_the_other(backend, request, tmp_path) -> None:
    state = _state_args(backend, request, tmp_path)
    if backend == "sqlite":
        open_storage(data_dir=tmp_path / "state").close()
    first_key, second_key = _new_key(state, "one"), _new_key(state, "two")
    configs = []
    for name in ("first", "second"):
        path = tmp_path / f"{name}.toml"
        path.write_text(RULES)
        configs.append(path)
    with (
        _serving(*state, "--config", str(configs[0]), "--admin-token", ADMIN_TOKEN) as first,
        _serving(*state, "--config", str(configs[1]), "--admin-token", ADMIN_TOKEN) as second,
    ):
        auth = {"authorization": f"Bearer {first_key}"}
        with httpx2.Client(base_url=second, trust_env=False, timeout=30, headers=auth) as on_second:
            assert on_second.post("/api/proxy/decide", json=_payment("50.00")).json()["decision"] == "allow"

            # Both serve the dashboard, and a login made through one is good on the other.
            browser = _logged_in(first)
            try:
                cookies = dict(browser.cookies)
                page = httpx2.get(f"{second}/keys", cookies=cookies, trust_env=False, timeout=30)
                assert page.status_code == 200
                assert "API keys" in page.text
            finally:
                browser.close()

            changed = httpx2.put(
                f"{first}/api/admin/rules/financial_drain",
                json={"hard_limit_cents": 1000},
                headers=ADMIN,
                trust_env=False,
                timeout=30,
            )
            assert changed.status_code == 200, changed.text
            deadline = time.monotonic() + DEADLINE_SECONDS
            while True:
                shown = httpx2.get(f"{second}/api/admin/rules", headers=ADMIN, trust_env=False, timeout=30).json()
                if shown["rules"]["financial_drain"]["hard_limit_cents"] == 1000:
                    break
                assert time.monotonic() < deadline, "the change never reached the other server"
                time.sleep(0.05)
            verdict = on_second.post("/api/proxy/decide", json=_payment("50.00")).json()
            assert verdict["decision"] == "deny", verdict
            # Saved to the config file of the server it was made on; the other's file is its own.
            assert "hard_limit_cents = 1000\n" in configs[0].read_text()
            assert "hard_limit_cents" not in configs[1].read_text()

            # A key revoked through the second server is refused by the first at once.
            key_id = first_key.split("_")[1]
            revoked = httpx2.post(
                f"{second}/api/admin/keys/{key_id}/revoke", headers=ADMIN, trust_env=False, timeout=30
            )
            assert revoked.status_code == 200, revoked.text
            refused = httpx2.post(f"{first}/api/proxy/decide", json=_payment("1.00"), headers=auth, trust_env=False)
            assert refused.status_code == 401
            still = {"authorization": f"Bearer {second_key}"}
            kept = httpx2.post(f"{first}/api/proxy/decide", json=_payment("1.00"), headers=still, trust_env=False)
            assert kept.status_code == 200


def test_every_worker_serves_the_dashboard_to_a_logged_in_person(tmp_path) -> None:
    state = ["--data-dir", str(tmp_path / "state")]
    with _serving(*state, "--workers", "2", "--admin-token", ADMIN_TOKEN) as base_url:
        browser = _logged_in(base_url)
        try:
            # Each request goes to whichever worker accepts it first; every one knows the login.
            for _ in range(12):
                with httpx2.Client(base_url=base_url, trust_env=False, timeout=30, cookies=browser.cookies) as fresh:
                    page = fresh.get("/sessions")
                    assert page.status_code == 200
                    assert "Sessions" in page.text
        finally:
            browser.close()
