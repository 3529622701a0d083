"""Constants and helpers of the dashboard tests (the fixtures are in conftest.py)."""

from __future__ import annotations

import datetime
from typing import Any

import httpx2

from inherence_policy_server import PolicyApp

ADMIN_TOKEN = "admin-token-for-tests-0123456789"
BEARER = {"authorization": f"Bearer {ADMIN_TOKEN}"}
CONFIG_TEXT = """\
# Rules of the test team.
[financial_drain]
mode = "enforce"  # money is serious
per_call_limit_cents = 100000

[financial_drain.clauses]
new_recipient = "off"  # payees are vetted by the bank

[organisation]
email_domains = ["example.com"]
"""


class StepClock:
    """A clock that moves one second per reading, so each decision has its own time."""

    def __init__(self) -> None:
        self.now = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.timezone.utc)

    def __call__(self) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=1)
        return self.now


async def new_key(client: httpx2.AsyncClient) -> str:
    answer = await client.post("/api/admin/keys", json={"label": "tests"}, headers=BEARER)
    assert answer.status_code == 201
    return str(answer.json()["secret_key"])


def payment(dollars: int, recipient: str, session: str = "sess-1") -> dict[str, Any]:
    return {
        "tool_name": "send_payment",
        "classification": "payment",
        "arguments": {"amount": dollars, "currency": "usd", "recipient": recipient},
        "session_id": session,
        "upstream": "payments",
        "client": "cursor",
    }


def read_key(session: str = "sess-1") -> dict[str, Any]:
    return {
        "tool_name": "read_file",
        "classification": "file_read",
        "arguments": {"path": "/home/u/.ssh/id_rsa"},
        "session_id": session,
        "upstream": "files",
        "client": "cursor",
    }


async def decide(client: httpx2.AsyncClient, key: str, body: dict[str, Any], app: PolicyApp) -> dict[str, Any]:
    answer = await client.post("/api/proxy/decide", json=body, headers={"authorization": f"Bearer {key}"})
    assert answer.status_code == 200, answer.text
    app.flush()
    return dict(answer.json())


async def login(client: httpx2.AsyncClient) -> str:
    """Log in through the form; the CSRF token of the new session."""
    answer = await client.post("/login", data={"token": ADMIN_TOKEN})
    assert answer.status_code == 303
    page = await client.get("/")
    marker = 'data-csrf="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def shell(command: str, session: str = "sess-1") -> dict[str, Any]:
    return {
        "tool_name": "run",
        "classification": "shell_exec",
        "arguments": {"command": command},
        "session_id": session,
        "upstream": "shell",
        "client": "cursor",
    }
