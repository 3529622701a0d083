"""A session keeps no trace of calls it has answered, however fast they were answered."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

from inherence_policy_client import Classification, DecideRequest, Decision, ToolDescription, Verdict
from inherence_proxy_core import Gateway, LineChannel, UpstreamConfig


class DenyAll:
    """Decides without waiting for anything, so a refusal can be answered in the task's first step."""

    async def decide(self, request: DecideRequest) -> Decision:
        return Decision(decision=Verdict.DENY, reason="no", receipt_id="r")

    async def classify(self, tools: Sequence[ToolDescription]) -> list[Classification]:
        return [Classification(name=t.name, category="read_only", source="test", confidence=1.0) for t in tools]


class Lines(anyio.abc.ByteReceiveStream):
    def __init__(self, receive: Any) -> None:
        self._receive = receive

    async def receive(self, max_bytes: int = 65536) -> bytes:
        try:
            return await self._receive.receive()  # type: ignore[no-any-return]
        except anyio.EndOfStream:
            raise
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.EndOfStream from None

    async def aclose(self) -> None:
        await self._receive.aclose()


class Answers(anyio.abc.ByteSendStream):
    """Takes each write at once, without waiting, as a pipe with room does."""

    def __init__(self, expected: int) -> None:
        self.messages: list[dict[str, Any]] = []
        self.expected = expected
        self.all_in = anyio.Event()

    async def send(self, item: bytes) -> None:
        self.messages.append(json.loads(item))
        if len(self.messages) == self.expected:
            self.all_in.set()

    async def aclose(self) -> None:
        return None


async def test_calls_answered_at_once_leave_nothing_in_flight(kit) -> None:
    upstream = kit.FakeUpstream("files")
    harness = kit.Harness([upstream], kit.ScriptedPolicy())
    send, receive = anyio.create_memory_object_stream[bytes](100)
    answers = Answers(expected=20)
    config = UpstreamConfig("files", command=["unused"])
    async with (
        send,
        receive,
        Gateway([config], policy=DenyAll(), settings=kit.FAST, connector=harness.connect, environ={}) as gateway,
        anyio.create_task_group() as tasks,
    ):
        tasks.start_soon(gateway.serve, LineChannel(Lines(receive), answers))
        for number in range(1, 21):
            call = {"jsonrpc": "2.0", "id": number, "method": "tools/call", "params": {"name": "files__echo"}}
            await send.send(json.dumps(call).encode() + b"\n")
        with anyio.fail_after(5):
            await answers.all_in.wait()
        (session,) = gateway.hub.sessions
        assert sorted(m["id"] for m in answers.messages) == list(range(1, 21))
        assert all(json.loads(m["result"]["content"][0]["text"])["error"] == "POLICY_DENIAL" for m in answers.messages)
        assert session._in_flight == {}
        assert session._relays == set()
        await send.aclose()
    assert upstream.tool_calls == []
