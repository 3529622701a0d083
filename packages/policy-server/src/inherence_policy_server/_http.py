"""Raw ASGI plumbing for the hot path: bounded body reads, JSON answers, the bearer key.

The endpoints are plain ASGI callables, so a decide costs one `receive` loop and one
`send` pair and nothing else; Starlette only routes to them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = [
    "ASGIReceive",
    "ASGISend",
    "BodyTooLarge",
    "ClientGone",
    "bearer_token",
    "content_length",
    "json_problem",
    "read_body",
    "send_json",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIReceive = Callable[[], Awaitable[Message]]
ASGISend = Callable[[Message], Awaitable[None]]

_JSON_HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class BodyTooLarge(Exception):
    """The request body passed the size limit; reading stopped there."""


class ClientGone(Exception):
    """The client disconnected before the whole body arrived."""


def content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def bearer_token(scope: Scope) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() != b"bearer" or not token.strip():
                return None
            try:
                return str(token.strip().decode("ascii"))
            except UnicodeDecodeError:
                return None
    return None


async def read_body(receive: ASGIReceive, limit: int) -> bytes:
    """The whole body, read chunk by chunk; `BodyTooLarge` as soon as it passes `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_json(
    send: ASGISend, status: int, body: bytes, extra_headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [*_JSON_HEADERS, (b"content-length", str(len(body)).encode())]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def json_problem(kind: str, detail: str) -> bytes:
    """A small JSON error body (`detail` is ours, never echoed input)."""
    return json.dumps({"error": kind, "detail": detail}, separators=(",", ":")).encode()
