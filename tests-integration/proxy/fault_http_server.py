"""An HTTP server on loopback that fails the way a remote MCP server can, one way per process.

    python fault_http_server.py MODE

It prints its port as its first line and serves until its stdin ends. It speaks HTTP/1.1 by hand
(no framework) so that each fault is exactly what it says. MODE is one of:

* `status:CODE` - every request is answered with HTTP CODE and a plain-text body;
* `html` - every request gets 200 with an HTML page (a web server, not an MCP server);
* `hang` - requests are read and never answered;
* `plain` - each connection gets a plain-text HTTP 400 at once, before anything is read (what a
  client speaking TLS to a plain-HTTP port meets);
* `drop-call` - a working MCP server (streamable HTTP at `/mcp`, SSE at `/sse`) with a tool `echo`,
  except that a `tools/call` gets its connection (or, over SSE, its event stream) closed unanswered;
* `oversize:N` - the same server, whose answer to `tools/call` is N bytes long.
"""

from __future__ import annotations

import asyncio
import http
import json
import sys
from typing import Any

TOOL = {"name": "echo", "description": "Echoes.", "inputSchema": {"type": "object"}}


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return method, path, body


def response(status: int, body: bytes, content_type: str = "application/json") -> bytes:
    phrase = http.HTTPStatus(status).phrase
    head = f"HTTP/1.1 {status} {phrase}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode() + body


def answer(message: dict[str, Any], mode: str) -> dict[str, Any] | None:
    """The JSON-RPC answer of the working server; None for a notification or a call to drop."""
    method, params = message.get("method"), message.get("params") or {}
    if "id" not in message:
        return None
    if method == "initialize":
        result: dict[str, Any] = {
            "protocolVersion": params.get("protocolVersion"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "faulty", "version": "1"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call" and mode.startswith("oversize:"):
        result = {"content": [{"type": "text", "text": "x" * int(mode.split(":")[1])}]}
    elif method == "tools/call":
        return None
    else:
        result = {}
    return {"jsonrpc": "2.0", "id": message["id"], "result": result}


class Server:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.streams: dict[str, asyncio.Queue[bytes | None]] = {}

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.mode == "plain":
            writer.write(response(400, b"this is plain HTTP", "text/plain"))
            await writer.drain()
            writer.close()
            return
        try:
            while (request := await read_request(reader)) is not None:
                if not await self.one(request, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def one(self, request: tuple[str, str, bytes], writer: asyncio.StreamWriter) -> bool:
        """Answer one request; False closes the connection."""
        method, path, body = request
        mode = self.mode
        if mode.startswith("status:"):
            writer.write(response(int(mode.split(":")[1]), b"go away", "text/plain"))
            return True
        if mode == "html":
            writer.write(response(200, b"<html><body>It works!</body></html>", "text/html"))
            return True
        if mode == "hang":
            await asyncio.sleep(3600)
            return False
        if method == "GET" and path.startswith("/sse"):
            await self.sse(writer)
            return False
        if method != "POST":
            writer.write(response(405, b"", "text/plain"))
            return True
        message = json.loads(body)
        reply = answer(message, mode)
        if path.startswith("/messages"):
            queue = self.streams[path.partition("session=")[2]]
            writer.write(response(202, b"", "text/plain"))
            if message.get("method") == "tools/call" and reply is None:
                await queue.put(None)
            elif reply is not None:
                await queue.put(json.dumps(reply).encode())
            return True
        if reply is None and message.get("method") == "tools/call":
            return False  # the connection closes with the call unanswered
        writer.write(response(202, b"", "text/plain") if reply is None else response(200, json.dumps(reply).encode()))
        return True

    async def sse(self, writer: asyncio.StreamWriter) -> None:
        session = str(len(self.streams) + 1)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.streams[session] = queue
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n")
        writer.write(f"event: endpoint\ndata: /messages?session={session}\n\n".encode())
        await writer.drain()
        while (event := await queue.get()) is not None:
            writer.write(b"event: message\ndata: " + event + b"\n\n")
            await writer.drain()


async def main() -> None:
    server = Server(sys.argv[1])
    listening = await asyncio.start_server(server.connection, "127.0.0.1", 0)
    sys.stdout.write(f"{listening.sockets[0].getsockname()[1]}\n")
    sys.stdout.flush()
    loop = asyncio.get_running_loop()
    # The test that started this server closes its stdin to end it.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    listening.close()


if __name__ == "__main__":
    asyncio.run(main())
