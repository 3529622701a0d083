"""The installed `inherence-proxy` command on a fake machine: a temporary HOME with real client configs.

Commands run as real processes of the installed console script. A wrapped client entry is
started exactly as the client would start it (its command and args read from the file) by the
official MCP Python client.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any, TextIO

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

if sys.platform == "win32":
    collect_ignore_glob = ["test_*.py"]

HERE = pathlib.Path(__file__).parent
NODE_BIN = HERE.parent / "node_modules" / ".bin"
EXECUTABLE = pathlib.Path(sys.executable).parent / "inherence-proxy"
DEMO_SERVER = [sys.executable, "-m", "inherence_proxy._demo_server"]
CLIENT_FILES = {
    "claude-desktop": ".config/Claude/claude_desktop_config.json",
    "cursor": ".cursor/mcp.json",
    "gemini-cli": ".gemini/settings.json",
    "windsurf": ".codeium/windsurf/mcp_config.json",
}
COMMAND_SECONDS = 60


class Machine:
    """A user's machine in a temporary folder: its home, the proxy home, and the environment of its processes."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.sandbox = root / "sandbox"
        self.sandbox.mkdir()
        (self.sandbox / "notes.txt").write_text("standup at ten\n")
        (self.sandbox / ".env").write_text("TOKEN=not-a-secret\n")
        self.proxy_home = self.home / ".inherence-proxy"
        keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR")
        self.env = {name: os.environ[name] for name in keep if name in os.environ}
        self.env.update(HOME=str(self.home), USERPROFILE=str(self.home))

    def client_file(self, client: str) -> pathlib.Path:
        return self.home / CLIENT_FILES[client]

    def write_client(self, client: str, document: dict[str, Any]) -> pathlib.Path:
        path = self.client_file(client)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path

    def demo_server(self, record: str | None = None) -> dict[str, Any]:
        env = {"DEMO_SANDBOX": str(self.sandbox)}
        if record:
            env["DEMO_RECORD"] = str(self.root / f"{record}.jsonl")
        return {"command": DEMO_SERVER[0], "args": DEMO_SERVER[1:], "env": env}

    def received(self, record: str) -> list[str]:
        path = self.root / f"{record}.jsonl"
        return [json.loads(line)["tool"] for line in path.read_text().splitlines()] if path.exists() else []

    def cli(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the installed command, as the user would in a terminal (but not a terminal)."""
        return subprocess.run(
            [str(EXECUTABLE), *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMMAND_SECONDS,
            check=False,
        )

    def json(self, *args: str) -> dict[str, Any]:
        done = self.cli(*args, "--json")
        return json.loads(done.stdout)

    def entry(self, client: str) -> dict[str, Any]:
        """The proxy entry of a wrapped config, as the client reads it."""
        document = json.loads(self.client_file(client).read_text())
        return document["mcpServers"]["inherence"]

    @contextlib.asynccontextmanager
    async def client_session(self, client: str, env: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
        """Start the wrapped entry of `client` as the client would, and open an MCP session to it."""
        entry = self.entry(client)
        params = StdioServerParameters(command=entry["command"], args=entry["args"], env={**self.env, **(env or {})})
        with _stderr_file(self.root / f"{client}.stderr") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await session.initialize()
                yield session


def _stderr_file(path: pathlib.Path) -> TextIO:
    return path.open("w")


@pytest.fixture
def machine(tmp_path: pathlib.Path) -> Machine:
    if not EXECUTABLE.exists():
        pytest.fail(f"the inherence-proxy command is not installed beside {sys.executable}")
    return Machine(tmp_path)


def tool_text(result: Any) -> str:
    return "".join(getattr(item, "text", "") for item in result.content)


def denial(result: Any) -> dict[str, Any]:
    """The refusal a denied call comes back with (fails the test when the call was not refused)."""
    assert result.is_error is True, tool_text(result)
    payload: dict[str, Any] = json.loads(tool_text(result))
    return payload
