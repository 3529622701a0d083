"""A small example MCP server for `inherence-proxy demo`: four tools that act only inside a sandbox.

    python -m inherence_proxy._demo_server        (stdio, newline-delimited JSON-RPC)

It exists to show the gate deciding real calls on a real upstream, so its tools look like the
dangerous ones people run (read a file, run a shell command, fetch a URL, send a message), but
none of them can do harm if a call ever got through: `read_file` reads only below the folder
in DEMO_SANDBOX, and the others describe what they would have done. Nothing here touches the
network or runs a command. With DEMO_RECORD set, every call that arrives is appended to that file.
The server has no dependency beyond the standard library, so it starts fast and the demo
works on a fresh clone.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
from typing import Any

__all__ = ["TOOLS", "answer", "main"]

_PROTOCOL = "2025-06-18"


def _tool(tool_name: str, description: str, **properties: str) -> dict[str, Any]:
    schema = {key: {"type": "string", "description": text} for key, text in properties.items()}
    return {
        "name": tool_name,
        "description": description,
        "inputSchema": {"type": "object", "properties": schema, "required": sorted(schema)},
    }


TOOLS = [
    _tool("read_file", "Read the contents of a file from the filesystem.", path="Path of the file to read"),
    _tool("run_command", "Execute a shell command in a terminal and return its output.", command="Shell command"),
    _tool("fetch_url", "Fetch a web page over HTTP and return its body.", url="The http(s) URL to fetch"),
    _tool("search_customers", "Search the customer records in the CRM.", query="Words to search for"),
    _tool(
        "send_email",
        "Send an email message to a recipient.",
        to="Recipient address",
        subject="Subject line",
        body="Body text of the message",
    ),
]


def _text(text: str, *, error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": error}


def _read_file(arguments: dict[str, Any]) -> dict[str, Any]:
    sandbox = pathlib.Path(os.environ.get("DEMO_SANDBOX", ".")).resolve()
    requested = pathlib.Path(str(arguments.get("path", ""))).expanduser()
    target = (sandbox / requested).resolve() if not requested.is_absolute() else requested.resolve()
    if target != sandbox and sandbox not in target.parents:
        # Never read outside the sandbox, even if a policy let the call through.
        return _text(f"(demo server) {requested} is outside the demo sandbox; nothing was read", error=True)
    try:
        return _text(target.read_text(encoding="utf-8")[:2000])
    except OSError as exc:
        return _text(f"(demo server) cannot read {requested}: {exc.strerror}", error=True)


def _call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    record = os.environ.get("DEMO_RECORD")
    if record:
        # The demo shows afterwards which calls reached this server: only the allowed ones.
        with open(record, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tool": name, "arguments": arguments}) + "\n")
    if name == "read_file":
        return _read_file(arguments)
    if name == "run_command":
        return _text(f"(demo server) would run {arguments.get('command')!r}; nothing was run")
    if name == "fetch_url":
        return _text(f"(demo server) would fetch {arguments.get('url')!r}; nothing was fetched")
    if name == "search_customers":
        return _text("(demo server) 2 customers: Ada Example <ada@example.com>, Alan Example <alan@example.com>")
    if name == "send_email":
        return _text(f"(demo server) would send an email to {arguments.get('to')!r}; nothing was sent")
    return _text(f"unknown tool {name!r}", error=True)


def answer(method: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The result of one request, or None when the method is not one this server offers."""
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", _PROTOCOL),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "inherence-demo", "version": "1"},
        }
    if method == "ping":
        return {}
    if method == "tools/list":
        return {"tools": TOOLS}
    if method == "tools/call":
        arguments = params.get("arguments") or {}
        return _call(str(params.get("name")), arguments if isinstance(arguments, dict) else {})
    return None


def main() -> None:
    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if not isinstance(message, dict) or "id" not in message or "method" not in message:
            continue  # notifications and responses need no answer
        params = message.get("params") or {}
        result = answer(str(message["method"]), params if isinstance(params, dict) else {})
        if result is None:
            reply: dict[str, Any] = {
                "jsonrpc": "2.0",
                "id": message["id"],
                "error": {"code": -32601, "message": "not found"},
            }
        else:
            reply = {"jsonrpc": "2.0", "id": message["id"], "result": result}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
