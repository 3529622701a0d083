"""The embeddable gateway: start the upstreams, keep the catalog, serve clients over any channel."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import os
import pathlib
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
import anyio.abc

from inherence_proxy_core._catalog import Catalog, NameCollision, UpstreamOffer
from inherence_proxy_core._channel import Channel, LineChannel
from inherence_proxy_core._classifications import ClassificationCache, RugPull
from inherence_proxy_core._classify import Classifier
from inherence_proxy_core._config import GatewaySettings, UpstreamConfig, check_unique_names
from inherence_proxy_core._errors import GatewayUsageError
from inherence_proxy_core._gate import Policy, PolicyGate
from inherence_proxy_core._hub import Hub, gateway_notice, upstream_notice
from inherence_proxy_core._oauth_store import TokenStore
from inherence_proxy_core._outcomes import OutcomeReporter
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._session import ClientConnection
from inherence_proxy_core._stdio import stdio_streams
from inherence_proxy_core._upstream import Connector, DeclaredCapabilities, UpstreamSupervisor

__all__ = ["Gateway", "GatewayStatus", "UpstreamStatus"]

logger = logging.getLogger("inherence_proxy_core")

_LIST_CHANGED = {
    "tools": "notifications/tools/list_changed",
    "resources": "notifications/resources/list_changed",
    "resource_templates": "notifications/resources/list_changed",
    "prompts": "notifications/prompts/list_changed",
}


@dataclasses.dataclass(frozen=True)
class UpstreamStatus:
    """One upstream as `status` shows it. `reason` says why it is not ready.

    `last_discovery` is when its tools were last listed and classified, `categories` each of those
    tools' category (kept while it is down); `last_error` and `last_error_at` are its most recent
    failure, kept after it recovers.
    """

    name: str
    transport: str
    state: str
    reason: str | None
    restarts: int
    tool_count: int
    last_discovery: datetime.datetime | None = None
    categories: Mapping[str, str] = dataclasses.field(default_factory=dict)
    last_error: str | None = None
    last_error_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class GatewayStatus:
    upstreams: tuple[UpstreamStatus, ...]
    tool_count: int
    classification_cache_size: int
    rug_pulls: tuple[RugPull, ...]


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Gateway:
    """An MCP gateway in front of `upstreams`, every call decided by `policy` first.

        async with Gateway(upstreams, policy=client, home=home) as gateway:
            await gateway.serve_stdio()

    Entering starts every upstream in parallel and returns at once; `wait_ready()` waits for
    each one's first attempt. `home` holds `classifications.json` (None keeps it in memory).
    `environ` is the base environment of stdio upstreams; `clock` (monotonic seconds) paces
    restarts and `now` stamps rug pulls. `connector` replaces how upstreams are reached (an
    async context manager giving a `Channel` for an `UpstreamConfig`), for in-process upstreams.
    `registry` records every stdio upstream's process group so `reap` can end what a killed
    proxy left behind. HTTP and SSE upstreams without a static `Authorization` header use the
    OAuth tokens `inherence-proxy login` stored under `home/tokens/` (see `UpstreamAuth`).

    When `settings.report_outcomes` is on and `policy` has `report_outcome` (as `PolicyClient`
    has), what each allowed call returned is reported to it after the answer went out, and
    what is still queued is flushed, for a bounded time, when the gateway exits.

    Each upstream is initialized with exactly the capabilities the client declared (the first
    client, when several connect over HTTP): its process starts at once, its handshake waits for
    the client's `initialize`. `client_capabilities` declares them up front instead, for a
    gateway that serves no client (discovery).
    """

    def __init__(
        self,
        upstreams: Sequence[UpstreamConfig],
        *,
        policy: Policy,
        home: pathlib.Path | None = None,
        settings: GatewaySettings | None = None,
        environ: Mapping[str, str] | None = None,
        client: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime.datetime] = _utc_now,
        connector: Connector | None = None,
        registry: ProcessRegistry | None = None,
        client_capabilities: Mapping[str, Any] | None = None,
    ) -> None:
        check_unique_names(upstreams)
        self.upstreams = tuple(upstreams)
        self.settings = settings or GatewaySettings()
        self._environ = dict(os.environ if environ is None else environ)
        self._clock = clock
        self._now = now
        self._discovered: dict[str, tuple[datetime.datetime, Mapping[str, str]]] = {}
        self._failed: dict[str, tuple[str, datetime.datetime]] = {}
        self._connector = connector
        self._registry = registry
        self._tokens = TokenStore(home / "tokens") if home is not None else None
        cache = ClassificationCache(home / "classifications.json" if home is not None else None)
        self._classifier = Classifier(policy, cache, timeout=self.settings.classify_timeout, now=now)
        reporter = None
        if self.settings.report_outcomes and callable(getattr(policy, "report_outcome", None)):
            reporter = OutcomeReporter(policy)  # type: ignore[arg-type]  # checked just above
        gate = PolicyGate(policy, client=client, deadline=self.settings.decide_timeout)
        self.hub = Hub(gate, self.settings, reporter, DeclaredCapabilities(client_capabilities))
        self._down: dict[str, str] = {}
        self._offers: dict[str, UpstreamOffer] = {}
        self._publish_lock = anyio.Lock()
        self._collisions: dict[tuple[str, str], NameCollision] = {}
        self._stack: contextlib.AsyncExitStack | None = None

    async def __aenter__(self) -> Gateway:
        if self._stack is not None:
            raise GatewayUsageError("this Gateway is already running")
        await anyio.to_thread.run_sync(self._classifier.cache.load)
        stack = contextlib.AsyncExitStack()
        tasks = await stack.enter_async_context(anyio.create_task_group())
        stack.callback(tasks.cancel_scope.cancel)
        self.hub.task_group = tasks
        reporter = self.hub.reporter
        if reporter is not None:
            tasks.start_soon(reporter.run, name="outcome reports")
            stack.push_async_callback(reporter.flush)  # before the tasks are cancelled: exits run in reverse
        for config in self.upstreams:
            supervisor = UpstreamSupervisor(
                config,
                settings=self.settings,
                environ=self._environ,
                clock=self._clock,
                on_change=self._publish,
                on_notification=self.hub.on_upstream_notification,
                on_request=self.hub.on_upstream_request,
                connector=self._connector,
                registry=self._registry,
                capabilities=self.hub.capabilities,
                tokens=self._tokens,
            )
            self.hub.supervisors[config.name] = supervisor
            tasks.start_soon(supervisor.run, name=f"upstream {config.name}")
        self._stack = stack
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()

    async def wait_client(self, deadline: float) -> bool:
        """Wait until a client has declared its capabilities (or they were given); True once it has."""
        with anyio.move_on_after(deadline):
            await self.hub.capabilities.wait()
        return self.hub.capabilities.known

    async def wait_ready(self, deadline: float) -> bool:
        """Wait until every upstream is ready or has failed its first attempt; True when all are ready."""
        await self.hub.wait_first_attempts(deadline)
        return all(s.state.state == "ready" for s in self.hub.supervisors.values())

    @property
    def catalog(self) -> Catalog:
        return self.hub.catalog

    @property
    def name_collisions(self) -> tuple[NameCollision, ...]:
        """Tools and prompts two upstreams offer under one name (with `names="upstream"`), as of now."""
        return tuple(self.hub.catalog.collisions)

    def check_names(self) -> None:
        """Raise `GatewayUsageError` naming the name and both upstreams if two offer the same one.

        For a caller that refuses to start on a collision: call it after `wait_ready`. A collision
        found later (an upstream that was down comes up) keeps the first upstream's tool or prompt,
        is logged as an error and sent to clients as a warning.
        """
        found = self.name_collisions
        if found:
            raise GatewayUsageError("; ".join(collision.describe() for collision in found))

    def warn_clients(self, key: str, text: str, **data: Any) -> None:
        """Send every client a warning `notifications/message`, now and when it connects later.

        A later warning under the same `key` replaces the earlier one; `clear_warning` withdraws it.
        """
        self.hub.stand(key, gateway_notice("warning", text, **data))

    def clear_warning(self, key: str) -> None:
        self.hub.standing.pop(key, None)

    def _upstream_status(self, supervisor: UpstreamSupervisor) -> UpstreamStatus:
        state = supervisor.state
        discovered, categories = self._discovered.get(supervisor.name, (None, {}))
        error, error_at = self._failed.get(supervisor.name, (None, None))
        return UpstreamStatus(
            name=supervisor.name,
            transport=supervisor.config.transport,
            state=state.state,
            reason=state.reason,
            restarts=state.restarts,
            tool_count=len(state.lists.get("tools", ())),
            last_discovery=discovered,
            categories=categories,
            last_error=error,
            last_error_at=error_at,
        )

    def status(self) -> GatewayStatus:
        upstreams = tuple(self._upstream_status(s) for s in self.hub.supervisors.values())
        return GatewayStatus(
            upstreams=upstreams,
            tool_count=len(self.hub.catalog.tools),
            classification_cache_size=len(self._classifier.cache),
            rug_pulls=tuple(self._classifier.rug_pulls),
        )

    async def serve(self, channel: Channel) -> None:
        """Serve one client over `channel` until it closes."""
        if self._stack is None:
            raise GatewayUsageError("enter the Gateway (`async with`) before serving")
        await ClientConnection(self.hub, channel).run()

    async def serve_stdio(
        self, stdin: anyio.abc.ByteReceiveStream | None = None, stdout: anyio.abc.ByteSendStream | None = None
    ) -> None:
        """Serve the client on this process's stdin/stdout (or the given streams) until stdin ends."""
        if stdin is None or stdout is None:
            async with stdio_streams() as (default_in, default_out):
                await self.serve(
                    LineChannel(
                        stdin or default_in, stdout or default_out, max_message_bytes=self.settings.max_message_bytes
                    )
                )
        else:
            await self.serve(LineChannel(stdin, stdout, max_message_bytes=self.settings.max_message_bytes))

    def _tell_clients(self, supervisor: UpstreamSupervisor) -> None:
        """Warn clients when an upstream goes down or fails for a new reason; say when it is back."""
        name, state = supervisor.name, supervisor.state
        if state.state == "ready":
            if self._down.pop(name, None) is not None:
                self.hub.announce(upstream_notice(name, None))
            return
        reason = state.reason or state.state
        if self._down.get(name) != reason:
            self._down[name] = reason
            self.hub.announce(upstream_notice(name, reason))

    def _tell_collisions(self, catalog: Catalog) -> None:
        current = {(c.kind, c.name): c for c in catalog.collisions}
        for key, collision in current.items():
            if self._collisions.get(key) != collision:
                text = collision.describe()
                logger.error("%s", text)
                data = {
                    "name": collision.name,
                    "kind": collision.kind,
                    "upstreams": [collision.kept, collision.dropped],
                }
                self.hub.announce(gateway_notice("warning", text, **data))
        self._collisions = current

    async def _publish(self, supervisor: UpstreamSupervisor) -> None:
        """Rebuild the catalog after an upstream changed; tell clients what they can now see differently."""
        state = supervisor.state
        if state.state == "ready" and supervisor.link is not None:
            tools = state.lists.get("tools", [])
            fingerprints, categories = await self._classifier.classify(supervisor.name, tools)
            self._discovered[supervisor.name] = (self._now(), categories)
            offer: UpstreamOffer | None = UpstreamOffer(
                name=supervisor.name,
                tools=tools,
                fingerprints=fingerprints,
                categories=categories,
                resources=state.lists.get("resources", []),
                resource_templates=state.lists.get("resource_templates", []),
                prompts=state.lists.get("prompts", []),
            )
        else:
            offer = None
            self._failed[supervisor.name] = (state.reason or state.state, self._now())
        async with self._publish_lock:
            if offer is None:
                self._offers.pop(supervisor.name, None)
            else:
                self._offers[supervisor.name] = offer
            ordered = [self._offers[c.name] for c in self.upstreams if c.name in self._offers]
            old = self.hub.catalog
            new = Catalog.build(ordered, names=self.settings.names, previous=old)
            self.hub.catalog = new
        self._tell_clients(supervisor)
        self._tell_collisions(new)
        if offer is not None:
            self.hub.resubscribe(supervisor)
        changed: dict[str, Any] = {}
        for kind, method in _LIST_CHANGED.items():
            if getattr(old, kind) != getattr(new, kind):
                changed[method] = True
        for method in changed:
            for session in list(self.hub.sessions):
                if session.protocol_version is not None:
                    self.hub.spawn(session.send, {"jsonrpc": "2.0", "method": method}, None)
            self.hub.listeners.changed(method, self.hub.spawn)
