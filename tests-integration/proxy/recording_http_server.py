"""The recording server over HTTP: streamable HTTP at `/mcp` and the older SSE transport at `/sse`.

    RECORD_FILE=/tmp/record.jsonl python recording_http_server.py

It prints the port it listens on (127.0.0.1, a free port) as its first line, then serves the same
tools, resource and prompt as `recording_server.py`, through the `mcp` SDK's server transports,
and appends every gated request to the record file.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import uuid
from typing import Any

import anyio
import anyio.abc
import uvicorn
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import MCP_SESSION_ID_HEADER, StreamableHTTPServerTransport
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import jsonrpc_message_adapter
from recording_server import answer


def note(record: str, message: dict[str, Any]) -> None:
    with open(record, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(message) + "\n")


async def serve_messages(read_stream: Any, write_stream: Any) -> None:
    """Answer each request that arrives on the SDK's streams, recording the gated ones."""
    record = os.environ["RECORD_FILE"]
    async for item in read_stream:
        if isinstance(item, Exception):
            continue
        message = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        if "id" not in message or "method" not in message:
            continue
        method, params = message["method"], message.get("params") or {}
        if method in ("tools/call", "resources/read", "prompts/get"):
            note(record, message)
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer(method, params)}
        await write_stream.send(SessionMessage(jsonrpc_message_adapter.validate_python(reply)))


class App:
    def __init__(self, tasks: anyio.abc.TaskGroup) -> None:
        self.tasks = tasks
        self.sessions: dict[str, StreamableHTTPServerTransport] = {}
        self.sse = SseServerTransport("/messages/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/messages"):
            await self.sse.handle_post_message(scope, receive, send)
        elif path == "/sse":
            async with self.sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
                await serve_messages(read_stream, write_stream)
        elif path == "/mcp":
            await self.streamable(scope, receive, send)
        else:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    async def streamable(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        session_id = headers.get(MCP_SESSION_ID_HEADER.lower())
        transport = self.sessions.get(session_id or "")
        if transport is None:
            transport = StreamableHTTPServerTransport(mcp_session_id=uuid.uuid4().hex)
            assert transport.mcp_session_id is not None
            self.sessions[transport.mcp_session_id] = transport
            await self.tasks.start(self.run_session, transport)
        await transport.handle_request(scope, receive, send)

    async def run_session(
        self, transport: StreamableHTTPServerTransport, *, task_status: anyio.abc.TaskStatus[None]
    ) -> None:
        async with transport.connect() as (read_stream, write_stream):
            task_status.started()
            await serve_messages(read_stream, write_stream)


async def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    sys.stdout.write(f"{sock.getsockname()[1]}\n")
    sys.stdout.flush()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(until_stdin_ends, tasks.cancel_scope)
        config = uvicorn.Config(App(tasks), lifespan="off", log_level="warning", ws="none")
        await uvicorn.Server(config).serve(sockets=[sock])
        tasks.cancel_scope.cancel()


async def until_stdin_ends(scope: anyio.CancelScope) -> None:
    """The test that started this server closes its stdin to end it."""
    while await anyio.to_thread.run_sync(sys.stdin.buffer.read1, 4096, abandon_on_cancel=True):
        pass
    scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
