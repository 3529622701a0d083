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


def everything() -> list[str]:
    path = NODE_BIN / "mcp-server-everything"
    if not path.exists():
        pytest.skip("npm ci --prefix tests-integration has not been run")
    return [str(path)]


@contextlib.asynccontextmanager
async def session_to(command: list[str], env: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        yield session


@contextlib.asynccontextmanager
async def through_gateway(
    tmp_path: pathlib.Path, upstreams: list[dict[str, Any]], *, policy: str, api_key: str | None
) -> AsyncIterator[ClientSession]:
    config = {
        "upstreams": upstreams,
        "policy": policy,
        "api_key": api_key,
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 3.0},
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    async with session_to([sys.executable, str(HERE / "run_gateway.py"), str(path)]) as session:
        yield session


class Kit:
    everything = staticmethod(everything)
    session_to = staticmethod(session_to)
    through_gateway = staticmethod(through_gateway)
    recording_server = str(HERE / "recording_server.py")


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
