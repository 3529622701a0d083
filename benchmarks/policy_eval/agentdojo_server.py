"""One AgentDojo suite as an MCP server over stdio, on the `mcp` SDK's low-level server.

    PYTHONPATH=benchmarks python -m policy_eval.agentdojo_server banking
    PYTHONPATH=benchmarks python -m policy_eval.agentdojo_server banking --injection injection_task_3

It lists the suite's tools as AgentDojo's runtime gives them to a model (the function's name, its
docstring as the description, the JSON schema of its typed signature as the input schema) and
runs each call with AgentDojo's functions runtime on the environment it holds for the whole
connection: the suite's default one, or, with `--injection`, the one whose injection vectors all
carry that injection task's goal (as the replay's attack sessions have it). A result is one text
content, the JSON of the returned value (a string as is, `result_text`); a call that fails is a
result with `isError` whose text is the runtime's error.

`policy-eval --agentdojo-proxy` starts one per session as the only upstream of a real
`inherence-proxy serve`. Nothing here touches the network or a file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server

from ._agentdojo import load_suites, result_text

__all__ = ["SuiteTools", "build_server", "call_result", "main", "tool_listing"]

MAX_ARGUMENT_BYTES = 1024 * 1024


def tool_listing(suite: Any) -> list[types.Tool]:
    """The suite's tools as MCP tools: name, docstring description, the signature's JSON schema."""
    return [
        types.Tool(name=tool.name, description=tool.description, input_schema=tool.parameters.model_json_schema())
        for tool in suite.tools
    ]


def call_result(value: Any, error: str | None) -> types.CallToolResult:
    """What a call answers: the value as text (`result_text`), or the runtime's error with `isError`."""
    if error is not None:
        return types.CallToolResult(content=[types.TextContent(text=error)], is_error=True)
    return types.CallToolResult(content=[types.TextContent(text=result_text(value))], is_error=False)


class SuiteTools:
    """A suite's tools over one environment, run with AgentDojo's functions runtime."""

    def __init__(self, suite: Any, runtime: Any, injection: str | None = None) -> None:
        self.suite = suite
        self.runtime = runtime
        self.tools = tool_listing(suite)
        self._names = {tool.name for tool in self.tools}
        if injection is None:
            self.environment = suite.load_and_inject_default_environment({})
        else:
            task = suite.injection_tasks.get(injection)
            if task is None:
                raise ValueError(f"suite {suite.name!r} has no injection task {injection!r}")
            vectors = suite.get_injection_vector_defaults()
            self.environment = suite.load_and_inject_default_environment(dict.fromkeys(vectors, task.GOAL))

    def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        if name not in self._names:
            return call_result(None, f"unknown tool {name!r}")
        if len(json.dumps(arguments)) > MAX_ARGUMENT_BYTES:
            return call_result(None, f"the arguments of {name} are over {MAX_ARGUMENT_BYTES} bytes")
        value, error = self.runtime.run_function(self.environment, name, arguments)
        return call_result(value, error)


def build_server(tools: SuiteTools) -> Server[Any]:
    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools.tools)

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        return tools.call(params.name, dict(params.arguments or {}))

    return Server(f"agentdojo-{tools.suite.name}", version="1", on_list_tools=list_tools, on_call_tool=call_tool)


async def _serve(server: Server[Any]) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy_eval.agentdojo_server", description=__doc__.split("\n\n")[0])
    parser.add_argument("suite", help="banking, slack, travel or workspace")
    parser.add_argument("--injection", default=None, help="fill every injection vector with this task's goal")
    args = parser.parse_args(argv)
    loaded = load_suites()
    if loaded is None:
        print("agentdojo is not installed", file=sys.stderr)
        return 2
    _version, suites, runtime_for = loaded
    suite = suites.get(args.suite)
    if suite is None:
        print(f"no suite {args.suite!r} (there are {', '.join(sorted(suites))})", file=sys.stderr)
        return 2
    try:
        tools = SuiteTools(suite, runtime_for(suite), args.injection)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    anyio.run(_serve, build_server(tools))
    return 0


if __name__ == "__main__":
    sys.exit(main())
