"""Input asked for during a call, bridged between the eras, through the gateway on stdio.

A 2026-07-28 upstream asks with `input_required` results: a handshake-era client is asked through
elicitation, sampling and roots requests, and the gateway retries the call with the answers. A
handshake-era upstream asks with requests of its own: a 2026-07-28 client gets them as an
`input_required` round under a sealed state of the gateway's, and its retry gives the answers to
the upstream. Every part is a real process: the gateway (`run_gateway.py`), the SDK's modern server
(`modern_server.py`, its tool `ask`), server-everything (its `trigger-elicitation-request` tool),
the SDK's `Client`, and the fake hosted policy.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import pathlib
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from fake_policy import Allow
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CreateMessageResult, ElicitResult, ListRootsResult, Root, TextContent

from inherence_proxy_core import LineChannel

HERE = pathlib.Path(__file__).parent
PROTOCOL = "io.modelcontextprotocol/protocolVersion"
CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"


def write_config(tmp_path: pathlib.Path, upstream: dict[str, Any], policy: Any = None, **settings: Any) -> pathlib.Path:
    config = {
        "upstreams": [upstream],
        "policy": policy.base_url if policy is not None else "allow-all",
        "api_key": policy.api_key if policy is not None else None,
        "home": str(tmp_path / "home"),
        "settings": {"decide_timeout": 3.0, **settings},
    }
    path = tmp_path / "gateway.json"
    path.write_text(json.dumps(config))
    return path


def params_of(config: pathlib.Path) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=[str(HERE / "run_gateway.py"), str(config)])


def modern_upstream(tmp_path: pathlib.Path) -> dict[str, Any]:
    env = {"RECORD_FILE": str(tmp_path / "up.jsonl"), "ERA": "modern"}
    return {"name": "up", "command": [sys.executable, str(HERE / "modern_server.py")], "env": env}


def told(result: Any) -> Any:
    """What the `ask` tool returned: its text content, as JSON."""
    return json.loads(result.content[0].text)


def recorded(tmp_path: pathlib.Path, method: str) -> list[dict[str, Any]]:
    record = tmp_path / "up.jsonl"
    lines = record.read_text().splitlines() if record.exists() else []
    return [entry for entry in map(json.loads, lines) if entry["method"] == method]


async def listed_once_ready(client: Client, name: str) -> None:
    """Wait until `name` is listed: an upstream that refuses the handshake is started a second time."""
    with anyio.fail_after(60):
        while True:
            if name in {tool.name for tool in (await client.list_tools()).tools}:
                return
            await anyio.sleep(0.1)


class LineClient:
    """JSON-RPC requests written as given, over the gateway's stdio: for what an SDK client never sends."""

    def __init__(self, channel: LineChannel) -> None:
        self.channel = channel
        self._ids = itertools.count(1)

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        await self.channel.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        with anyio.fail_after(60):
            while True:
                answer = await self.channel.receive()
                if isinstance(answer, dict) and answer.get("id") == request_id and "method" not in answer:
                    return answer


@contextlib.asynccontextmanager
async def line_client(config: pathlib.Path) -> AsyncIterator[LineClient]:
    command = [sys.executable, str(HERE / "run_gateway.py"), str(config)]
    async with await anyio.open_process(command, stderr=None) as process:
        assert process.stdout is not None
        assert process.stdin is not None
        try:
            yield LineClient(LineChannel(process.stdout, process.stdin))
        finally:
            await process.stdin.aclose()
            with anyio.fail_after(30):
                await process.wait()


