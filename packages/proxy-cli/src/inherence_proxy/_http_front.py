"""`serve --http HOST:PORT`: the gateway as a streamable HTTP MCP server at `/mcp`.

Each MCP session (one `initialize` without a session id) gets the SDK's server transport and
its own client connection on the gateway; later requests carrying the session id go to that
transport. The SDK's session manager is tied to its own server class, so this small router
does the same bookkeeping for the gateway's channel instead.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import anyio
import anyio.abc
import uvicorn
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport

from inherence_proxy_core import Gateway, SdkChannel

__all__ = ["HttpFront", "parse_listen_address", "serve_http"]

logger = logging.getLogger("inherence_proxy.http")
_Scope = dict[str, Any]


def parse_listen_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (IPv6 in brackets) -> (host, port); ValueError with a readable reason."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not HOST:PORT (for example 127.0.0.1:8765)")
    port = int(port_text)
    if not 0 < port < 65536:
        raise ValueError(f"port {port} is not between 1 and 65535")
    return host.strip("[]"), port


class HttpFront:
    """The ASGI app: routes MCP requests at `/mcp` to one transport per session."""

    def __init__(self, gateway: Gateway, tasks: anyio.abc.TaskGroup) -> None:
        self._gateway = gateway
        self._tasks = tasks
        self._sessions: dict[str, StreamableHTTPServerTransport] = {}

    async def __call__(self, scope: _Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope.get("path", "").rstrip("/") != "/mcp":
            await _plain(send, 404, b"not found: the MCP endpoint is /mcp")
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}
        session_id = headers.get(MCP_SESSION_ID_HEADER.lower())
        if session_id is not None:
            transport = self._sessions.get(session_id)
            if transport is None:
                await _plain(send, 404, b"session not found")
                return
            await transport.handle_request(scope, receive, send)
            if transport.is_terminated:
                self._sessions.pop(session_id, None)
            return
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


async def serve_http(gateway: Gateway, host: str, port: int) -> None:
    """Serve until cancelled. uvicorn's own logging goes to the proxy log, never to stdout."""
    async with anyio.create_task_group() as tasks:
        config = uvicorn.Config(
            HttpFront(gateway, tasks), host=host, port=port, lifespan="off", log_config=None, access_log=False
        )
        server = uvicorn.Server(config)
        # uvicorn would take over SIGINT/SIGTERM; the proxy handles signals itself and cancels this task.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        try:
            await server.serve()
        finally:
            server.should_exit = True
            tasks.cancel_scope.cancel()
