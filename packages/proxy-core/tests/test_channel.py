"""The line channel refuses an oversized message without losing the session or the caller."""

from __future__ import annotations

import json

import anyio
import anyio.abc
import anyio.lowlevel
import pytest

from inherence_proxy_core import LineChannel, Malformed
from inherence_proxy_core._channel import leading_id
from inherence_proxy_core._pipes import PipeSource


class Chunks(anyio.abc.ByteReceiveStream):
    """A byte stream that hands out `data` in pieces of 4 KiB, then ends."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._data:
            raise anyio.EndOfStream
        chunk, self._data = self._data[:4096], self._data[4096:]
        return chunk

    async def aclose(self) -> None:
        return None


class Sink(anyio.abc.ByteSendStream):
    async def send(self, item: bytes) -> None:
        return None

    async def aclose(self) -> None:
        return None


async def _receive_all(data: bytes, limit: int) -> list[object]:
    channel = LineChannel(Chunks(data), Sink(), max_message_bytes=limit)
    out: list[object] = []
    while True:
        try:
            out.append(await channel.receive())
        except anyio.EndOfStream:
            return out


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":"tools/call"', 7),
        (b'{"method": "x", "id": "abc"', "abc"),
        (b'{"params":{"id":3}}', None),
        (b"not json", None),
    ],
)
def test_the_id_of_a_message_is_read_from_its_first_bytes(head: bytes, expected: object) -> None:
    assert leading_id(head) == expected


async def test_an_oversized_request_is_refused_with_its_own_id_and_the_next_one_arrives() -> None:
    big = json.dumps({"jsonrpc": "2.0", "id": 41, "method": "tools/call", "params": {"x": "a" * 50_000}})
    small = json.dumps({"jsonrpc": "2.0", "id": 42, "method": "ping"})
    received = await _receive_all(f"{big}\n{small}\n".encode(), limit=10_000)
    assert received[0] == Malformed("message larger than 10000 bytes", -32600, request_id=41)
    assert received[1] == {"jsonrpc": "2.0", "id": 42, "method": "ping"}


class Recorder(anyio.abc.ByteSendStream):
    def __init__(self) -> None:
        self.items: list[bytes] = []

    async def send(self, item: bytes) -> None:
        self.items.append(item)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":1,"params":{"n":123456789012345678901234567890,"x":0.1,"e":1e+20,"z":null}}',
        '{"id":2,"params":{"text":"żółw 🐢 \\" \\\\ \\n"}}'.encode(),
        b'{"id":3,"params":{"pair":"\\ud83d\\udc22","raw":"\xf0\x9f\x90\xa2"}}',
    ],
    ids=["numbers", "unicode", "surrogate-pair"],
)
async def test_a_message_goes_out_with_the_same_values_it_came_in_with(line: bytes) -> None:
    received = await _receive_all(line + b"\n", 1 << 20)
    assert len(received) == 1
    message = received[0]
    assert isinstance(message, dict)
    sink = Recorder()
    await LineChannel(Chunks(b""), sink).send(message)
    (out,) = sink.items
    assert out.endswith(b"\n")
    assert out.count(b"\n") == 1
    assert json.loads(out) == json.loads(line)


async def test_bytes_that_are_not_utf8_json_are_malformed_and_the_next_line_still_arrives() -> None:
    received = await _receive_all(b'{"id":1,"p":"\xff"}\n[1,2]\n{"id":2}\n', 1 << 20)
    assert isinstance(received[0], Malformed)
    assert isinstance(received[1], Malformed)
    assert received[1].code == -32600
    assert received[2] == {"id": 2}


class GivenChunks(anyio.abc.ByteReceiveStream):
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = list(chunks)

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._chunks:
            raise anyio.EndOfStream
        return self._chunks.pop(0)

    async def aclose(self) -> None:
        return None


async def test_the_tail_of_an_oversized_line_is_not_taken_for_a_message_of_its_own() -> None:
    chunks = [b'{"id":5,"text":"' + b"x" * 300, b'{"id":99}\n', b'{"id":6}\n']
    channel = LineChannel(GivenChunks(chunks), Sink(), max_message_bytes=100)
    first = await channel.receive()
    assert isinstance(first, Malformed)
    assert first.request_id == 5
    assert await channel.receive() == {"id": 6}


async def test_a_pipe_hands_out_at_most_what_was_asked_for_then_the_rest_then_its_end() -> None:
    source = PipeSource()
    source.feed(b"abcdef")
    source.feed(b"gh")
    source.end()
    assert await source.receive(4) == b"abcd"
    assert await source.receive(4) == b"ef"
    assert await source.receive(4) == b"gh"
    with pytest.raises(anyio.EndOfStream):
        await source.receive(4)


async def test_a_pipe_pushes_what_it_holds_and_what_comes_after_to_an_attached_reader() -> None:
    source = PipeSource()
    source.feed(b"early ")
    seen: list[bytes] = []

    async def feed_later() -> None:
        await anyio.lowlevel.checkpoint()
        source.feed(b"late")
        source.end()

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(feed_later)
        with anyio.fail_after(5):
            await source.attach(seen.append)
    assert seen == [b"early ", b"late"]


DEEP = b'{"jsonrpc":"2.0","id":9,"method":"tools/call","params":' + b'{"a":' * 1000 + b"1" + b"}" * 1001 + b"\n"


@pytest.mark.parametrize(
    ("line", "detail"),
    [
        (DEEP, "nested too deeply"),
        (b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"n":NaN}}\n', "NaN is not a JSON number"),
        (b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"n":-Infinity}}\n', "-Infinity is not a JSON number"),
        (b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"n":1e999}}\n', "number 1e999 is out of range"),
        (b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"n":' + b"9" * 5000 + b"}}\n", "digits"),
        (b'{"jsonrpc":"2.0","id":9,"method":"x","params":{"s":"\\udc00 alone"}}\n', "lone surrogate"),
    ],
    ids=["deep", "nan", "infinity", "huge-float", "huge-int", "lone-surrogate"],
)
async def test_a_message_json_cannot_carry_faithfully_is_refused_with_its_id_and_the_next_arrives(
    line: bytes, detail: str
) -> None:
    received = await _receive_all(line + b'{"id":10}\n', 1 << 20)
    assert len(received) == 2
    refused = received[0]
    assert isinstance(refused, Malformed)
    assert refused.request_id == 9
    assert detail in refused.detail
    assert received[1] == {"id": 10}


async def test_a_reader_that_detaches_while_taking_what_was_already_there_gets_nothing_more() -> None:
    source = PipeSource()
    source.feed(b"first")
    source.feed(b"second")
    seen: list[bytes] = []

    def take(data: bytes) -> None:
        seen.append(data)
        source.detach()

    with anyio.fail_after(5):
        await source.attach(take)
    source.feed(b"third")
    assert seen == [b"first"]
    assert await source.receive() == b"second"
