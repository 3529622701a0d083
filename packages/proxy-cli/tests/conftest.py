"""A temporary user home for every CLI test, passed to the command as its environment."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from click.testing import CliRunner, Result

from inherence_proxy.cli import main

DATA = pathlib.Path(__file__).parent / "data"
DEMO_SERVER = [sys.executable, "-m", "inherence_proxy._demo_server"]
# Where each fixture client config lives on Linux, relative to the home folder.
CLIENT_FILES = {
    "cursor": ".cursor/mcp.json",
    "claude-desktop": ".config/Claude/claude_desktop_config.json",
    "gemini-cli": ".gemini/settings.json",
}


class Machine:
    """A fake user's machine: a home folder, the proxy home inside it, and the environment to run in."""

    def __init__(self, root: pathlib.Path) -> None:
        self.home = root / "home"
        self.home.mkdir()
        self.proxy_home = self.home / ".inherence-proxy"
        self.executable = root / "bin" / "inherence-proxy"
        self.executable.parent.mkdir()
        self.executable.write_text("#!/bin/sh\n")
        self.executable.chmod(0o755)
        self.env: dict[str, str | None] = {
            "HOME": str(self.home),
            "USERPROFILE": str(self.home),
            "XDG_CONFIG_HOME": None,
            "APPDATA": None,
            "INHERENCE_PROXY_HOME": None,
            "INHERENCE_API_KEY": None,
            "INHERENCE_ENDPOINT": None,
            "INHERENCE_DEBUG": None,
            "INHERENCE_PROXY_EXECUTABLE": str(self.executable),
            "PATH": os.path.dirname(sys.executable),
        }

    def client_file(self, client: str) -> pathlib.Path:
        return self.home / CLIENT_FILES[client]

    def add_client(
        self, client: str, servers: dict[str, Any] | None = None, *, text: str | None = None
    ) -> pathlib.Path:
        """Write a client config: the fixture file of `client`, or one holding `servers`."""
        path = self.client_file(client)
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is not None:
            path.write_text(text, encoding="utf-8")
        elif servers is None:
            shutil.copyfile(DATA / "clients" / f"{client}.json", path)
        else:
            path.write_text(json.dumps({"mcpServers": servers}, indent=2) + "\n", encoding="utf-8")
        return path

    def demo_servers(self, *names: str) -> dict[str, Any]:
        sandbox = str(self.home)
        return {name: {"command": DEMO_SERVER[0], "args": DEMO_SERVER[1:], "env": {"DEMO_SANDBOX": sandbox}}
                for name in names}  # fmt: skip

    def config(self) -> dict[str, Any]:
        return json.loads((self.proxy_home / "config.json").read_text())


@pytest.fixture
def machine(tmp_path: pathlib.Path) -> Machine:
    return Machine(tmp_path)


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(machine: Machine) -> Invoke:
    """Run `inherence-proxy ARGS` on the machine; extra environment as keyword `env`."""

    def run(args: Sequence[str], *, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, list(args), env={**machine.env, **(env or {})}, input=input, catch_exceptions=False)

    return run
