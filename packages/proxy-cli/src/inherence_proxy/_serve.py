"""`serve`: what an MCP client launches. One proxy per client, gating that client's upstreams.

Order matters: the per-client lock first (a second proxy for the client stops here, before it
starts anything), then the state file of upstream process groups (so `reap` can end them if this
process is killed), then the policy, then the gateway. stdout carries nothing but protocol:
everything else goes to proxy.log.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import platform
import signal
import sys
from collections.abc import Mapping

import anyio
import anyio.abc

from inherence_client_adapters import ClientConfigError, ClientConfigUsageError, HostEnvironment, ProxyCommand
from inherence_policy_client import Heartbeat, PolicyError, UpstreamRegistration
from inherence_proxy import __version__
from inherence_proxy._config import ProxyConfig
from inherence_proxy._discovery import load_discovery, record_gateway_status
from inherence_proxy._drift_watch import watch_drift
from inherence_proxy._gate_paths import gate_paths
from inherence_proxy._home import ProxyHome
from inherence_proxy._locations import proxy_executable, recorded
from inherence_proxy._output import masked_key
from inherence_proxy._policy import PolicyService, PolicyTarget, open_policy
from inherence_proxy_core import (
    DEFAULT_CLIENT,
    ClientLock,
    Gateway,
    GatewaySettings,
    GatewayUsageError,
    ProcessRegistry,
    UpstreamConfig,
    event_loop_options,
    serve_http,
)

__all__ = [
    "HEARTBEAT_SECONDS",
    "ServeOptions",
    "gateway_settings",
    "lock_client",
    "parse_listen_address",
    "run_serve",
]

logger = logging.getLogger("inherence_proxy.serve")
HEARTBEAT_SECONDS = 60.0
STATUS_SECONDS = 2.0


def parse_listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) -> (host, port); ValueError with a readable reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8765)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")
    return host.strip("[]"), port


def gateway_settings(config: ProxyConfig, environ: Mapping[str, str]) -> GatewaySettings:
    """The engine's settings from config.json and the environment; `SettingError` for a bad variable."""
    return GatewaySettings(
        confirm_timeout=config.effective_confirm_timeout(environ),
        report_outcomes=config.effective_report_outcomes(environ),
        names=config.effective_tool_names(environ),
    )


def lock_client(client: str | None) -> str:
    """The lock name of a client; `serve` without one (how 0.1.x wrapped configs start it) is `default`."""
    return client or DEFAULT_CLIENT


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    home: ProxyHome
    config: ProxyConfig
    client: str | None
    environ: Mapping[str, str]
    http: tuple[str, int] | None = None
    allow_remote: bool = False
    settings: GatewaySettings = dataclasses.field(default_factory=GatewaySettings)
    host: HostEnvironment = dataclasses.field(default_factory=HostEnvironment.current)


def run_serve(options: ServeOptions) -> None:
    """Serve until the client goes away or a signal asks to stop. Raises library errors untranslated."""
    upstreams = [entry.to_gateway() for entry in options.config.upstreams_for(options.client)]
    target = PolicyTarget.of(options.config, options.environ)
    options.home.ensure()
    name = lock_client(options.client)
    with ClientLock(options.home.root, name):
        registry = ProcessRegistry(options.home.root, name)
        ended = registry.open()
        try:
            if ended:
                logger.info("ended %d upstream process groups left by a previous proxy of %s", len(ended), name)
            logger.info(
                "serving client %s: %d upstreams, policy %s, key %s",
                name,
                len(upstreams),
                target.describe(),
                masked_key(target.api_key) if target.api_key else "none",
            )
            if target.embedded:
                logger.info("no API key configured: decisions come from the embedded policy server in this process")
            anyio.run(_serve, options, upstreams, target, registry, backend_options=event_loop_options())
        finally:
            registry.close()
    logger.info("proxy for %s stopped", name)


