"""Latency, throughput, ready time and memory of the gateway in front of server-everything, beside its peers.

    python benchmarks/bench_proxy.py [--calls N] [--rounds N] [--no-peers]

Side by side in one run, on server-everything's `echo`, over stdio with a lean JSON-RPC client:
direct (client -> upstream); a plain byte relay on uvloop (the floor of any Python relay); the
gateway with an in-process allow-all policy; `inherence-proxy serve` with no API key, as a new
user runs it (the embedded policy, called in process); the gateway with the same policy server
reached through its HTTP app over an ASGI transport (how `serve` embedded it before); the
gateway with an allow-all policy over loopback HTTP; FastMCP's `create_proxy`. Over streamable
HTTP, with a lean HTTP client: `inherence-proxy serve --http` with no key, and mcp-proxy.

The peers install from PyPI into virtualenvs of their own under `.nox/bench-peers/` (made once,
with uv): FastMCP 4.1.2, and mcp-proxy with `mcp<2`; a peer that cannot be installed is left out
with a note. Sequential and 8 in flight, each the median of several rounds taken in turns; then
the time to ready (initialize + tools/list) with 5 upstreams and the RSS of each proxy with 5
upstreams. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import itertools
import json
import os
import pathlib
import shutil
import socket
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
import httpx2

from inherence_proxy_core import LineChannel

ROOT = pathlib.Path(__file__).resolve().parent.parent
NODE_BIN = ROOT / "tests-integration" / "node_modules" / ".bin"
RUNNER = ROOT / "tests-integration" / "proxy" / "run_gateway.py"
EVERYTHING = str(NODE_BIN / "mcp-server-everything")
PLAIN_RELAY = ROOT / "benchmarks" / "plain_relay.py"
PEER_FASTMCP = ROOT / "benchmarks" / "peer_fastmcp.py"
PEERS = ROOT / ".nox" / "bench-peers"
INHERENCE_PROXY = pathlib.Path(sys.executable).parent / "inherence-proxy"
# Each peer in a virtualenv of its own, so that its dependencies never meet this project's.
PEER_REQUIREMENTS = {"fastmcp": ["fastmcp==4.1.2"], "mcp-proxy": ["mcp-proxy", "mcp<2"]}


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
async def connected(argv: Sequence[str], env: dict[str, str] | None = None) -> AsyncIterator[LeanClient]:
    process = await anyio.open_process(list(argv), stderr=subprocess.DEVNULL, env=env)
    client = LeanClient(process)
    async with process, anyio.create_task_group() as tasks:
        tasks.start_soon(client.pump)
        try:
            yield client
        finally:
            tasks.cancel_scope.cancel()
            process.terminate()
            with anyio.move_on_after(10):
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


class HttpClient:
    """A minimal streamable-HTTP MCP client (one POST per request) for the proxies that serve HTTP."""

    def __init__(self, process: anyio.abc.Process, url: str) -> None:
        self.process = process
        self.url = url
        self._http = httpx2.AsyncClient(timeout=60, trust_env=False)
        self._ids = itertools.count(1)
        self._headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}

    async def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(self._ids)
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        response = await self._http.post(self.url, content=json.dumps(body), headers=self._headers)
        session = response.headers.get("mcp-session-id")
        if session:
            self._headers["mcp-session-id"] = session
        if not response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.json()  # type: ignore[no-any-return]
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if isinstance(message, dict) and message.get("id") == request_id:
                    return message
        raise RuntimeError(f"no answer to {method} in the event stream (HTTP {response.status_code})")

    async def initialize(self) -> None:
        params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        answer = await self.request("initialize", params)
        self._headers["mcp-protocol-version"] = answer["result"]["protocolVersion"]
        notice = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        await self._http.post(self.url, content=json.dumps(notice), headers=self._headers)

    async def aclose(self) -> None:
        await self._http.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def wait_for_port(port: int, process: anyio.abc.Process, seconds: float = 60) -> None:
    with anyio.fail_after(seconds):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"the server exited with {process.returncode} before it listened")
            try:
                stream = await anyio.connect_tcp("127.0.0.1", port)
            except OSError:
                await anyio.sleep(0.02)
                continue
            await stream.aclose()
            return


@contextlib.asynccontextmanager
async def serving_http(
    argv: Sequence[str], port: int, paths: Sequence[str], env: dict[str, str] | None = None
) -> AsyncIterator[list[HttpClient]]:
    """Start an HTTP proxy; one client per MCP endpoint path, closed and the proxy ended on exit."""
    process = await anyio.open_process(list(argv), stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    clients = [HttpClient(process, f"http://127.0.0.1:{port}{path}") for path in paths]
    async with process:
        try:
            await wait_for_port(port, process)
            yield clients
        finally:
            for client in clients:
                await client.aclose()
            process.terminate()
            with anyio.move_on_after(10):
                await process.wait()


@contextlib.asynccontextmanager
async def connected_http(argv: Sequence[str], port: int, path: str, env: dict[str, str] | None = None) -> Any:
    async with serving_http(argv, port, [path], env) as clients:
        yield clients[0]


def serve_home(folder: pathlib.Path, label: str, upstreams: int) -> dict[str, str]:
    """A proxy home with `upstreams` server-everything upstreams and no API key; the environment to run `serve` in."""
    home = folder / f"home-{label}-{upstreams}"
    home.mkdir(exist_ok=True)
    config = {
        "upstreams": [
            {"name": f"everything{i}" if i else "everything", "command": [EVERYTHING]} for i in range(upstreams)
        ]
    }
    (home / "config.json").write_text(json.dumps(config))
    env = {name: value for name, value in os.environ.items() if not name.startswith("INHERENCE_")}
    env["INHERENCE_PROXY_HOME"] = str(home)
    return env


def peer_python(name: str) -> pathlib.Path | None:
    """The interpreter of the peer's own virtualenv, made (with uv, else venv and pip) on first use."""
    folder = PEERS / name
    marker = folder / ".installed"
    python = folder / "bin" / "python"
    if marker.exists():
        return python
    requirements = PEER_REQUIREMENTS[name]
    uv = shutil.which("uv")
    shutil.rmtree(folder, ignore_errors=True)
    try:
        if uv:
            subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(folder)], check=True)
            subprocess.run([uv, "pip", "install", "-q", "--python", str(python), *requirements], check=True)
        else:
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
            subprocess.run([str(python), "-m", "pip", "install", "-q", *requirements], check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"note: {name} left out, it could not be installed ({exc})")
        return None
    marker.write_text(" ".join(requirements))
    return python


