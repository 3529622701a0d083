"""Every adapter, looked up by client name."""

from __future__ import annotations

from ._adapter import ClientAdapter
from ._clients import (
    ClaudeDesktopAdapter,
    ClineAdapter,
    CursorAdapter,
    GeminiCliAdapter,
    VSCodeAdapter,
    WindsurfAdapter,
    ZedAdapter,
)
from ._clients_more import ClaudeCodeAdapter, CodexAdapter, ContinueAdapter
from ._errors import ClientConfigUsageError

__all__ = ["all_adapters", "get_adapter"]

_ADAPTERS: tuple[ClientAdapter, ...] = (
    ClaudeDesktopAdapter(),
    ClaudeCodeAdapter(),
    ClineAdapter(),
    CodexAdapter(),
    ContinueAdapter(),
    CursorAdapter(),
    GeminiCliAdapter(),
    VSCodeAdapter(),
    WindsurfAdapter(),
    ZedAdapter(),
)


def all_adapters() -> tuple[ClientAdapter, ...]:
    """One adapter per supported client, in a stable order."""
    return _ADAPTERS


def get_adapter(name: str) -> ClientAdapter:
    """The adapter of the client called `name` (as in `inherence-proxy serve <name>`)."""
    for adapter in _ADAPTERS:
        if adapter.name == name:
            return adapter
    known = ", ".join(adapter.name for adapter in _ADAPTERS)
    raise ClientConfigUsageError(f"unknown client {name!r}; known clients: {known}")
