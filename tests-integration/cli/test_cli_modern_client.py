"""`inherence-proxy serve` as a new user runs it, with the SDK's client in each of its modes."""

from __future__ import annotations

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from .conftest import Machine, denial, tool_text


@pytest.mark.parametrize("mode", ["2026-07-28", "auto", "legacy"])
async def test_serve_answers_the_sdk_client_in_every_mode(machine: Machine, mode: str) -> None:
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server(record="workspace")}})
    done = machine.cli("init", "--yes", "--local")
    assert done.returncode == 0, done.stderr
    entry = machine.entry("cursor")
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=machine.env)
    async with Client(params, mode=mode) as client:
        version = client.protocol_version
        names = {tool.name for tool in (await client.list_tools()).tools}
        allowed = await client.call_tool("workspace__read_file", {"path": "notes.txt"})
        refused = await client.call_tool("workspace__run_command", {"command": "rm -rf ~"})
    assert version == ("2025-11-25" if mode == "legacy" else "2026-07-28")
    assert "workspace__read_file" in names
    assert tool_text(allowed) == "standup at ten\n"
    assert denial(refused)["error"] == "POLICY_DENIAL"
    # The denied call never reached the server; the allowed one did.
    assert machine.received("workspace") == ["read_file"]