def fastmcp_argv(python: pathlib.Path, upstreams: int) -> list[str]:
    names = [f"everything{i}" if i else "everything" for i in range(upstreams)]
    return [str(python), str(PEER_FASTMCP), *(f"{name}={EVERYTHING}" for name in names)]


def mcp_proxy_argv(python: pathlib.Path, port: int, upstreams: int) -> tuple[list[str], list[str]]:
    """mcp-proxy's command and its endpoint paths: one server as the default, several as named servers."""
    executable = str(python.parent / "mcp-proxy")
    common = [executable, "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARNING"]
    if upstreams == 1:
        return [*common, EVERYTHING], ["/mcp"]
    names = [f"everything{i}" for i in range(upstreams)]
    named = [part for name in names for part in ("--named-server", name, EVERYTHING)]
    return [*common, *named], [f"/servers/{name}/mcp" for name in names]


Opener = Any  # () -> async context manager of a client with initialize(), request(), process


async def ready_seconds(opener: Opener) -> tuple[float, float, float]:
    """Seconds from start to every endpoint initialized and listed; the proxy's RSS and its helpers' after one call."""
    start = time.perf_counter()
    async with opener() as clients:
        for client in clients:
            await client.initialize()
            await client.request("tools/list")
        ready = time.perf_counter() - start
        pid = clients[0].process.pid
        helpers = [p for p in descendants(pid) if "mcp-server" not in cmdline(p)]
        return ready, rss_mb(pid), sum(rss_mb(p) for p in helpers)


