"""The embedded policy keeps the agent from switching the gate off, and status shows weakened rules."""

from __future__ import annotations

import json
import pathlib

import anyio
import pytest
from click.testing import Result

from inherence_client_adapters import HostEnvironment
from inherence_policy_client import DecideRequest, Verdict
from inherence_proxy._config import load_config
from inherence_proxy._gate_paths import gate_paths
from inherence_proxy._home import ProxyHome
from inherence_proxy._policy import PolicyTarget, open_policy

from .conftest import Invoke, Machine

EMBEDDED = PolicyTarget(api_key=None, endpoint="embedded")


def _write(path: pathlib.Path, content: str = "x") -> DecideRequest:
    return DecideRequest(
        tool_name="fs__write_file",
        classification="file_write",
        arguments={"path": str(path), "content": content},
        session_id="s",
    )


def _run(command: str) -> DecideRequest:
    return DecideRequest(tool_name="shell__run", classification="shell_exec", arguments={"command": command})


async def test_the_proxys_own_files_and_wrapped_configs_are_out_of_the_agents_reach(machine: Machine) -> None:
    home = ProxyHome(machine.proxy_home)
    wrapped = machine.home / "work" / ".mcp.json"
    home.ensure()
    config = {"upstreams": [], "migrated_clients": [{"name": "claude-code", "config_path": str(wrapped)}]}
    home.config_path.write_text(json.dumps(config))
    host = HostEnvironment(home=machine.home, platform="linux", variables={"HOME": str(machine.home)})
    environ = {"INHERENCE_PROXY_EXECUTABLE": str(machine.executable)}
    protected = gate_paths(home, load_config(home.config_path), environ, host)
    assert str(wrapped) in protected
    assert str(machine.executable) in protected
    async with open_policy(EMBEDDED, home, protected_paths=protected) as client:
        off = '[credential_access]\nmode = "off"\n'
        for request in (
            _write(home.rules_path, off),
            _write(home.config_path, "{}"),
            _write(wrapped, '{"mcpServers": {}}'),
            _write(machine.home / ".cursor" / "mcp.json", "{}"),
            _write(machine.executable, "#!/bin/sh\n"),
            _run(f"rm -rf {home.policy_data_dir}"),
            _run(f"printf '{off}' > {home.rules_path}"),
        ):
            decision = await client.decide(request)
            assert decision.decision is Verdict.DENY, request.arguments
            assert "gate_integrity.protected_file" in decision.failed_clauses
        assert (await client.decide(_write(machine.home / "work" / "notes.md"))).decision is Verdict.ALLOW
        assert (await client.decide(_run(f"cat {home.rules_path}"))).decision is Verdict.ALLOW


def _status(invoke: Invoke) -> Result:
    result = invoke(["status"])
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.slow
async def test_a_hand_edit_that_weakens_the_rules_is_a_status_warning(machine: Machine, invoke: Invoke) -> None:
    home = ProxyHome(machine.proxy_home)
    home.ensure()
    home.rules_path.write_text("[mass_destruction]\nbulk_delete_threshold = 10\n")
    async with open_policy(EMBEDDED, home, rules_poll=0.05) as client:
        await client.health()
        home.rules_path.write_text(
            '[mass_destruction]\nbulk_delete_threshold = 10\n[credential_access]\nmode = "off"\n'
        )
        reloaded = False
        for _ in range(1500):  # the follower polls every 0.05 s: thirty seconds at most on a loaded machine
            reloaded = (await client.decide(_run("cat ~/.aws/credentials"))).decision is Verdict.ALLOW
            if reloaded:
                break
            await anyio.sleep(0.02)
        assert reloaded, "the rules file was not reloaded"
    shown = await anyio.to_thread.run_sync(_status, invoke)
    assert "rules weakened" in shown.output
    assert f"by {home.rules_path}: credential_access.mode is now off (was enforce)" in shown.output
    assert "bulk_delete_threshold" not in shown.output
