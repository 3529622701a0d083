"""The gateway as a streamable HTTP MCP server at `/mcp`, on loopback, safe against DNS rebinding.

A web page the user visits can make their browser send requests to 127.0.0.1 under a hostname
the attacker controls (DNS rebinding), or straight from its own origin. So every request must
name a loopback host in `Host` (or a host the caller allowed explicitly), and an `Origin`, when
there is one, must be a loopback origin; anything else gets 403 before it reaches MCP. The server
binds 127.0.0.1 unless told otherwise, and a non-loopback address needs `allow_remote=True`.

Each MCP session (a request without `Mcp-Session-Id`) gets the SDK's server transport and a
client connection of its own on the gateway; later requests carrying its id go to that transport.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import urllib.parse
import uuid
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from inherence_policy_client import is_loopback
from inherence_proxy_core._channel import SdkChannel
from inherence_proxy_core._errors import GatewayUsageError

if TYPE_CHECKING:
    from mcp.server.streamable_http import StreamableHTTPServerTransport

    from inherence_proxy_core._gateway import Gateway

__all__ = ["LOOPBACK_HOSTS", "HttpFront", "serve_http"]

logger = logging.getLogger("inherence_proxy_core.http")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SESSION_HEADER = "mcp-session-id"


def _host_name(value: str) -> str:
    """The host of a `Host` header without its port (`[::1]:8000` -> `::1`)."""
    if value.startswith("["):
        return value[1:].partition("]")[0].lower()
    return value.rpartition(":")[0].lower() if value.count(":") == 1 else value.lower()


class HttpFront:
    """The ASGI app: checks Host and Origin, then routes `/mcp` requests to one transport per session."""

    def __init__(
        self,
        gateway: Gateway,
        tasks: anyio.abc.TaskGroup,
        *,
        allowed_hosts: Collection[str] = LOOPBACK_HOSTS,
        path: str = "/mcp",
    ) -> None:
        self._gateway = gateway
        self._tasks = tasks
        self._allowed = {host.strip("[]").lower() for host in allowed_hosts}
        self._path = path.rstrip("/")
        self._sessions: dict[str, StreamableHTTPServerTransport] = {}

    def refusal(self, headers: dict[str, str]) -> str | None:
        """Why a request with these headers must not reach MCP, or None when it may."""
        host = _host_name(headers.get("host", ""))
        if not host or (host not in self._allowed and not (is_loopback(host) and self._allowed & LOOPBACK_HOSTS)):
            return "Host is not an address this server answers on"
        origin = headers.get("origin")
        if origin is not None:
            origin_host = urllib.parse.urlsplit(origin).hostname
            if origin_host is None or not (is_loopback(origin_host) or origin_host.lower() in self._allowed):
                return "Origin is not allowed"
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        refusal = self.refusal(headers)
        if refusal is not None:
            logger.warning(
                "refused an HTTP request: %s (Host %r, Origin %r)", refusal, headers.get("host"), headers.get("origin")
            )
            await _plain(send, 403, refusal.encode())
            return
        if scope.get("path", "").rstrip("/") != self._path:
            await _plain(send, 404, f"not found: the MCP endpoint is {self._path}".encode())
            return
        session_id = headers.get(_SESSION_HEADER)
        if session_id is not None:
            transport = self._sessions.get(session_id)
            if transport is None:
                await _plain(send, 404, b"session not found")
                return
            await transport.handle_request(scope, receive, send)
            if transport.is_terminated:
                self._sessions.pop(session_id, None)
            return
        from mcp.server.streamable_http import StreamableHTTPServerTransport

        transport = StreamableHTTPServerTransport(mcp_session_id=uuid.uuid4().hex)
        assert transport.mcp_session_id is not None
        self._sessions[transport.mcp_session_id] = transport
        await self._tasks.start(self._serve_session, transport)
        await transport.handle_request(scope, receive, send)

    async def _serve_session(
        self, transport: StreamableHTTPServerTransport, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        try:
            async with transport.connect() as (read_stream, write_stream):
                task_status.started()
                await self._gateway.serve(SdkChannel(read_stream, write_stream, server_side=True))
        except Exception:
            logger.exception("an HTTP client session ended with an error")
        finally:
            if transport.mcp_session_id is not None:
                self._sessions.pop(transport.mcp_session_id, None)


async def _plain(send: Any, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body})


async def serve_http(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    allow_remote: bool = False,
    allowed_hosts: Collection[str] = (),
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `gateway` over streamable HTTP at `http://host:port/mcp` until cancelled.

    Binds loopback only unless `allow_remote`; `allowed_hosts` adds names clients may use in
    `Host` (the bound address itself always counts). With `task_status` (`await tasks.start(...)`)
    the bound port is reported once the socket listens, so port 0 picks a free one.
    """
    import uvicorn

    if not is_loopback(host) and not allow_remote:
        raise GatewayUsageError(f"refusing to serve HTTP on {host!r}: not a loopback address (allow_remote=True)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    with contextlib.ExitStack() as closing:
        closing.callback(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
        sock.setblocking(False)
        hosts = {*LOOPBACK_HOSTS, *allowed_hosts} if is_loopback(host) else {host, *allowed_hosts}
        async with anyio.create_task_group() as tasks:
            app = HttpFront(gateway, tasks, allowed_hosts=hosts)
            config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, ws="none")
            server = uvicorn.Server(config)
            # The embedding program owns the signals; cancelling this task stops the server.
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            task_status.started(sock.getsockname()[1])
            try:
                await server.serve(sockets=[sock])
            finally:
                server.should_exit = True
                tasks.cancel_scope.cancel()
