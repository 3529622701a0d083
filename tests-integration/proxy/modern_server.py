"""An MCP server of the 2026-07-28 era, built on the official SDK's server side, over stdio.

    RECORD_FILE=/tmp/record.jsonl ERA=modern python modern_server.py

With PORT it serves streamable HTTP (stateless) at http://127.0.0.1:PORT/mcp instead of stdio.

The SDK serves both eras on stdio, chosen by the client's first request. With `ERA=modern` it
refuses the `initialize` handshake (-32022 naming the versions it serves), as a server that
speaks only 2026-07-28 does; with `ERA=dual` (the default) it accepts both.

It offers a tool `record` that returns its arguments and appends the request (its arguments and
the `_meta` it carried) to RECORD_FILE, a tool `later` that answers `input_required` with only a
request state before it answers, a tool `ask` that asks the client for input (`input_required`
with an elicitation, a sampling or a roots request, for `rounds` rounds) and records each answer
it is given, a tool `grow` that adds a tool and announces the change on `subscriptions/listen`
streams, a resource `modern://note` and a prompt `brief`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CreateMessageRequest,
    CreateMessageRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    InputRequiredResult,
    ListRootsRequest,
    SamplingMessage,
    TextContent,
)

server = MCPServer("modern-upstream")


def note(entry: dict[str, Any]) -> None:
    with open(os.environ["RECORD_FILE"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


async def watch(ctx: Any, call_next: Any) -> Any:
    """Record each tool call as it arrived; refuse the handshake when only 2026-07-28 is spoken."""
    if ctx.method == "initialize" and os.environ.get("ERA", "dual") == "modern":
        raise MCPError(
            code=-32022,
            message="this server speaks 2026-07-28 only",
            data={"supported": ["2026-07-28"], "requested": (ctx.params or {}).get("protocolVersion", "")},
        )
    if ctx.request_id is not None and ctx.method == "tools/call":
        note({"method": ctx.method, "params": dict(ctx.params or {})})
    return await call_next(ctx)


@server.tool()
def record(value: Any = None, ctx: Context | None = None) -> dict[str, Any]:
    """Returns its arguments."""
    return {"arguments": {"value": value}}


@server.tool()
def later(ctx: Context) -> Any:
    """Asks to be called again (input_required with only a request state), then answers."""
    if ctx.request_state is None:
        return InputRequiredResult(request_state="call-again")
    return {"arguments": {"state": ctx.request_state}}


def question(kind: str, number: int) -> Any:
    if kind == "sample":
        message = SamplingMessage(role="user", content=TextContent(type="text", text=f"say hello {number}"))
        return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=10))
    if kind == "roots":
        return ListRootsRequest()
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}
    params = ElicitRequestFormParams(message=f"question {number}: your name?", requested_schema=schema)
    return ElicitRequest(params=params)


@server.tool()
def ask(ctx: Context, kind: str = "elicit", rounds: int = 1) -> Any:
    """Asks the client for input `rounds` times (elicit, sample or roots), then returns the last answers."""
    state = ctx.request_state or ""
    done = int(state.partition(":")[2]) if state.startswith("asked:") else 0
    answers = {key: value.model_dump(mode="json", by_alias=True, exclude_none=True)
               for key, value in (ctx.input_responses or {}).items()}  # fmt: skip
    if done:
        note({"method": "input", "state": state, "responses": answers})
    if done < rounds:
        requests = {f"q{done + 1}": question(kind, done + 1)}
        return InputRequiredResult(input_requests=requests, request_state=f"asked:{done + 1}")
    return {"answers": answers, "state": state}


@server.tool()
async def grow(ctx: Context) -> str:
    """Adds a tool `grown` and says so to every `subscriptions/listen` stream."""

    def grown() -> str:
        """Was added at run time."""
        return "grown"

    server.add_tool(grown)
    await ctx.notify_tools_changed()
    return "added"


@server.resource("modern://note")
def note_resource() -> str:
    return "a modern note"


@server.prompt()
def brief(topic: str) -> str:
    return f"brief me on {topic}"


if __name__ == "__main__":
    server._lowlevel_server.middleware.insert(0, watch)
    if os.environ.get("PORT"):
        server.run("streamable-http", host="127.0.0.1", port=int(os.environ["PORT"]), stateless_http=True)
    else:
        server.run("stdio")
