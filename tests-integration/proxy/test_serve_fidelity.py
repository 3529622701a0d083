"""A real `inherence-proxy serve` with the embedded policy: every method decided or logged, upstream tool names,
and servers added beside the proxy in the client's config noticed while it serves.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import types
from mcp.shared.exceptions import MCPError

from inherence_policy_server import SQLiteStorage

HERE = pathlib.Path(__file__).parent
EXECUTABLE = pathlib.Path(sys.executable).parent / "inherence-proxy"

if sys.platform == "win32":
    pytest.skip("the proxy's process discipline is POSIX here", allow_module_level=True)


class Machine:
    """A user's home with a proxy home, and the environment the proxy runs in."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root
        self.home = root / "proxy-home"
        self.home.mkdir()
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        self.env = {name: os.environ[name] for name in keep if name in os.environ}
        self.env.update(HOME=str(root), INHERENCE_PROXY_HOME=str(self.home), INHERENCE_PROXY_EXECUTABLE=str(EXECUTABLE))

    def upstream(self, name: str) -> dict[str, Any]:
        record = {"RECORD_FILE": str(self.root / f"{name}.jsonl")}
        return {"name": name, "command": [sys.executable, str(HERE / "recording_server.py")], "env": record}

    def configure(self, **config: Any) -> None:
        (self.home / "config.json").write_text(json.dumps(config))

    def received(self, name: str) -> list[dict[str, Any]]:
        path = self.root / f"{name}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def decisions(self) -> list[Any]:
        storage = SQLiteStorage(self.home / "policy")
        try:
            return storage.recent_decisions(100)
        finally:
            storage.close()

    def log(self) -> str:
        return (self.home / "proxy.log").read_text()


@pytest.fixture
def machine(tmp_path: pathlib.Path) -> Machine:
    if not EXECUTABLE.exists():
        pytest.skip("the inherence-proxy console script is not installed in this environment")
    return Machine(tmp_path)


# Both are still in the 2025-11-25 protocol the session speaks.
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_completions_and_subscriptions_are_decided_and_a_credentials_subscription_is_refused(
    kit, machine: Machine
) -> None:
    machine.configure(upstreams=[machine.upstream("rec")])
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    credentials = "file://" + str(machine.root / ".ssh" / "id_rsa")
    async with kit.session_to([str(EXECUTABLE), "serve", "-v"], env=machine.env) as session:
        with pytest.raises(MCPError, match="POLICY_DENIAL"):
            await session.complete(
                types.PromptReference(type="ref/prompt", name="rec__hello"), {"name": "who", "value": secret}
            )
        completion = await session.complete(
            types.PromptReference(type="ref/prompt", name="rec__hello"), {"name": "who", "value": "Ada"}
        )
        await session.subscribe_resource("record://note")
        with pytest.raises(MCPError, match="POLICY_DENIAL"):
            await session.subscribe_resource(credentials)
        await session.set_logging_level("debug")
    assert completion.completion.values == []
    received = [(m["method"], m.get("params", {})) for m in machine.received("rec")]
    assert ("resources/subscribe", {"uri": "record://note"}) in received
    assert all(params.get("uri") != credentials for _method, params in received)
    assert secret not in json.dumps(received)
    assert ("completion/complete", {"ref": {"type": "ref/prompt", "name": "hello"},
            "argument": {"name": "who", "value": "Ada"}}) in received  # fmt: skip
    assert ("logging/setLevel", {"level": "debug"}) in received
    decided = {(d.tool_name, d.decision) for d in machine.decisions()}
    assert ("rec__completion_complete", "deny") in decided
    assert ("rec__completion_complete", "allow") in decided
    assert ("rec__resources_subscribe", "allow") in decided
    assert ("rec__resources_subscribe", "deny") in decided
    stored = json.dumps([d.arguments for d in machine.decisions()])
    assert secret not in stored
    assert "logging/setLevel relayed without a decision" in machine.log()


async def test_upstream_tool_names_through_serve_with_the_prefixed_name_in_the_decision_log(
    kit, machine: Machine
) -> None:
    machine.configure(upstreams=[machine.upstream("rec")], tool_names="upstream")
    async with kit.session_to([str(EXECUTABLE), "serve"], env=machine.env) as session:
        tools = await session.list_tools()
        result = await session.call_tool("record", {"value": 1})
    assert "record" in [tool.name for tool in tools.tools]
    assert result.is_error is False
    assert "rec__record" in {d.tool_name for d in machine.decisions()}


def test_two_upstreams_offering_one_name_make_serve_refuse_naming_both(machine: Machine) -> None:
    machine.configure(upstreams=[machine.upstream("one"), machine.upstream("two")])
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    lines = json.dumps(initialize) + "\n" + json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"
    env = {**machine.env, "INHERENCE_PROXY_TOOL_NAMES": "upstream"}
    with subprocess.Popen(
        [str(EXECUTABLE), "serve"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdin is not None
        process.stdin.write(lines.encode())
        process.stdin.flush()
        # The input stays open: the proxy ends on its own, refusing the collision.
        code = process.wait(timeout=60)
        error = process.stderr.read().decode() if process.stderr else ""
        process.stdin.close()
    assert code != 0
    assert "'record'" in error
    assert "one" in error
    assert "two" in error
    assert "refusing to serve" in machine.log()


async def test_a_server_added_beside_the_proxy_while_serving_is_logged_warned_and_in_status(
    kit, machine: Machine
) -> None:
    cursor = machine.root / ".cursor" / "mcp.json"
    cursor.parent.mkdir()
    entry = {"command": str(EXECUTABLE), "args": ["serve", "cursor"]}
    cursor.write_text(json.dumps({"mcpServers": {"inherence": entry}}))
    machine.configure(
        upstreams=[machine.upstream("rec")],
        migrated_clients=[{"name": "cursor", "config_path": str(cursor), "upstream_names": ["rec"]}],
    )
    notes: list[Any] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.LoggingMessageNotification):
            notes.append(message.params)
            if "sneaky" in json.dumps(message.params.data):
                arrived.set()

    command = [str(EXECUTABLE), "serve", "cursor"]
    async with kit.session_to(command, env=machine.env, message_handler=on_message) as session:
        await session.list_tools()
        cursor.write_text(json.dumps({"mcpServers": {"inherence": entry, "sneaky": {"command": "sneaky-server"}}}))
        with anyio.fail_after(30):
            while not arrived.is_set():
                await session.send_ping()
                with anyio.move_on_after(0.5):
                    await arrived.wait()
    warning = next(n for n in notes if "sneaky" in json.dumps(n.data))
    assert warning.level == "warning"
    assert warning.data["bypassing"] == ["sneaky"]
    assert "sneaky" in machine.log()
    with anyio.fail_after(60):
        status = await anyio.run_process([str(EXECUTABLE), "status", "--json"], env=machine.env, check=False)
    clients = json.loads(status.stdout)["clients"]
    assert clients[0]["bypassing"] == ["sneaky"]
