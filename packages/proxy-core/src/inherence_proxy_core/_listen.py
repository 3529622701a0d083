"""`subscriptions/listen` for 2026-07-28 clients: list changes, on a stream the client asked for.

The 2026-07-28 revision sends no notification a client did not ask for: a client opens a
`subscriptions/listen` request naming the kinds it wants, the gateway acknowledges the subset it
honours (`notifications/subscriptions/acknowledged`, the stream's first frame), and from then on
each change of the gateway's tool, prompt or resource list is sent as its `list_changed`
notification tagged with the listen request's id under `_meta["io.modelcontextprotocol/subscriptionId"]`.
The request stays open until the client cancels it or goes away.

Served on stdio and over HTTP (there as an event stream, `_http_listen`). Resource subscriptions
(`resourceSubscriptions`, at most 32 uris) are honoured for the uris the policy allows as it allows
a `resources/subscribe` of them and whose upstream subscribes them (see `Hub.watch_resources`): the
acknowledgement lists those, and each `notifications/resources/updated` that upstream sends for
one of them comes on the stream. The others are left out of the acknowledgement, as the spec has a
server do with what it does not honour. When the stream ends, a uri no other stream watches is
unsubscribed upstream.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from inherence_proxy_core._channel import INVALID_PARAMS, error_response

if TYPE_CHECKING:
    from inherence_proxy_core._session import Answer, ClientConnection

__all__ = ["LIST_CHANGED_KINDS", "MAX_RESOURCE_SUBSCRIPTIONS", "SUBSCRIPTION_ID_KEY", "Listeners"]

SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId"
LIST_CHANGED_KINDS = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}
MAX_RESOURCE_SUBSCRIPTIONS = 32
_MAX_URI_CHARS = 4096


class Listeners:
    """The open `subscriptions/listen` streams of every modern client, and what each asked for."""

    def __init__(self) -> None:
        self._streams: dict[tuple[ClientConnection, Any], frozenset[str]] = {}
        # The (upstream, uri) pairs each stream watches for `notifications/resources/updated`.
        self._resources: dict[tuple[ClientConnection, Any], frozenset[tuple[str, str]]] = {}

    def __len__(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    async def listen(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        wanted = params.get("notifications")
        if not isinstance(wanted, dict):
            return error_response(request_id, INVALID_PARAMS, "subscriptions/listen needs `notifications`")
        uris = wanted.get("resourceSubscriptions", [])
        if not isinstance(uris, list) or not all(isinstance(uri, str) and uri for uri in uris):
            return error_response(request_id, INVALID_PARAMS, "resourceSubscriptions must be a list of uris")
        if len(uris) > MAX_RESOURCE_SUBSCRIPTIONS or any(len(uri) > _MAX_URI_CHARS for uri in uris):
            refusal = f"resourceSubscriptions: at most {MAX_RESOURCE_SUBSCRIPTIONS} uris of {_MAX_URI_CHARS} characters"
            return error_response(request_id, INVALID_PARAMS, refusal)
        honoured: dict[str, Any] = {kind: True for kind in LIST_CHANGED_KINDS if wanted.get(kind) is True}
        key = (session, request_id)
        watched: list[tuple[str, str]] = []
        try:
            if uris:
                await session.hub.watch_resources(session, request_id, uris, watched)
                if watched:
                    honoured["resourceSubscriptions"] = [uri for _upstream, uri in watched]
            self._streams[key] = frozenset(LIST_CHANGED_KINDS[kind] for kind in honoured if kind in LIST_CHANGED_KINDS)
            self._resources[key] = frozenset(watched)
            note = {"notifications": honoured, "_meta": {SUBSCRIPTION_ID_KEY: request_id}}
            ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": note}
            await session.send(ack, related_id=request_id)
            await anyio.sleep_forever()
        finally:
            self._streams.pop(key, None)
            self._resources.pop(key, None)
            if watched:
                session.hub.unwatch_resources(watched)
        raise AssertionError("unreachable")  # pragma: no cover

    def changed(self, method: str, spawn: Callable[..., None]) -> None:
        """Send `method` (a `list_changed` notification) on every stream that asked for it."""
        for (session, request_id), methods in list(self._streams.items()):
            if method in methods and not session.closed:
                params = {"_meta": {SUBSCRIPTION_ID_KEY: request_id}}
                spawn(session.send, {"jsonrpc": "2.0", "method": method, "params": params}, request_id)

    def updated(self, upstream: str, params: dict[str, Any], spawn: Callable[..., None]) -> None:
        """Send an upstream's `notifications/resources/updated` on every stream watching its uri there."""
        uri = params.get("uri")
        if not isinstance(uri, str):
            return
        for (session, request_id), watched in list(self._resources.items()):
            if (upstream, uri) in watched and not session.closed:
                note: dict[str, Any] = {"jsonrpc": "2.0", "method": "notifications/resources/updated"}
                note["params"] = {"uri": uri, "_meta": {SUBSCRIPTION_ID_KEY: request_id}}
                spawn(session.send, note, request_id)
