"""Run the gateway on stdio (or streamable HTTP) from a JSON description, for tests and benchmarks.

    python run_gateway.py CONFIG.json

CONFIG holds `upstreams` (UpstreamConfig fields), `policy` ("allow-all" for an in-process policy
that allows everything, "embedded" for the policy server in-process with its state in
`policy_dir`, as `serve` runs it without a key; "embedded-asgi" for the same policy server reached
through its HTTP app over an in-process ASGI transport, as `serve` reached it before; or a base URL
of a Policy API), `api_key`, and optional `home`,
`settings` (GatewaySettings fields) and `client` (take that client's lock and record every
upstream group in its state file under `home`, as `serve` does). With `"http": true` it serves
streamable HTTP on 127.0.0.1 instead of stdio and prints the port as the first line on stdout.
It runs on the loop `serve` runs on (`event_loop_options()`), or on asyncio's own with `"loop": "asyncio"`.

It serves until stdin ends or SIGTERM, SIGINT or SIGHUP arrives; then the gateway ends every
upstream group before the process exits.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio

from inherence_policy_client import Classification, DecideRequest, Decision, PolicyClient, ToolDescription, Verdict
from inherence_proxy_core import (
    ClientLock,
    Gateway,
    GatewaySettings,
    ProcessRegistry,
    UpstreamConfig,
    event_loop_options,
    serve_http,
)


class AllowAll:
    """An in-process policy that allows every call without any I/O, at as near no cost as it can."""

    def __init__(self) -> None:
        self._prefix = uuid.uuid4().hex[:12]
        self._receipts = itertools.count(1)

    async def decide(self, request: DecideRequest) -> Decision:
        receipt_id = f"{self._prefix}-{next(self._receipts)}"
        return Decision.model_construct(
            decision=Verdict.ALLOW, receipt={"id": receipt_id}, receipt_id=receipt_id, reason=None, failed_clauses=[]
        )

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]:
        return [Classification(name=t.name, category="read_only", source="test", confidence=1.0) for t in tools]


@contextlib.asynccontextmanager
async def embedded_policy(data_dir: pathlib.Path) -> AsyncIterator[Any]:
    """The policy server's decisions in this process, as `serve` embeds them when there is no API key."""
    from inherence_policy_server import open_embedded_policy

    async with open_embedded_policy(data_dir) as policy:
        yield policy


@contextlib.asynccontextmanager
async def embedded_policy_over_asgi(data_dir: pathlib.Path) -> AsyncIterator[PolicyClient]:
    """The policy server's HTTP app in this process behind `PolicyClient` and an ASGI transport."""
    import httpx2

    from inherence_policy_server import create_app

    app = create_app(data_dir=data_dir, require_key=False)
    try:
        async with PolicyClient(None, base_url="http://127.0.0.1", transport=httpx2.ASGITransport(app=app)) as client:
            yield client
    finally:
        app.close()


async def until_signal(scope: anyio.CancelScope) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for _ in signals:
            scope.cancel()
            return


async def until_stdin_ends() -> None:
    while await anyio.to_thread.run_sync(sys.stdin.buffer.read1, 4096, abandon_on_cancel=True):
        pass


async def serve(gateway: Gateway, http: bool) -> None:
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(until_signal, tasks.cancel_scope)
        if http:
            port = await tasks.start(serve_http, gateway)
            sys.stdout.write(f"{port}\n")
            sys.stdout.flush()
            await until_stdin_ends()
        else:
            await gateway.serve_stdio()
        tasks.cancel_scope.cancel()


async def main(config: dict[str, Any]) -> None:
    upstreams = [UpstreamConfig(**u) for u in config["upstreams"]]
    home = pathlib.Path(config["home"]) if config.get("home") else None
    settings = GatewaySettings(**config.get("settings", {}))
    async with contextlib.AsyncExitStack() as stack:
        registry = None
        if config.get("client") and home is not None:
            home.mkdir(parents=True, exist_ok=True)
            stack.enter_context(ClientLock(home, config["client"]))
            registry = stack.enter_context(ProcessRegistry(home, config["client"]))
        policy: Any = AllowAll()
        if config.get("policy") == "embedded":
            policy = await stack.enter_async_context(embedded_policy(pathlib.Path(config["policy_dir"])))
        elif config.get("policy") == "embedded-asgi":
            policy = await stack.enter_async_context(embedded_policy_over_asgi(pathlib.Path(config["policy_dir"])))
        elif config.get("policy", "allow-all") != "allow-all":
            policy = await stack.enter_async_context(PolicyClient(config.get("api_key"), base_url=config["policy"]))
        gateway = Gateway(upstreams, policy=policy, home=home, settings=settings, registry=registry)
        await stack.enter_async_context(gateway)
        await serve(gateway, bool(config.get("http")))


if __name__ == "__main__":
    description = json.loads(pathlib.Path(sys.argv[1]).read_text())
    options = event_loop_options() if description.get("loop", "best") == "best" else {}
    anyio.run(main, description, backend_options=options)
