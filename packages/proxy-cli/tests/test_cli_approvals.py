"""`approvals`, `approve` and `decline` over a real embedded policy's data dir, and the count in `status`."""

from __future__ import annotations

import json

import anyio
import httpx2
import pytest

from inherence_policy_client import DecideRequest, Decision, PolicyClient, Verdict
from inherence_policy_server import create_app
from inherence_proxy._errors import ExitCode

PAYMENT = {"recipient": "new-supplier", "amount": 40}


def decide(machine, arguments: dict) -> Decision:
    """One decision of the embedded policy over the machine's proxy home, as a running proxy would ask it."""

    async def ask() -> Decision:
        app = create_app(data_dir=machine.proxy_home / "policy", require_key=False)
        try:
            transport = httpx2.ASGITransport(app=app)
            async with PolicyClient(None, base_url="http://127.0.0.1", transport=transport) as client:
                request = DecideRequest(
                    tool_name="bank__send_payment",
                    classification="payment",
                    arguments=arguments,
                    session_id="session-1",
                    upstream="bank",
                    confirmable=True,
                )
                return await client.decide(request)
        finally:
            app.close()

    machine.proxy_home.mkdir(exist_ok=True)
    return anyio.run(ask)


@pytest.fixture
def held(machine) -> Decision:
    decision = decide(machine, PAYMENT)
    assert decision.decision is Verdict.CONFIRM
    assert decision.approval_id
    return decision


def test_approvals_lists_what_waits_with_the_arguments_that_matter(machine, invoke, held) -> None:
    result = invoke(["approvals"])
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.output.splitlines() if line.startswith(held.approval_id)]
    assert "bank/send_payment" in row
    assert "financial_drain" in row
    assert "recipient: new-supplier" in row
    listed = json.loads(invoke(["approvals", "--json"]).output)
    assert [a["id"] for a in listed] == [held.approval_id]
    assert listed[0]["state"] == "pending"
    assert 0 < listed[0]["expires_in_seconds"] <= 600


def test_approve_lets_the_identical_call_through_once(machine, invoke, held) -> None:
    result = invoke(["approve", held.approval_id])
    assert result.exit_code == 0, result.output
    assert f"approved {held.approval_id}" in result.output
    assert "Retry the same call" in result.output
    assert decide(machine, PAYMENT).decision.allows
    assert "No approvals are waiting." in invoke(["approvals"]).output


def test_decline_refuses_it_and_the_retry_is_held_again(machine, invoke, held) -> None:
    result = invoke(["decline", held.approval_id])
    assert result.exit_code == 0, result.output
    assert f"declined {held.approval_id}" in result.output
    assert decide(machine, PAYMENT).decision is Verdict.CONFIRM


def test_an_unknown_id_is_a_clear_error(machine, invoke, held) -> None:
    for command in ("approve", "decline"):
        result = invoke([command, "apr_nope"])
        assert result.exit_code == ExitCode.FAILURE
        assert "no approval 'apr_nope' is waiting (run `inherence-proxy approvals` to see them)" in result.output


def test_an_approval_used_or_declined_can_no_longer_be_answered(machine, invoke, held) -> None:
    assert invoke(["approve", held.approval_id]).exit_code == 0
    assert invoke(["approve", held.approval_id]).exit_code == 0  # the same answer twice changes nothing
    assert decide(machine, PAYMENT).decision.allows  # the approved call, let through: the approval is used
    again = invoke(["decline", held.approval_id])
    assert again.exit_code == ExitCode.FAILURE
    assert f"approval {held.approval_id!r} was used already; retry the call in the client" in again.output


def test_a_fresh_machine_has_nothing_waiting_and_nothing_is_created(machine, invoke) -> None:
    result = invoke(["approvals"])
    assert result.exit_code == 0, result.output
    assert "No approvals are waiting." in result.output
    assert not machine.proxy_home.exists()


def test_status_counts_what_waits(machine, invoke, held) -> None:
    assert json.loads(invoke(["status", "--json"]).output)["approvals"] == {"pending": 1, "error": None}
    assert "approvals   1 waiting" in invoke(["status"]).output


def test_with_a_hosted_key_approvals_are_given_on_that_servers_dashboard(machine, invoke) -> None:
    environment = {"INHERENCE_API_KEY": "inh_live_abcdefghijklmnop1234", "INHERENCE_ENDPOINT": "https://policy.test"}
    for args in (["approvals"], ["approve", "apr_1"], ["decline", "apr_1"]):
        result = invoke(args, env=environment)
        assert result.exit_code == ExitCode.FAILURE
        assert "https://policy.test" in result.output
        assert "dashboard" in result.output
    facts = json.loads(invoke(["status", "--json"], env=environment).output)
    assert facts["approvals"] == {"pending": None, "error": None}
