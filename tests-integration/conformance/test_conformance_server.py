"""The conformance server asks its questions in the client's era: as requests, or as input_required rounds.

The suite exercises the 2026-07-28 rounds; these tests also cover the handshake era, which no
scenario of the suite calls these tools in. The server runs as a real stdio subprocess.
"""

from __future__ import annotations

import pathlib
import sys
from typing import Any

import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

SERVER = pathlib.Path(__file__).parent / "conformance_server.py"


class Answers:
    """A client's side of the questions: it answers each kind and counts what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def elicit(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked.append(params.message)
        field = next(iter(params.requested_schema["properties"]))
        return types.ElicitResult(action="accept", content={field: f"my {field}"})

    async def sample(self, context: Any, params: Any) -> types.CreateMessageResult:
        self.asked.append(params.messages[0].content.text)
        return types.CreateMessageResult(
            role="assistant", content=types.TextContent(text="Paris"), model="test-model", stop_reason="endTurn"
        )

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.asked.append("roots")
        return types.ListRootsResult(roots=[types.Root(uri="file:///work", name="work")])


def _client(answers: Answers, mode: str, era: str = "dual") -> Client:
    command = StdioServerParameters(command=sys.executable, args=[str(SERVER), "--stdio", "--era", era])
    return Client(
        command,
        mode=mode,  # type: ignore[arg-type]
        elicitation_callback=answers.elicit,
        sampling_callback=answers.sample,
        list_roots_callback=answers.roots,
    )


def _text(result: Any) -> str:
    return "".join(block.text for block in result.content if isinstance(block, types.TextContent))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_every_question_is_asked_and_answered_in_the_clients_era(mode) -> None:
    answers = Answers()
    async with _client(answers, mode, "dual" if mode == "legacy" else "modern") as client:
        rounds = await client.call_tool("test_input_required_result_multi_round", {})
        several = await client.call_tool("test_input_required_result_multiple_inputs", {})
        state = await client.call_tool("test_input_required_result_request_state", {})
    assert _text(rounds) == "my name likes my color"
    assert _text(several) == "user_name=my name; greeting=Paris; client_roots=file:///work"
    assert _text(state).startswith("state-ok")
    assert answers.asked == [
        "Step 1: What is your name?",
        "Step 2: What is your favorite color?",
        "What is your name?",
        "Generate a greeting",
        "roots",
        "Please confirm",
    ]


def _leaves(error: BaseException) -> list[BaseException]:
    inner = getattr(error, "exceptions", None)
    return [leaf for each in inner for leaf in _leaves(each)] if inner else [error]


async def test_a_server_of_2026_07_28_only_refuses_the_handshake() -> None:
    refused: BaseException | None = None
    try:
        async with _client(Answers(), "legacy", "modern") as client:
            await client.list_tools()
    except BaseException as raised:  # the SDK raises it inside its task groups
        refused = raised
    assert refused is not None, "the handshake was accepted"
    [error] = _leaves(refused)
    assert isinstance(error, MCPError)
    assert error.code == types.UNSUPPORTED_PROTOCOL_VERSION
    assert error.data == {"supported": ["2026-07-28"], "requested": "2025-11-25"}