async def test_a_legacy_client_answers_a_modern_upstreams_questions(tmp_path, fake_policy) -> None:
    fake_policy.decide(Allow())
    config = write_config(tmp_path, modern_upstream(tmp_path), fake_policy)
    questions: list[str] = []

    async def answer(context: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        return ElicitResult(action="accept", content={"name": f"Ada {len(questions)}"})

    async with Client(params_of(config), mode="legacy", elicitation_callback=answer) as client:
        await listed_once_ready(client, "up__ask")
        result = await client.call_tool("up__ask", {"kind": "elicit", "rounds": 2})
        version = client.protocol_version
    assert version == "2025-11-25"
    assert result.is_error is False
    assert questions == ["question 1: your name?", "question 2: your name?"]
    assert told(result) == {"answers": {"q2": {"action": "accept", "content": {"name": "Ada 2"}}}, "state": "asked:2"}
    # The upstream saw each answer, with its own state echoed unchanged.
    inputs = recorded(tmp_path, "input")
    assert [entry["state"] for entry in inputs] == ["asked:1", "asked:2"]
    assert inputs[0]["responses"] == {"q1": {"action": "accept", "content": {"name": "Ada 1"}}}
    # Three requests upstream, all of the call the policy allowed, decided once.
    arrived = recorded(tmp_path, "tools/call")
    assert [entry["params"]["arguments"] for entry in arrived] == [{"kind": "elicit", "rounds": 2}] * 3
    assert [request.json["tool_name"] for request in fake_policy.requests_to("decide")] == ["up__ask"]


async def test_a_legacy_client_answers_sampling_and_roots_of_a_modern_upstream(tmp_path) -> None:
    config = write_config(tmp_path, modern_upstream(tmp_path))

    async def sample(context: Any, params: Any) -> CreateMessageResult:
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text="hello"), model="m")

    async def roots(context: Any) -> ListRootsResult:
        return ListRootsResult(roots=[Root(uri="file:///work", name="work")])  # type: ignore[arg-type]

    async with Client(params_of(config), mode="legacy", sampling_callback=sample, list_roots_callback=roots) as client:
        await listed_once_ready(client, "up__ask")
        sampled = await client.call_tool("up__ask", {"kind": "sample"})
        rooted = await client.call_tool("up__ask", {"kind": "roots"})
    assert sampled.is_error is False
    assert told(sampled)["answers"]["q1"]["content"] == {"type": "text", "text": "hello"}
    assert rooted.is_error is False
    assert told(rooted)["answers"]["q1"]["roots"] == [{"uri": "file:///work", "name": "work"}]


@pytest.mark.parametrize("kind", ["elicit", "roots"])
async def test_a_legacy_client_that_cannot_answer_is_told_why(tmp_path, kind) -> None:
    config = write_config(tmp_path, modern_upstream(tmp_path))
    async with Client(params_of(config), mode="legacy") as client:
        await listed_once_ready(client, "up__ask")
        result = await client.call_tool("up__ask", {"kind": kind})
    assert result.is_error is True
    refusal = json.loads(result.content[0].text)  # type: ignore[union-attr]
    assert refusal["error"] == "UPSTREAM_ERROR"
    capability = "elicitation" if kind == "elicit" else "roots"
    assert f"did not declare the {capability} capability" in refusal["detail"]
    assert recorded(tmp_path, "input") == []


def everything_upstream(kit: Any) -> dict[str, Any]:
    return {"name": "every", "command": kit.everything()}


async def test_a_modern_client_answers_a_legacy_upstreams_elicitation(kit, tmp_path, fake_policy) -> None:
    fake_policy.decide(Allow())
    config = write_config(tmp_path, everything_upstream(kit), fake_policy)
    questions: list[str] = []

    async def answer(context: Any, params: Any) -> ElicitResult:
        questions.append(params.message)
        return ElicitResult(action="accept", content={"name": "Ada Lovelace", "check": True})

    async with Client(params_of(config), mode="2026-07-28", elicitation_callback=answer) as client:
        await listed_once_ready(client, "every__trigger-elicitation-request")
        result = await client.call_tool("every__trigger-elicitation-request", {})
        version = client.protocol_version
    assert version == "2026-07-28"
    assert questions == ["Please provide inputs for the following fields:"]
    assert result.is_error is False
    assert result.result_type == "complete"
    text = " ".join(part.text for part in result.content if isinstance(part, TextContent))
    # The upstream got the answer the client gave, and says so in its result.
    assert "Ada Lovelace" in text
    # One decision: the retry that carried the answer continues the allowed call, it is not a new one.
    decided = [request.json["tool_name"] for request in fake_policy.requests_to("decide")]
    assert decided == ["every__trigger-elicitation-request"]


