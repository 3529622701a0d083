"""The answers hosted Inherence gives when nothing is scripted, endpoint by endpoint."""

from __future__ import annotations

from typing import Any

from ._behaviours import Allow, Behaviour, Exchange, Outcome, Response, json_response

HEALTH = "/api/proxy/health"
VERIFY = "/api/proxy/auth/verify"
REGISTER = "/api/proxy/register"
CLASSIFY = "/api/proxy/classify"
DECIDE = "/api/proxy/decide"
HEARTBEAT = "/api/proxy/heartbeat"
OUTCOME = "/api/proxy/outcome"
ENDPOINTS = (HEALTH, VERIFY, REGISTER, CLASSIFY, DECIDE, OUTCOME, HEARTBEAT)
UNAUTHENTICATED = frozenset({HEALTH})

# First match wins; words are looked for as parts of the tool name, so the answer is stable and explainable.
_CATEGORY_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("destructive", ("delete", "remove", "drop", "destroy", "kill", "truncate")),
    ("execute", ("exec", "shell", "bash", "run", "command", "eval")),
    ("write", ("write", "create", "update", "edit", "put", "insert", "move", "set")),
    ("network", ("http", "fetch", "send", "email", "post", "upload", "webhook")),
    ("read", ("read", "get", "list", "search", "find", "query", "show", "view")),
)


def category_for(tool_name: str) -> str:
    """The fake's deterministic category for a tool: by words in its name, `unknown` when none fits."""
    lowered = tool_name.lower()
    for category, words in _CATEGORY_WORDS:
        if any(word in lowered for word in words):
            return category
    return "unknown"


def _classify_body(request_json: Any) -> dict[str, Any]:
    tools = request_json.get("tools") if isinstance(request_json, dict) else None
    classifications = []
    for tool in tools if isinstance(tools, list) else []:
        name = tool.get("name") if isinstance(tool, dict) else None
        if isinstance(name, str):
            classifications.append(
                {"name": name, "category": category_for(name), "source": "fake_policy", "confidence": 0.9}
            )
    return {"classifications": classifications}


def _register_body(request_json: Any) -> dict[str, Any]:
    upstreams = request_json.get("upstreams") if isinstance(request_json, dict) else None
    return {"registered": len(upstreams) if isinstance(upstreams, list) else 0, "proxy_id": "fake-proxy"}


class Hosted(Behaviour):
    """The endpoint's ordinary answer: what hosted Inherence says when all is well (decide allows).

    Unknown paths get 404 and known paths with the wrong method 405, as a real server would.
    Outcome reports are taken (202); script `Status(404)` on "outcome" for a server without the route.
    """

    async def answer(self, exchange: Exchange) -> Outcome:
        request = exchange.request
        path = request.path
        if path not in ENDPOINTS:
            return json_response({"error": "not found", "path": path}, 404)
        expected = "GET" if path == HEALTH else "POST"
        if request.method != expected:
            return Response(status=405, body=b'{"error":"method not allowed"}', headers=(("Allow", expected),))
        if path == HEALTH:
            return json_response({"status": "ok", "version": "fake"})
        if path == VERIFY:
            return json_response({"valid": True})
        if path == REGISTER:
            return json_response(_register_body(request.json))
        if path == CLASSIFY:
            return json_response(_classify_body(request.json))
        if path == DECIDE:
            return await Allow().answer(exchange)
        if path == OUTCOME:
            return json_response({"accepted": True}, 202)
        return Response(status=204, content_type=None)  # heartbeat
