"""Run the official MCP conformance suite against our conformance server, directly and through the gateway.

    python run_conformance.py [--keep DIR] [--era 2025-11-25|2026-07-28] [--jobs N]

Needs `npm ci --prefix tests-integration/conformance/next` first: the suite and the Node 22 it
runs on come from the committed lock, and Node is invoked by its path in `node_modules`, never
from PATH.

The suite's server scenarios run for each era the suite knows (`--spec-version`): 2025-11-25, the
`initialize` handshake, and 2026-07-28, no handshake and an envelope in every request. For each
era every scenario runs twice: against `conformance_server.py --http` (which serves both eras)
directly, then through `inherence-proxy serve --http` with that server as its one stdio upstream,
run as a user runs it (its own home and config.json, the embedded policy, `"tool_names":
"upstream"` so the suite's fixed tool names reach it). Behind the gateway the upstream speaks the
era under test: dual-era for 2025-11-25 (the gateway opens with the handshake), 2026-07-28 only
for 2026-07-28 (the gateway's handshake is refused, so it speaks 2026-07-28 to it).

The run fails when a scenario that passes directly fails through the gateway, unless the era's
`gateway-gaps-<era>.txt` lists it with its reason; when a scenario fails directly without being
listed in the era's `expected-failures-<era>.txt` (`name  # reason`); and when an entry of either
list is stale (an expected failure passes directly, a gap passes through the gateway) or names no
scenario of that era.
A scenario passes when none of its checks is a FAILURE (warnings are shown, not failed).
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
# The suite of `package.json` (0.1.x, one era): its client scenarios, run by run_client_conformance.py.
NODE = HERE / "node_modules" / "node" / "bin" / "node"
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
# The newest suite, of `next/package.json`: the server scenarios of both eras, run here.
NEXT = HERE / "next"
NEXT_NODE = NEXT / "node_modules" / "node" / "bin" / "node"
NEXT_SUITE = NEXT / "node_modules" / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
SERVER = HERE / "conformance_server.py"
PROXY = pathlib.Path(sys.executable).parent / "inherence-proxy"


@dataclasses.dataclass(frozen=True)
class Era:
    """A protocol revision the suite runs its server scenarios at, and how the gateway's upstream speaks."""

    version: str
    upstream_era: str  # conformance_server.py --era behind the gateway

    @property
    def expected_failures(self) -> pathlib.Path:
        return HERE / f"expected-failures-{self.version}.txt"

    @property
    def gateway_gaps(self) -> pathlib.Path:
        return HERE / f"gateway-gaps-{self.version}.txt"


ERAS = (Era("2025-11-25", upstream_era="dual"), Era("2026-07-28", upstream_era="modern"))

TOTAL_DEADLINE = 420.0
SUITE_DEADLINE = 180.0
START_DEADLINE = 20.0
STOP_GRACE = 3.0
_RESULT_DIR = re.compile(r"^server-(?P<name>.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z$")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One scenario's result on one path: passed, and what failed or warned."""

    passed: bool
    failures: tuple[str, ...] = ()
    warnings: int = 0


def server_scenarios(version: str) -> list[str]:
    """The server scenarios the suite runs at `version`, from `conformance list --server --spec-version`."""
    argv = [str(NEXT_NODE), str(NEXT_SUITE), "list", "--server", "--spec-version", version]
    listing = subprocess.run(argv, capture_output=True, text=True, timeout=START_DEADLINE, check=True).stdout
    section = listing.split("Server scenarios", 1)[1]
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


async def run_suite(url: str, version: str, folder: pathlib.Path) -> dict[str, Outcome]:
    """Every server scenario of `version` (`--suite all`, pending ones included) against `url`.

    Results and the suite's output land in `folder`.
    """
    argv = [str(NEXT_NODE), str(NEXT_SUITE), "server", "--suite", "all", "--spec-version", version, "--url", url]
    argv += ["--output-dir", str(folder / "results")]
    with anyio.fail_after(SUITE_DEADLINE):
        done = await anyio.run_process(argv, check=False, stderr=subprocess.STDOUT)
    return _keep_output(folder, done.stdout)


