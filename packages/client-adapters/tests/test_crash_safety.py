"""A writer killed with SIGKILL at any moment leaves the client's file whole, and its leftovers are cleaned up."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from inherence_client_adapters import HostEnvironment, ProxyCommand, get_adapter

WRITER = """
import sys
from pathlib import Path
from inherence_client_adapters import HostEnvironment, ProxyCommand, get_adapter

home = Path(sys.argv[1])
adapter = get_adapter("cursor")
location = adapter.candidates(HostEnvironment(home=home, platform="linux", variables={}))[0]
proxy = ProxyCommand(home / "inherence-proxy")
print("ready", flush=True)
while True:
    adapter.wrap(location, proxy)
    adapter.restore(location)
"""

ORIGINAL = json.dumps({"theme": "dark", "mcpServers": {"gh": {"command": "gh", "args": ["x" * 2000]}}}, indent=2)


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_at_random_points_never_leaves_a_broken_config(tmp_path: Path) -> None:
    rng = random.Random(20261124)
    target = tmp_path / ".cursor" / "mcp.json"
    target.parent.mkdir()
    target.write_text(ORIGINAL)
    seen = set()
    for _ in range(12):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read() if writer.stderr else ""
        time.sleep(rng.uniform(0.0, 0.08))
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        if writer.stderr is not None:
            writer.stderr.close()

        content = json.loads(target.read_text())
        seen.add("inherence" in content["mcpServers"])
        if "inherence" not in content["mcpServers"]:
            assert target.read_text() == ORIGINAL
        adapter = get_adapter("cursor")
        location = adapter.detect(_host(tmp_path))[0]
        if "inherence" not in content["mcpServers"]:
            adapter.wrap(location, ProxyCommand(tmp_path / "inherence-proxy"))
        adapter.restore(location)
        assert target.read_text() == ORIGINAL
        leftovers = [p.name for p in target.parent.iterdir() if ".inherence-tmp-" in p.name]
        assert leftovers == [], "a later writer must clean up what a killed one left"
    assert seen, "the writer never got far enough to be tested"


def _host(home: Path) -> HostEnvironment:
    return HostEnvironment(home=home, platform="linux", variables={})
