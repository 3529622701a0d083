"""The MCP server the official conformance suite's server scenarios expect, on the `mcp` SDK's low-level server.

    python conformance_server.py --stdio        # one session on stdin/stdout
    python conformance_server.py --http         # streamable HTTP on 127.0.0.1, port printed first on stdout
    python conformance_server.py --stdio --era modern   # refuses the handshake: 2026-07-28 only

Tools, resources, prompts and their answers follow the scenario descriptions of
`@modelcontextprotocol/conformance` (`conformance list`, and each scenario's requirements).

It serves both eras, as the SDK does, chosen by each client's first request: the `initialize`
handshake (2025-11-25 and before) and 2026-07-28 (no handshake, an envelope in every request's
`_meta`). The tools that need input from the client ask for it in the client's era: a
2026-07-28 client gets an `input_required` result and retries with `inputResponses` (and the
`requestState`, sealed by the SDK's `RequestStateBoundary`); a handshake-era client gets the same
questions as elicitation, sampling and roots requests during the call.
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
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
from mcp.server.streamable_http import EventCallback, EventId, EventMessage, EventStore, StreamId
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, PromptsListChanged, ToolsListChanged
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.shared.message import ServerMessageMetadata

MODERN = "2026-07-28"
SERVER_NAME = "inherence-conformance-server"

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
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}
# Arguments mirrored into `Mcp-Param-*` headers on 2026-07-28 HTTP (`x-mcp-header`), and one that is not.
CUSTOM_HEADERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "description": "A region, mirrored as Mcp-Param-Region", "x-mcp-header": "Region"},
        "priority": {"type": "integer", "description": "Mirrored as Mcp-Param-Priority", "x-mcp-header": "Priority"},
        "query": {"type": "string", "description": "Not mirrored"},
    },
    "required": ["region"],
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
    types.Tool(
        name="test_custom_headers",
        description="Echoes its header-mirrored arguments",
        input_schema=CUSTOM_HEADERS_SCHEMA,
    ),
    types.Tool(name="test_logging_tool", description="Logs three messages", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_missing_capability", description="Needs the client's sampling", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_trigger_tool_change", description="Adds or removes a tool", input_schema=NO_ARGUMENTS),
    types.Tool(name="test_trigger_prompt_change", description="Adds or removes a prompt", input_schema=NO_ARGUMENTS),
    *(
        types.Tool(name=name, description=description, input_schema=NO_ARGUMENTS)
        for name, description in (
            ("test_input_required_result_elicitation", "Asks the user's name"),
            ("test_input_required_result_sampling", "Asks the client's LLM"),
            ("test_input_required_result_list_roots", "Asks the client's roots"),
            ("test_input_required_result_request_state", "Asks for a confirmation, with a request state"),
            ("test_input_required_result_multiple_inputs", "Asks three questions at once"),
            ("test_input_required_result_multi_round", "Asks two questions, one round each"),
            ("test_input_required_result_tampered_state", "Asks for a confirmation, with a sealed request state"),
            ("test_input_required_result_capabilities", "Asks only what the client declared it can answer"),
            ("test_streaming_elicitation", "Asks the user's name"),
        )
    ),
]
DYNAMIC_TOOL = types.Tool(
    name="test_dynamic_tool", description="Toggled by test_trigger_tool_change", input_schema=NO_ARGUMENTS
)

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
    types.Prompt(name="test_input_required_result_prompt", description="A prompt that asks the user for context"),
]
DYNAMIC_PROMPT = types.Prompt(name="test_dynamic_prompt", description="Toggled by test_trigger_prompt_change")

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


# Questions a tool or prompt asks the client, in the wire form of an `inputRequests` entry.
def _ask_user(message: str, field: str, kind: str = "string") -> dict[str, Any]:
    schema = {"type": "object", "properties": {field: {"type": kind}}, "required": [field]}
    return {"method": "elicitation/create", "params": {"message": message, "requestedSchema": schema}}


def _ask_llm(text: str, max_tokens: int) -> dict[str, Any]:
    message = {"role": "user", "content": {"type": "text", "text": text}}
    return {"method": "sampling/createMessage", "params": {"messages": [message], "maxTokens": max_tokens}}


ASK_ROOTS: dict[str, Any] = {"method": "roots/list", "params": {}}
ASK_NAME = _ask_user("What is your name?", "name")
ASK_CONFIRM = _ask_user("Please confirm", "ok", "boolean")
ASK_CAPITAL = _ask_llm("What is the capital of France?", 100)

# Each interactive tool (and the prompt): its rounds of questions, asked one round at a time.
ROUNDS: dict[str, list[dict[str, dict[str, Any]]]] = {
    "test_input_required_result_elicitation": [{"user_name": ASK_NAME}],
    "test_input_required_result_sampling": [{"capital_question": ASK_CAPITAL}],
    "test_input_required_result_list_roots": [{"client_roots": ASK_ROOTS}],
    "test_input_required_result_request_state": [{"confirm": ASK_CONFIRM}],
    "test_input_required_result_multiple_inputs": [
        {"user_name": ASK_NAME, "greeting": _ask_llm("Generate a greeting", 50), "client_roots": ASK_ROOTS}
    ],
    "test_input_required_result_multi_round": [
        {"step1": _ask_user("Step 1: What is your name?", "name")},
        {"step2": _ask_user("Step 2: What is your favorite color?", "color")},
    ],
    "test_input_required_result_tampered_state": [{"confirm": ASK_CONFIRM}],
    "test_streaming_elicitation": [{"user_name": ASK_NAME}],
    "test_missing_capability": [{"capital_question": ASK_CAPITAL}],
    "test_input_required_result_prompt": [
        {"user_context": _ask_user("What context should the prompt use?", "context")}
    ],
}
# Those whose rounds carry a `requestState` (sealed by the SDK's RequestStateBoundary on the wire).
WITH_STATE = {
    "test_input_required_result_request_state",
    "test_input_required_result_multiple_inputs",
    "test_input_required_result_multi_round",
    "test_input_required_result_tampered_state",
}
# The capability a client declares to be asked each kind of question.
NEEDS = {"elicitation/create": "elicitation", "sampling/createMessage": "sampling", "roots/list": "roots"}
ASKED_AS = {
    "elicitation/create": (types.ElicitRequest, types.ElicitResult),
    "sampling/createMessage": (types.CreateMessageRequest, types.CreateMessageResult),
    "roots/list": (types.ListRootsRequest, types.ListRootsResult),
}


def _declared(ctx: ServerRequestContext[Any, Any]) -> set[str]:
    capabilities = ctx.session.client_capabilities
    if capabilities is None:
        return set()
    return {name for name in NEEDS.values() if getattr(capabilities, name, None) is not None}


def _rounds(name: str, ctx: ServerRequestContext[Any, Any]) -> list[dict[str, dict[str, Any]]]:
    if name == "test_input_required_result_capabilities":
        declared = _declared(ctx)
        offered = {"user_name": ASK_NAME, "capital_question": ASK_CAPITAL, "client_roots": ASK_ROOTS}
        return [{key: ask for key, ask in offered.items() if NEEDS[ask["method"]] in declared}]
    return ROUNDS[name]


def _answered(ask: dict[str, Any], answer: dict[str, Any]) -> bool:
    """Whether `answer` is an answer to `ask`: an accepted form with every required field, a message, roots."""
    if ask["method"] == "elicitation/create":
        required = ask["params"]["requestedSchema"]["required"]
        content = answer.get("content")
        return answer.get("action") == "accept" and isinstance(content, dict) and all(k in content for k in required)
    if ask["method"] == "sampling/createMessage":
        return "content" in answer and "role" in answer
    return isinstance(answer.get("roots"), list)


async def gather(
    name: str, ctx: ServerRequestContext[Any, Any], params: types.InputResponseRequestParams
) -> dict[str, dict[str, Any]] | types.InputRequiredResult:
    """Every answer `name` needs, asked in the client's era; or, on 2026-07-28, the next round to ask.

    A 2026-07-28 client gets one round at a time as `input_required`, with what the earlier rounds
    answered in the `requestState`; answers missing or malformed get the same round asked again.
    A handshake-era client is sent each question as a request during the call.
    """
    rounds = [round_ for round_ in _rounds(name, ctx) if round_]
    if ctx.protocol_version != MODERN:
        answers: dict[str, dict[str, Any]] = {}
        meta = ServerMessageMetadata(related_request_id=ctx.request_id)
        for round_ in rounds:
            for key, ask in round_.items():
                request_type, result_type = ASKED_AS[ask["method"]]
                request = request_type.model_validate(ask)
                result = await ctx.session.send_request(request, result_type, metadata=meta)
                answers[key] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return answers
    state: dict[str, Any] = {"round": 0, "answers": {}}
    if params.request_state is not None:
        # Verified and unsealed by the RequestStateBoundary: only state this server minted gets here.
        state = json.loads(params.request_state)
    responses = {
        key: value.model_dump(by_alias=True, mode="json", exclude_none=True)
        for key, value in (params.input_responses or {}).items()
    }
    while state["round"] < len(rounds):
        round_ = rounds[state["round"]]
        if not all(key in responses and _answered(ask, responses[key]) for key, ask in round_.items()):
            wire: dict[str, Any] = {"resultType": "input_required", "inputRequests": round_}
            if name in WITH_STATE:
                wire["requestState"] = json.dumps(state)
            return types.InputRequiredResult.model_validate(wire)
        state = {"round": state["round"] + 1, "answers": {**state["answers"], **{k: responses[k] for k in round_}}}
    return state["answers"]


def _said(answer: dict[str, Any], field: str) -> str:
    """What the user filled in, the LLM said, or the roots the client named."""
    if "roots" in answer:
        return ", ".join(str(root.get("uri")) for root in answer["roots"])
    content = answer.get("content")
    if answer.get("action") is not None:
        return str((content or {}).get(field))
    return str(content.get("text")) if isinstance(content, dict) else str(content)


def interactive_result(name: str, answers: dict[str, dict[str, Any]]) -> types.CallToolResult:
    if name == "test_input_required_result_request_state":
        return _text(f"state-ok: confirmed={_said(answers['confirm'], 'ok')}")
    if name == "test_input_required_result_multi_round":
        return _text(f"{_said(answers['step1'], 'name')} likes {_said(answers['step2'], 'color')}")
    if name == "test_input_required_result_tampered_state":
        return _text(f"confirmed={_said(answers['confirm'], 'ok')}")
    parts = []
    for key, answer in answers.items():
        field = {"user_name": "name"}.get(key, key)
        parts.append(f"{key}={_said(answer, field)}")
    return _text("; ".join(parts) if parts else "nothing to ask: the client declared no way to answer")


class Catalog:
    """The tool and prompt the trigger tools add and remove, and the bus that tells listen streams."""

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self.extra_tool = False
        self.extra_prompt = False

    async def toggle(self, ctx: ServerRequestContext[Any, Any], *, tool: bool) -> str:
        if tool:
            self.extra_tool = not self.extra_tool
            await self.bus.publish(ToolsListChanged())
            if ctx.protocol_version != MODERN:
                await ctx.session.send_tool_list_changed()
            return f"test_dynamic_tool {'added' if self.extra_tool else 'removed'}"
        self.extra_prompt = not self.extra_prompt
        await self.bus.publish(PromptsListChanged())
        if ctx.protocol_version != MODERN:
            await ctx.session.send_prompt_list_changed()
        return f"test_dynamic_prompt {'added' if self.extra_prompt else 'removed'}"


CATALOG = Catalog()


async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
    return types.ListToolsResult(tools=[*TOOLS, DYNAMIC_TOOL] if CATALOG.extra_tool else TOOLS)


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult | types.InputRequiredResult:
    arguments = params.arguments or {}
    name = params.name
    if name == "test_missing_capability" and "sampling" not in _declared(ctx):
        raise MCPError(
            code=types.MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="test_missing_capability needs the client's sampling capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    if name in ROUNDS or name == "test_input_required_result_capabilities":
        answers = await gather(name, ctx, params)
        return answers if isinstance(answers, types.InputRequiredResult) else interactive_result(name, answers)
    if name in ("test_trigger_tool_change", "test_trigger_prompt_change"):
        return _text(await CATALOG.toggle(ctx, tool=name == "test_trigger_tool_change"))
    if name == "test_custom_headers":
        return _text(f"Received: {json.dumps(arguments, sort_keys=True)}")
    if name == "test_dynamic_tool" and CATALOG.extra_tool:
        return _text("The dynamic tool answered")
    if name == "test_logging_tool":
        # On 2026-07-28 the SDK sends these only when the request's _meta asked for a log level.
        for message in ("first log message", "second log message", "third log message"):
            await ctx.session.send_log_message("info", message, related_request_id=ctx.request_id)
        return _text("Logged three messages")
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
    elif ctx.protocol_version == MODERN:
        raise MCPError(code=types.INVALID_PARAMS, message="Resource not found", data={"uri": uri})
    else:
        raise MCPError(code=-32002, message=f"resource not found: {uri}", data={"uri": uri})
    return types.ReadResourceResult(contents=[contents])


async def subscription(ctx: Any, params: Any) -> types.EmptyResult:
    return types.EmptyResult()


async def list_prompts(ctx: Any, params: Any) -> types.ListPromptsResult:
    return types.ListPromptsResult(prompts=[*PROMPTS, DYNAMIC_PROMPT] if CATALOG.extra_prompt else PROMPTS)


async def get_prompt(
    ctx: Any, params: types.GetPromptRequestParams
) -> types.GetPromptResult | types.InputRequiredResult:
    arguments = params.arguments or {}
    messages: list[types.PromptMessage]
    if params.name == "test_input_required_result_prompt":
        answers = await gather(params.name, ctx, params)
        if isinstance(answers, types.InputRequiredResult):
            return answers
        text = f"Write with this context: {_said(answers['user_context'], 'context')}"
        messages = [types.PromptMessage(role="user", content=types.TextContent(text=text))]
    elif params.name == "test_prompt_with_arguments":
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


async def refuse_handshake(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
    """`--era modern`: answer `initialize` as a server that speaks only 2026-07-28 does."""
    if ctx.method == "initialize":
        requested = str((ctx.params or {}).get("protocolVersion", ""))
        raise MCPError(
            code=types.UNSUPPORTED_PROTOCOL_VERSION,
            message="this server speaks 2026-07-28 only",
            data={"supported": [MODERN], "requested": requested},
        )
    return await call_next(ctx)


def build_server(era: str = "dual") -> Server[Any]:
    server: Server[Any] = Server(
        SERVER_NAME,
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
        on_subscriptions_listen=ListenHandler(CATALOG.bus),
    )
    # Seals every requestState this server mints and verifies every one a client sends back.
    server.middleware.append(RequestStateBoundary(RequestStateSecurity.ephemeral(), default_audience=SERVER_NAME))
    if era == "modern":
        server.middleware.insert(0, refuse_handshake)
    return server


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


async def serve_stdio(era: str) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(era)
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def trimmed_headers(app: Any) -> Any:
    """`app` seeing header values without the whitespace around them (RFC 9110 5.5).

    Some versions of uvicorn hand the ASGI app a value with its padding, and the SDK compares
    `Mcp-Name` with the body as it gets it; trimmed here, the result does not depend on the version.
    """

    async def trimmed(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http":
            headers = [(name, value.strip(b" \t")) for name, value in scope.get("headers", [])]
            scope = {**scope, "headers": headers}
        await app(scope, receive, send)

    return trimmed


async def serve_http(era: str) -> None:
    import uvicorn

    server = build_server(era)
    app = server.streamable_http_app(event_store=MemoryEventStore(), retry_interval=100)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with contextlib.closing(sock):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sys.stdout.write(f"{sock.getsockname()[1]}\n")
        sys.stdout.flush()
        config = uvicorn.Config(trimmed_headers(app), log_level="warning", ws="none")
        await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--stdio", action="store_true", help="serve one session on stdin/stdout")
    mode.add_argument("--http", action="store_true", help="serve streamable HTTP on 127.0.0.1, port printed first")
    parser.add_argument(
        "--era",
        choices=("dual", "modern"),
        default="dual",
        help="dual (default): the handshake and 2026-07-28; modern: refuse the handshake",
    )
    args = parser.parse_args()
    anyio.run(serve_stdio if args.stdio else serve_http, args.era)


if __name__ == "__main__":
    main()