def _keep_output(folder: pathlib.Path, output: bytes) -> dict[str, Outcome]:
    folder.mkdir(parents=True, exist_ok=True)
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
async def through_gateway(folder: pathlib.Path, upstream_era: str = "dual") -> AsyncIterator[str]:
    """`inherence-proxy serve --http` with our server as its one stdio upstream and `tool_names` "upstream".

    The proxy runs as a user runs it: its own home (`folder`), config.json, the embedded policy.
    `upstream_era` is the server's `--era`: "dual" takes the gateway's handshake, "modern" refuses it.
    """
    home = folder / "proxy-home"
    home.mkdir(parents=True)
    upstream = {"name": "conformance", "command": [sys.executable, str(SERVER), "--stdio", "--era", upstream_era]}
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
    scenarios: Sequence[str],
    direct: dict[str, Outcome],
    proxied: dict[str, Outcome],
    expected: dict[str, str],
    listing: str = "expected-failures.txt",
    gaps: dict[str, str] | None = None,
    gaps_listing: str = "gateway-gaps.txt",
) -> list[tuple[str, str, str, str, bool]]:
    """A row per scenario: name, direct, proxy, verdict, and whether the row fails the run.

    `listing` names the expected-failures file in the verdicts. `gaps` are the scenarios known to
    pass directly and fail through the gateway (`gaps_listing`, each with its reason): such a
    failure is shown, not failed, and an entry whose scenario passes through the gateway, or fails
    directly, or is no scenario, fails the run so the list stays true.
    """
    gaps = gaps or {}
    missing = Outcome(passed=False, failures=("no result: the scenario did not run to the end",))
    rows = []
    for name in scenarios:
        d, p = direct.get(name, missing), proxied.get(name, missing)
        if d.passed and name in expected:
            verdict, bad = f"STALE: passes direct, remove it from {listing}", True
        elif name in gaps and (p.passed or not d.passed):
            verdict, bad = (
                f"STALE: {'passes through the proxy' if p.passed else 'fails direct'}, remove it from {gaps_listing}",
                True,
            )
        elif d.passed and p.passed:
            verdict, bad = "ok", False
        elif d.passed and name in gaps:
            verdict, bad = f"known gateway gap ({gaps[name]})", False
        elif d.passed:
            verdict, bad = "FAIL: passes direct, fails through the proxy", True
        elif name in expected:
            verdict, bad = f"expected failure ({expected[name]})", False
        else:
            verdict, bad = f"FAIL: fails direct and is not in {listing}", True
        rows.append((name, _cell(d), _cell(p), verdict, bad))
    for name in sorted(set(expected) - set(scenarios)):
        rows.append((name, "-", "-", f"FAIL: listed in {listing} but no such scenario", True))
    for name in sorted(set(gaps) - set(scenarios)):
        rows.append((name, "-", "-", f"FAIL: listed in {gaps_listing} but no such scenario", True))
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


@dataclasses.dataclass
class EraRun:
    """One era's results: its scenarios, the expected failures, and the outcomes on each path."""

    era: Era
    scenarios: list[str]
    expected: dict[str, str]
    gaps: dict[str, str]
    direct: dict[str, Outcome] = dataclasses.field(default_factory=dict)
    proxied: dict[str, Outcome] = dataclasses.field(default_factory=dict)

    def passing(self, outcomes: dict[str, Outcome]) -> int:
        return sum(1 for name in self.scenarios if outcomes.get(name, Outcome(False)).passed)


async def _direct_leg(run: EraRun, work: pathlib.Path, limiter: anyio.CapacityLimiter) -> None:
    async with limiter, direct_server() as url:
        run.direct = await run_suite(url, run.era.version, work / run.era.version / "direct")


async def _gateway_leg(run: EraRun, work: pathlib.Path, limiter: anyio.CapacityLimiter) -> None:
    folder = work / run.era.version / "proxy"
    async with limiter, through_gateway(folder, run.era.upstream_era) as url:
        run.proxied = await run_suite(url, run.era.version, folder)


async def main(keep: pathlib.Path | None, eras: Sequence[Era], jobs: int) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    if not NEXT_NODE.is_file() or not NEXT_SUITE.is_file():
        print(f"the suite is not installed: run `npm ci --prefix {NEXT}` first", file=sys.stderr)
        return 2
    runs = [
        EraRun(
            era,
            server_scenarios(era.version),
            read_expected_failures(era.expected_failures),
            read_expected_failures(era.gateway_gaps) if era.gateway_gaps.is_file() else {},
        )
        for era in eras
    ]
    failed: list[str] = []
    with contextlib.ExitStack() as cleanup:
        work = keep or pathlib.Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="conformance-")))
        # Each leg has a server (or a gateway and its upstream) of its own, so the legs run side by side.
        limiter = anyio.CapacityLimiter(jobs)
        with anyio.fail_after(TOTAL_DEADLINE):
            async with anyio.create_task_group() as group:
                for run in runs:
                    group.start_soon(_direct_leg, run, work, limiter)
                    group.start_soon(_gateway_leg, run, work, limiter)
        for run in runs:
            rows = verdicts(
                run.scenarios,
                run.direct,
                run.proxied,
                run.expected,
                run.era.expected_failures.name,
                run.gaps,
                run.era.gateway_gaps.name,
            )
            print(f"\n== {run.era.version} ==")
            print_report(rows, run.direct, run.proxied)
            failed += [f"{run.era.version}:{row[0]}" for row in rows if row[4]]
    seconds = time.monotonic() - started
    print()
    for run in runs:
        print(
            f"{run.era.version}: {len(run.scenarios)} scenarios, {run.passing(run.direct)} pass direct, "
            f"{run.passing(run.proxied)} pass through the proxy; {len(run.expected)} expected failures, "
            f"{len(run.gaps)} known gateway gaps"
        )
    print(f"{len(failed)} failing rows; {seconds:.1f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=pathlib.Path, help="keep the suite's results and output in this new folder")
    parser.add_argument(
        "--era", choices=[era.version for era in ERAS], action="append", help="run only this era (repeatable)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="legs (era x direct or proxy) run at once (default 2)")
    args = parser.parse_args()
    chosen = [era for era in ERAS if not args.era or era.version in args.era]
    sys.exit(anyio.run(main, args.keep, chosen, max(1, args.jobs)))
