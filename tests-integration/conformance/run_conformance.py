"""Run the official MCP conformance suite against our conformance server, directly and through the gateway.

    python run_conformance.py [--keep DIR]

Needs `npm ci --prefix tests-integration/conformance` first: the suite and the Node 22 it runs on
come from the committed lock, and Node is invoked by its path in `node_modules`, never from PATH.

Every server scenario runs twice: against `conformance_server.py --http` directly, then through
`inherence-proxy serve --http` with that server as its one stdio upstream, run as a user runs it
(its own home and config.json, the embedded policy, `"tool_names": "upstream"` so the suite's
fixed tool names reach it). The run fails when
a scenario that passes directly fails through the gateway, when a scenario fails directly without
being listed in `expected-failures.txt` (`name  # reason`), and when a listed scenario passes
directly (the entry is stale) or names no scenario. A scenario passes when none of its checks is
a FAILURE (warnings are shown, not failed).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence

import anyio
import anyio.abc

HERE = pathlib.Path(__file__).resolve().parent
NODE = HERE / "node_modules" / "node" / "bin" / "node"
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
SERVER = HERE / "conformance_server.py"
PROXY = pathlib.Path(sys.executable).parent / "inherence-proxy"
EXPECTED_FAILURES = HERE / "expected-failures.txt"

TOTAL_DEADLINE = 150.0
SUITE_DEADLINE = 60.0
START_DEADLINE = 20.0
STOP_GRACE = 3.0
_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One scenario's result on one path: passed, and what failed or warned."""

    passed: bool
    failures: tuple[str, ...] = ()
    warnings: int = 0


def server_scenarios() -> list[str]:
    """The server scenarios this version of the suite knows, from `conformance list`."""
    listing = subprocess.run(
        [str(NODE), str(SUITE), "list"], capture_output=True, text=True, timeout=START_DEADLINE, check=True
    ).stdout
    section = listing.split("Server scenarios", 1)[1].split("Client scenarios", 1)[0]
    return re.findall(r"^\s+- (\S+)", section, flags=re.MULTILINE)


def read_expected_failures(path: pathlib.Path) -> dict[str, str]:
    """`name  # reason` a line; blank lines and lines starting with `#` are ignored."""
    expected: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, reason = line.partition("#")
        if name.strip():
            expected[name.strip()] = reason.strip()
    return expected


def read_outcomes(folder: pathlib.Path) -> dict[str, Outcome]:
    outcomes: dict[str, Outcome] = {}
    for result in sorted(folder.iterdir()):
        match = _RESULT_DIR.match(result.name)
        checks_file = result / "checks.json"
        if match is None or not checks_file.is_file():
            continue
        checks = json.loads(checks_file.read_text())
        failures = tuple(f"{c.get('id')}: {c.get('errorMessage', '')}" for c in checks if c.get("status") == "FAILURE")
        warnings = sum(1 for c in checks if c.get("status") == "WARNING")
        outcomes[match["name"]] = Outcome(passed=not failures, failures=failures, warnings=warnings)
    return outcomes


async def run_suite(url: str, folder: pathlib.Path) -> dict[str, Outcome]:
    """Every server scenario (`--suite all`) against `url`; results and the suite's output land in `folder`."""
    argv = [str(NODE), str(SUITE), "server", "--suite", "all", "--url", url, "--output-dir", str(folder / "results")]
    with anyio.fail_after(SUITE_DEADLINE):
        done = await anyio.run_process(argv, check=False, stderr=subprocess.STDOUT)
    return _keep_output(folder, done.stdout)


def _keep_output(folder: pathlib.Path, output: bytes) -> dict[str, Outcome]:
    (folder / "suite-output.txt").write_bytes(output)
    results = folder / "results"
    return read_outcomes(results) if results.is_dir() else {}


async def _stop(process: anyio.abc.Process) -> None:
    with anyio.CancelScope(shield=True):
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(STOP_GRACE):
                await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def direct_server() -> AsyncIterator[str]:
    """Our conformance server on streamable HTTP in a process of its own; yields its URL."""
    process = await anyio.open_process([sys.executable, str(SERVER), "--http"], stderr=None)
    try:
        assert process.stdout is not None
        with anyio.fail_after(START_DEADLINE):
            first = b""
            while not first.endswith(b"\n"):
                chunk = await process.stdout.receive(1)
                first += chunk
        yield f"http://127.0.0.1:{int(first)}/mcp"
    finally:
        await _stop(process)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _listening(port: int, process: anyio.abc.Process) -> None:
    """Wait until the proxy accepts connections on `port`; fail if it ended first."""
    with anyio.fail_after(START_DEADLINE):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"inherence-proxy serve ended with {process.returncode} before listening")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.1)
                continue
            await stream.aclose()
            return


