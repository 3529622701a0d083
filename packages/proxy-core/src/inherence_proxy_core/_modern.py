"""MCP 2026-07-28 towards clients: `server/discover`, the per-request envelope, and stamped results.

A 2026-07-28 client sends no `initialize`: every request carries its protocol version and client
capabilities in `params._meta`, and every result must carry `resultType`. The gateway serves that
era beside the handshake, pinned per connection by how the client opens (as the spec's dual-era
server does): a first request carrying the envelope makes the connection modern, `initialize`
makes it legacy.

On a modern connection each request's envelope is checked with the SDK's own classifier (the
spec's codes: -32602 for a missing or malformed envelope, -32022 naming the versions served for
another version; -32020 for headers that disagree with the body, over HTTP). The envelope keys are
taken off before anything goes upstream, so an upstream sees the request its own era expects.
The request then goes through the same relay as a legacy one: every `tools/call`,
`resources/read`, `prompts/get` and `completion/complete` is decided by the policy first.

Results are stamped on the way out: `resultType: "complete"` when the relay did not set one, the
gateway's identity under the `serverInfo` `_meta` key, and on cacheable results `ttlMs: 0` with
`cacheScope: "private"`, whatever an upstream said: what one client may see depends on the policy,
so no answer may be cached or shared.

The 2026-07-28 revision has no server-to-client requests, so a modern client is never sent one:
what it is asked (the gate's `confirm`, see `_modern_confirm`; an upstream's requests during its
call, see `_bridge`) comes as an `input_required` result. It is sent no list-change or log
notifications outside a `subscriptions/listen` stream; progress still is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from inherence_proxy_core import __version__
from inherence_proxy_core._bridge import hold_target
from inherence_proxy_core._channel import INVALID_PARAMS, Message, error_response
from inherence_proxy_core._modern_confirm import StateSeal, take_confirm_round

if TYPE_CHECKING:
    from inherence_proxy_core._session import Answer, RelayedHandler

__all__ = [
    "CLIENT_CAPABILITIES_KEY",
    "CLIENT_INFO_KEY",
    "MODERN_CAPABILITIES",
    "MODERN_RELAYED",
    "MODERN_VERSIONS",
    "PROTOCOL_VERSION_KEY",
    "SERVER_INFO_KEY",
    "discover_result",
    "has_envelope",
    "initialize_refusal",
    "modern_handler",
    "stamp",
    "strip_envelope",
    "validate_envelope",
]

# The SDK's names for these (mcp_types); spelled here so that a legacy gateway never imports it.
MODERN_VERSIONS: tuple[str, ...] = ("2026-07-28",)
PROTOCOL_VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_INFO_KEY = "io.modelcontextprotocol/clientInfo"
CLIENT_CAPABILITIES_KEY = "io.modelcontextprotocol/clientCapabilities"
SERVER_INFO_KEY = "io.modelcontextprotocol/serverInfo"
_RESERVED_PREFIX = "io.modelcontextprotocol/"
UNSUPPORTED_PROTOCOL_VERSION = -32022

# What the gateway honours for a modern client over any transport: no resource subscriptions, no
# logging (a per-request opt-in the gateway does not relay); list changes where streams are possible.
MODERN_CAPABILITIES: dict[str, Any] = {
    "tools": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "prompts": {"listChanged": False},
    "completions": {},
}

# Methods a modern client may call through the gateway, each relayed as its legacy twin is.
MODERN_RELAYED = frozenset({
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "prompts/get",
    "completion/complete",
})  # fmt: skip

# Requests whose call may be held open while a handshake-era upstream asks the client for input.
HOLDABLE = frozenset({"tools/call", "resources/read", "prompts/get"})

# Results that carry the cache fields on the 2026-07-28 wire.
CACHEABLE = frozenset({
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "prompts/list",
    "server/discover",
})  # fmt: skip


def has_envelope(params: Mapping[str, Any]) -> bool:
    """Whether a request names its protocol version in `params._meta`: the mark of a modern request.

    The key alone decides, as in the SDK: a half-built envelope is a modern request to refuse with
    the missing key named, not a legacy one (legacy requests carry `_meta` for progress tokens).
    """
    meta = params.get("_meta")
    return isinstance(meta, dict) and PROTOCOL_VERSION_KEY in meta


def validate_envelope(message: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Message | None:
    """Why this modern request must be refused (an `error` object), or None when its envelope holds.

    With `headers` (lowercase names), the routing headers are checked against the body too.
    """
    from mcp.shared.inbound import InboundLadderRejection, classify_inbound_request

    verdict = classify_inbound_request(message, headers=headers, supported_modern_versions=MODERN_VERSIONS)
    if isinstance(verdict, InboundLadderRejection):
        return _error(verdict.code, verdict.message, verdict.data)
    return None


def _error(code: int, message: str, data: Any = None) -> Message:
    error: Message = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return error


def initialize_refusal(request_id: Any, params: Mapping[str, Any]) -> Message:
    """The answer to `initialize` on a connection already serving 2026-07-28: -32022 naming what is served."""
    requested = params.get("protocolVersion")
    data: dict[str, Any] = {"supported": list(MODERN_VERSIONS)}
    if isinstance(requested, str):
        data["requested"] = requested
    message = "this connection serves the 2026-07-28 protocol; initialize is not accepted on it"
    return error_response(request_id, UNSUPPORTED_PROTOCOL_VERSION, message, data)


def strip_envelope(params: dict[str, Any]) -> dict[str, Any]:
    """`params` without the reserved `io.modelcontextprotocol/*` keys of `_meta` (a copy when it had any)."""
    meta = params.get("_meta")
    if not isinstance(meta, dict) or not any(key.startswith(_RESERVED_PREFIX) for key in meta):
        return params
    kept = {key: value for key, value in meta.items() if not key.startswith(_RESERVED_PREFIX)}
    stripped = {key: value for key, value in params.items() if key != "_meta"}
    if kept:
        stripped["_meta"] = kept
    return stripped


def server_info() -> dict[str, Any]:
    return {"name": "inherence-proxy", "version": __version__}


def stamp(method: str, result: dict[str, Any]) -> dict[str, Any]:
    """Make `result` a 2026-07-28 result of `method`, in place: resultType, serverInfo, cache fields."""
    if not isinstance(result.get("resultType"), str):
        result["resultType"] = "complete"
    # The client speaks to the gateway: its identity replaces any an upstream stamped.
    meta = result.get("_meta")
    result["_meta"] = (
        {**meta, SERVER_INFO_KEY: server_info()} if isinstance(meta, dict) else {SERVER_INFO_KEY: server_info()}
    )
    if method in CACHEABLE and result["resultType"] == "complete":
        result["ttlMs"] = 0
        result["cacheScope"] = "private"
    return result


def discover_result(*, streams: bool) -> dict[str, Any]:
    """The answer to `server/discover`: the modern versions served and what a modern client gets.

    List changes are offered where `subscriptions/listen` can be served (`streams`: stdio).
    """
    capabilities = MODERN_CAPABILITIES
    if streams:
        capabilities = {
            **capabilities,
            "tools": {"listChanged": True},
            "resources": {"subscribe": False, "listChanged": True},
            "prompts": {"listChanged": True},
        }
    result = {"supportedVersions": list(MODERN_VERSIONS), "capabilities": capabilities}
    return stamp("server/discover", result)


def modern_handler(method: str, handler: RelayedHandler) -> RelayedHandler:
    """`handler` for a modern request: the envelope taken off the params, the result stamped."""

    async def relay(session: Any, request_id: Any, params: dict[str, Any]) -> Answer:
        meta = params.get("_meta")
        capabilities = meta.get(CLIENT_CAPABILITIES_KEY) if isinstance(meta, dict) else None
        forwarded, confirm_round = take_confirm_round(strip_envelope(params), capabilities)
        if confirm_round.state is not None and not session.hub.seal.genuine(confirm_round.state):
            # Refused whatever the policy would say: a state of the gateway's is never taken unsealed.
            return error_response(request_id, INVALID_PARAMS, "requestState refused: it was not sealed by this gateway")
        if method in HOLDABLE:
            confirm_round.target = hold_target(method, forwarded)
            if confirm_round.state is not None and StateSeal.held_of(confirm_round.state) is not None:
                # The retry of a call held open for its upstream's questions (see `_bridge`).
                answer = await session.hub.resume(session, request_id, method, forwarded, confirm_round)
                return _stamped(method, answer)
        session.rounds[request_id] = confirm_round
        try:
            answer = await handler(session, request_id, forwarded)
        finally:
            if session.rounds.get(request_id) is confirm_round:
                del session.rounds[request_id]
        return _stamped(method, answer)

    return relay


def _stamped(method: str, answer: Answer) -> Answer:
    result = answer.get("result")
    if isinstance(result, dict):
        stamp(method, result)
    return answer
