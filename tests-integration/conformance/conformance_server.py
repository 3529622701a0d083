"""The MCP server the official conformance suite's server scenarios expect, on the `mcp` SDK's low-level server.

    python conformance_server.py --stdio        # one session on stdin/stdout
    python conformance_server.py --http         # streamable HTTP on 127.0.0.1, port printed first on stdout

Tools, resources, prompts and their answers follow the scenario descriptions of
`@modelcontextprotocol/conformance` (`conformance list`, and each scenario's requirements).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import itertools
import json
import socket
import sys
import warnings
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.shared.exceptions import MCPDeprecationWarning

# Logging is deprecated from protocol 2026-07-28 on; the scenarios test it on the versions before.
warnings.filterwarnings("ignore", category=MCPDeprecationWarning)

# A 1x1 red PNG and a WAV of one silent sample.
RED_PIXEL_PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
SILENT_WAV = base64.b64encode(
    b"RIFF" + (38).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little")
    + (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    + (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    + b"data" + (2).to_bytes(4, "little") + b"\x00\x00"
).decode()  # fmt: skip

NO_ARGUMENTS: dict[str, Any] = {"type": "object", "properties": {}}
JSON_SCHEMA_2020_12: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


def _string_argument(name: str, description: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string", "description": description}}, "required": [name]}


TOOLS = [
    types.Tool(name="test_simple_text", description="Returns simple text", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_image_content", description="Returns an image", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_audio_content", description="Returns audio", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_embedded_resource", description="Returns an embedded resource", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_multiple_content_types", description="Returns mixed content", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_tool_with_logging", description="Logs while it runs", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_error_handling", description="Always fails", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_tool_with_progress", description="Reports progress", input_schema=NO_ARGUMENTS),
    types.Tool(
        name="test_sampling",
        description="Asks the client's LLM",
        input_schema=_string_argument("prompt", "The prompt to send to the LLM"),
    ),
    types.Tool(
        name="test_elicitation",
        description="Asks the user",
        input_schema=_string_argument("message", "The message to show the user"),
    ),
    types.Tool(
        name="test_elicitation_sep1034_defaults",
        description="Asks the user with defaults for every primitive type",
        input_schema=NO_ARGUMENTS,
    ),
    types.Tool(
        name="test_elicitation_sep1330_enums",
        description="Asks the user with every enum variant",
        input_schema=NO_ARGUMENTS,
    ),
    types.Tool(
        name="json_schema_2020_12_tool",
        description="Tool with JSON Schema 2020-12 features",
        input_schema=JSON_SCHEMA_2020_12,
    ),
    types.Tool(name="test_reconnection", description="Closes its SSE stream mid-call", input_schema=NO_ARGUMENTS),
]

RESOURCES = [
    types.Resource(
        uri="test://static-text", name="static-text", description="A static text resource", mime_type="text/plain"
    ),
    types.Resource(
        uri="test://static-binary", name="static-binary", description="A static binary resource", mime_type="image/png"
    ),
    types.Resource(
        uri="test://watched-resource",
        name="watched-resource",
        description="A resource to subscribe to",
        mime_type="text/plain",
    ),
]
TEMPLATE = types.ResourceTemplate(
    uri_template="test://template/{id}/data",
    name="template-data",
    description="Data for an id",
    mime_type="application/json",
)

PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A prompt without arguments"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with two arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First test argument", required=True),
            types.PromptArgument(name="arg2", description="Second test argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt that embeds a resource",
        arguments=[types.PromptArgument(name="resourceUri", description="URI of the resource", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]

SEP1034_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "default": "John Doe"},
        "age": {"type": "integer", "default": 30},
        "score": {"type": "number", "default": 95.5},
        "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
        "verified": {"type": "boolean", "default": True},
    },
}
SEP1330_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
        "titledSingle": {
            "type": "string",
            "oneOf": [
                {"const": "value1", "title": "First Option"},
                {"const": "value2", "title": "Second Option"},
                {"const": "value3", "title": "Third Option"},
            ],
        },
        "legacyEnum": {
            "type": "string",
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
        "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
        "titledMulti": {
            "type": "array",
            "items": {
                "anyOf": [
                    {"const": "value1", "title": "First Choice"},
                    {"const": "value2", "title": "Second Choice"},
                    {"const": "value3", "title": "Third Choice"},
                ]
            },
        },
    },
}
USER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "description": "User's response"},
        "email": {"type": "string", "description": "User's email address"},
    },
    "required": ["username", "email"],
}


def _text(text: str, *, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=error)


def _image() -> types.ImageContent:
    return types.ImageContent(data=RED_PIXEL_PNG, mime_type="image/png")


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    arguments = params.arguments or {}
    name = params.name
    if name == "test_simple_text":
        return _text("This is a simple text response for testing.")
    if name == "test_image_content":
        return types.CallToolResult(content=[_image()])
    if name == "test_audio_content":
        return types.CallToolResult(content=[types.AudioContent(data=SILENT_WAV, mime_type="audio/wav")])
    if name == "test_embedded_resource":
        resource = types.TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
        )
        return types.CallToolResult(content=[types.EmbeddedResource(resource=resource)])
    if name == "test_multiple_content_types":
        resource = types.TextResourceContents(
            uri="test://mixed-content-resource",
            mime_type="application/json",
            text=json.dumps({"test": "data", "value": 123}),
        )
        return types.CallToolResult(
            content=[
                types.TextContent(text="Multiple content types test:"),
                _image(),
                types.EmbeddedResource(resource=resource),
            ]
        )
    if name == "test_tool_with_logging":
        for index, message in enumerate(("Tool execution started", "Tool processing data", "Tool execution completed")):
            if index:
                await anyio.sleep(0.05)
            await ctx.session.send_log_message("info", message, related_request_id=ctx.request_id)
        return _text("Logging tool completed")
    if name == "test_error_handling":
        return _text("This tool intentionally returns an error for testing", error=True)
    if name == "test_tool_with_progress":
        for index, progress in enumerate((0, 50, 100)):
            if index:
                await anyio.sleep(0.05)
            # Sent against the caller's progress token; nothing is sent when it asked for none.
            await ctx.session.report_progress(progress, 100)
        return _text("Progress tool completed")
    if name == "test_sampling":
        request = types.CreateMessageRequest(
            params=types.CreateMessageRequestParams(
                messages=[
                    types.SamplingMessage(role="user", content=types.TextContent(text=str(arguments.get("prompt"))))
                ],
                max_tokens=100,
            )
        )
        from mcp.shared.message import ServerMessageMetadata

        answer = await ctx.session.send_request(
            request, types.CreateMessageResult, metadata=ServerMessageMetadata(related_request_id=ctx.request_id)
        )
        text = answer.content.text if isinstance(answer.content, types.TextContent) else str(answer.content)
        return _text(f"LLM response: {text}")
    if name in ("test_elicitation", "test_elicitation_sep1034_defaults", "test_elicitation_sep1330_enums"):
        done = "Elicitation completed"
        message, schema, prefix = {
            "test_elicitation": (str(arguments.get("message")), USER_SCHEMA, "User response"),
            "test_elicitation_sep1034_defaults": ("Please review the defaults", SEP1034_SCHEMA, done),
            "test_elicitation_sep1330_enums": ("Please choose", SEP1330_SCHEMA, done),
        }[name]
        result = await ctx.session.elicit_form(message, schema, related_request_id=ctx.request_id)
        return _text(f"{prefix}: action={result.action}, content={json.dumps(result.content)}")
    if name == "test_reconnection":
        if ctx.close_sse_stream is not None:
            await anyio.sleep(0.05)
            await ctx.close_sse_stream()
            await anyio.sleep(0.2)
        return _text("Reconnection test completed")
    if name == "json_schema_2020_12_tool":
        return _text(f"Received: {json.dumps(arguments)}")
    return _text(f"unknown tool: {name}", error=True)


async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
    return types.ListResourcesResult(resources=RESOURCES)


async def list_resource_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[TEMPLATE])


async def read_resource(ctx: Any, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    uri = str(params.uri)
    contents: types.TextResourceContents | types.BlobResourceContents
    if uri == "test://static-binary":
        contents = types.BlobResourceContents(uri=uri, mime_type="image/png", blob=RED_PIXEL_PNG)
    elif uri.startswith("test://template/") and uri.endswith("/data"):
        item = uri.removeprefix("test://template/").removesuffix("/data")
        text = json.dumps({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
        contents = types.TextResourceContents(uri=uri, mime_type="application/json", text=text)
    elif uri in ("test://static-text", "test://watched-resource", "test://example-resource"):
        contents = types.TextResourceContents(uri=uri, mime_type="text/plain", text=f"This is the content of {uri}.")
    else:
        from mcp.shared.exceptions import MCPError

        raise MCPError(code=-32002, message=f"resource not found: {uri}")
    return types.ReadResourceResult(contents=[contents])


async def subscription(ctx: Any, params: Any) -> types.EmptyResult:
    return types.EmptyResult()


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=PROMPTS)


async def get_prompt(ctx: Any, params: types.GetPromptRequestParams) -> types.GetPromptResult:
    arguments = params.arguments or {}
    messages: list[types.PromptMessage]
    if params.name == "test_prompt_with_arguments":
        text = f"Prompt with arguments: arg1='{arguments.get('arg1')}', arg2='{arguments.get('arg2')}'"
        messages = [types.PromptMessage(role="user", content=types.TextContent(text=text))]
    elif params.name == "test_prompt_with_embedded_resource":
        uri = arguments.get("resourceUri", "test://example-resource")
        text = "Embedded resource content for testing."
        resource = types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)
        messages = [
            types.PromptMessage(role="user", content=types.EmbeddedResource(resource=resource)),
            types.PromptMessage(role="user", content=types.TextContent(text="Please process the resource above.")),
        ]
    elif params.name == "test_prompt_with_image":
        messages = [
            types.PromptMessage(role="user", content=_image()),
            types.PromptMessage(role="user", content=types.TextContent(text="Please analyze the image above.")),
        ]
    else:
        text = "This is a simple prompt for testing."
        messages = [types.PromptMessage(role="user", content=types.TextContent(text=text))]
    return types.GetPromptResult(messages=messages)


async def complete(ctx: Any, params: types.CompleteRequestParams) -> types.CompleteResult:
    value = params.argument.value
    values = [v for v in ("paris", "park", "party", "test", "testing") if v.startswith(value)]
    return types.CompleteResult(completion=types.Completion(values=values, total=len(values), has_more=False))


async def set_level(ctx: Any, params: Any) -> types.EmptyResult:
    return types.EmptyResult()


def build_server() -> Server[Any]:
    return Server(
        "inherence-conformance-server",
        version="1.0.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_resource_templates,
        on_read_resource=read_resource,
        on_subscribe_resource=subscription,
        on_unsubscribe_resource=subscription,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_set_logging_level=set_level,
    )


class MemoryEventStore(EventStore):
    """Every event of every stream, in memory, so a client can resume a closed SSE stream."""

    def __init__(self) -> None:
        self._events: list[tuple[StreamId, EventId, Any]] = []
        self._ids = itertools.count(1)

    async def store_event(self, stream_id: StreamId, message: Any) -> EventId:
        event_id = str(next(self._ids))
        self._events.append((stream_id, event_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: EventId, send_callback: EventCallback) -> StreamId | None:
        found = [index for index, (_, event_id, _) in enumerate(self._events) if event_id == last_event_id]
        if not found:
            return None
        stream_id = self._events[found[0]][0]
        for stream, event_id, message in self._events[found[0] + 1 :]:
            if stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream_id


async def serve_stdio() -> None:
    from mcp.server.stdio import stdio_server

    server = build_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


async def serve_http() -> None:
    import uvicorn

    server = build_server()
    app = server.streamable_http_app(event_store=MemoryEventStore(), retry_interval=100)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.closing(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sys.stdout.write(f"{sock.getsockname()[1]}\n")
        sys.stdout.flush()
        config = uvicorn.Config(app, log_level="warning", ws="none")
        await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout")
    mode.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1, port printed first")
    args = parser.parse_args()
    anyio.run(serve_stdio if args.stdio else serve_http)


if __name__ == "__main__":
    main()
