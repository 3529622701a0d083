"""Latency, throughput, ready time and memory of the gateway in front of server-everything.

    python benchmarks/bench_proxy.py [--calls N]

Side by side in one run, on server-everything's `echo`: a direct client -> upstream; a plain
byte relay (the floor of any Python relay); through the gateway with an in-process allow-all
policy, on uvloop (as `serve` runs) and on asyncio's own loop; through the gateway with the
policy over loopback HTTP; through the gateway with the six-rule policy server embedded in
process (what `serve` runs without an API key). Sequential and 8 in flight, each the median of several rounds taken
in turns. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import itertools
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import anyio.abc

from inherence_proxy_core import LineChannel

ROOT = pathlib.Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tests-integration" / "node_modules" / ".bin"
RUNNER = ROOT / "tests-integration" / "proxy" / "run_gateway.py"
EVERYTHING = str(NODE_BIN / "mcp-server-everything")
PLAIN_RELAY = ROOT / "benchmarks" / "plain_relay.py"


class LeanClient:
    """A minimal JSON-RPC client over a process's stdio, so the client itself adds little."""

    def __init__(self, process: anyio.abc.Process) -> None:
        assert process.stdout is not None
        assert process.stdin is not None
        self.process = process
        self.channel = LineChannel(process.stdout, process.stdin)
        self._ids = itertools.count(1)
        self._waiting: dict[int, Any] = {}

    async def pump(self) -> None:
        with contextlib.suppress(anyio.EndOfStream):
            while True:
                message = await self.channel.receive()
                if isinstance(message, dict) and "method" not in message:
                    waiter = self._waiting.pop(message.get("id"), None)
                    if waiter is not None:
                        waiter[1] = message
                        waiter[0].set()

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        waiter: list[Any] = [anyio.Event(), None]
        self._waiting[request_id] = waiter
        await self.channel.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        with anyio.fail_after(60):
            await waiter[0].wait()
        return waiter[1]  # type: ignore[no-any-return]

    async def initialize(self) -> None:
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        await self.request("initialize", params)
        await self.channel.send({"jsonrpc": "2.0", "method": "notifications/initialized"})


@contextlib.asynccontextmanager
async def connected(argv: Sequence[str]) -> AsyncIterator[LeanClient]:
    process = await anyio.open_process(list(argv), stderr=subprocess.DEVNULL)
    client = LeanClient(process)
    async with process, anyio.create_task_group() as tasks:
        tasks.start_soon(client.pump)
        try:
            yield client
        finally:
            tasks.cancel_scope.cancel()
            process.terminate()
            with anyio.move_on_after(5):
                await process.wait()


def gateway_argv(upstreams: int, policy: str, folder: pathlib.Path, *, loop: str = "best") -> list[str]:
    config = {
        "upstreams": [
            {"name": f"everything{i}" if i else "everything", "command": [EVERYTHING]} for i in range(upstreams)
        ],
        "policy": policy,
        "api_key": "inh_bench",
        "loop": loop,
        "policy_dir": str(folder / "policy"),
    }
    path = folder / f"gateway-{upstreams}-{abs(hash(policy))}-{loop}.json"
    path.write_text(json.dumps(config))
    return [sys.executable, str(RUNNER), str(path)]


