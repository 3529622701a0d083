"""`init`'s discovery: start every upstream at once, list and classify its tools, show progress.

The engine does the work (its gateway starts upstreams in parallel and classifies each one's
tools through the policy as they come up, filling classifications.json) and reports each
upstream's categories, discovery time and error; this module watches its status, draws one live
progress line when stdout is a terminal, and records the result in discovery.json for `status`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import anyio
import click

from inherence_proxy._discovery import load_discovery, record_gateway_status
from inherence_proxy._home import ProxyHome
from inherence_proxy._policy import PolicyService
from inherence_proxy_core import Gateway, GatewaySettings, GatewayStatus, UpstreamConfig

__all__ = ["DISCOVERY_SECONDS", "ProgressLine", "discover"]

DISCOVERY_SECONDS = 45.0
_POLL = 0.1
_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class ProgressLine:
    """One line redrawn in place on a terminal; silent when `live` is False (pipes, CI logs)."""

    def __init__(self, total: int, *, live: bool) -> None:
        self._total = total
        self._live = live
        self._frame = 0
        self._started = time.monotonic()

    def update(self, status: GatewayStatus) -> None:
        if not self._live:
            return
        pending = [u.name for u in status.upstreams if u.state in ("starting",)]
        done = self._total - len(pending)
        self._frame = (self._frame + 1) % len(_SPINNER)
        waiting = f" - waiting for {', '.join(pending[:3])}{'…' if len(pending) > 3 else ''}" if pending else ""
        elapsed = time.monotonic() - self._started
        line = f"{_SPINNER[self._frame]} discovering tools: {done}/{self._total} upstreams{waiting} ({elapsed:.0f}s)"
        click.echo(f"\r\x1b[K{line}", nl=False)

    def finish(self) -> None:
        if self._live:
            click.echo("\r\x1b[K", nl=False)


async def _watch(
    upstreams: Sequence[UpstreamConfig],
    policy: PolicyService,
    home: ProxyHome,
    environ: Mapping[str, str],
    progress: Callable[[GatewayStatus], None],
    deadline: float,
) -> GatewayStatus:
    settings = GatewaySettings(initialize_timeout=min(30.0, deadline), list_timeout=min(30.0, deadline))
    # No client takes part in discovery: the upstreams are told of no client capabilities.
    gateway = Gateway(
        upstreams, policy=policy, home=home.root, settings=settings, environ=dict(environ), client_capabilities={}
    )
    finished = anyio.Event()

    async def wait() -> None:
        await gateway.wait_ready(deadline)
        finished.set()

    async with gateway, anyio.create_task_group() as tasks:
        tasks.start_soon(wait)
        while not finished.is_set():
            progress(gateway.status())
            with anyio.move_on_after(_POLL):
                await finished.wait()
        found = gateway.status()
    return found


async def discover(
    upstreams: Sequence[UpstreamConfig],
    policy: PolicyService,
    home: ProxyHome,
    environ: Mapping[str, str],
    *,
    live: bool,
    deadline: float = DISCOVERY_SECONDS,
) -> GatewayStatus:
    """Discover every upstream in parallel; record the outcome in discovery.json and return it."""
    line = ProgressLine(len(upstreams), live=live)
    try:
        found = await _watch(upstreams, policy, home, environ, line.update, deadline)
    finally:
        line.finish()
    previous = load_discovery(home.discovery_path)
    await anyio.to_thread.run_sync(lambda: record_gateway_status(home.discovery_path, found, previous))
    return found
