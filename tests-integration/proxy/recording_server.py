"""A small MCP server over stdio that appends every request it receives to a JSON-lines record file.

    RECORD_FILE=/tmp/record.jsonl python recording_server.py

It offers a tool `record` that returns its arguments, a tool `crash` that ends the process
without answering, a tool `hang` that never answers, a tool `bad` that answers with what JSON
cannot carry or with garbage (argument `kind`, see BAD_ANSWERS), a resource and a prompt.
Cancellation notifications, completions, subscriptions and log levels are recorded too.
Optional: ROUTED_TOOL adds a tool `routed` whose schema mirrors an argument into a header;
STARTS_FILE gets one line (the pid) per start; GRANDCHILD_FILE makes it start a sleeping child
in its process group and write that pid; FAULT makes it fail at start: `crash` (exit at once),
`garbage` (write a line that is not JSON first), `hang` (never answer anything).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

TOOL = {
    "name": "record",
    "description": "Returns its arguments.",
    "inputSchema": {"type": "object", "properties": {"value": {}}, "additionalProperties": True},
}
CRASH = {"name": "crash", "description": "Ends the server at once.", "inputSchema": {"type": "object"}}
HANG = {"name": "hang", "description": "Never answers.", "inputSchema": {"type": "object"}}
BAD = {"name": "bad", "description": "Answers badly.", "inputSchema": {"type": "object"}}
# Offered with ROUTED_TOOL set: a tool whose `region` is mirrored into the `Mcp-Param-Region` HTTP header.
ROUTED = {
    "name": "routed",
    "description": "Returns its arguments; its region travels in a header too.",
    "inputSchema": {
        "type": "object",
        "properties": {"region": {"type": "string", "x-mcp-header": "Region"}, "value": {}},
    },
}
# The raw answer line to a `bad` call with id ID, by its `kind`.
BAD_ANSWERS = {
    "deep": '{"jsonrpc":"2.0","id":ID,"result":' + '{"a":' * 1000 + "1" + "}" * 1001,
    "nan": '{"jsonrpc":"2.0","id":ID,"result":{"content":[],"n":NaN}}',
    "huge": '{"jsonrpc":"2.0","id":ID,"result":{"content":[],"n":1e999}}',
    "surrogate": '{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"\\udc00"}]}}',
    "oversize": '{"jsonrpc":"2.0","id":ID,"result":{"content":[{"type":"text","text":"' + "x" * 3_000_000 + '"}]}}',
    "garbage": "Traceback (most recent call last): this is not JSON",
}


RECORDED = frozenset({
    "tools/call",
    "resources/read",
    "prompts/get",
    "completion/complete",
    "resources/subscribe",
    "resources/unsubscribe",
    "logging/setLevel",
    "notifications/cancelled",
})  # fmt: skip


def answer(method: str, params: dict[str, Any]) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {
                "tools": {},
                "resources": {"subscribe": True},
                "prompts": {},
                "completions": {},
                "logging": {},
            },
            "serverInfo": {"name": "recording", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": [TOOL, CRASH, HANG, BAD, *([ROUTED] if os.environ.get("ROUTED_TOOL") else [])]}
    if method == "resources/list":
        return {"resources": [{"uri": "record://note", "name": "note"}]}
    if method == "resources/templates/list":
        return {"resourceTemplates": []}
    if method == "prompts/list":
        return {"prompts": [{"name": "hello"}]}
    if method == "tools/call":
        text = json.dumps(params.get("arguments"))
        return {
            "content": [{"type": "text", "text": text}],
            "structuredContent": {"arguments": params.get("arguments")},
        }
    if method == "resources/read":
        return {"contents": [{"uri": params["uri"], "text": "note"}]}
    if method == "prompts/get":
        return {"messages": [{"role": "user", "content": {"type": "text", "text": "hello"}}]}
    if method == "completion/complete":
        return {"completion": {"values": [], "hasMore": False}}
    return {}


def note_start() -> None:
    if os.environ.get("STARTS_FILE"):
        with open(os.environ["STARTS_FILE"], "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()}\n")
    if os.environ.get("START_DELAY"):
        time.sleep(float(os.environ["START_DELAY"]))  # a server slow to start (npx fetching, a cold cache)
    if os.environ.get("GRANDCHILD_FILE"):
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdin=subprocess.DEVNULL)
        with open(os.environ["GRANDCHILD_FILE"], "a", encoding="utf-8") as handle:
            handle.write(f"{child.pid}\n")


def main() -> None:
    record = os.environ["RECORD_FILE"]
    note_start()
    fault = os.environ.get("FAULT")
    if fault == "crash":
        sys.exit(1)
    if fault == "garbage":
        sys.stdout.write("Welcome to my server!\n")
        sys.stdout.flush()
    for line in sys.stdin:
        if fault == "hang":
            continue
        message = json.loads(line)
        method, params = message.get("method"), message.get("params") or {}
        if method in RECORDED:
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(message) + "\n")
        if "id" not in message or method is None:
            continue
        if method == "tools/call" and params.get("name") == "crash":
            os._exit(3)
        if method == "tools/call" and params.get("name") == "hang":
            continue
        if method == "tools/call" and params.get("name") == "bad":
            kind = (params.get("arguments") or {}).get("kind", "garbage")
            sys.stdout.write(BAD_ANSWERS[kind].replace("ID", json.dumps(message["id"])) + "\n")
            sys.stdout.flush()
            continue
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer(method, params)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