def as_list(opener: Opener) -> Opener:
    @contextlib.asynccontextmanager
    async def opened() -> AsyncIterator[list[Any]]:
        async with opener() as client:
            yield [client]

    return opened


async def main(calls: int, rounds: int, peers: bool) -> None:
    policy_url = start_loopback_policy()
    fastmcp = peer_python("fastmcp") if peers else None
    mcp_proxy = peer_python("mcp-proxy") if peers else None
    with tempfile.TemporaryDirectory() as folder_name:
        folder = pathlib.Path(folder_name)
        serve_env = serve_home(folder, "stdio", 1)
        serve_http_env = serve_home(folder, "http", 1)
        http_port = free_port()
        serve_http_argv = [str(INHERENCE_PROXY), "serve", "--http", f"127.0.0.1:{http_port}"]
        # label -> (opener of a connected client, the tool to call); stdio rows first, then HTTP.
        setups: dict[str, tuple[Opener, str]] = {
            "direct": (lambda: connected([EVERYTHING]), "echo"),
            "plain byte relay, uvloop": (
                lambda: connected([sys.executable, str(PLAIN_RELAY), "--uvloop", EVERYTHING]),
                "echo",
            ),
            "gateway, in-process allow-all": (
                lambda: connected(gateway_argv(1, "allow-all", folder)),
                "everything__echo",
            ),
            "serve, no key (embedded policy)": (
                lambda: connected([str(INHERENCE_PROXY), "serve"], env=serve_env),
                "everything__echo",
            ),
            "gateway, embedded policy over ASGI": (
                lambda: connected(gateway_argv(1, "embedded-asgi", folder)),
                "everything__echo",
            ),
            "gateway, policy over loopback HTTP": (
                lambda: connected(gateway_argv(1, policy_url, folder)),
                "everything__echo",
            ),
        }
        if fastmcp is not None:
            setups["FastMCP 4.1.2 create_proxy"] = (lambda: connected(fastmcp_argv(fastmcp, 1)), "echo")
        setups["serve --http, no key [HTTP]"] = (
            lambda: connected_http(serve_http_argv, http_port, "/mcp", serve_http_env),
            "everything__echo",
        )
        if mcp_proxy is not None:
            proxy_port = free_port()
            proxy_argv, proxy_paths = mcp_proxy_argv(mcp_proxy, proxy_port, 1)
            setups["mcp-proxy, mcp<2 [HTTP]"] = (
                lambda: connected_http(proxy_argv, proxy_port, proxy_paths[0]),
                "echo",
            )
        # Setups take turns, round after round, so that a noisy moment of the machine is shared
        # among them; each figure is the median of its rounds.
        samples: dict[tuple[str, int], list[dict[str, float]]] = {}
        for _ in range(rounds):
            for label, (opener, tool) in setups.items():
                async with opener() as client:
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
            f"{'setup':36} {'in flight':>9} {'p50 ms':>7} {'p99 ms':>7} {'calls/s':>8} {'of direct':>9} "
            f"{'+p50 ms':>7} {'+p99 ms':>7} {'cpu ms/call':>11}"
        )
        for (label, in_flight), row in results.items():
            base = results[("direct", in_flight)]
            print(
                f"{label:36} {in_flight:>9} {row['p50']:>7.3f} {row['p99']:>7.3f} {row['calls/s']:>8.0f} "
                f"{row['calls/s'] / base['calls/s']:>9.0%} {row['p50'] - base['p50']:>7.3f} "
                f"{row['p99'] - base['p99']:>7.3f} {row['cpu']:>11.3f}"
            )
        print("cpu ms/call: the CPU time of the process the client talks to (the proxy, or the server when direct)")
        print("[HTTP]: streamable HTTP with a lean HTTP client, whose own cost is in every figure of those rows")
        report_targets(results)
        await report_start_and_memory(folder, fastmcp, mcp_proxy)


