"""A real `inherence-policy-server serve` with its dashboard, and a real gateway in front of a tiny upstream."""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

PROXY = pathlib.Path(__file__).parent.parent / "proxy"
ADMIN_TOKEN = "integration-admin-token-0123456789"
CHROMIUM = pathlib.Path("/usr/bin/chromium")
RULES = """\
# The team's rules.
[financial_drain]
mode = "enforce"

[financial_drain.clauses]
new_recipient = "off"
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(base_url: str, process: subprocess.Popen[bytes], deadline: float = 30.0) -> None:
    ends = time.monotonic() + deadline
    while time.monotonic() < ends:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        with contextlib.suppress(httpx2.HTTPError):
            if httpx2.get(f"{base_url}/api/proxy/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


@dataclass(frozen=True)
class PolicyServer:
    base_url: str
    config_path: pathlib.Path
    data_dir: pathlib.Path


@pytest.fixture
def policy_server(tmp_path) -> Iterator[PolicyServer]:
    config_path = tmp_path / "rules.toml"
    config_path.write_text(RULES, encoding="utf-8")
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from inherence_policy_server.cli import main; main()",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "data"),
        "--config",
        str(config_path),
    ]
    environment = {**os.environ, "INHERENCE_POLICY_ADMIN_TOKEN": ADMIN_TOKEN}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base_url, process)
        yield PolicyServer(base_url, config_path, tmp_path / "data")
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextlib.asynccontextmanager
async def gateway_session(tmp_path: pathlib.Path, policy_url: str, api_key: str) -> AsyncIterator[ClientSession]:
    """An MCP session through the real gateway (a process) to the recording upstream, decided by `policy_url`."""
    upstream = {
        "name": "notes",
        "command": [sys.executable, str(PROXY / "recording_server.py")],
        "env": {"RECORD_FILE": str(tmp_path / "notes.jsonl")},
    }
    config = {
        "upstreams": [upstream],
        "policy": policy_url,
        "api_key": api_key,
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 5.0},
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    params = StdioServerParameters(command=sys.executable, args=[str(PROXY / "run_gateway.py"), str(path)])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


def chromium_or_skip() -> pathlib.Path:
    """The Debian chromium; a skip without it, except under CI where it must be there."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{CHROMIUM} is missing under CI: .ci/run installs Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); the browser tests need it")
