"""In-memory upstreams and clients for the gateway's unit tests: no processes, no sockets."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest

from inherence_policy_client import PolicyClient
from inherence_policy_client.testing import ScriptedPolicy
from inherence_proxy_core import Gateway, GatewaySettings, UpstreamConfig

Message = dict[str, Any]


class MemoryChannel:
    """One end of an in-memory message pipe; messages are copied through JSON as on a wire."""

    def __init__(self, send: Any, receive: Any) -> None:
        self._send = send
        self._receive = receive

    async def receive(self) -> Message:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.EndOfStream from None

    async def send(self, message: Message, *, related_id: Any = None) -> None:
        try:
            await self._send.send(json.loads(json.dumps(message)))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            raise anyio.BrokenResourceError from None

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def channel_pair() -> tuple[MemoryChannel, MemoryChannel]:
    a_send, b_receive = anyio.create_memory_object_stream[Message](100)
    b_send, a_receive = anyio.create_memory_object_stream[Message](100)
    return MemoryChannel(a_send, a_receive), MemoryChannel(b_send, b_receive)


def echo_tool(name: str, description: str = "echoes its arguments", **extra: Any) -> Message:
    schema = {"type": "object", "properties": {"text": {"type": ["string", "null"]}, "nested": {"type": "object"}}}
    return {"name": name, "description": description, "inputSchema": schema, **extra}


class FakeUpstream:
    """A scripted MCP server that records every request it receives."""

    def __init__(self, name: str, tools: list[Message] | None = None) -> None:
        self.name = name
        self.tools = tools if tools is not None else [echo_tool("echo")]
        self.resources = [{"uri": f"memo://{name}/note", "name": "note", "mimeType": "text/plain"}]
        self.prompts = [{"name": "greet", "arguments": [{"name": "who"}]}]
        self.calls: list[Message] = []
        self.received: list[Message] = []
        self.hang_initialize = False
        self.slow_call = anyio.Event()
        self.channel: MemoryChannel | None = None
        self.starts = 0
        self.client_requests: list[Message] = []
        self.client_answered = anyio.Event()
        self.refuse: Exception | None = None
        # Speaks only MCP 2026-07-28: refuses initialize, answers server/discover.
        self.modern_only = False
        # Results given to the next calls (tools, reads, prompts), in order, before the usual ones.
        self.scripted: list[Message] = []
        # Tool name -> the JSON-RPC error a call of it is answered with.
        self.errors: dict[str, Message] = {}

    @property
    def tool_calls(self) -> list[Message]:
        return [c for c in self.calls if c["method"] == "tools/call"]

    async def notify(self, method: str, params: Message | None = None) -> None:
        assert self.channel is not None
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        await self.channel.send(message)

    async def kill(self) -> None:
        if self.channel is not None:
            await self.channel.aclose()

    async def serve(self, channel: MemoryChannel) -> None:
        self.channel = channel
        self.starts += 1
        async with anyio.create_task_group() as tasks:
            while True:
                try:
                    message = await channel.receive()
                except anyio.EndOfStream:
                    break
                self.received.append(message)
                if "method" in message and "id" in message:
                    tasks.start_soon(self._answer, channel, message)
                elif "method" not in message:
                    self.client_requests.append(message)
                    self.client_answered.set()
            tasks.cancel_scope.cancel()

    async def _answer(self, channel: MemoryChannel, message: Message) -> None:
        method, params = message["method"], message.get("params") or {}
        if method == "server/discover" and self.modern_only:
            offers = {"tools": {}, "resources": {}, "prompts": {}}
            result = {"supportedVersions": ["2026-07-28"], "capabilities": offers, "resultType": "complete"}
            await channel.send({"jsonrpc": "2.0", "id": message["id"], "result": result})
            return
        if method == "server/discover" or (method == "initialize" and self.modern_only):
            # What each era does not know: the probe for a handshake server, the handshake for a modern one.
            error = {"code": -32022 if self.modern_only else -32601, "message": "not this era"}
            await channel.send({"jsonrpc": "2.0", "id": message["id"], "error": error})
            return
        if method == "initialize":
            if self.hang_initialize:
                await anyio.sleep_forever()
            result: Message = {
                "protocolVersion": params["protocolVersion"],
                "capabilities": {"tools": {"listChanged": True}, "resources": {}, "prompts": {}, "logging": {}},
                "serverInfo": {"name": self.name, "version": "1"},
            }
        elif method == "tools/list":
            result = {"tools": copy.deepcopy(self.tools)}
        elif method == "resources/list":
            result = {"resources": self.resources}
        elif method == "resources/templates/list":
            result = {"resourceTemplates": []}
        elif method == "prompts/list":
            result = {"prompts": self.prompts}
        else:
            self.calls.append(message)
            if method == "tools/call" and params.get("name") in self.errors:
                await channel.send({"jsonrpc": "2.0", "id": message["id"], "error": self.errors[params["name"]]})
                return
            result = await self._call(channel, method, params)
        await channel.send({"jsonrpc": "2.0", "id": message["id"], "result": result})

    async def _call(self, channel: MemoryChannel, method: str, params: Message) -> Message:
        if self.scripted:
            return self.scripted.pop(0)
        if method == "tools/call":
            token = (params.get("_meta") or {}).get("progressToken")
            if token is not None:
                await self.notify("notifications/progress", {"progressToken": token, "progress": 1, "total": 2})
            if params["name"] == "slow":
                await self.slow_call.wait()
            if params["name"] == "ask":
                answer = await self.request_client(channel, "sampling/createMessage", {"messages": [], "maxTokens": 5})
                return {"content": [{"type": "text", "text": json.dumps(answer)}]}
            return {
                "content": [{"type": "text", "text": json.dumps(params.get("arguments"))}],
                "structuredContent": {"arguments": params.get("arguments")},
                "_meta": {"upstream": self.name},
            }
        if method == "resources/read":
            return {"contents": [{"uri": params["uri"], "text": f"note of {self.name}"}]}
        if method == "prompts/get":
            return {"messages": [{"role": "user", "content": {"type": "text", "text": f"hi {params['arguments']}"}}]}
        return {}

    async def request_client(self, channel: MemoryChannel, method: str, params: Message) -> Message:
        await channel.send({"jsonrpc": "2.0", "id": "up-1", "method": method, "params": params})
        with anyio.fail_after(5):
            await self.client_answered.wait()
        return self.client_requests.pop(0)


class TestClient:
    """A client speaking JSON-RPC to the gateway over an in-memory channel."""

    def __init__(self, channel: MemoryChannel) -> None:
        self.channel = channel
        self.notifications: list[Message] = []
        self.requests: list[Message] = []
        self._answers: dict[Any, Message] = {}
        self._next = 0
        self._arrived = anyio.Event()
        self.on_request: Callable[[Message], Message] | None = None

    async def pump(self) -> None:
        while True:
            try:
                message = await self.channel.receive()
            except anyio.EndOfStream:
                return
            self._arrived.set()
            self._arrived = anyio.Event()
            if "method" not in message:
                self._answers[message.get("id")] = message
            elif "id" in message:
                self.requests.append(message)
                if self.on_request is not None:
                    answer = {"jsonrpc": "2.0", "id": message["id"], "result": self.on_request(message)}
                    await self.channel.send(answer)
            else:
                self.notifications.append(message)

    async def request(self, method: str, params: Message | None = None, *, request_id: Any = None) -> Message:
        self._next += 1
        request_id = request_id if request_id is not None else self._next
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        await self.channel.send(message)
        return await self.answer(request_id)

    async def answer(self, request_id: Any, within: float = 10) -> Message:
        with anyio.fail_after(within):
            while request_id not in self._answers:
                await self._next_message()
        return self._answers.pop(request_id)

    async def _next_message(self) -> None:
        arrived = self._arrived
        with anyio.move_on_after(0.05):
            await arrived.wait()

    async def initialize(self, capabilities: Message | None = None) -> Message:
        params = {"protocolVersion": "2025-11-25", "capabilities": capabilities or {}, "clientInfo": {"name": "t"}}
        answer = await self.request("initialize", params)
        await self.channel.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def call(self, name: str, arguments: Any = None, **params: Any) -> Message:
        body = {"name": name, **params}
        if arguments is not None:
            body["arguments"] = arguments
        return (await self.request("tools/call", body))["result"]

    async def wait_for(self, method: str, within: float = 10) -> Message:
        with anyio.fail_after(within):
            while True:
                for note in self.notifications:
                    if note["method"] == method:
                        self.notifications.remove(note)
                        return note
                await self._next_message()


FAST = GatewaySettings(
    initialize_timeout=1.0,
    restart_backoff_initial=0.05,
    restart_backoff_max=0.2,
    ready_wait=2.0,
    shutdown_grace=0.1,
)


class Harness:
    def __init__(self, upstreams: list[FakeUpstream], policy: ScriptedPolicy) -> None:
        self.upstreams = {u.name: u for u in upstreams}
        self.policy = policy
        self.gateway: Gateway | None = None

    @contextlib.asynccontextmanager
    async def connect(self, config: UpstreamConfig) -> AsyncIterator[MemoryChannel]:
        refusal = self.upstreams[config.name].refuse
        if refusal is not None:

            async def fail() -> None:
                raise refusal

            # As the SDK's HTTP transports fail: from a task of their own, inside a group.
            async with anyio.create_task_group() as failing:
                failing.start_soon(fail)
        ours, theirs = channel_pair()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(self.upstreams[config.name].serve, theirs)
            try:
                yield ours
            finally:
                await theirs.aclose()
                await ours.aclose()
                tasks.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def running(
    upstreams: list[FakeUpstream],
    policy: ScriptedPolicy | None = None,
    *,
    home: Any = None,
    capabilities: Message | None = None,
    settings: GatewaySettings = FAST,
    now: Callable[[], datetime.datetime] | None = None,
) -> AsyncIterator[tuple[Gateway, TestClient, ScriptedPolicy]]:
    policy = policy or ScriptedPolicy()
    harness = Harness(upstreams, policy)
    configs = [UpstreamConfig(u.name, command=["unused"]) for u in upstreams]
    clock = {} if now is None else {"now": now}
    async with (
        PolicyClient("inh_test", base_url="https://policy.test", transport=policy.transport) as client,
        Gateway(
            configs, policy=client, home=home, settings=settings, connector=harness.connect, environ={}, **clock
        ) as gateway,
        anyio.create_task_group() as tasks,
    ):
        ours, theirs = channel_pair()
        test_client = TestClient(ours)
        tasks.start_soon(gateway.serve, theirs)
        tasks.start_soon(test_client.pump)
        # Upstreams are initialized with what the client declares, so they are ready only after it has.
        await test_client.initialize(capabilities)
        await gateway.wait_ready(5)
        # The notices of upstreams that came up are sent before the answer to this ping: start clean.
        await test_client.request("ping")
        test_client.notifications.clear()
        try:
            yield gateway, test_client, policy
        finally:
            await ours.aclose()
            await theirs.aclose()
            tasks.cancel_scope.cancel()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Kit:
    """The helpers above, handed to tests as a fixture (tests cannot import conftest)."""

    FakeUpstream = FakeUpstream
    TestClient = TestClient
    echo_tool = staticmethod(echo_tool)
    running = staticmethod(running)
    channel_pair = staticmethod(channel_pair)
    Harness = Harness
    ScriptedPolicy = ScriptedPolicy
    FAST = FAST


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
