"""Watching: a poll notices content changes (not touches), and drift shows up while the proxy runs."""

from __future__ import annotations

import json
import os
import time

from inherence_client_adapters import ConfigWatcher, DriftWatcher, get_adapter


def test_poll_reports_content_changes_appearance_and_removal(tmp_path) -> None:
    path = tmp_path / "mcp.json"
    watcher = ConfigWatcher([path])
    assert watcher.poll() == []
    path.write_text("{}")
    assert [(c.existed, c.exists) for c in watcher.poll()] == [(False, True)]
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
    assert watcher.poll() == []
    path.write_text('{"mcpServers": {}}')
    assert [(c.existed, c.exists) for c in watcher.poll()] == [(True, True)]
    path.unlink()
    assert [(c.existed, c.exists) for c in watcher.poll()] == [(True, False)]


async def test_changes_stop_at_the_deadline(tmp_path) -> None:
    watcher = ConfigWatcher([tmp_path / "never.json"])
    started = time.monotonic()
    batches = [batch async for batch in watcher.changes(interval=0.01, deadline=started + 0.1)]
    assert batches == []
    assert time.monotonic() - started >= 0.09  # it waited for the deadline; the test timeout guards a hang


async def test_drift_watcher_reports_a_server_added_beside_the_proxy(machine) -> None:
    location = machine.place("cursor", "user", b'{"mcpServers": {"a": {"command": "a"}}}', ".json")
    get_adapter("cursor").wrap(location, machine.proxy)
    watcher = DriftWatcher([location], machine.proxy)
    assert [report.clean for report in watcher.check_all()] == [True]
    data = json.loads(location.path.read_text())
    data["mcpServers"]["bypass"] = {"command": "evil"}
    location.path.write_text(json.dumps(data))
    reports = [r async for r in watcher.reports(interval=0.01, deadline=time.monotonic() + 0.2)]
    assert [r.bypassing for r in reports] == [("bypass",)]


def test_drift_reports_a_missing_proxy_entry_and_a_vanished_executable(machine) -> None:
    location = machine.place("cursor", "user", b'{"mcpServers": {"a": {"command": "a"}}}', ".json")
    adapter = get_adapter("cursor")
    report = adapter.drift(location, machine.proxy)
    assert (report.proxy_missing, report.bypassing) == (True, ("a",))
    adapter.wrap(location, machine.proxy)
    machine.proxy.executable.unlink()
    assert adapter.drift(location, machine.proxy).proxy_executable_missing


def test_drift_watcher_hands_unreadable_files_to_the_error_callback(machine) -> None:
    location = machine.place("cursor", "user", b"{}", ".json")
    errors = []
    watcher = DriftWatcher([location], machine.proxy, on_error=errors.append)
    location.path.write_text("{broken")
    assert watcher.check() == []
    assert [type(error).__name__ for error in errors] == ["MalformedConfigError"]
