"""Two `inherence-policy-server serve` processes on one PostgreSQL database, as a team runs them.

Two transfers that together pass an hour window, sent at the same moment one to each server,
are never both allowed; a key revoked through one server is refused by the other at once.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx2
import pytest

from inherence_policy_server import issue_key
from inherence_policy_server._postgres import PostgresStorage

from .conftest import START

SERVE = [sys.executable, "-c", "from inherence_policy_server.cli import main; main()", "serve"]
ADMIN_TOKEN = "admin-token-for-the-test-0123456789"
ROUNDS = 6
RULES = """
[organisation]
known_payees = ["landlord"]

[financial_drain]
hour_limit_cents = 10000
"""

# Several server processes on one storage: nox runs these on the oldest and newest Python only.
pytestmark = [pytest.mark.slow, pytest.mark.version_independent]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _serving(*args: str) -> Iterator[str]:
    """One server process until the block ends (stopped with SIGINT, killed if it hangs); its base URL."""
    port = _free_port()
    server = subprocess.Popen(
        [*SERVE, "--port", str(port), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        with httpx2.Client(base_url=base_url, trust_env=False, timeout=5) as client:
            while True:
                with contextlib.suppress(httpx2.TransportError):
                    if client.get("/api/proxy/health").status_code == 200:
                        break
                if server.poll() is not None:
                    pytest.fail(f"the server stopped: {server.communicate()[0][-3000:]}")
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield base_url
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.communicate()


def _payment(account: str) -> dict[str, object]:
    arguments = {"amount": "60.00", "currency": "usd", "recipient": "landlord", "account": account}
    return {"tool_name": "pay", "classification": "payment", "arguments": arguments, "upstream": "bank"}


def _at_once(clients: list[httpx2.Client], payment: dict[str, object]) -> list[str]:
    """The same decide sent through every client at the same moment; the verdicts."""
    start = threading.Barrier(len(clients))
    verdicts: list[str] = []

    def pay(client: httpx2.Client) -> None:
        start.wait()
        verdicts.append(str(client.post("/api/proxy/decide", json=payment).json()["decision"]))

    racers = [threading.Thread(target=pay, args=(client,)) for client in clients]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
    return verdicts


def test_two_servers_share_velocity_windows_and_key_revocations(postgres_url, tmp_path) -> None:
    storage = PostgresStorage(postgres_url)
    try:
        issued = issue_key(START, "team")
        storage.add_key(issued.record)
    finally:
        storage.close()
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    common = ["--database-url", postgres_url, "--config", str(rules)]
    auth = {"authorization": f"Bearer {issued.secret_key}"}
    with (
        _serving(*common, "--admin-token", ADMIN_TOKEN) as first,
        _serving(*common, "--no-dashboard") as second,
    ):
        clients = [httpx2.Client(base_url=url, trust_env=False, timeout=30, headers=auth) for url in (first, second)]
        try:
            for client in clients:  # connected before the race, so the two calls leave together
                assert client.post("/api/proxy/auth/verify").status_code == 200
            for round_number in range(ROUNDS):
                verdicts = _at_once(clients, _payment(f"ops-{round_number}"))
                # 60.00 + 60.00 passes the hour window of 100.00: exactly one of the two goes through.
                assert sorted(verdicts) == ["allow", "deny"], (round_number, verdicts)

            revoked = httpx2.post(
                f"{first}/api/admin/keys/{issued.record.key_id}/revoke",
                headers={"authorization": f"Bearer {ADMIN_TOKEN}"},
                trust_env=False,
            )
            assert revoked.status_code == 200, revoked.text
            for client in reversed(clients):
                assert client.post("/api/proxy/decide", json=_payment("ops-after")).status_code == 401
        finally:
            for client in clients:
                client.close()