async def measure(client: LeanClient, tool: str, calls: int, in_flight: int) -> dict[str, float]:
    arguments = {"message": "hello"}
    for _ in range(20):  # warm up
        await client.request("tools/call", {"name": tool, "arguments": arguments})
    latencies: list[float] = []

    async def worker(count: int) -> None:
        for _ in range(count):
            start = time.perf_counter()
            answer = await client.request("tools/call", {"name": tool, "arguments": arguments})
            latencies.append(time.perf_counter() - start)
            assert "result" in answer, answer

    cpu_before = cpu_seconds(client.process.pid)
    began = time.perf_counter()
    async with anyio.create_task_group() as tasks:
        for _ in range(in_flight):
            tasks.start_soon(worker, calls // in_flight)
    elapsed = time.perf_counter() - began
    cpu_used = cpu_seconds(client.process.pid) - cpu_before
    latencies.sort()
    return {
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "calls/s": len(latencies) / elapsed,
        "cpu": cpu_used / len(latencies) * 1000,
    }


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of `pid` (Linux; NaN elsewhere)."""
    try:
        fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return pathlib.Path(f"/proc/{pid}/cmdline").read_text()
    return ""


def descendants(pid: int) -> list[int]:
    children = []
    for entry in pathlib.Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    children.append(int(entry.name))
    return children


class _AllowAllPolicyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if self.path.endswith("/classify"):
            answer: Any = {
                "classifications": [
                    {"name": t["name"], "category": "read_only", "source": "bench", "confidence": 1.0}
                    for t in body.get("tools", [])
                ]
            }
        elif self.path.endswith("/decide"):
            answer = {"decision": "allow", "receipt": {"id": "r"}, "receipt_id": "r", "failed_clauses": []}
        else:
            answer = {}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


def start_loopback_policy() -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _AllowAllPolicyHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


async def ready_time(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    async with connected(argv) as client:
        await client.initialize()
        await client.request("tools/list")
        return time.perf_counter() - start


async def main(calls: int, rounds: int) -> None:
    policy_url = start_loopback_policy()
    with tempfile.TemporaryDirectory() as folder_name:
        folder = pathlib.Path(folder_name)
        setups = {
            "direct": ([EVERYTHING], "echo"),
            "plain byte relay, asyncio": ([sys.executable, str(PLAIN_RELAY), EVERYTHING], "echo"),
            "plain byte relay, uvloop": ([sys.executable, str(PLAIN_RELAY), "--uvloop", EVERYTHING], "echo"),
            "proxy, in-process allow-all": (gateway_argv(1, "allow-all", folder), "everything__echo"),
            "proxy, in-process, asyncio loop": (
                gateway_argv(1, "allow-all", folder, loop="asyncio"),
                "everything__echo",
            ),
            "proxy, policy over loopback HTTP": (gateway_argv(1, policy_url, folder), "everything__echo"),
            "proxy, embedded policy server": (gateway_argv(1, "embedded", folder), "everything__echo"),
        }
        # Setups take turns, round after round, so that a noisy moment of the machine is shared
        # among them; each figure is the median of its rounds.
        samples: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(rounds):
            for label, (argv, tool) in setups.items():
                async with connected(argv) as client:
                    await client.initialize()
                    await client.request("tools/list")
                    for in_flight in (1, 8):
                        samples.setdefault((label, in_flight), []).append(await measure(client, tool, calls, in_flight))
        results = {key: {k: statistics.median(s[k] for s in runs) for k in runs[0]} for key, runs in samples.items()}
        print(
            f"server-everything echo: {calls} calls per row and round, median of {rounds} rounds "
            f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)"
        )
        print(
            f"{'setup':34} {'in flight':>9} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} {'of direct':>9} "
            f"{'+p50 ms':>7} {'+p99 ms':>7} {'cpu ms/call':>11}"
        )
        for (label, in_flight), row in results.items():
            base = results[("direct", in_flight)]
            print(
                f"{label:34} {in_flight:>9} {row['p50']:>7.3f} {row['p99']:>7.3f} {row['calls/s']:>8.0f} "
                f"{row['calls/s'] / base['calls/s']:>9.0%} {row['p50'] - base['p50']:>7.3f} "
                f"{row['p99'] - base['p99']:>7.3f} {row['cpu']:>11.3f}"
            )
        print("cpu ms/call: the CPU time of the process the client talks to (the proxy, or the server when direct)")
        direct_starts = []
        for _ in range(3):
            async with anyio.create_task_group() as tasks:
                times: list[float] = []

                async def one(times: list[float] = times) -> None:
                    times.append(await ready_time([EVERYTHING]))

                for _ in range(5):
                    tasks.start_soon(one)
            direct_starts.append(max(times))
        proxied = [await ready_time(gateway_argv(5, "allow-all", folder)) for _ in range(3)]
        print(
            f"ready (initialize + tools/list), 5 upstreams: proxy median {statistics.median(proxied):.3f} s; "
            f"slowest of 5 direct starts in parallel, median {statistics.median(direct_starts):.3f} s"
        )
        async with connected(gateway_argv(5, "allow-all", folder)) as client:
            await client.initialize()
            await client.request("tools/list")
            await client.request("tools/call", {"name": "everything__echo", "arguments": {"message": "x"}})
            report_rss(client.process.pid)


def report_rss(pid: int) -> None:
    helpers = [p for p in descendants(pid) if "mcp-server" not in cmdline(p)]
    print(
        f"RSS with 5 upstreams: proxy process {rss_mb(pid):.1f} MB; "
        f"its {len(helpers)} per-upstream watchdog processes {sum(rss_mb(p) for p in helpers):.1f} MB in all"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    if not os.path.exists(EVERYTHING):
        sys.exit("run `npm ci --prefix tests-integration` first")
    arguments = parser.parse_args()
    anyio.run(main, arguments.calls, arguments.rounds)
