"""Message channels: JSON-RPC messages as plain dicts over a byte stream or over the SDK's streams.

The gateway relays most messages without looking inside them, so a channel parses each
message once into a dict and serialises it once on the way out. A line that is not a JSON
object arrives as `Malformed`, so a peer's garbage is answered instead of ending the session.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import re
import sys
from collections.abc import Callable
from typing import Any, Protocol

import anyio
import anyio.abc

from inherence_proxy_core._pipes import PipeSink, PipeSource

__all__ = ["Channel", "LineChannel", "Malformed", "Message", "SdkChannel"]

Message = dict[str, Any]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603


@dataclasses.dataclass(frozen=True)
class Malformed:
    """Something arrived that is not a JSON-RPC message; `code` is the JSON-RPC error to answer.

    `request_id` is the id of an oversized request, when its first bytes named one, so that the
    refusal reaches the caller that waits for it.
    """

    detail: str
    code: int = PARSE_ERROR
    request_id: Any = None


# An id near the start of a message, the way JSON-RPC libraries write it (`{"jsonrpc":"2.0","id":7,...`).
_LEADING_ID = re.compile(
    rb'^\s*\{(?:\s*"(?:jsonrpc|method)"\s*:\s*"[^"]*"\s*,)*'  # "jsonrpc" and "method" may come first
    rb'\s*"id"\s*:\s*(-?\d{1,18}|"[^"\\]{0,200}")'
)


def leading_id(head: bytes) -> Any:
    """The JSON-RPC id at the start of `head` (an integer or a string), or None."""
    match = _LEADING_ID.match(head)
    return json.loads(match.group(1)) if match else None


class Channel(Protocol):
    async def receive(self) -> Message | Malformed:
        """The next message; raises `anyio.EndOfStream` when the peer is gone."""
        ...

    async def send(self, message: Message, *, related_id: Any = None) -> None: ...

    async def aclose(self) -> None: ...


def error_response(request_id: Any, code: int, message: str, data: Any = None) -> Message:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _json_encoder(*, ensure_ascii: bool) -> Callable[[Any], str]:
    """A compact JSON encoder made once: `json.dumps` with any option builds a new one per call,
    and `JSONEncoder.encode` a new C encoder per call, each costing more than a typical message."""
    fallback = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return fallback
    escape = json.encoder.encode_basestring_ascii if ensure_ascii else json.encoder.encode_basestring
    # No check for cycles: every message is parsed JSON or built here, and neither can hold one.
    chunks = make(None, json.JSONEncoder().default, escape, None, ":", ",", False, False, True)
    return lambda value: "".join(chunks(value, 0))


_encode_json = _json_encoder(ensure_ascii=False)
_encode_json_ascii = _json_encoder(ensure_ascii=True)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    # Called only for numbers with a fraction or an exponent; integers never come here.
    value = float(text)
    if value - value != 0.0:
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 4300:
        raise ValueError(f"an integer of {len(text)} digits")
    return int(text)


# Python's own limit on integer digits (3.11, and late 3.10 releases) keeps a huge integer from
# costing quadratic time; where it is missing, integers are checked here, at a cost only there.
# UTF-8 only (MCP's stdio framing); bytes that are not are malformed input. NaN, Infinity and
# numbers beyond a double are refused: no other JSON parser would read them back the same.
_decode_json = json.JSONDecoder(
    parse_constant=_refuse_constant,
    parse_float=_finite_float,
    parse_int=None if hasattr(sys, "get_int_max_str_digits") else _bounded_int,
).decode


# Deeper than any real message; past it a message is refused before anything walks it recursively.
MAX_DEPTH = 512


def _too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether containers nest deeper than `limit`: a walk over containers only, without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _decode(line: bytes) -> Message | Malformed:
    try:
        value = _decode_json(line.decode("utf-8"))
        # Python 3.12's decoder reads a thousand levels without a RecursionError; what walks the message
        # afterwards might not. Only a line with that many brackets can nest that deep: the count is cheap.
        if line.count(b"[") + line.count(b"{") > MAX_DEPTH and _too_deep(value):
            raise RecursionError
    except RecursionError:
        # The decoder recurses per level of nesting; past its limit the message is refused, not fatal.
        return Malformed("message nested too deeply", INVALID_REQUEST, request_id=leading_id(line[:512]))
    except UnicodeDecodeError:
        return Malformed("not JSON (not UTF-8)", request_id=leading_id(line[:512]))
    except ValueError as exc:
        return Malformed(f"not JSON ({str(exc)[:160]})", request_id=leading_id(line[:512]))
    if not isinstance(value, dict):
        return Malformed("not a JSON-RPC message object", INVALID_REQUEST)
    if (b"\\ud" in line or b"\\uD" in line) and _holds_lone_surrogate(value):
        detail = "a string holds a lone surrogate (\\ud800-\\udfff), which is not text"
        request_id = value.get("id")
        return Malformed(detail, INVALID_REQUEST, request_id=request_id if isinstance(request_id, (int, str)) else None)
    return value


def _holds_lone_surrogate(value: Message) -> bool:
    # Only for the rare line with a surrogate escape: a pair makes one character, a lone one cannot be UTF-8.
    try:
        _encode_json(value).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def encode(message: Message) -> bytes:
    try:
        return _encode_json(message).encode("utf-8") + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate ("\\ud800" is valid JSON) has no UTF-8 form: pass it on escaped, as it came.
        return _encode_json_ascii(message).encode("ascii") + b"\n"


class _Framer:
    """Cuts a byte stream into messages, one a line. A line over `max_bytes` is dropped as it
    streams in and becomes one `Malformed` refusal, carrying the id its first bytes named."""

    def __init__(self, max_bytes: int) -> None:
        self._max = max_bytes
        self._buffer = bytearray()
        self._scanned = 0
        self._skipping = False
        self._skipped_id: Any = None

    def feed(self, data: bytes, out: collections.deque[Message | Malformed]) -> None:
        if (
            data[:1] == b"{"
            and not self._buffer
            and not self._skipping
            and len(data) <= self._max
            and data.find(b"\n") == len(data) - 1
        ):
            # The common case: one whole message in one chunk, with nothing before or after it.
            out.append(_decode(data))
            return
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n", self._scanned)
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            self._scanned = 0
            if self._skipping:
                self._skipping = False
                detail = f"message larger than {self._max} bytes"
                out.append(Malformed(detail, INVALID_REQUEST, request_id=self._skipped_id))
            elif line.strip():
                out.append(_decode(line))
        self._scanned = len(self._buffer)
        if self._scanned > self._max:
            # Drop what we have and the rest of this line; refuse it once it ends.
            if not self._skipping:
                self._skipped_id = leading_id(bytes(self._buffer[:512]))
            self._buffer.clear()
            self._scanned = 0
            self._skipping = True


class LineChannel:
    """Newline-delimited JSON over a pair of byte streams (stdio of a process or of this process)."""

    def __init__(
        self,
        reader: anyio.abc.ByteReceiveStream,
        writer: anyio.abc.ByteSendStream,
        *,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._framer = _Framer(max_message_bytes)
        self._ready: collections.deque[Message | Malformed] = collections.deque()
        # A pipe sink takes each item whole before it can wait, so it needs no lock; any other writer
        # does, or two messages could interleave. fast_acquire: an uncontended send must not yield.
        self._sink = writer if isinstance(writer, PipeSink) else None
        self._lock = anyio.Lock(fast_acquire=True)

    async def receive(self) -> Message | Malformed:
        while not self._ready:
            try:
                chunk = await self._reader.receive(1 << 18)
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                raise anyio.EndOfStream from None
            self._framer.feed(chunk, self._ready)
        return self._ready.popleft()

    async def pump(self, deliver: Deliver) -> None:
        """Hand each message to `deliver` until the stream ends or `deliver` returns False.

        Over a `PipeSource` the messages are handed over in the loop's own I/O callback, with
        no task woken in between: the reading side of the relay's hot path.
        """
        ready = self._ready
        while ready:
            if not deliver(ready.popleft()):
                return
        reader = self._reader
        if not isinstance(reader, PipeSource):
            await _pump_by_receiving(self, deliver)
            return
        framer = self._framer

        def on_bytes(data: bytes) -> None:
            framer.feed(data, ready)
            while ready:
                if not deliver(ready.popleft()):
                    reader.detach()
                    return

        await reader.attach(on_bytes)

    async def send(self, message: Message, *, related_id: Any = None) -> None:
        data = encode(message)
        try:
            if self._sink is not None:
                if not self._sink.write_now(data):
                    await self._sink.drain()
            else:
                async with self._lock:
                    await self._writer.send(data)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError):
            raise anyio.BrokenResourceError from None

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for stream in (self._writer, self._reader):
                with contextlib.suppress(OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                    await stream.aclose()


Deliver = Callable[[Message | Malformed], bool]


async def pump(channel: Channel, deliver: Deliver) -> None:
    """Hand each message of `channel` to `deliver` until the peer is gone or `deliver` returns False.

    `deliver` must not block. A channel that hands messages over itself (`pump`: a `LineChannel`
    over a pipe, from the loop's I/O callback; an HTTP session, from the request that carried
    the message) calls it directly; any other channel from a loop of `receive()`.
    """
    handing_over = getattr(channel, "pump", None)
    if handing_over is not None:
        await handing_over(deliver)
    else:
        await _pump_by_receiving(channel, deliver)


async def _pump_by_receiving(channel: Channel, deliver: Deliver) -> None:
    while True:
        try:
            message = await channel.receive()
        except anyio.EndOfStream:
            return
        if not deliver(message):
            return


class SdkChannel:
    """A channel over the `mcp` SDK's transport streams of `SessionMessage`.

    Used for HTTP and SSE upstreams (the SDK's client transports) and for the streamable HTTP
    front (the SDK's server transport). `server_side` picks the metadata the transport needs:
    the related request of a notification on the server side, the protocol header on the client side.
    """

    def __init__(self, read_stream: Any, write_stream: Any, *, server_side: bool) -> None:
        self._read = read_stream
        self._write = write_stream
        self._server_side = server_side
        self.protocol_version: str | None = None
        # Towards a 2026-07-28 upstream: each request's routing headers, mirrored from its body.
        self.modern = False
        # The input schema of an upstream tool by name, for the `Mcp-Param-*` headers it mirrors.
        self.tool_schema: Callable[[str], Any] = lambda name: None

    async def receive(self) -> Message | Malformed:
        try:
            item = await self._read.receive()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.EndOfStream from None
        if isinstance(item, Exception):
            return Malformed(f"transport error ({type(item).__name__})")
        dumped: Message = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        return dumped

    async def send(self, message: Message, *, related_id: Any = None) -> None:
        # The SDK is imported here, not at module level: a gateway with stdio only never needs it,
        # and importing it costs about half a second of start-up.
        from mcp.shared.message import ClientMessageMetadata, ServerMessageMetadata, SessionMessage
        from mcp_types.jsonrpc import jsonrpc_message_adapter

        envelope = jsonrpc_message_adapter.validate_python(message)
        metadata: ServerMessageMetadata | ClientMessageMetadata | None = None
        if self._server_side:
            if related_id is not None:
                metadata = ServerMessageMetadata(related_request_id=related_id)
        elif self.protocol_version is not None:
            headers = {"mcp-protocol-version": self.protocol_version}
            if self.modern and "method" in message:
                headers.update(self._routing_headers(message))
            metadata = ClientMessageMetadata(headers=headers)
        try:
            await self._write.send(SessionMessage(envelope, metadata=metadata))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.BrokenResourceError from None

    def _routing_headers(self, message: Message) -> dict[str, str]:
        """`Mcp-Method`, `Mcp-Name` and `Mcp-Param-*` of a request to a 2026-07-28 upstream, from its body."""
        from mcp.shared.inbound import (
            NAME_BEARING_METHODS,
            encode_header_value,
            find_invalid_x_mcp_header,
            mcp_param_headers,
            x_mcp_header_map,
        )

        method = str(message["method"])
        headers = {"mcp-method": method}
        params = message.get("params")
        if not isinstance(params, dict):
            return headers
        name_key = NAME_BEARING_METHODS.get(method)
        name = params.get(name_key) if name_key is not None else None
        if isinstance(name, str):
            headers["mcp-name"] = encode_header_value(name)
        if method == "tools/call" and isinstance(name, str):
            schema = self.tool_schema(name)
            arguments = params.get("arguments")
            if schema is not None and find_invalid_x_mcp_header(schema) is None and isinstance(arguments, dict):
                headers.update(mcp_param_headers(x_mcp_header_map(schema), arguments))
        return headers

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            await self._write.aclose()
