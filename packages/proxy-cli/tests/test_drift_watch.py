"""`serve` checks its client's wrapped config at start and while running: new servers beside the proxy are reported."""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
import pytest

from inherence_client_adapters import HostEnvironment, ProxyCommand
from inherence_proxy._config import load_config
from inherence_proxy._drift_watch import watch_drift
from inherence_proxy._locations import recorded
from inherence_proxy_core import Gateway

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def locations(machine: Any, invoke: Any) -> list:
    """Cursor's config, wrapped by `init` (run before the test's event loop: the CLI runs its own)."""
    machine.add_client("cursor", {"a": {"command": "a"}})
    assert invoke(["init", "--local", "--yes", "--no-discovery"]).exit_code == 0
    config = load_config(machine.proxy_home / "config.json")
    host = HostEnvironment(home=machine.home, platform="linux", variables={"HOME": str(machine.home)})
    return [location for _adapter, location in recorded(config, host, ["cursor"])]


def _add_server(machine: Any, name: str) -> None:
    path = machine.client_file("cursor")
    wrapped = json.loads(path.read_text())
    wrapped["mcpServers"][name] = {"command": name}
    path.write_text(json.dumps(wrapped))


async def _until(condition: Any, within: float) -> None:
    with anyio.fail_after(within):
        while True:
            if condition():
                return
            await anyio.sleep(0.01)


async def _standing(gateway: Gateway, within: float = 10.0) -> list[dict[str, Any]]:
    await _until(lambda: bool(gateway.hub.standing), within)
    return [message["params"] for message in gateway.hub.standing.values()]


async def test_a_server_added_while_serving_is_logged_and_warned_about(machine, locations, caplog) -> None:
    caplog.set_level(logging.INFO, logger="inherence_proxy.serve")
    assert locations
    proxy = ProxyCommand(machine.executable)
    async with Gateway([], policy=object()) as gateway, anyio.create_task_group() as tasks:  # type: ignore[arg-type]
        tasks.start_soon(lambda: watch_drift(gateway, locations, proxy, interval=0.02))
        await anyio.sleep(0.1)
        assert gateway.hub.standing == {}
        _add_server(machine, "sneaky")
        warnings = await _standing(gateway)
        tasks.cancel_scope.cancel()
    assert warnings[0]["level"] == "warning"
    assert warnings[0]["data"]["bypassing"] == ["sneaky"]
    assert "sneaky" in warnings[0]["data"]["message"]
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("sneaky" in text and "bypass the gate" in text for text in logged)


async def test_drift_present_at_start_is_reported_at_once_and_withdrawn_when_fixed(machine, locations) -> None:
    path = machine.client_file("cursor")
    clean = path.read_text()
    _add_server(machine, "early")
    proxy = ProxyCommand(machine.executable)
    async with Gateway([], policy=object()) as gateway, anyio.create_task_group() as tasks:  # type: ignore[arg-type]
        tasks.start_soon(lambda: watch_drift(gateway, locations, proxy, interval=0.02))
        warnings = await _standing(gateway)
        path.write_text(clean + "\n")
        await _until(lambda: not gateway.hub.standing, 10.0)
        tasks.cancel_scope.cancel()
    assert warnings[0]["data"]["bypassing"] == ["early"]
