"""The agent cannot switch its gate off: a real filesystem server behind the wrapped proxy, reaching the home folder."""

from __future__ import annotations

import json

import pytest

from .conftest import NODE_BIN, Machine, denial

pytestmark = pytest.mark.slow
FILESYSTEM = NODE_BIN / "mcp-server-filesystem"


@pytest.mark.skipif(not FILESYSTEM.exists(), reason="npm ci --prefix tests-integration installs server-filesystem")
async def test_a_filesystem_tool_cannot_rewrite_the_rules_or_unwrap_the_client(machine: Machine) -> None:
    cursor_config = machine.write_client(
        "cursor", {"mcpServers": {"files": {"command": str(FILESYSTEM), "args": [str(machine.home)]}}}
    )
    done = machine.cli("init", "--yes", "--local")
    assert done.returncode == 0, done.stderr
    rules = machine.proxy_home / "rules.toml"
    rules.write_text('[mass_destruction]\nmode = "enforce"\n')
    wrapped = cursor_config.read_bytes()
    everything_off = "".join(
        f'[{rule}]\nmode = "off"\n'
        for rule in ("credential_access", "mass_destruction", "unauthorized_exfiltration", "gate_integrity")
    )
    async with machine.client_session("cursor") as cursor:
        refused = denial(await cursor.call_tool("files__write_file", {"path": str(rules), "content": everything_off}))
        assert refused["error"] == "POLICY_DENIAL"
        assert "gate_integrity.protected_file" in refused["failed_clauses"]
        unwrap = {"path": str(cursor_config), "content": json.dumps({"mcpServers": {}})}
        refused = denial(await cursor.call_tool("files__write_file", unwrap))
        assert "gate_integrity.protected_file" in refused["failed_clauses"]
        moved = {"source": str(rules), "destination": str(machine.home / "rules.old")}
        assert (
            "gate_integrity.protected_file"
            in denial(await cursor.call_tool("files__move_file", moved))["failed_clauses"]
        )
        # Ordinary work in the same home goes through.
        note = await cursor.call_tool("files__write_file", {"path": str(machine.home / "notes.md"), "content": "hi"})
        assert note.is_error is False
    assert rules.read_text() == '[mass_destruction]\nmode = "enforce"\n'
    assert cursor_config.read_bytes() == wrapped
    assert (machine.home / "notes.md").read_text() == "hi"
