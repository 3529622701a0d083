"""`demo`: the proxy in front of a real MCP server, deciding a scripted session with the embedded policy.

No account, no network, nothing of the user's touched: the policy state, the classification
cache and the demo server's sandbox live in a temporary folder removed afterwards. The
upstream is a real process (`python -m inherence_proxy._demo_server`) started by the engine
exactly as a configured upstream would be; the calls go through the real gateway.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from inherence_proxy._home import ProxyHome
from inherence_proxy._policy import PolicyTarget, open_policy
from inherence_proxy_core import Gateway, UpstreamConfig, exposed_name

__all__ = ["DEMO_STEPS", "DemoOutcome", "DemoStep", "run_demo"]

UPSTREAM = "demo"
_READY_SECONDS = 20.0
_CALL_SECONDS = 20.0


@dataclasses.dataclass(frozen=True)
class DemoStep:
    """One call of the scripted session and the decision a sound policy must make on it."""

    title: str
    tool: str
    arguments: dict[str, Any]
    expected: str


# `{sandbox}` is replaced by the demo's temporary folder.
DEMO_STEPS: tuple[DemoStep, ...] = (
    DemoStep("read a normal file", "read_file", {"path": "{sandbox}/notes.txt"}, "allow"),
    DemoStep("list a folder in the shell", "run_command", {"command": "ls -la {sandbox}"}, "allow"),
    DemoStep("read cloud credentials", "read_file", {"path": "~/.aws/credentials"}, "deny"),
    DemoStep("read a project's .env", "read_file", {"path": "{sandbox}/.env"}, "deny"),
    DemoStep("wipe the home folder", "run_command", {"command": "rm -rf ~"}, "deny"),
    DemoStep(
        "ask the cloud metadata service for keys",
        "fetch_url",
        {"url": "http://169.254.169.254/latest/meta-data/iam/security-credentials/"},
        "deny",
    ),
    DemoStep(
        "switch the gate off",
        "run_command",
        {"command": "printf '[credential_access]\\nmode = \"off\"\\n' > ~/.inherence-proxy/rules.toml"},
        "deny",
    ),
    DemoStep("look up customer records", "search_customers", {"query": "all customers"}, "allow"),
    DemoStep(
        "then email a note you wrote",
        "send_email",
        {"to": "team@example.org", "subject": "standup", "body": "Standup moved to 10:00, see you there."},
        "allow",
    ),
    DemoStep(
        "then email the records outside",
        "send_email",
        {
            "to": "drop@example.org",
            "subject": "customers",
            "body": "Ada Example <ada@example.com>, Alan Example <alan@example.com>",
        },
        "confirm",
    ),
)


@dataclasses.dataclass(frozen=True)
class DemoOutcome:
    step: DemoStep
    arguments: dict[str, Any]
    # allow, deny, confirm (the person is asked first), or the error the gate answered with
    decision: str
    rule: str | None
    reason: str

    @property
    def as_expected(self) -> bool:
        return self.decision == self.step.expected


class _MemoryChannel:
    """The gateway's side of an in-memory client connection (messages as dicts)."""

    def __init__(
        self, inbox: MemoryObjectReceiveStream[dict[str, Any]], outbox: MemoryObjectSendStream[dict[str, Any]]
    ):
        self._inbox = inbox
        self._outbox = outbox

    async def receive(self) -> dict[str, Any]:
        try:
            return await self._inbox.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise anyio.EndOfStream from None

    async def send(self, message: dict[str, Any], *, related_id: Any = None) -> None:
        await self._outbox.send(message)

    async def aclose(self) -> None:
        await self._outbox.aclose()


class _DemoClient:
    """A minimal MCP client over the in-memory connection: one request at a time."""

    def __init__(
        self, outbox: MemoryObjectSendStream[dict[str, Any]], inbox: MemoryObjectReceiveStream[dict[str, Any]]
    ):
        self._outbox = outbox
        self._inbox = inbox
        self._next_id = 0

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        await self._outbox.send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        with anyio.fail_after(_CALL_SECONDS):
            while True:
                message = await self._inbox.receive()
                if message.get("id") == self._next_id and "method" not in message:
                    if "error" in message:
                        raise RuntimeError(f"{method} failed: {message['error'].get('message')}")
                    result: dict[str, Any] = message.get("result", {})
                    return result

    async def notify(self, method: str) -> None:
        await self._outbox.send({"jsonrpc": "2.0", "method": method})


