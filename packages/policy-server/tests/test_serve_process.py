"""`inherence-policy-server serve` as a real process with two workers on one data dir."""

from __future__ import annotations

import concurrent.futures
import signal
import socket
import subprocess
import sys
import time

import httpx2
import pytest

SERVE = [sys.executable, "-c", "from inherence_policy_server.cli import main; main()", "serve"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


RULES = """
[organisation]
known_payees = ["landlord"]

[financial_drain]
hour_count_limit = 5
"""


@pytest.mark.slow
@pytest.mark.version_independent  # several processes; nox: oldest and newest Python only
def test_two_workers_serve_decisions_from_one_data_dir(tmp_path) -> None:
    """Two worker processes on one data dir: decisions, and one velocity window held across both."""
    port = _free_port()
    config = tmp_path / "rules.toml"
    config.write_text(RULES)
    args = ["--port", str(port), "--data-dir", str(tmp_path / "data"), "--no-auth", "--workers", "2"]
    args += ["--config", str(config)]
    server = subprocess.Popen([*SERVE, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base_url = f"http://127.0.0.1:{port}"
    try:
        with httpx2.Client(base_url=base_url, trust_env=False, timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if client.get("/api/proxy/health").status_code == 200:
                        break
                except httpx2.TransportError:
                    pass
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
            denied = client.post(
                "/api/proxy/decide",
                json={"tool_name": "run", "classification": "shell_exec", "arguments": {"command": "rm -rf /"}},
            )
            allowed = client.post(
                "/api/proxy/decide",
                json={"tool_name": "run", "classification": "shell_exec", "arguments": {"command": "ls -la"}},
            )
        payment = {
            "tool_name": "pay",
            "classification": "payment",
            "arguments": {"amount": "10.00", "currency": "usd", "recipient": "landlord"},
            "upstream": "bank",
        }

        def pay(_: int) -> str:
            # One connection each, so the calls spread over both workers and arrive together.
            with httpx2.Client(base_url=base_url, trust_env=False, timeout=10) as own:
                return str(own.post("/api/proxy/decide", json=payment).json()["decision"])

        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            verdicts = list(pool.map(pay, range(16)))
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=30)[0]
    assert denied.json()["decision"] == "deny"
    assert "mass_destruction" in denied.json()["failed_clauses"][0]
    assert allowed.json()["decision"] == "allow"
    assert verdicts.count("allow") == 5
    assert verdicts.count("deny") == 11
    assert server.returncode == 0, output
