"""The two commands that serve the dashboard, as real processes: what they print and what they serve."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import httpx2
import pytest

from inherence_policy_client import DecideRequest
from inherence_policy_server import create_app, load_rules_config

from .conftest import free_port, wait_until_healthy


def _start(code: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", code, *args]
    environment = {**os.environ, **env}
    environment.pop("INHERENCE_POLICY_ADMIN_TOKEN", None)
    return subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.communicate(timeout=30)


def _value(stream, label: str) -> str:
    """The rest of the first line starting with `label` (read up to it)."""
    for line in stream:
        if line.startswith(label):
            return line[len(label) :].strip()
    raise AssertionError(f"the process never printed {label!r}")


@pytest.fixture
def proxy_home(tmp_path) -> pathlib.Path:
    home = tmp_path / "proxy-home"
    # A decision of the embedded policy, made as a proxy makes it: in-process, over <home>/policy.
    app = create_app(data_dir=home / "policy", require_key=False)
    request = DecideRequest(
        tool_name="read_file", classification="file_read", arguments={"path": "~/.aws/credentials"}, session_id="s1"
    )
    assert app.decisions.decide(request).decision == "deny"
    app.close()
    return home


def test_inherence_proxy_dashboard_serves_the_embedded_policy(proxy_home) -> None:
    process = _start(
        "from inherence_proxy.cli import main; main()",
        ["dashboard", "--port", "0", "--no-browser"],
        {"INHERENCE_PROXY_HOME": str(proxy_home)},
    )
    try:
        url = _value(process.stdout, "Dashboard:")
        token = _value(process.stdout, "Admin token:")
        assert url.startswith("http://127.0.0.1:")
        bearer = {"authorization": f"Bearer {token}"}
        feed = httpx2.get(f"{url}api/admin/decisions", headers=bearer).json()["decisions"]
        assert [(row["tool_name"], row["decision"], row["rule"]) for row in feed] == [
            ("read_file", "deny", "credential_access")
        ]
        assert httpx2.get(f"{url}api/admin/decisions").status_code == 401
        changed = httpx2.put(f"{url}api/admin/rules/mass_destruction", json={"mode": "log"}, headers=bearer)
        assert changed.status_code == 200
        rules = proxy_home / "rules.toml"
        assert load_rules_config(rules).mass_destruction.mode.value == "log"
        assert stat.S_IMODE(rules.stat().st_mode) == 0o600
    finally:
        _stop(process)


def test_policy_server_serve_prints_a_fresh_admin_token_that_opens_the_dashboard(tmp_path) -> None:
    port = free_port()
    process = _start(
        "from inherence_policy_server.cli import main; main()",
        ["serve", "--port", str(port), "--data-dir", str(tmp_path / "data")],
        {},
    )
    try:
        assert _value(process.stderr, "dashboard:") == f"http://127.0.0.1:{port}/"
        token = _value(process.stderr, "admin token:")
        wait_until_healthy(f"http://127.0.0.1:{port}", process)  # type: ignore[arg-type]
        with httpx2.Client(base_url=f"http://127.0.0.1:{port}") as browser:
            assert browser.get("/").status_code == 303
            assert browser.post("/login", data={"token": token}).status_code == 303
            page = browser.get("/")
            assert page.status_code == 200
            assert "Decisions" in page.text
    finally:
        _stop(process)


def test_policy_server_serve_refuses_a_short_admin_token(tmp_path) -> None:
    process = _start(
        "from inherence_policy_server.cli import main; main()",
        ["serve", "--port", str(free_port()), "--data-dir", str(tmp_path / "data"), "--admin-token", "short"],
        {},
    )
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "the admin token must be at least 16 characters" in err
