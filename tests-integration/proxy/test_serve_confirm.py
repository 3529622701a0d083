"""A first payment to a new payee through a real `inherence-proxy serve` with the embedded policy.

A client that can ask its user (elicitation) gets the question and the upstream sees the payment
only when the user accepts. A client that cannot gets POLICY_CONFIRMATION_REQUIRED; the user runs
`inherence-proxy approve <id>` and the identical retry goes through; a changed payment asks again.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from mcp import types

from inherence_policy_server import SQLiteStorage

HERE = pathlib.Path(__file__).parent
EXECUTABLE = pathlib.Path(sys.executable).parent / "inherence-proxy"

if sys.platform == "win32":
    pytest.skip("the proxy's process discipline is POSIX here", allow_module_level=True)


class Machine:
    """A proxy home with one payments upstream, and the environment the proxy and the CLI run in."""

    def __init__(self, root: pathlib.Path) -> None:
        self.home = root / "proxy-home"
        self.home.mkdir()
        self.record = root / "payments.jsonl"
        upstream = {
            "name": "bank",
            "command": [sys.executable, str(HERE / "payment_server.py")],
            "env": {"RECORD_FILE": str(self.record)},
        }
        (self.home / "config.json").write_text(json.dumps({"upstreams": [upstream]}))
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR")
        self.env = {name: os.environ[name] for name in keep if name in os.environ}
        self.env.update(HOME=str(root), INHERENCE_PROXY_HOME=str(self.home))

    def payments(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.record.read_text().splitlines()] if self.record.exists() else []

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(EXECUTABLE), *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )


class User:
    """The person behind the client: answers each question from a script, and remembers what was asked."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.questions: list[str] = []

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.questions.append(params.message)
        action = self.answers.pop(0)
        return types.ElicitResult(action=action, content={"approve": True} if action == "accept" else None)


@pytest.fixture
def machine(tmp_path: pathlib.Path) -> Machine:
    if not EXECUTABLE.exists():
        pytest.skip("the inherence-proxy console script is not installed in this environment")
    return Machine(tmp_path)


def refusal(result: Any) -> dict[str, Any]:
    assert result.is_error is True
    return json.loads(result.content[0].text)


async def test_the_user_is_asked_and_only_an_accepted_payment_is_made(kit, machine: Machine) -> None:
    user = User("accept", "decline")
    async with kit.session_to([str(EXECUTABLE), "serve"], env=machine.env, elicitation_callback=user) as session:
        paid = await session.call_tool("bank__send_payment", {"recipient": "new-supplier", "amount": 40})
        assert paid.is_error is False, paid.content
        assert machine.payments() == [{"recipient": "new-supplier", "amount": 40}]
        held = await session.call_tool("bank__send_payment", {"recipient": "someone-else", "amount": 30})
    assert (refusal(held)["error"], refusal(held)["confirmation"]) == ("POLICY_DENIAL", "declined")
    assert machine.payments() == [{"recipient": "new-supplier", "amount": 40}]
    assert len(user.questions) == 2
    assert "send_payment on bank" in user.questions[0]
    assert "recipient: new-supplier" in user.questions[0]
    assert "amount: 40" in user.questions[0]
    # The embedded policy decided in the proxy's process and logged every decision and answer on exit.
    storage = SQLiteStorage(machine.home / "policy")
    try:
        logged = [(entry.tool_name, entry.decision) for entry in reversed(storage.recent_decisions())]
    finally:
        storage.close()
    assert logged == [
        ("bank__send_payment", "confirm"),
        ("bank__send_payment", "confirm_accepted"),
        ("bank__send_payment", "confirm"),
        ("bank__send_payment", "confirm_declined"),
    ]


async def test_a_client_without_elicitation_is_approved_from_the_command_line(kit, machine: Machine) -> None:
    payment = {"recipient": "new-supplier", "amount": 25}
    async with kit.session_to([str(EXECUTABLE), "serve"], env=machine.env) as session:
        first = refusal(await session.call_tool("bank__send_payment", payment))
        assert first["error"] == "POLICY_CONFIRMATION_REQUIRED"
        approval = first["approval_id"]
        assert f"inherence-proxy approve {approval}" in first["message"]
        assert machine.payments() == []

        listed = machine.cli("approvals")
        assert listed.returncode == 0, listed.stderr
        assert approval in listed.stdout
        assert "bank/send_payment" in listed.stdout
        assert "1 waiting" in machine.cli("status").stdout

        approved = machine.cli("approve", approval)
        assert approved.returncode == 0, approved.stderr
        retried = await session.call_tool("bank__send_payment", payment)
        assert retried.is_error is False, retried.content
        assert machine.payments() == [payment]
        used = machine.cli("decline", approval)  # the retry used the approval up: it grants nothing more
        assert used.returncode == 1
        assert "was used already" in used.stderr

        changed = refusal(await session.call_tool("bank__send_payment", {"recipient": "another-payee", "amount": 25}))
        assert changed["error"] == "POLICY_CONFIRMATION_REQUIRED"
        assert changed["approval_id"] != approval
        declined = machine.cli("decline", changed["approval_id"])
        assert declined.returncode == 0, declined.stderr
        again = refusal(await session.call_tool("bank__send_payment", {"recipient": "another-payee", "amount": 25}))
        assert again["error"] == "POLICY_CONFIRMATION_REQUIRED"
    assert machine.payments() == [payment]
    unknown = machine.cli("approve", "apr_does_not_exist")
    assert unknown.returncode == 1
    assert "no approval 'apr_does_not_exist' is waiting" in unknown.stderr
