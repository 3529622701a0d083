"""A small payments MCP server over stdio that appends every payment it is asked to make to a record file.

    RECORD_FILE=/tmp/payments.jsonl python payment_server.py

Its one tool, `send_payment`, takes a `recipient` and an `amount` and answers with a made-up
transfer id. It only writes the record: nothing is paid anywhere.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

SEND_PAYMENT = {
    "name": "send_payment",
    "description": "Send a payment: transfer an amount of money from the bank account to a recipient (payee).",
    "inputSchema": {
        "type": "object",
        "properties": {
            "recipient": {"type": "string", "description": "The payee's account"},
            "amount": {"type": "number", "description": "The amount in EUR"},
        },
        "required": ["recipient", "amount"],
    },
}


def answer(method: str, params: dict[str, Any], paid: int) -> dict[str, Any]:
    if method == "initialize":
        return {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "payments", "version": "1"},
        }
    if method == "tools/list":
        return {"tools": [SEND_PAYMENT]}
    if method == "tools/call":
        transfer = {"transfer_id": f"tr_{paid}", "status": "sent"}
        return {"content": [{"type": "text", "text": json.dumps(transfer)}], "structuredContent": transfer}
    return {}


def main() -> None:
    record = os.environ["RECORD_FILE"]
    paid = 0
    for line in sys.stdin:
        message = json.loads(line)
        method, params = message.get("method"), message.get("params") or {}
        if method == "tools/call":
            paid += 1
            with open(record, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(params.get("arguments")) + "\n")
        if "id" not in message or method is None:
            continue
        reply = {"jsonrpc": "2.0", "id": message["id"], "result": answer(method, params, paid)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