async def _serve(
    options: ServeOptions, upstreams: list[UpstreamConfig], target: PolicyTarget, registry: ProcessRegistry
) -> None:
    protected = gate_paths(options.home, options.config, options.environ, options.host)
    async with open_policy(target, options.home, protected_paths=protected) as policy:
        gateway = Gateway(
            upstreams,
            policy=policy,
            home=options.home.root,
            settings=options.settings,
            environ=dict(options.environ),
            client=options.client,
            registry=registry,
        )
        async with gateway, anyio.create_task_group() as tasks:
            tasks.start_soon(_stop_on_signal, tasks.cancel_scope)
            tasks.start_soon(_report_when_ready, gateway, options, policy, target)
            tasks.start_soon(_watch_client_config, gateway, options)
            if options.http is not None:
                host, port = options.http
                logger.info("listening for MCP over streamable HTTP on http://%s:%d/mcp", host, port)
                await serve_http(gateway, host, port, allow_remote=options.allow_remote)
            else:
                await gateway.serve_stdio()
            tasks.cancel_scope.cancel()
        _write_discovery(gateway, options)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    if sys.platform == "win32":
        return
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for received in signals:
            logger.info("stopping on signal %s", signal.Signals(received).name)
            scope.cancel()
            return


async def _report_when_ready(
    gateway: Gateway, options: ServeOptions, policy: PolicyService, target: PolicyTarget
) -> None:
    # Upstreams are initialized with what the client declares: they cannot be ready before it has.
    await gateway.wait_client(math.inf)
    ready = await gateway.wait_ready(options.settings.ready_wait)
    status = gateway.status()
    for upstream in status.upstreams:
        logger.info("upstream %s: %s, %d tools%s", upstream.name, upstream.state, upstream.tool_count,
                    f" ({upstream.reason})" if upstream.reason else "")  # fmt: skip
    if not ready:
        logger.warning("not every upstream is ready; the others are served meanwhile and retried")
    try:
        gateway.check_names()
    except GatewayUsageError as exc:
        logger.error("refusing to serve: %s", exc)
        raise
    await anyio.to_thread.run_sync(_write_discovery, gateway, options)
    if not target.embedded:
        await _register(gateway, policy)
    seen = _states(gateway)
    beat_at = anyio.current_time()
    while True:
        if not target.embedded and anyio.current_time() >= beat_at:
            await _heartbeat(gateway, options, policy)
            beat_at = anyio.current_time() + HEARTBEAT_SECONDS
        await anyio.sleep(STATUS_SECONDS)
        # An upstream that went down or came back is in discovery.json (what `status` reads) within seconds.
        now = _states(gateway)
        if now != seen:
            seen = now
            await anyio.to_thread.run_sync(_write_discovery, gateway, options)


async def _watch_client_config(gateway: Gateway, options: ServeOptions) -> None:
    """The client's wrapped config files, checked now and watched: a server added beside the proxy is reported."""
    clients = None if options.client is None else [options.client]
    try:
        found = recorded(options.config, options.host, clients)
        proxy: ProxyCommand | None = ProxyCommand(proxy_executable(options.environ))
    except (ClientConfigError, ClientConfigUsageError) as exc:
        logger.warning("cannot watch the client config for servers beside the proxy: %s", exc)
        return
    await watch_drift(gateway, [location for _adapter, location in found], proxy)


def _states(gateway: Gateway) -> list[tuple[str, str, str | None]]:
    return [(u.name, u.state, u.reason) for u in gateway.status().upstreams]


async def _register(gateway: Gateway, policy: PolicyService) -> None:
    """Tell the hosted service which upstreams this proxy fronts (names and counts, never their env)."""
    upstreams = [
        UpstreamRegistration(name=u.name, transport=u.transport, tool_count=u.tool_count)
        for u in gateway.status().upstreams
    ]
    try:
        await policy.register(upstreams)
    except PolicyError as exc:
        logger.warning("could not register the upstreams with the policy service: %s", exc)


async def _heartbeat(gateway: Gateway, options: ServeOptions, policy: PolicyService) -> None:
    status = gateway.status()
    beat = Heartbeat(
        proxy_version=__version__,
        upstream_count=len(status.upstreams),
        tool_count=status.tool_count,
        classification_cache_size=status.classification_cache_size,
        client_type=options.client,
        platform=f"{platform.system().lower()}-{platform.machine().lower()}",
    )
    try:
        await policy.heartbeat(beat)
    except PolicyError as exc:
        # A heartbeat that fails never affects serving.
        logger.debug("heartbeat failed: %s", exc)


def _write_discovery(gateway: Gateway, options: ServeOptions) -> None:
    path = options.home.discovery_path
    try:
        record_gateway_status(path, gateway.status(), load_discovery(path))
    except OSError as exc:
        logger.warning("cannot write %s: %s", path, os.strerror(exc.errno) if exc.errno else exc)
