"""One upstream's life: connect, learn its era, initialize within a deadline, list, serve, restart under a cap.

Each upstream is first spoken to with the `initialize` handshake. One that answers it with an error
(a 2026-07-28 server refuses it with -32022) is reconnected at once and probed with
`server/discover`; if it names 2026-07-28 it is spoken to in that era from then on (no handshake;
every request carries the envelope, see `UpstreamLink.envelope`), else it is a handshake-era
upstream that failed its start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Literal

import anyio
import anyio.abc

from inherence_proxy_core import __version__
from inherence_proxy_core._channel import Channel, Message, SdkChannel
from inherence_proxy_core._config import GatewaySettings, UpstreamConfig
from inherence_proxy_core._errors import UpstreamError, UpstreamStartError
from inherence_proxy_core._failure import describe_failure, leaf_errors
from inherence_proxy_core._link import NotificationHandler, RequestHandler, UpstreamLink
from inherence_proxy_core._modern import (
    CLIENT_CAPABILITIES_KEY,
    CLIENT_INFO_KEY,
    MODERN_VERSIONS,
    PROTOCOL_VERSION_KEY,
    SERVER_INFO_KEY,
)
from inherence_proxy_core._oauth_store import TokenStore
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._spawn import ProcessError
from inherence_proxy_core._upstream_transport import HttpNote, open_upstream_channel

__all__ = ["Connector", "DeclaredCapabilities", "UpstreamState", "UpstreamSupervisor"]

logger = logging.getLogger("inherence_proxy_core")

Connector = Callable[[UpstreamConfig], contextlib.AbstractAsyncContextManager[Channel]]
State = Literal["starting", "ready", "failed", "restarting", "stopped"]
LISTS = {
    "tools": ("tools/list", "tools"),
    "resources": ("resources/list", "resources"),
    "resource_templates": ("resources/templates/list", "resourceTemplates"),
    "prompts": ("prompts/list", "prompts"),
}
_CAPABILITY = {"tools": "tools", "resources": "resources", "resource_templates": "resources", "prompts": "prompts"}
# Failures of the upstream itself, logged without a traceback; anything else is a fault of ours.
_EXPECTED = (OSError, UpstreamError, ProcessError, TimeoutError)
# A listen stream to an upstream is open for as long as the connection: a deadline beyond any session.
_LISTEN_SECONDS = 10.0 * 365 * 24 * 3600


@dataclasses.dataclass
class UpstreamState:
    """What `status` shows of one upstream, and what it offers while ready."""

    name: str
    transport: str
    state: State = "starting"
    reason: str | None = None
    restarts: int = 0
    protocol_version: str | None = None
    server_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    capabilities: dict[str, Any] = dataclasses.field(default_factory=dict)
    lists: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)


def _expected(exc: BaseException) -> bool:
    """A failure of the upstream or of the network to it, not of the gateway: no traceback needed."""
    return isinstance(exc, _EXPECTED) or type(exc).__module__.partition(".")[0] in ("httpx2", "httpcore2")


class DeclaredCapabilities:
    """What the client declared at `initialize`: each upstream is initialized with exactly that.

    Upstreams start (their processes spawn, their connections open) before any client has said
    what it can do; each then waits here before its handshake. The first client to declare
    decides; a gateway with no client (discovery) is given its capabilities up front.
    """

    def __init__(self, fixed: Mapping[str, Any] | None = None) -> None:
        self._value: dict[str, Any] = {}
        self._known = anyio.Event()
        if fixed is not None:
            self.offer(fixed)

    @property
    def known(self) -> bool:
        return self._known.is_set()

    def offer(self, capabilities: Mapping[str, Any]) -> None:
        """Record what a client declared; only the first offer counts."""
        if not self._known.is_set():
            self._value = dict(capabilities)
            self._known.set()

    async def wait(self) -> dict[str, Any]:
        await self._known.wait()
        return self._value


class UpstreamSupervisor:
    """Keeps one upstream connected. `on_change` is called whenever its state or lists change."""

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        settings: GatewaySettings,
        environ: Mapping[str, str],
        clock: Callable[[], float],
        on_change: Callable[[UpstreamSupervisor], Awaitable[None]],
        on_notification: NotificationHandler,
        on_request: RequestHandler,
        connector: Connector | None = None,
        registry: ProcessRegistry | None = None,
        capabilities: DeclaredCapabilities | None = None,
        tokens: TokenStore | None = None,
    ) -> None:
        self.config = config
        self._tokens = tokens
        self._capabilities = capabilities or DeclaredCapabilities({})
        self._http = HttpNote()
        self._registry = registry
        self._connector = connector
        self.settings = settings
        self._environ = environ
        self._clock = clock
        self._on_change = on_change
        self._on_notification = on_notification
        self._on_request = on_request
        self.state = UpstreamState(config.name, config.transport)
        self.link: UpstreamLink | None = None
        self.first_attempt_done = anyio.Event()
        self._restart_times: list[float] = []
        self._refresh_wanted: set[str] = set()
        self._refresh_event = anyio.Event()
        # The upstream's era once learnt: None until `initialize` was refused, then "modern" if it
        # answered server/discover, else "handshake" (never probed again).
        self._era: str | None = None
        # Reconnect at once, not after a backoff: the era was learnt, nothing failed.
        self.retry_now = False

    @property
    def name(self) -> str:
        return self.config.name

    async def run(self) -> None:
        """Connect and serve until cancelled, restarting with exponential backoff under the cap."""
        backoff = self.settings.restart_backoff_initial
        try:
            while True:
                served = await self._one_session()
                if self.retry_now:
                    # It refused `initialize`: once more at once, in the 2026-07-28 era.
                    self.retry_now = False
                    logger.info("upstream %s refused initialize; trying MCP 2026-07-28", self.name)
                    served = await self._one_session()
                self.first_attempt_done.set()
                now = self._clock()
                self._restart_times = [t for t in self._restart_times if now - t < 60.0]
                if served:
                    backoff = self.settings.restart_backoff_initial
                if len(self._restart_times) >= self.settings.restarts_per_minute:
                    wait = max(backoff, 60.0 - (now - self._restart_times[0]))
                else:
                    wait = backoff
                self.state.state = "restarting" if served else "failed"
                await self._changed()
                logger.warning("upstream %s: %s; retrying in %.1f s", self.name, self.state.reason, wait)
                await anyio.sleep(wait)
                backoff = min(backoff * 2, self.settings.restart_backoff_max)
                self._restart_times.append(self._clock())
                self.state.restarts += 1
        finally:
            self.state.state = "stopped"
            self.first_attempt_done.set()

    async def _one_session(self) -> bool:
        """One connection from start to end. True when it got as far as serving.

        Whatever goes wrong ends this connection only: the reason is kept for `status`, and the
        traceback of anything unexpected goes to the log. Only cancellation passes through.
        """
        self.state.state = "starting"
        self._http = HttpNote()
        ready = False
        link: UpstreamLink | None = None
        # Connecting, and then the handshake and the lists, each have a deadline; waiting for the
        # client to say what it can do (the upstream is told exactly that) has none.
        limit = anyio.CancelScope(deadline=anyio.current_time() + self.settings.initialize_timeout)
        phase = "to connect"
        try:
            with limit:
                async with self._connect() as channel, anyio.create_task_group() as tasks:
                    link = UpstreamLink(
                        self.name, channel, on_notification=self._notification, on_request=self._on_request
                    )
                    tasks.start_soon(self._read_then_stop, link, tasks.cancel_scope)
                    limit.deadline = math.inf
                    capabilities = await self._capabilities.wait()
                    phase = "to initialize and list what it offers"
                    limit.deadline = (
                        anyio.current_time() + self.settings.initialize_timeout + self.settings.list_timeout
                    )
                    try:
                        await self._handshake(link, capabilities)
                        await self._list_all(link)
                    except (UpstreamError, TimeoutError) as exc:
                        self.state.reason = exc.detail if isinstance(exc, UpstreamError) else str(exc)
                        tasks.cancel_scope.cancel()
                        return False
                    limit.deadline = math.inf
                    self.link = link
                    ready = True
                    self.state.state = "ready"
                    self.state.reason = None
                    await self._changed()
                    self.first_attempt_done.set()
                    if link.envelope is not None:
                        tasks.start_soon(self._listen, link)
                    tasks.start_soon(self._end_when_login_refused, tasks.cancel_scope)
                    await self._refresh_on_notice(link)
        except Exception as exc:
            self.state.reason = self._http.login_reason or describe_failure(exc)
            if not all(_expected(leaf) for leaf in leaf_errors(exc)):
                logger.warning("upstream %s failed: %s", self.name, self.state.reason, exc_info=exc)
            return ready
        finally:
            self.link = None
            if ready:
                self.state.lists = {}
        if self._http.login_reason and self._http.refused.is_set():
            self.state.reason = self._http.login_reason
        elif limit.cancelled_caught:
            self.state.reason = f"no answer within {self._limit_seconds(phase):g} s {phase}"
        elif link is not None and link.closed and link.close_reason:
            self.state.reason = link.close_reason
        else:
            self.state.reason = "the upstream connection ended"
        return ready

    def _limit_seconds(self, phase: str) -> float:
        if phase == "to connect":
            return self.settings.initialize_timeout
        return self.settings.initialize_timeout + self.settings.list_timeout

    async def _changed(self) -> None:
        # What the gateway does with a change (classify, rebuild the catalog, tell clients) must
        # never end this upstream's supervision.
        try:
            await self._on_change(self)
        except Exception:
            logger.exception("upstream %s: publishing its change failed", self.name)

    async def _end_when_login_refused(self, scope: anyio.CancelScope) -> None:
        """A serving connection whose tokens the server refused for good ends: the upstream needs a login."""
        await self._http.refused.wait()
        scope.cancel()

    async def _read_then_stop(self, link: UpstreamLink, scope: anyio.CancelScope) -> None:
        await link.run()
        scope.cancel()

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[Channel]:
        if self._connector is not None:
            async with self._connector(self.config) as channel:
                yield channel
            return
        async with open_upstream_channel(
            self.config,
            self.settings,
            environ=self._environ,
            registry=self._registry,
            note=self._http,
            tokens=self._tokens,
        ) as channel:
            yield channel

    async def _handshake(self, link: UpstreamLink, capabilities: dict[str, Any]) -> None:
        """Speak the upstream's era: `initialize`, or 2026-07-28 for one that refused the handshake.

        The handshake comes first: over it a dual-era upstream keeps what a handshake-era client
        needs (requests to the client, logging, resource subscriptions), which the gateway can only
        relay from that era. An upstream that answers `initialize` with an error is reconnected
        at once (`retry_now`) and probed with `server/discover`; one that answers it with 2026-07-28
        is spoken to in that era from then on, at every start.
        """
        if self._era == "modern":
            if await self._discover(link):
                return
            self._era = "handshake"
        await self._initialize(link, capabilities)

    async def _discover(self, link: UpstreamLink) -> bool:
        """Probe `server/discover` with the 2026-07-28 envelope: True when the upstream speaks that era."""
        envelope = {
            PROTOCOL_VERSION_KEY: MODERN_VERSIONS[-1],
            CLIENT_CAPABILITIES_KEY: {},
            CLIENT_INFO_KEY: {"name": "inherence-proxy", "version": __version__},
        }
        deadline = self.settings.initialize_timeout
        channel = link.channel if isinstance(link.channel, SdkChannel) else None
        if channel is not None:
            # Over HTTP the probe carries the routing headers of its era, as every request of it does.
            channel.protocol_version, channel.modern = MODERN_VERSIONS[-1], True
        try:
            answer = await link.request("server/discover", {"_meta": envelope}, deadline=deadline)
        except TimeoutError:
            logger.info("upstream %s: no answer to server/discover within %g s", self.name, deadline)
            return False
        finally:
            if channel is not None:
                channel.protocol_version, channel.modern = None, False
        result = answer.get("result")
        versions = result.get("supportedVersions") if isinstance(result, dict) else None
        if not isinstance(result, dict) or not isinstance(versions, list) or MODERN_VERSIONS[-1] not in versions:
            return False
        link.envelope = envelope
        if channel is not None:
            channel.protocol_version, channel.modern = MODERN_VERSIONS[-1], True
            channel.tool_schema = self._tool_schema
        meta = result.get("_meta")
        info = meta.get(SERVER_INFO_KEY) if isinstance(meta, dict) else None
        capabilities = result.get("capabilities")
        self.state.protocol_version = MODERN_VERSIONS[-1]
        self.state.capabilities = capabilities if isinstance(capabilities, dict) else {}
        self.state.server_info = info if isinstance(info, dict) else {}
        return True

    async def _listen(self, link: UpstreamLink) -> None:
        """Keep a `subscriptions/listen` stream open to a 2026-07-28 upstream for the lists it offers.

        Its `list_changed` notifications refresh the lists as a legacy upstream's do; the request
        stays open for the life of the connection. An upstream that refuses it is only not listened to.
        """
        wanted = {
            key: True
            for key, capability in (
                ("toolsListChanged", "tools"),
                ("promptsListChanged", "prompts"),
                ("resourcesListChanged", "resources"),
            )
            if isinstance(self.state.capabilities.get(capability), dict)
            and self.state.capabilities[capability].get("listChanged") is True
        }
        if not wanted:
            return
        try:
            answer = await link.request("subscriptions/listen", {"notifications": wanted}, deadline=_LISTEN_SECONDS)
        except (UpstreamError, TimeoutError):
            return
        if "error" in answer:
            logger.info("upstream %s refused subscriptions/listen: %s", self.name, answer["error"])

    def _tool_schema(self, name: str) -> Any:
        for tool in self.state.lists.get("tools", ()):
            if tool.get("name") == name:
                return tool.get("inputSchema")
        return None

    async def _initialize(self, link: UpstreamLink, capabilities: dict[str, Any]) -> None:
        # Imported once the upstream is already starting, so the import overlaps its start-up.
        from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, LATEST_HANDSHAKE_VERSION

        params = {
            "protocolVersion": LATEST_HANDSHAKE_VERSION,
            "capabilities": capabilities,
            "clientInfo": {"name": "inherence-proxy", "version": __version__},
        }
        try:
            answer = await link.request("initialize", params, deadline=self.settings.initialize_timeout)
        except TimeoutError:
            raise UpstreamStartError(
                f"no answer to initialize within {self.settings.initialize_timeout:g} s", upstream=self.name
            ) from None
        result = answer.get("result")
        if not isinstance(result, dict):
            error = answer.get("error")
            detail = error.get("message", "no result") if isinstance(error, dict) else "no result"
            http = self._http.last_error
            if self._era is None and isinstance(error, dict) and (http is None or http.startswith("HTTP 400")):
                # Refused the handshake itself (a 2026-07-28 server answers -32022): try that era.
                self._era = "modern"
                self.retry_now = True
            # The SDK says "Server returned an error response" for any HTTP error; the status says more.
            if self._http.login_reason:
                raise UpstreamStartError(self._http.login_reason, upstream=self.name)
            raise UpstreamStartError(f"initialize failed: {self._http.last_error or detail}", upstream=self.name)
        version = result.get("protocolVersion")
        if version not in HANDSHAKE_PROTOCOL_VERSIONS:
            raise UpstreamStartError(f"unsupported protocol version {version!r}", upstream=self.name)
        if isinstance(link.channel, SdkChannel):
            link.channel.protocol_version = str(version)
        self.state.protocol_version = str(version)
        self.state.capabilities = result.get("capabilities") or {}
        self.state.server_info = result.get("serverInfo") or {}
        await link.notify("notifications/initialized")

    async def _list_all(self, link: UpstreamLink) -> None:
        """Every list at once: one round trip of start-up instead of four. Raises the first failure."""
        failures: list[UpstreamError | TimeoutError] = []

        async def one(kind: str) -> None:
            try:
                await self._refresh(link, kind)
            except (UpstreamError, TimeoutError) as exc:
                failures.append(exc)

        async with anyio.create_task_group() as lists:
            for kind in LISTS:
                lists.start_soon(one, kind)
        if failures:
            raise failures[0]

    async def _refresh(self, link: UpstreamLink, kind: str) -> None:
        if _CAPABILITY[kind] not in self.state.capabilities:
            self.state.lists[kind] = []
            return
        method, key = LISTS[kind]
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        for _page in range(1000):
            params = {"cursor": cursor} if cursor else None
            try:
                answer = await link.request(method, params, deadline=self.settings.list_timeout)
            except TimeoutError:
                raise UpstreamStartError(f"no answer to {method}", upstream=self.name) from None
            result = answer.get("result")
            if not isinstance(result, dict):
                # An upstream that declares a capability but cannot list it offers nothing of that kind.
                logger.warning("upstream %s: %s failed: %s", self.name, method, answer.get("error"))
                break
            items.extend(item for item in result.get(key) or [] if isinstance(item, dict))
            cursor = result.get("nextCursor")
            if not cursor:
                break
        self.state.lists[kind] = items

    def _notification(self, link: UpstreamLink, message: Message) -> None:
        method = message.get("method")
        kinds = {
            "notifications/tools/list_changed": ("tools",),
            "notifications/resources/list_changed": ("resources", "resource_templates"),
            "notifications/prompts/list_changed": ("prompts",),
        }.get(str(method))
        if kinds:
            self._refresh_wanted.update(kinds)
            self._refresh_event.set()
        self._on_notification(link, message)

    async def _refresh_on_notice(self, link: UpstreamLink) -> None:
        while not link.closed:
            await self._refresh_event.wait()
            self._refresh_event = anyio.Event()
            wanted, self._refresh_wanted = self._refresh_wanted, set()
            try:
                for kind in LISTS:
                    if kind in wanted:
                        await self._refresh(link, kind)
            except (UpstreamError, TimeoutError) as exc:
                logger.warning("upstream %s: refresh failed: %s", self.name, exc)
                continue
            await self._changed()