def report_targets(results: dict[tuple[str, int], dict[str, float]]) -> None:
    serve, direct = results[("serve, no key (embedded policy)", 1)], results[("direct", 1)]
    print(
        f"serve, no key, sequential: {serve['calls/s'] / direct['calls/s']:.0%} of direct's calls/s (target >= 60%), "
        f"added p50 {serve['p50'] - direct['p50']:+.3f} ms (<= 0.5), "
        f"added p99 {serve['p99'] - direct['p99']:+.3f} ms (<= 2)"
    )
    pairs = [
        ("serve, no key (embedded policy)", "FastMCP 4.1.2 create_proxy"),
        ("serve --http, no key [HTTP]", "mcp-proxy, mcp<2 [HTTP]"),
    ]
    for ours, peer in pairs:
        for in_flight in (1, 8):
            if (peer, in_flight) in results:
                ratio = results[(ours, in_flight)]["calls/s"] / results[(peer, in_flight)]["calls/s"]
                print(f"{ours} / {peer}, {in_flight} in flight: {ratio:.1f}x the calls/s (target >= 2x)")


async def report_start_and_memory(
    folder: pathlib.Path, fastmcp: pathlib.Path | None, mcp_proxy: pathlib.Path | None
) -> None:
    direct_starts = []
    for _ in range(3):
        times: list[float] = []
        async with anyio.create_task_group() as tasks:

            async def one(times: list[float] = times) -> None:
                times.append(await ready_time([EVERYTHING]))

            for _ in range(5):
                tasks.start_soon(one)
        direct_starts.append(max(times))
    print("ready (initialize + tools/list) with 5 upstreams, median of 3; RSS after one call:")
    print(f"  slowest of 5 direct starts in parallel: {statistics.median(direct_starts):.3f} s")
    serve_env = serve_home(folder, "stdio", 5)
    http_env = serve_home(folder, "http", 5)
    openers: dict[str, Opener] = {
        "gateway, in-process allow-all": as_list(lambda: connected(gateway_argv(5, "allow-all", folder))),
        "serve, no key": as_list(lambda: connected([str(INHERENCE_PROXY), "serve"], env=serve_env)),
    }
    if fastmcp is not None:
        openers["FastMCP 4.1.2 create_proxy"] = as_list(lambda: connected(fastmcp_argv(fastmcp, 5)))
    port = free_port()
    openers["serve --http, no key"] = lambda: serving_http(
        [str(INHERENCE_PROXY), "serve", "--http", f"127.0.0.1:{port}"], port, ["/mcp"], http_env
    )
    if mcp_proxy is not None:
        proxy_port = free_port()
        proxy_argv, proxy_paths = mcp_proxy_argv(mcp_proxy, proxy_port, 5)
        openers["mcp-proxy, mcp<2 (5 endpoints)"] = lambda: serving_http(proxy_argv, proxy_port, proxy_paths)
    for label, opener in openers.items():
        runs = [await ready_seconds(opener) for _ in range(3)]
        ready = statistics.median(run[0] for run in runs)
        proxy_rss, helpers_rss = runs[-1][1], runs[-1][2]
        print(f"  {label:36} ready {ready:.3f} s; RSS {proxy_rss:.1f} MB (+ {helpers_rss:.1f} MB of helper processes)")


async def ready_time(argv: Sequence[str]) -> float:
    start = time.perf_counter()
    async with connected(argv) as client:
        await client.initialize()
        await client.request("tools/list")
        return time.perf_counter() - start


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="leave out the peers installed from PyPI")
    if not os.path.exists(EVERYTHING):
        sys.exit("run `npm ci --prefix tests-integration` first")
    arguments = parser.parse_args()
    anyio.run(main, arguments.calls, arguments.rounds, not arguments.no_peers)