@contextlib.asynccontextmanager
async def through_gateway(folder: pathlib.Path) -> AsyncIterator[str]:
    """`inherence-proxy serve --http` with our server as its one stdio upstream and `tool_names` "upstream".

    The proxy runs as a user runs it: its own home (`folder`), config.json, the embedded policy.
    """
    home = folder / "proxy-home"
    home.mkdir(parents=True)
    upstream = {"name": "conformance", "command": [sys.executable, str(SERVER), "--stdio"]}
    (home / "config.json").write_text(json.dumps({"upstreams": [upstream], "tool_names": "upstream"}))
    env = {name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TMPDIR") if name in os.environ}
    env.update(HOME=str(folder), INHERENCE_PROXY_HOME=str(home))
    port = _free_port()
    argv = [str(PROXY), "serve", "--http", f"127.0.0.1:{port}"]
    process = await anyio.open_process(argv, env=env, stdin=subprocess.DEVNULL, stdout=None, stderr=None)
    try:
        await _listening(port, process)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        await _stop(process)


def verdicts(
    scenarios: Sequence[str], direct: dict[str, Outcome], proxied: dict[str, Outcome], expected: dict[str, str]
) -> list[tuple[str, str, str, str, bool]]:
    """A row per scenario: name, direct, proxy, verdict, and whether the row fails the run."""
    missing = Outcome(passed=False, failures=("no result: the scenario did not run to the end",))
    rows = []
    for name in scenarios:
        d, p = direct.get(name, missing), proxied.get(name, missing)
        if d.passed and name in expected:
            verdict, bad = "STALE: passes direct, remove it from expected-failures.txt", True
        elif d.passed and p.passed:
            verdict, bad = "ok", False
        elif d.passed:
            verdict, bad = "FAIL: passes direct, fails through the proxy", True
        elif name in expected:
            verdict, bad = f"expected failure ({expected[name]})", False
        else:
            verdict, bad = "FAIL: fails direct and is not in expected-failures.txt", True
        rows.append((name, _cell(d), _cell(p), verdict, bad))
    for name in sorted(set(expected) - set(scenarios)):
        rows.append((name, "-", "-", "FAIL: listed in expected-failures.txt but no such scenario", True))
    return rows


def _cell(outcome: Outcome) -> str:
    text = "pass" if outcome.passed else "FAIL"
    return f"{text} ({outcome.warnings} warn)" if outcome.warnings else text


def print_report(
    rows: list[tuple[str, str, str, str, bool]], direct: dict[str, Outcome], proxied: dict[str, Outcome]
) -> None:
    width = max(len(row[0]) for row in rows)
    print(f"\n{'scenario':<{width}}  {'direct':<14}  {'proxy':<14}  verdict")
    print(f"{'-' * width}  {'-' * 14}  {'-' * 14}  {'-' * 7}")
    for name, d, p, verdict, _ in rows:
        print(f"{name:<{width}}  {d:<14}  {p:<14}  {verdict}")
    for name, _, _, _, bad in rows:
        if not bad:
            continue
        for label, outcomes in (("direct", direct), ("proxy", proxied)):
            outcome = outcomes.get(name)
            for failure in outcome.failures if outcome else ():
                print(f"  {name} [{label}] {failure}")


async def main(keep: pathlib.Path | None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    if not NODE.is_file() or not SUITE.is_file():
        print(f"the suite is not installed: run `npm ci --prefix {HERE}` first", file=sys.stderr)
        return 2
    scenarios = server_scenarios()
    expected = read_expected_failures(EXPECTED_FAILURES)
    with contextlib.ExitStack() as cleanup:
        work = keep or pathlib.Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="conformance-")))
        with anyio.fail_after(TOTAL_DEADLINE):
            async with direct_server() as url:
                direct = await run_suite(url, work / "direct")
            async with through_gateway(work / "proxy") as url:
                proxied = await run_suite(url, work / "proxy")
        rows = verdicts(scenarios, direct, proxied, expected)
        print_report(rows, direct, proxied)
    failed = [row[0] for row in rows if row[4]]
    seconds = time.monotonic() - started
    passing = sum(1 for name in scenarios if direct.get(name, Outcome(False)).passed)
    print(
        f"\n{len(scenarios)} scenarios, {passing} pass direct, "
        f"{sum(1 for name in scenarios if proxied.get(name, Outcome(False)).passed)} pass through the proxy; "
        f"{len(failed)} failing rows; {seconds:.1f} s"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=pathlib.Path, help="keep the suite's results and output in this new folder")
    args = parser.parse_args()
    sys.exit(anyio.run(main, args.keep))
