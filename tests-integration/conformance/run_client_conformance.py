"""Run the official MCP conformance suite's client scenarios: the SDK's client directly, then through the proxy.

    python run_client_conformance.py [--keep DIR] [--scenario NAME ...]

Needs `npm ci --prefix tests-integration/conformance` first (the suite and Node 22 come from the
committed lock; Node is run by its path). Every client scenario the suite lists, the auth ones
included, runs twice with `client_driver.py` as the client under test: `direct` (the `mcp` SDK's
client and its OAuth client against the scenario's servers) and `proxy` (the scenario's URL as
the one upstream of `inherence-proxy serve`, logged in first with `inherence-proxy login` for an
`auth/*` scenario, driven by the same SDK client over stdio).

The run fails when a scenario that passes directly fails through the proxy, when one that fails
directly is not listed in `expected-client-failures.txt` (`name  # reason`), and when a listed one
passes directly (stale) or names no scenario. A scenario passes when none of its checks is a
FAILURE; warnings are counted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import anyio
from run_conformance import NODE, START_DEADLINE, SUITE, Outcome, print_report, read_expected_failures, verdicts

HERE = pathlib.Path(__file__).resolve().parent
DRIVER = HERE / "client_driver.py"
EXPECTED_FAILURES = HERE / "expected-client-failures.txt"
CLIENT_SECONDS = 90.0
SCENARIO_DEADLINE = 150.0
TOTAL_DEADLINE = 1800.0
# Two at a time: each proxy run starts a policy engine; the machine may have two cores.
CONCURRENCY = 2


def client_scenarios() -> list[str]:
    listing = subprocess.run(
        [str(NODE), str(SUITE), "list"], capture_output=True, text=True, timeout=START_DEADLINE, check=True
    ).stdout
    section = listing.split("Client scenarios", 1)[1]
    return re.findall(r"^\s+- (\S+)", section, flags=re.MULTILINE)


def read_checks(folder: pathlib.Path) -> Outcome:
    """The outcome of one scenario run whose results the suite wrote under `folder`."""
    found = sorted(folder.rglob("checks.json"))
    if not found:
        return Outcome(passed=False, failures=("no result: the scenario did not run to the end",))
    checks = json.loads(found[-1].read_text())
    failures = tuple(f"{c.get('id')}: {c.get('description', '')}" for c in checks if c.get("status") == "FAILURE")
    warnings = sum(1 for c in checks if c.get("status") == "WARNING")
    return Outcome(passed=not failures, failures=failures, warnings=warnings)


async def run_one(scenario: str, mode: str, work: pathlib.Path) -> Outcome:
    folder = work / mode / scenario.replace("/", "__")
    folder.mkdir(parents=True)
    command = f"{sys.executable} {DRIVER} {mode}"
    argv = [str(NODE), str(SUITE), "client", "--command", command, "--scenario", scenario, "-o", str(folder)]
    # The suite's own limit on the client (30 s by default) is too short for a login and a proxy on a busy machine.
    argv += ["--timeout", str(int(CLIENT_SECONDS * 1000))]
    with anyio.move_on_after(SCENARIO_DEADLINE):
        done = await anyio.run_process(argv, check=False, stderr=subprocess.STDOUT)
        (folder / "suite-output.txt").write_bytes(done.stdout)
    return read_checks(folder)


async def run_all(scenarios: list[str], work: pathlib.Path) -> dict[str, dict[str, Outcome]]:
    results: dict[str, dict[str, Outcome]] = {"direct": {}, "proxy": {}}
    limiter = anyio.CapacityLimiter(CONCURRENCY)

    async def one(scenario: str, mode: str) -> None:
        async with limiter:
            results[mode][scenario] = await run_one(scenario, mode, work)
            print(f"{mode:<6} {scenario}: {'pass' if results[mode][scenario].passed else 'FAIL'}", flush=True)

    with anyio.fail_after(TOTAL_DEADLINE):
        async with anyio.create_task_group() as tasks:
            for scenario in scenarios:
                for mode in ("direct", "proxy"):
                    tasks.start_soon(one, scenario, mode)
    return results


def main(keep: pathlib.Path | None, only: list[str]) -> int:
    started = time.monotonic()
    if not NODE.is_file() or not SUITE.is_file():
        print(f"the suite is not installed: run `npm ci --prefix {HERE}` first", file=sys.stderr)
        return 2
    scenarios = client_scenarios()
    if only:
        scenarios = [name for name in scenarios if name in only]
    expected = read_expected_failures(EXPECTED_FAILURES)
    if only:
        expected = {name: reason for name, reason in expected.items() if name in only}
    with contextlib.ExitStack() as cleanup:
        work = keep or pathlib.Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="conformance-client-")))
        results = anyio.run(run_all, scenarios, work)
        rows = verdicts(scenarios, results["direct"], results["proxy"], expected, EXPECTED_FAILURES.name)
        print_report(rows, results["direct"], results["proxy"])
    failed = [row[0] for row in rows if row[4]]
    direct = sum(1 for name in scenarios if results["direct"][name].passed)
    proxied = sum(1 for name in scenarios if results["proxy"][name].passed)
    seconds = time.monotonic() - started
    print(
        f"\n{len(scenarios)} client scenarios, {direct} pass direct, {proxied} pass through the proxy; "
        f"{len(failed)} failing rows; {seconds:.1f} s"
    )
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=pathlib.Path, help="keep the suite's results and output in this new folder")
    parser.add_argument("--scenario", action="append", default=[], help="run only this scenario (repeatable)")
    args = parser.parse_args()
    sys.exit(main(args.keep, args.scenario))
