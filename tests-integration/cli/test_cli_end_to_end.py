"""init -> the client starts the wrapped entry -> calls are gated -> status and audit tell the truth -> restore."""

from __future__ import annotations

import json

import anyio
import pytest

from .conftest import NODE_BIN, Machine, denial, tool_text

pytestmark = pytest.mark.slow


def _clients(machine: Machine) -> dict[str, bytes]:
    machine.write_client(
        "claude-desktop",
        {"globalShortcut": "Ctrl+Space", "mcpServers": {"notes": machine.demo_server("desktop")}},
    )
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server("cursor")}})
    gemini: dict = {"theme": "Dracula", "mcpServers": {"tools": machine.demo_server("gemini")}}
    filesystem = NODE_BIN / "mcp-server-filesystem"
    if filesystem.exists():
        gemini["mcpServers"]["files"] = {"command": str(filesystem), "args": [str(machine.sandbox)]}
    machine.write_client("gemini-cli", gemini)
    machine.write_client("windsurf", {"mcpServers": {}})
    return {client: machine.client_file(client).read_bytes() for client in ("claude-desktop", "cursor", "gemini-cli")}


async def test_init_serve_status_audit_restore_on_a_machine_with_several_clients(machine: Machine) -> None:
    originals = _clients(machine)
    done = machine.cli("init", "--yes", "--local")
    assert done.returncode == 0, done.stderr
    assert "Next: restart" in done.stdout
    for client in originals:
        entry = machine.entry(client)
        assert entry["args"] == ["serve", client]
        assert entry["command"].endswith("inherence-proxy")

    async with machine.client_session("cursor") as cursor, machine.client_session("claude-desktop") as desktop:
        names = {tool.name for tool in (await cursor.list_tools()).tools}
        assert names == {f"workspace__{t}" for t in ("read_file", "run_command", "fetch_url", "search_customers",
                                                       "send_email")}  # fmt: skip
        # Each client's proxy serves that client's own servers.
        assert {tool.name for tool in (await desktop.list_tools()).tools} == {
            n.replace("workspace", "notes") for n in names
        }
        allowed = await cursor.call_tool("workspace__read_file", {"path": "notes.txt"})
        assert allowed.is_error is False
        assert tool_text(allowed) == "standup at ten\n"
        assert allowed.meta is not None
        assert allowed.meta["inherence_decision"] == "allow"
        refused = denial(await desktop.call_tool("notes__run_command", {"command": "rm -rf ~"}))
        assert refused["error"] == "POLICY_DENIAL"
        assert refused["failed_clauses"] == ["mass_destruction.recursive_delete"]

        status = machine.json("status")
        running = {p["client"]: p["running"] for p in status["proxies"]}
        assert running == {"claude-desktop": True, "cursor": True, "gemini-cli": False}
        second = machine.cli("serve", "cursor")
        assert second.returncode == 6
        assert "an inherence proxy for client 'cursor' is already running" in second.stderr
        assert second.stdout == ""

    assert machine.received("cursor") == ["read_file"]
    assert "standup at ten" not in (machine.proxy_home / "proxy.log").read_text()
    assert machine.received("desktop") == []  # the denied call never reached the upstream
    upstreams = {u["name"]: u for u in status["upstreams"]}
    assert upstreams["workspace"]["tool_count"] == 5
    assert upstreams["workspace"]["clients"] == ["cursor"]
    assert status["classification_cache_size"] >= 5
    assert [c["clean"] for c in status["clients"]] == [True, True, True]
    audit = machine.cli("audit", "--json")
    assert audit.returncode == 0, audit.stdout
    assert {c["client"]: c["wrapped"] for c in json.loads(audit.stdout)["clients"]} == {
        "claude-desktop": True, "cursor": True, "gemini-cli": True, "windsurf": False,
    }  # fmt: skip

    restored = machine.cli("restore")
    assert restored.returncode == 0, restored.stderr
    assert {client: machine.client_file(client).read_bytes() for client in originals} == originals
    assert machine.cli("audit").returncode == 7


async def test_a_third_party_node_server_is_gated_too(machine: Machine) -> None:
    filesystem = NODE_BIN / "mcp-server-filesystem"
    if not filesystem.exists():
        pytest.skip("npm ci --prefix tests-integration has not been run")
    machine.write_client(
        "cursor", {"mcpServers": {"files": {"command": str(filesystem), "args": [str(machine.sandbox)]}}}
    )
    assert machine.cli("init", "--yes", "--local", "--client", "cursor").returncode == 0
    async with machine.client_session("cursor") as session:
        with anyio.fail_after(30):
            read = await session.call_tool("files__read_text_file", {"path": str(machine.sandbox / "notes.txt")})
            secret = await session.call_tool("files__read_text_file", {"path": str(machine.sandbox / ".env")})
    assert tool_text(read) == "standup at ten\n"
    assert denial(secret)["failed_clauses"] == ["credential_access.credential_file"]


async def test_after_drift_audit_fails_and_status_shows_the_bypassing_server(machine: Machine) -> None:
    machine.write_client("cursor", {"mcpServers": {"workspace": machine.demo_server()}})
    assert machine.cli("init", "--yes", "--local", "--no-discovery").returncode == 0
    document = json.loads(machine.client_file("cursor").read_text())
    document["mcpServers"]["sneaky"] = {"command": "sneaky-server"}
    machine.client_file("cursor").write_text(json.dumps(document))
    audit = machine.cli("audit")
    assert audit.returncode == 7
    assert "bypassing: sneaky" in audit.stdout
    assert machine.json("status")["clients"][0]["bypassing"] == ["sneaky"]


async def test_a_remote_server_that_is_down_is_reported_and_the_local_one_keeps_serving(machine: Machine) -> None:
    machine.write_client(
        "cursor",
        {"mcpServers": {"workspace": machine.demo_server("down"), "remote": {"url": "http://127.0.0.1:9/mcp"}}},
    )
    done = machine.cli("init", "--local", "--yes")
    assert done.returncode == 0, done.stderr
    assert "connection refused" in done.stdout
    async with machine.client_session("cursor") as session:
        names = {tool.name for tool in (await session.list_tools()).tools}
        refused = await session.call_tool("remote__anything", {})
        allowed = await session.call_tool("workspace__read_file", {"path": "notes.txt"})
    assert "workspace__read_file" in names
    assert denial(refused) == {"error": "UPSTREAM_UNAVAILABLE", "upstream": "remote", "reason": "connection refused"}
    assert tool_text(allowed) == "standup at ten\n"
    upstreams = {u["name"]: u for u in machine.json("status")["upstreams"]}
    assert (upstreams["remote"]["state"], upstreams["remote"]["last_error"]) == ("failed", "connection refused")
    log = (machine.proxy_home / "proxy.log").read_text()
    assert "upstream remote: connection refused" in log
