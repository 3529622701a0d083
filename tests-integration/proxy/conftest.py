"""Run the gateway as a real process (stdio) in front of real upstream processes."""

from __future__ import annotations

import contextlib
import json
import pathlib
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

HERE = pathlib.Path(__file__).parent
NODE_BIN = HERE.parent / "node_modules" / ".bin"


def node_server(name: str) -> list[str]:
    path = NODE_BIN / name
    if not path.exists():
        pytest.skip("npm ci --prefix tests-integration has not been run")
    return [str(path)]


def everything() -> list[str]:
    return node_server("mcp-server-everything")


def filesystem(root: pathlib.Path) -> list[str]:
    return [*node_server("mcp-server-filesystem"), str(root)]


@contextlib.asynccontextmanager
async def session_to(
    command: list[str], env: dict[str, str] | None = None, *, message_handler: Any = None, **callbacks: Any
) -> AsyncIterator[ClientSession]:
    """An MCP session to `command`; `callbacks` (sampling_callback, ...) declare the client's capabilities."""
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, message_handler=message_handler, **callbacks) as s,
    ):
        await s.initialize()
        yield s


@contextlib.asynccontextmanager
async def through_gateway(
    tmp_path: pathlib.Path,
    upstreams: list[dict[str, Any]],
    *,
    policy: str = "allow-all",
    api_key: str | None = None,
    settings: dict[str, Any] | None = None,
    message_handler: Any = None,
    loop: str = "best",
    **callbacks: Any,
) -> AsyncIterator[ClientSession]:
    config = {
        "loop": loop,
        "upstreams": upstreams,
        "policy": policy,
        "api_key": api_key,
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 3.0, **(settings or {})},
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    command = [sys.executable, str(HERE / "run_gateway.py"), str(path)]
    async with session_to(command, message_handler=message_handler, **callbacks) as session:
        yield session


def recording_upstream(tmp_path: pathlib.Path, name: str = "rec", **env: str) -> dict[str, Any]:
    """The recording server as an upstream; its record file is `tmp_path / f"{name}.jsonl"`."""
    environment = {"RECORD_FILE": str(tmp_path / f"{name}.jsonl"), **env}
    return {"name": name, "command": [sys.executable, str(HERE / "recording_server.py")], "env": environment}


class Kit:
    everything = staticmethod(everything)
    filesystem = staticmethod(filesystem)
    recording_upstream = staticmethod(recording_upstream)
    session_to = staticmethod(session_to)
    through_gateway = staticmethod(through_gateway)
    recording_server = str(HERE / "recording_server.py")
    runner = str(HERE / "run_gateway.py")


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
