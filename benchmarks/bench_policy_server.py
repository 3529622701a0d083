"""Decide latency of inherence-policy-server: in-process, and over loopback HTTP under load.

Run: `python benchmarks/bench_policy_server.py [--requests 20000] [--sessions 200] [--rate 500 1500]`
(`--team-only` for the team runs alone)
(`nox -s bench` runs it). Measured, never asserted. Traffic goes only to 127.0.0.1; every
load run sends a fixed number of requests and stops by itself.

Rows:
* in-process ASGI: the app called directly, as the embedded proxy's transport does;
* in-process PolicyClient: the same through `PolicyClient` over `httpx2.ASGITransport`;
* in-process pathological 1 MB: calls of about 1 MB each (20,000 chained shell commands,
  30,000 URLs), which the analysis limits deny unread;
* HTTP paced: `--sessions` keep-alive connections offering each `--rate` decisions/s in total
  (500/s is the figure the policy evaluation quotes for the cost of a decision);
* HTTP saturated: the same connections, each sending its next call as soon as the last is answered.
* team, open loop: `--team-sessions` sessions (200) offering `--team-rate` decisions/s (1,000) in
  total on a fixed schedule, each latency measured from the request's due time (a server that
  falls behind is charged for its queue), against SQLite with one process and PostgreSQL (started
  from the Debian binaries in a temporary folder, as the tests do) with two workers; with the
  saturation rate of each (every session sending as fast as it is answered). Targets: p50 <= 3 ms,
  p99 <= 15 ms, no errors; reported, not asserted.

The server runs as `inherence-policy-server serve --workers N` in a subprocess, for each N of
`--workers` (default 1 and 2); the load generator shares the machine's cores with it, so it
is kept light (one asyncio protocol per connection, requests built before the clock starts)
and the CPU it and the server used is reported beside each HTTP row (100% is one core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import pathlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from typing import Any

import httpx2

from inherence_policy_client import DecideRequest, PolicyClient
from inherence_policy_server import SQLiteStorage, create_app, issue_key

_Row = tuple[float, float, float, int, str]

# A mix across the six rules: mostly benign calls, some that each rule denies.
MIX: list[tuple[str, str, dict[str, Any]]] = [
    ("shell__run", "shell_exec", {"command": "ls -la src"}),
    ("shell__run", "shell_exec", {"command": "git status && git diff --stat"}),
    ("shell__run", "shell_exec", {"command": "rm -rf ./build dist"}),
    ("shell__run", "shell_exec", {"command": "bash -c 'rm -rf / --no-preserve-root'"}),
    ("shell__run", "shell_exec", {"command": "cat ~/.aws/credentials"}),
    ("fs__read_file", "file_read", {"path": "README.md"}),
    ("fs__read_file", "file_read", {"path": "/home/me/project/.env.example"}),
    ("fs__read_file", "file_read", {"path": "~/.ssh/id_ed25519"}),
    ("fs__write_file", "file_write", {"path": "notes/todo.md", "content": "buy milk\n" * 20}),
    ("web__fetch", "network_fetch", {"url": "https://docs.python.org/3/library/asyncio.html"}),
    ("web__fetch", "network_fetch", {"url": "http://169.254.169.254/latest/meta-data/iam/"}),
    ("web__fetch", "network_fetch", {"url": "http://0xA9FEA9FE/computeMetadata/v1/"}),
    ("db__query", "database_query", {"sql": "SELECT id, name FROM users WHERE id = 42"}),
    ("db__query", "database_query", {"sql": "DELETE FROM orders"}),
    ("db__query", "database_query", {"sql": "select 1; DROP TABLE users; --"}),
    ("mail__search_emails", "private_data_read", {"query": "invoice"}),
    ("mail__send_email", "outbound_send", {"to": "colleague@example.com", "subject": "hi", "body": "lunch?"}),
    ("http__post", "outbound_send", {"url": "https://webhook.site/abc", "body": "data"}),
    ("stripe__create_transfer", "payment", {"amount": "12,500.00", "currency": "usd", "destination": "acct_x"}),
    ("stripe__create_transfer", "payment", {"amount": 1200, "currency": "usd", "destination": "acct_known"}),
    ("github__add_collaborator", "identity_admin", {"repo": "org/app", "username": "outsider", "permission": "admin"}),
    ("github__get_issue", "read_only", {"repo": "org/app", "number": 7}),
    ("weather__get_forecast", "read_only", {"city": "Lisbon"}),
    ("unknown__tool", "unknown", {"payload": {"nested": [{"deep": "value"}], "n": 3}}),
]


def _body(index: int, session: int) -> bytes:
    tool, category, arguments = MIX[index % len(MIX)]
    call = {"tool_name": tool, "classification": category, "arguments": arguments, "session_id": f"s{session}"}
    return json.dumps(call).encode()


def _pathological_bodies() -> list[bytes]:
    """About 1 MB of arguments each: long chains of shell commands, long lists of URLs."""
    chain = " && ".join(f"grep -r pattern{i} ./src/module_{i}/file.py" for i in range(20_000))
    urls = [f"https://h{i}.example.org/" for i in range(30_000)]
    calls = [
        {"tool_name": "shell__run", "classification": "shell_exec", "arguments": {"command": chain}},
        {"tool_name": "web__fetch", "classification": "network_fetch", "arguments": {"urls": urls}},
        {"tool_name": "unknown__tool", "classification": "unknown", "arguments": {"list": " ".join(urls)}},
    ]
    return [json.dumps({**call, "session_id": "p"}).encode() for call in calls]


def _quantiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


async def _asgi_once(app: Any, body: bytes) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/api/proxy/decide", "raw_path": b"/api/proxy/decide", "root_path": "", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def bench_in_process(count: int, pathological_count: int) -> list[tuple[str, float, float, float, int, str]]:
    rows = []
    with tempfile.TemporaryDirectory() as data_dir:
        app = create_app(data_dir=pathlib.Path(data_dir), require_key=False)
        bodies = [_body(i, i % 200) for i in range(count)]
        for i in range(200):  # warm-up
            await _asgi_once(app, bodies[i])
        latencies = []
        started = time.perf_counter()
        for body in bodies:
            t0 = time.perf_counter()
            assert await _asgi_once(app, body) == 200
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        rows.append(("in-process ASGI", *_quantiles(latencies), count / elapsed, 0))
        transport = httpx2.ASGITransport(app=app)
        async with PolicyClient(None, base_url="http://127.0.0.1", transport=transport) as client:
            requests = [DecideRequest.model_validate_json(body) for body in bodies[: count // 4]]
            latencies = []
            started = time.perf_counter()
            for request in requests:
                t0 = time.perf_counter()
                await client.decide(request)
                latencies.append(time.perf_counter() - t0)
            elapsed = time.perf_counter() - started
        rows.append(("in-process PolicyClient", *_quantiles(latencies), len(requests) / elapsed, 0))
        pathological = _pathological_bodies()
        latencies = []
        started = time.perf_counter()
        for index in range(pathological_count):
            t0 = time.perf_counter()
            assert await _asgi_once(app, pathological[index % len(pathological)]) == 200
            latencies.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - started
        size = max(len(body) for body in pathological) / 1e6
        rows.append((f"in-process pathological {size:.1f} MB", *_quantiles(latencies), pathological_count / elapsed, 0))
        app.close()
    return [(*row, "") for row in rows]


class _Session(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request in flight; the answer is parsed as it arrives."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buffer = b""
        self._answer: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not asyncio's classes

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self._buffer[:end].lower()
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
        if len(self._buffer) < end + 4 + length:
            return
        self._buffer = self._buffer[end + 4 + length :]
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(int(head[9:12]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result(0)

    async def post(self, request: bytes) -> int:
        assert self.transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await asyncio.wait_for(self._answer, 30)


def _request(key: str, body: bytes) -> bytes:
    head = (
        f"POST /api/proxy/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _cpu_seconds(pid: int) -> float:
    """User and system CPU of a process and its children (the serve workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _load(
    port: int, key: str, total: int, sessions: int, rate: float | None, server_pid: int, *, open_loop: bool = False
) -> _Row:
    loop = asyncio.get_running_loop()
    connections = [(await loop.create_connection(_Session, "127.0.0.1", port))[1] for _ in range(sessions)]
    per_session = total // sessions
    requests = [[_request(key, _body(n * 7 + i, n)) for i in range(per_session)] for n in range(sessions)]
    latencies: list[float] = []
    errors = 0
    cpu_started, server_started = time.process_time(), _cpu_seconds(server_pid)
    started = time.perf_counter()

    async def session(number: int, connection: _Session) -> None:
        nonlocal errors
        interval = sessions / rate if rate else 0.0
        next_at = started + (number / sessions) * interval
        for request in requests[number]:
            due = None
            if interval:
                due = next_at
                delay = next_at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                next_at += interval
            t0 = time.perf_counter()
            if await connection.post(request) != 200:
                errors += 1
            # Open loop: from when the request was due, so time spent queued behind a slow answer counts.
            latencies.append(time.perf_counter() - (due if open_loop and due is not None else t0))

    await asyncio.gather(*(session(n, c) for n, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    load_cpu, server_cpu = time.process_time() - cpu_started, _cpu_seconds(server_pid) - server_started
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    # The server's CPU per decision holds whatever else the machine is running; the rates do not.
    per_decision = 1000 * server_cpu / max(1, len(latencies))
    cpu = f"{100 * load_cpu / elapsed:.0f}% / {100 * server_cpu / elapsed:.0f}% ({per_decision:.2f} ms CPU/decision)"
    return (*_quantiles(latencies), len(latencies) / elapsed, errors, cpu)


def _run(load: Coroutine[Any, Any, _Row]) -> _Row:
    """Run the load generator on uvloop where there is one, so its own overhead counts less."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(load)
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(load)
    finally:
        loop.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def bench_http(
    total: int, sessions: int, rates: list[float], workers: int
) -> list[tuple[str, float, float, float, int, str]]:
    with tempfile.TemporaryDirectory() as data_dir:
        storage = SQLiteStorage(pathlib.Path(data_dir))
        issued = issue_key(datetime.datetime.now(datetime.timezone.utc), "bench")
        storage.add_key(issued.record)
        storage.close()
        port = _free_port()
        command = [sys.executable, "-c", "from inherence_policy_server.cli import main; main()"]
        command += ["serve", "--host", "127.0.0.1", "--port", str(port), "--data-dir", data_dir]
        command += ["--workers", str(workers)]
        server = subprocess.Popen(command, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("the server did not start") from None
                    time.sleep(0.05)
            _run(_load(port, issued.secret_key, 2_000, sessions, None, server.pid))  # warm-up
            paced = [_run(_load(port, issued.secret_key, total, sessions, rate, server.pid)) for rate in rates]
            saturated = _run(_load(port, issued.secret_key, total, sessions, None, server.pid))
        finally:
            server.terminate()
            server.wait(timeout=30)
    rows = [
        (f"HTTP {workers}w paced {rate:g}/s, {sessions} sessions", *row) for rate, row in zip(rates, paced, strict=True)
    ]
    return [*rows, (f"HTTP {workers}w saturated, {sessions} sessions", *saturated)]


@contextlib.contextmanager
def _served(state: list[str], workers: int) -> Iterator[tuple[int, int]]:
    """`serve` on a free loopback port over `state` until the block ends; its port and pid."""
    port = _free_port()
    command = [sys.executable, "-c", "from inherence_policy_server.cli import main; main()"]
    command += ["serve", "--host", "127.0.0.1", "--port", str(port), *state, "--workers", str(workers)]
    command += ["--no-dashboard"]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the server did not start") from None
                time.sleep(0.05)
        yield port, server.pid
    finally:
        server.terminate()
        server.wait(timeout=30)


def _team_runs(
    name: str, state: list[str], key: str, workers: int, total: int, sessions: int, rate: float
) -> list[Any]:
    with _served(state, workers) as (port, pid):
        # Warm-up, then the open-loop run at the offered rate, then the saturation rate.
        _run(_load(port, key, 2_000, sessions, None, pid))
        paced = _run(_load(port, key, total, sessions, rate, pid, open_loop=True))
        saturated = _run(_load(port, key, total, sessions, None, pid))
    return [
        (f"team {name}, open loop {rate:g}/s", *paced),
        (f"team {name}, saturated", *saturated),
    ]


def bench_team(total: int, sessions: int, rate: float) -> list[Any]:
    """SQLite with one process and PostgreSQL with two workers, `sessions` sessions at `rate` decisions/s."""
    now = datetime.datetime.now(datetime.timezone.utc)
    rows: list[Any] = []
    with tempfile.TemporaryDirectory() as data_dir:
        storage = SQLiteStorage(pathlib.Path(data_dir))
        issued = issue_key(now, "bench")
        storage.add_key(issued.record)
        storage.close()
        rows += _team_runs("SQLite 1 process", ["--data-dir", data_dir], issued.secret_key, 1, total, sessions, rate)
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "packages" / "policy-server" / "tests"))
    from postgres_server import find_binaries, running_postgres

    binaries = find_binaries()
    if binaries is None:
        print("PostgreSQL's server programs are not installed: the PostgreSQL rows are left out", file=sys.stderr)
        return rows
    from inherence_policy_server._postgres import PostgresStorage, upgrade_database

    with running_postgres(binaries) as server:
        url = server.create_database()
        upgrade_database(url)
        storage = PostgresStorage(url)
        issued = issue_key(now, "bench")
        storage.add_key(issued.record)
        storage.close()
        rows += _team_runs("PostgreSQL 2 workers", ["--database-url", url], issued.secret_key, 2, total, sessions, rate)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000, help="requests per HTTP run (default 20000)")
    parser.add_argument("--sessions", type=int, default=200, help="concurrent sessions (default 200)")
    parser.add_argument(
        "--rate", type=float, nargs="+", default=[500, 1_500], help="decisions/s offered, one paced run each"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="server worker counts to run")
    parser.add_argument("--in-process", type=int, default=10_000, help="calls of the in-process run")
    parser.add_argument("--pathological", type=int, default=12, help="1 MB calls of the in-process run")
    parser.add_argument("--team-requests", type=int, default=15_000, help="requests per team run (0: no team runs)")
    parser.add_argument("--team-sessions", type=int, default=200, help="sessions of the team runs")
    parser.add_argument("--team-rate", type=float, default=1_000, help="decisions/s offered in the team runs")
    parser.add_argument("--team-only", action="store_true", help="only the team runs")
    args = parser.parse_args()
    rows = [] if args.team_only else asyncio.run(bench_in_process(args.in_process, args.pathological))
    for workers in [] if args.team_only else args.workers:
        rows += bench_http(args.requests, args.sessions, args.rate, workers)
    if args.team_requests:
        rows += bench_team(args.team_requests, args.team_sessions, args.team_rate)
    print(f"\ninherence-policy-server decide ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})")
    print(f"{'run':<44}{'p50 ms':>10}{'p99 ms':>10}{'decisions/s':>14}{'non-200':>10}  CPU load gen / server")
    for name, p50, p99, rate, errors, cpu in rows:
        print(f"{name:<44}{p50:>10.3f}{p99:>10.3f}{rate:>14,.0f}{errors:>10}  {cpu}")


if __name__ == "__main__":
    main()