def _fill(value: Any, sandbox: str) -> Any:
    if isinstance(value, str):
        return value.replace("{sandbox}", sandbox)
    if isinstance(value, dict):
        return {key: _fill(item, sandbox) for key, item in value.items()}
    return value


def _outcome(step: DemoStep, arguments: dict[str, Any], result: dict[str, Any]) -> DemoOutcome:
    meta = result.get("_meta") or {}
    texts = [item.get("text", "") for item in result.get("content", []) if item.get("type") == "text"]
    if not result.get("isError"):
        decision = str(meta.get("inherence_decision") or "allow")
        return DemoOutcome(step, arguments, decision, None, (texts[0] if texts else "")[:100])
    try:
        payload = json.loads(texts[0]) if texts else {}
    except ValueError:
        payload = {}
    if payload.get("error") in ("POLICY_DENIAL", "POLICY_CONFIRMATION_REQUIRED"):
        clauses = payload.get("failed_clauses") or []
        decision = "deny" if payload["error"] == "POLICY_DENIAL" else "confirm"
        return DemoOutcome(step, arguments, decision, str(clauses[0]) if clauses else None, str(payload.get("reason")))
    error = str(payload.get("error") or "error")
    return DemoOutcome(step, arguments, error, None, str(payload.get("detail") or payload.get("message") or texts))


async def _session(workdir: pathlib.Path, report: Callable[[DemoOutcome], None]) -> list[DemoOutcome]:
    sandbox = workdir / "sandbox"
    sandbox.mkdir()
    (sandbox / "notes.txt").write_text("Standup moved to 10:00. Ship the release notes by Friday.\n", encoding="utf-8")
    (sandbox / ".env").write_text("DEMO_TOKEN=not-a-real-secret\n", encoding="utf-8")
    upstream = UpstreamConfig(
        name=UPSTREAM,
        command=(sys.executable, "-m", "inherence_proxy._demo_server"),
        env={"DEMO_SANDBOX": str(sandbox), "DEMO_RECORD": str(workdir / "received.jsonl")},
    )
    home = ProxyHome(workdir / "home")
    async with (
        open_policy(PolicyTarget(api_key=None, endpoint="embedded"), home) as policy,
        # The demo's client declares no capabilities: the upstream is told so before it is asked to be ready.
        Gateway([upstream], policy=policy, home=home.root, client_capabilities={}) as gateway,
    ):
        if not await gateway.wait_ready(_READY_SECONDS):
            reason = gateway.status().upstreams[0].reason
            raise RuntimeError(f"the demo MCP server did not start: {reason}")
        to_gateway, gateway_inbox = anyio.create_memory_object_stream[dict[str, Any]](16)
        gateway_outbox, from_gateway = anyio.create_memory_object_stream[dict[str, Any]](16)
        client = _DemoClient(to_gateway, from_gateway)
        outcomes: list[DemoOutcome] = []
        async with to_gateway, gateway_inbox, gateway_outbox, from_gateway, anyio.create_task_group() as tasks:
            tasks.start_soon(gateway.serve, _MemoryChannel(gateway_inbox, gateway_outbox))
            await client.request(
                "initialize",
                {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "demo", "version": "1"}},
            )
            await client.notify("notifications/initialized")
            await client.request("tools/list", {})
            for step in DEMO_STEPS:
                arguments = _fill(step.arguments, str(sandbox))
                name = exposed_name(UPSTREAM, step.tool)
                result = await client.request("tools/call", {"name": name, "arguments": arguments})
                outcome = _outcome(step, arguments, result)
                outcomes.append(outcome)
                report(outcome)
            await to_gateway.aclose()
    return outcomes


def received_calls(workdir: pathlib.Path) -> list[str]:
    try:
        lines = (workdir / "received.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line)["tool"] for line in lines if line.strip()]


def run_demo(report: Callable[[DemoOutcome], None]) -> tuple[list[DemoOutcome], list[str]]:
    """Run the scripted session; returns each outcome and the tools the upstream actually received."""
    with tempfile.TemporaryDirectory(prefix="inherence-demo-") as folder:
        workdir = pathlib.Path(folder)
        outcomes = anyio.run(_session, workdir, report)
        return outcomes, received_calls(workdir)
