"""decide() round trips of inherence-policy-client against the fake hosted server on loopback.

Reports p50, p99 and calls/s for sequential calls and for 8 in flight, and how many TCP
connections the whole run opened (one client object should need one connection when
calls are sequential). Measured, never asserted: `nox -s bench`.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests-integration"))

from fake_policy import Allow, FakePolicyServer

from inherence_policy_client import DecideRequest, PolicyClient

REQUEST = DecideRequest(
    tool_name="filesystem__read_text_file",
    classification="file_read",
    arguments={"path": "/home/ada/notes/todo.md", "head": 20, "tail": None},
    session_id="bench-session",
    upstream="filesystem",
    fingerprint="sha256:" + "ab" * 32,
    client="bench",
)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(calls: int, in_flight: int, server: FakePolicyServer, key: str) -> tuple[list[float], float, int]:
    server.reset()
    server.add_key(key)
    server.decide(Allow())
    latencies: list[float] = []
    async with PolicyClient(key, base_url=server.base_url) as client:
        for _ in range(50):  # warm-up: connection, code paths
            await client.decide(REQUEST)
        server.reset()
        server.add_key(key)
        server.decide(Allow())
        remaining = calls

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await client.decide(REQUEST)
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(in_flight)))
        elapsed = time.perf_counter() - began
    return latencies, elapsed, server.connection_count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    options, _ = parser.parse_known_args()
    key = "inh_bench_0000000000000000"
    print(f"\n## policy-client decide() against the fake hosted server on loopback ({options.calls} calls per row)\n")
    print("| in flight | p50 ms | p99 ms | mean ms | calls/s | TCP connections |")
    print("|---:|---:|---:|---:|---:|---:|")
    with FakePolicyServer(api_keys=[key]) as server:
        for in_flight in (1, 8):
            latencies, elapsed, connections = asyncio.run(run(options.calls, in_flight, server, key))
            print(
                f"| {in_flight} | {percentile(latencies, 0.5) * 1e3:.3f} | {percentile(latencies, 0.99) * 1e3:.3f} "
                f"| {statistics.fmean(latencies) * 1e3:.3f} | {len(latencies) / elapsed:,.0f} | {connections} |"
            )


if __name__ == "__main__":
    main()
