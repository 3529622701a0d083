"""Which client methods the policy decides, which are relayed without a decision, and what the policy is shown.

Every method that carries what a client or its user wrote towards an upstream is decided first:
`tools/call`, `resources/read`, `prompts/get`, `completion/complete` (the argument being completed
is user text), and `resources/subscribe` / `resources/unsubscribe` (decided like a read of their
uri). The rest carry nothing of the user's towards an upstream, or never reach one: they are
relayed or answered without a decision, and each relay is logged at debug level.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

from inherence_proxy_core._catalog import Catalog
from inherence_proxy_core._names import exposed_name

__all__ = ["DECIDED_METHODS", "UNDECIDED_METHODS", "GatedRequest", "completion_request", "subscription_request"]

DECIDED_METHODS = frozenset({
    "tools/call",
    "resources/read",
    "prompts/get",
    "completion/complete",
    "resources/subscribe",
    "resources/unsubscribe",
})  # fmt: skip

# Answered by the gateway itself, or relayed with nothing of the user's in them.
UNDECIDED_METHODS = frozenset({
    "initialize",
    "ping",
    "tools/list",
    "resources/list",
    "resources/templates/list",
    "prompts/list",
    "logging/setLevel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/roots/list_changed",
})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class GatedRequest:
    """A request to decide: where it goes, what is forwarded, and what the policy is shown."""

    upstream: str
    forwarded: dict[str, Any]
    kind: Literal["resource", "prompt"]
    tool_name: str
    arguments: dict[str, Any]


def gate_name(upstream: str, method: str) -> str:
    """The tool name a method other than `tools/call` is decided under: `<upstream>__resources_read` and so on."""
    return exposed_name(upstream, method)


def subscription_request(method: str, params: dict[str, Any], route: Callable[[str], str | None]) -> GatedRequest | str:
    """`resources/subscribe` or `resources/unsubscribe`, decided like a read of its uri; else why it cannot be."""
    uri = params.get("uri")
    if not isinstance(uri, str):
        return f"{method} needs a `uri`"
    upstream = route(uri)
    if upstream is None:
        return f"resource not found: {uri}"
    return GatedRequest(upstream, dict(params), "resource", gate_name(upstream, method), {"uri": uri})


def completion_request(
    params: dict[str, Any], catalog: Catalog, resource_upstreams: Sequence[str]
) -> GatedRequest | str:
    """`completion/complete` as the policy reads it: the argument's name and value, the context, the ref.

    Flat, so that the rules read each value under its own name (a `path` as a path): the context's
    arguments, then the argument being completed, with the prompt's exposed name or the resource's uri.
    """
    ref, argument, context = params.get("ref"), params.get("argument"), params.get("context")
    if not isinstance(ref, dict) or not isinstance(argument, dict) or not isinstance(argument.get("name"), str):
        return "completion/complete needs a `ref` and an `argument` with a `name`"
    shown: dict[str, Any] = {}
    forwarded = dict(params)
    kind: Literal["resource", "prompt"]
    if ref.get("type") == "ref/prompt":
        route = catalog.prompt_routes.get(str(ref.get("name")))
        if route is None:
            return f"unknown prompt: {ref.get('name')}"
        upstream, kind = route.upstream, "prompt"
        shown["prompt"] = route.gate_name
        forwarded["ref"] = {**ref, "name": route.name}
    elif ref.get("type") == "ref/resource" and isinstance(ref.get("uri"), str):
        found = catalog.route_resource(ref["uri"], resource_upstreams)
        if found is None:
            return f"resource not found: {ref['uri']}"
        upstream, kind = found, "resource"
        shown["uri"] = ref["uri"]
    else:
        return "completion/complete needs a `ref` of type ref/prompt or ref/resource"
    if isinstance(context, dict) and isinstance(context.get("arguments"), dict):
        shown.update(context["arguments"])
    shown[argument["name"]] = argument.get("value")
    return GatedRequest(upstream, forwarded, kind, gate_name(upstream, "completion/complete"), shown)
