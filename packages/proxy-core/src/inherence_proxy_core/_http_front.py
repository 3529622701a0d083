"""The gateway as a streamable HTTP MCP server at `/mcp`, on loopback, safe against DNS rebinding.

A web page the user visits can make their browser send requests to 127.0.0.1 under a hostname
the attacker controls (DNS rebinding), or straight from its own origin. So every request must
name a loopback host in `Host` (or a host the caller allowed explicitly), and an `Origin`, when
there is one, must be a loopback origin; anything else gets 403 before it reaches MCP. The server
binds 127.0.0.1 unless told otherwise, and a non-loopback address needs `allow_remote=True`.

A session exists only once a client initialized it: only a POST of an `initialize` request without
`Mcp-Session-Id` creates one, and one whose initialize was refused (a wrong Accept or content type)
is dropped at once, so rejected requests leave nothing behind. Each session gets a transport of
its own (`HttpSession`: plain dicts, one JSON decode a message, no SDK models) and a client
connection of its own on the gateway; later requests carrying its id go to
that transport, but only from the client that created it (the same peer address and User-Agent):
to anyone else the id does not exist. Sessions end when idle for `session_idle_timeout` seconds,
and at most `max_sessions` live at once.

A POST without a session id whose body carries the MCP 2026-07-28 envelope is served statelessly
by `_http_modern`, its headers checked against its body first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import secrets
import socket
import time
import urllib.parse
from collections.abc import Collection, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc

from inherence_policy_client import is_loopback
from inherence_proxy_core._channel import _decode, encode
from inherence_proxy_core._errors import GatewayUsageError
from inherence_proxy_core._http_modern import ModernHttp, is_modern_body, wants_stream
from inherence_proxy_core._http_session import HttpSession, read_body
from inherence_proxy_core._modern import MODERN_VERSIONS

if TYPE_CHECKING:
    from inherence_proxy_core._gateway import Gateway

__all__ = ["LOOPBACK_HOSTS", "HttpFront", "serve_http"]

logger = logging.getLogger("inherence_proxy_core.http")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
_SESSION_HEADER = "mcp-session-id"
MAX_SESSIONS = 256
SESSION_IDLE_TIMEOUT = 30 * 60.0
# An initialize request is small; a larger first body is not one and is not read further.
_MAX_INITIALIZE_BYTES = 1024 * 1024


@dataclasses.dataclass
class _Session:
    transport: HttpSession
    owner: tuple[str, str]
    last_used: float
    # Requests being served (an open GET stream among them) keep a session from going idle.
    in_flight: int = 0
    scope: anyio.CancelScope = dataclasses.field(default_factory=anyio.CancelScope)


def _owner(scope: dict[str, Any], headers: dict[str, str]) -> tuple[str, str]:
    """Who a request comes from, as far as HTTP can tell: its peer host and its User-Agent."""
    client = scope.get("client") or ("", 0)
    return (str(client[0]), headers.get("user-agent", ""))


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
        max_sessions: int = MAX_SESSIONS,
        session_idle_timeout: float = SESSION_IDLE_TIMEOUT,
    ) -> None:
        self._gateway = gateway
        self._tasks = tasks
        self._allowed = {host.strip("[]").lower() for host in allowed_hosts}
        self._path = path.rstrip("/")
        self._sessions: dict[str, _Session] = {}
        self._max_sessions = max_sessions
        self._idle_timeout = session_idle_timeout
        self._sweeping = False
        self._modern: ModernHttp | None = None

    @property
    def session_count(self) -> int:
        return len(self._sessions)

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
        # RFC 9110 5.5: the whitespace around a field value is not part of it.
        headers = {k.decode("latin-1").lower(): v.decode("latin-1").strip(" \t") for k, v in scope.get("headers", [])}
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
            await self._existing(session_id, scope, headers, receive, send)
            return
        if scope.get("method") in ("GET", "DELETE") and headers.get("mcp-protocol-version") in MODERN_VERSIONS:
            # The 2026-07-28 path keeps no session and no stream to open or end.
            await _json_error(send, 405, "Method Not Allowed: MCP 2026-07-28 is served by POST only", allow=b"POST")
            return
        await self._initialize(scope, headers, receive, send)

    async def _existing(
        self, session_id: str, scope: dict[str, Any], headers: dict[str, str], receive: Any, send: Any
    ) -> None:
        session = self._sessions.get(session_id)
        if session is None or not secrets.compare_digest(repr(session.owner), repr(_owner(scope, headers))):
            await _json_error(send, 404, "Session not found")
            return
        session.in_flight += 1
        try:
            await session.transport.handle_request(scope, headers, receive, send)
        finally:
            session.in_flight -= 1
            session.last_used = time.monotonic()
            if session.transport.is_terminated:
                self._end(session_id)

    async def _initialize(self, scope: dict[str, Any], headers: dict[str, str], receive: Any, send: Any) -> None:
        """Create a session for an `initialize` POST; answer anything else without creating one."""
        if scope.get("method") != "POST":
            await _json_error(send, 400, "Bad Request: no Mcp-Session-Id; a session starts with initialize")
            return
        body = await read_body(receive, self._gateway.settings.max_message_bytes)
        if body is None:
            await _json_error(send, 413, f"Payload Too Large: over {self._gateway.settings.max_message_bytes} bytes")
            return
        message = _decode(body)
        if is_modern_body(message, headers):
            assert isinstance(message, dict)
            await self._modern_request(scope, headers, message, send)
            return
        if len(body) > _MAX_INITIALIZE_BYTES or not _is_initialize(message):
            await _json_error(send, 400, "Bad Request: no Mcp-Session-Id; a session starts with initialize")
            return
        if len(self._sessions) >= self._max_sessions:
            self._expire_idle()
        if len(self._sessions) >= self._max_sessions:
            logger.warning("refused a new HTTP session: %d sessions are open", len(self._sessions))
            await _json_error(send, 503, "Too many sessions; retry later")
            return
        session_id = secrets.token_hex(16)
        transport = HttpSession(session_id, max_body_bytes=self._gateway.settings.max_message_bytes)
        session = _Session(transport, _owner(scope, headers), time.monotonic())
        self._sessions[session_id] = session
        self._start_sweeper()
        await self._tasks.start(self._serve_session, session_id, session)
        status = 0

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await transport.handle_request(scope, headers, _replay(body, receive), tracking_send)
        if status >= 400 or transport.is_terminated:
            # Refused before the gateway saw it (Accept, content type): the session never began.
            self._end(session_id)

    async def _modern_request(
        self, scope: dict[str, Any], headers: dict[str, str], message: dict[str, Any], send: Any
    ) -> None:
        """One 2026-07-28 request: headers checked against the body, served, answered as JSON."""
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in scope.get("headers", [])]
        if self._modern is None:
            self._modern = ModernHttp(self._gateway.hub)
        streaming = finished = False

        async def emit(note: dict[str, Any]) -> None:
            nonlocal streaming
            if finished:
                return  # a progress note that lost the race with the answer: the stream has ended
            if not streaming:
                streaming = True
                stream_headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
                await send({"type": "http.response.start", "status": 200, "headers": stream_headers})
            await send({"type": "http.response.body", "body": _event(note), "more_body": True})

        owner = _owner(scope, headers)
        status, answer = await self._modern.answer(
            message, headers, raw, owner, emit if wants_stream(message, headers) else None
        )
        finished = True
        if streaming:
            # The answer ends the stream its progress went on.
            await send({"type": "http.response.body", "body": _event(answer) if answer is not None else b""})
            return
        if answer is None:
            await send({"type": "http.response.start", "status": status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = encode(answer)
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    def _end(self, session_id: str) -> None:
        session = self._sessions.pop(session_id, None)
        if session is not None:
            session.scope.cancel()

    def _expire_idle(self) -> None:
        now = time.monotonic()
        for session_id, session in list(self._sessions.items()):
            if now - session.last_used > self._idle_timeout and not session.in_flight:
                logger.info("HTTP session %s… ended after %.0f s idle", session_id[:8], now - session.last_used)
                self._end(session_id)

    def _start_sweeper(self) -> None:
        if not self._sweeping:
            self._sweeping = True
            self._tasks.start_soon(self._sweep)

    async def _sweep(self) -> None:
        try:
            while self._sessions:
                await anyio.sleep(min(self._idle_timeout / 4, 60.0))
                self._expire_idle()
        finally:
            self._sweeping = False

    async def _serve_session(
        self, session_id: str, session: _Session, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        try:
            with session.scope:
                task_status.started()
                await self._gateway.serve(session.transport)
        except Exception:
            logger.exception("an HTTP client session ended with an error")
        finally:
            if self._sessions.get(session_id) is session:
                del self._sessions[session_id]
            session.transport.terminate()


def _event(message: dict[str, Any]) -> bytes:
    return b"event: message\ndata: " + encode(message).rstrip(b"\n") + b"\n\n"


def _is_initialize(message: object) -> bool:
    return isinstance(message, dict) and message.get("method") == "initialize" and "id" in message


def _replay(body: bytes, receive: Any) -> Any:
    """A `receive` that hands out `body` once, then what the connection says next (a disconnect)."""
    sent = False

    async def replayed() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        message: dict[str, Any] = await receive()
        return message

    return replayed


async def _json_error(send: Any, status: int, message: str, *, allow: bytes | None = None) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": message}}).encode()
    headers = [(b"content-type", b"application/json")]
    if allow is not None:
        headers.append((b"allow", allow))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


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
            # No proxy in front is trusted (`X-Forwarded-For` would rewrite the peer a session is bound
            # to), and no Server or Date header is built for every answer.
            config = uvicorn.Config(
                app,
                lifespan="off",
                log_config=None,
                access_log=False,
                ws="none",
                proxy_headers=False,
                server_header=False,
                date_header=False,
            )
            server = uvicorn.Server(config)
            # The embedding program owns the signals; cancelling this task stops the server.
            server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
            task_status.started(sock.getsockname()[1])
            try:
                await server.serve(sockets=[sock])
            finally:
                server.should_exit = True
                tasks.cancel_scope.cancel()
