"""`subscriptions/listen` for 2026-07-28 clients: list changes, on a stream the client asked for.

The 2026-07-28 revision sends no notification a client did not ask for: a client opens a
`subscriptions/listen` request naming the kinds it wants, the gateway acknowledges the subset it
honours (`notifications/subscriptions/acknowledged`, the stream's first frame), and from then on
each change of the gateway's tool, prompt or resource list is sent as its `list_changed`
notification tagged with the listen request's id under `_meta["io.modelcontextprotocol/subscriptionId"]`.
The request stays open until the client cancels it or goes away.

Served where the connection can carry a stream (stdio). Resource subscriptions (`resourceSubscriptions`)
are not honoured: they are left out of the acknowledgement, as the spec has a server do with kinds
it does not support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio

from inherence_proxy_core._channel import INVALID_PARAMS, error_response

if TYPE_CHECKING:
    from inherence_proxy_core._session import Answer, ClientConnection

__all__ = ["LIST_CHANGED_KINDS", "SUBSCRIPTION_ID_KEY", "Listeners"]

SUBSCRIPTION_ID_KEY = "io.modelcontextprotocol/subscriptionId"
LIST_CHANGED_KINDS = {
    "toolsListChanged": "notifications/tools/list_changed",
    "promptsListChanged": "notifications/prompts/list_changed",
    "resourcesListChanged": "notifications/resources/list_changed",
}


class Listeners:
    """The open `subscriptions/listen` streams of every modern client, and what each asked for."""

    def __init__(self) -> None:
        self._streams: dict[tuple[ClientConnection, Any], frozenset[str]] = {}

    async def listen(self, session: ClientConnection, request_id: Any, params: dict[str, Any]) -> Answer:
        wanted = params.get("notifications")
        if not isinstance(wanted, dict):
            return error_response(request_id, INVALID_PARAMS, "subscriptions/listen needs `notifications`")
        honoured = {kind: True for kind in LIST_CHANGED_KINDS if wanted.get(kind) is True}
        key = (session, request_id)
        self._streams[key] = frozenset(LIST_CHANGED_KINDS[kind] for kind in honoured)
        try:
            note = {"notifications": honoured, "_meta": {SUBSCRIPTION_ID_KEY: request_id}}
            ack = {"jsonrpc": "2.0", "method": "notifications/subscriptions/acknowledged", "params": note}
            await session.send(ack, related_id=request_id)
            await anyio.sleep_forever()
        finally:
            self._streams.pop(key, None)
        raise AssertionError("unreachable")  # pragma: no cover

    def changed(self, method: str, spawn: Callable[..., None]) -> None:
        """Send `method` (a `list_changed` notification) on every stream that asked for it."""
        for (session, request_id), methods in list(self._streams.items()):
            if method in methods and not session.closed:
                params = {"_meta": {SUBSCRIPTION_ID_KEY: request_id}}
                spawn(session.send, {"jsonrpc": "2.0", "method": method, "params": params}, request_id)
