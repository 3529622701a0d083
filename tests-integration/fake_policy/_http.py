"""Just enough HTTP/1.1 to serve the hosted protocol and to break it on purpose.

A web framework would hide the byte stream; faults like "close before the first answer byte"
or "send the head, never the body" need the stream itself, so requests are parsed by hand.
Supported: request line, headers, a Content-Length body, keep-alive. Chunked request bodies are
answered 501 and the connection closed: the clients under test always send a length.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

MAX_HEAD_LINE = 16 * 1024
MAX_HEADERS = 100
MAX_BODY = 16 * 1024 * 1024


class BadRequest(Exception):
    """The client sent something this server cannot parse; answered with `status`, then the connection closes."""

    def __init__(self, detail: str, *, status: int = 400) -> None:
        super().__init__(detail)
        self.status = status


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    version: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def keep_alive(self) -> bool:
        tokens = {token.strip().lower() for token in (self.header("connection") or "").split(",")}
        if self.version == "HTTP/1.0":
            return "keep-alive" in tokens
        return "close" not in tokens


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as error:
        raise BadRequest("header line too long", status=431) from error
    if len(line) > MAX_HEAD_LINE:
        raise BadRequest("header line too long", status=431)
    return line.rstrip(b"\r\n")


async def read_head(reader: asyncio.StreamReader) -> RequestHead | None:
    """The next request's head, or None when the client closed the connection between requests."""
    try:
        line = await _read_line(reader)
        while not line:  # RFC 9112 2.2: ignore empty lines before a request line
            line = await _read_line(reader)
    except asyncio.IncompleteReadError as error:
        if error.partial.strip():
            raise BadRequest("connection closed inside the request line") from error
        return None
    parts = line.decode("latin-1").split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"bad request line {line[:80]!r}")
    method, target, version = parts
    headers: list[tuple[str, str]] = []
    while True:
        try:
            line = await _read_line(reader)
        except asyncio.IncompleteReadError as error:
            raise BadRequest("connection closed inside the headers") from error
        if not line:
            break
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest(f"bad header line {line[:80]!r}")
        headers.append((name, value.strip()))
        if len(headers) > MAX_HEADERS:
            raise BadRequest("too many headers", status=431)
    return RequestHead(method=method, target=target, version=version, headers=tuple(headers))


async def read_body(reader: asyncio.StreamReader, head: RequestHead) -> bytes:
    if head.header("transfer-encoding") is not None:
        raise BadRequest("chunked request bodies are not supported", status=501)
    raw_length = head.header("content-length")
    if raw_length is None:
        return b""
    if not raw_length.isdigit():
        raise BadRequest(f"bad Content-Length {raw_length!r}")
    length = int(raw_length)
    if length > MAX_BODY:
        raise BadRequest("body too large", status=413)
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as error:
        raise BadRequest("connection closed inside the body") from error


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def bodiless(status: int) -> bool:
    """Statuses that carry no body and no Content-Length (RFC 9110 6.4.1)."""
    return 100 <= status < 200 or status in (204, 304)


def encode_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {reason_phrase(status)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