ELICITING = {"elicitation": {"form": {}}}


async def test_a_held_calls_state_is_sealed_bound_and_spent_once(kit, tmp_path) -> None:
    config = write_config(tmp_path, everything_upstream(kit))
    envelope = {PROTOCOL: "2026-07-28", CAPABILITIES: ELICITING}
    call = {"name": "every__trigger-elicitation-request", "arguments": {}, "_meta": envelope}
    async with line_client(config) as client:
        with anyio.fail_after(60):
            while True:
                listed = await client.request("tools/list", {"_meta": envelope})
                if call["name"] in {tool["name"] for tool in listed["result"]["tools"]}:
                    break
                await anyio.sleep(0.1)
        first = (await client.request("tools/call", call))["result"]
        [(key, question)] = first["inputRequests"].items()
        state = first["requestState"]
        answers = {key: {"action": "accept", "content": {"name": "Grace Hopper"}}}
        body, _, mac = state.partition(".")[2].partition(".")
        forged = await client.request(
            "tools/call", {**call, "inputResponses": answers, "requestState": f"inh1.{body[:-2]}xx.{mac}"}
        )
        swapped = await client.request(
            "tools/call", {**call, "arguments": {"other": 1}, "inputResponses": answers, "requestState": state}
        )
        other_tool = await client.request(
            "tools/call", {**call, "name": "every__echo", "inputResponses": answers, "requestState": state}
        )
        honest = await client.request("tools/call", {**call, "inputResponses": answers, "requestState": state})
        replayed = await client.request("tools/call", {**call, "inputResponses": answers, "requestState": state})
    assert first["resultType"] == "input_required"
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"] == "Please provide inputs for the following fields:"
    assert state.startswith("inh1.")
    for refused in (forged, swapped, other_tool):
        assert refused["error"]["code"] == -32602
        assert "requestState refused" in refused["error"]["message"]
    assert "another call" in swapped["error"]["message"]
    assert honest["result"]["resultType"] == "complete"
    assert "Grace Hopper" in json.dumps(honest["result"]["content"])
    assert replayed["error"]["code"] == -32602
    assert "used already" in replayed["error"]["message"]


@contextlib.contextmanager
def gateway_over_http(tmp_path: pathlib.Path, upstream: dict[str, Any]) -> Iterator[str]:
    """The gateway as a real process serving HTTP in front of `upstream`; its /mcp URL."""
    config = write_config(tmp_path, upstream)
    settings = json.loads(config.read_text())
    config.write_text(json.dumps({**settings, "http": True}))
    argv = [sys.executable, str(HERE / "run_gateway.py"), str(config)]
    with open(tmp_path / "gateway.err", "wb") as stderr:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip():
            pytest.fail(f"the gateway printed no port: {(tmp_path / 'gateway.err').read_text()}")
        yield f"http://127.0.0.1:{int(line)}/mcp"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


async def test_a_held_call_spans_stateless_http_requests(kit, tmp_path) -> None:
    """Over HTTP each request is an exchange of its own: the held call waits between the two."""
    answered: list[str] = []

    async def answer(context: Any, params: Any) -> ElicitResult:
        answered.append(params.message)
        return ElicitResult(action="accept", content={"name": "Katherine Johnson"})

    with gateway_over_http(tmp_path, everything_upstream(kit)) as url:
        async with Client(url, mode="2026-07-28", elicitation_callback=answer) as client:
            await listed_once_ready(client, "every__trigger-elicitation-request")
            result = await client.call_tool("every__trigger-elicitation-request", {})
    assert answered == ["Please provide inputs for the following fields:"]
    assert result.is_error is False
    assert "Katherine Johnson" in " ".join(part.text for part in result.content if isinstance(part, TextContent))
