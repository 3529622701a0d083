"""The common model every adapter reads into and reports with."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._errors import ClientConfigUsageError

__all__ = [
    "PROXY_ENTRY_NAME",
    "DriftReport",
    "HostEnvironment",
    "Platform",
    "ProxyCommand",
    "RestoreResult",
    "ServerEntry",
    "WrapResult",
]

PROXY_ENTRY_NAME = "inherence"
"""The name of the proxy's entry in every wrapped config (COMPAT.md)."""

Platform = Literal["darwin", "linux", "win32"]


@dataclass(frozen=True)
class HostEnvironment:
    """Where to look: the home folder, the operating system and the environment variables.

    Passed in, never read from the process at import time, so tests describe a Mac or a
    Windows machine from a Linux one. `current()` reads the running process.
    """

    home: Path
    platform: Platform
    variables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def current(cls) -> HostEnvironment:
        platform: Platform = "win32" if sys.platform == "win32" else "darwin" if sys.platform == "darwin" else "linux"
        return cls(home=Path.home(), platform=platform, variables=dict(os.environ))

    def variable_path(self, name: str, default: Path) -> Path:
        """The folder an environment variable names, or `default` when it is unset or empty."""
        value = self.variables.get(name, "")
        return Path(value) if value else default

    @property
    def appdata(self) -> Path:
        """Windows `%APPDATA%` (roaming application data)."""
        return self.variable_path("APPDATA", self.home / "AppData" / "Roaming")

    @property
    def xdg_config(self) -> Path:
        """`$XDG_CONFIG_HOME`, by default `~/.config`."""
        return self.variable_path("XDG_CONFIG_HOME", self.home / ".config")

    @property
    def mac_support(self) -> Path:
        """macOS `~/Library/Application Support`."""
        return self.home / "Library" / "Application Support"


@dataclass(frozen=True)
class ProxyCommand:
    """The `inherence-proxy` executable that wrapped configs start; must be an absolute path.

    Absolute because GUI apps on macOS start with a minimal PATH (COMPAT.md).
    """

    executable: Path

    def __post_init__(self) -> None:
        if not (self.executable.is_absolute() or str(self.executable).startswith("\\\\")):
            raise ClientConfigUsageError(f"the proxy executable must be an absolute path, got {str(self.executable)!r}")

    def arguments(self, client: str) -> list[str]:
        """`serve <client>`: one proxy per client, each with its own lock and PID file."""
        return ["serve", client]


@dataclass(frozen=True)
class ServerEntry:
    """One MCP server as a client config defines it.

    `transport` is "stdio", "http" or "sse". `raw` is the entry exactly as the file holds it
    (flags such as disabled or auto-approve included), so nothing the client knows is lost.
    `client`, `scope` and `source` say where it came from.
    """

    name: str
    transport: str
    client: str
    scope: str
    source: Path
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    env_file: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    disabled: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict)

    def definition(self) -> tuple[Any, ...]:
        """What makes two entries the same server, whatever they are called and wherever they live."""
        return (
            self.transport,
            self.command,
            self.args,
            tuple(sorted(self.env.items())),
            self.cwd,
            self.env_file,
            self.url,
            tuple(sorted(self.headers.items())),
        )


@dataclass(frozen=True)
class DriftReport:
    """How a wrapped config differs from "the proxy entry and nothing else".

    `bypassing` names servers beside the proxy entry: the client reaches them without the gate.
    `proxy_arguments` are the arguments the proxy entry starts the proxy with (None without one),
    so a caller can tell an older proxy's entry from one edited by hand.
    """

    path: Path
    bypassing: tuple[str, ...] = ()
    proxy_missing: bool = False
    proxy_executable_missing: bool = False
    proxy_arguments_unexpected: bool = False
    proxy_arguments: tuple[str, ...] | None = None

    @property
    def clean(self) -> bool:
        return not (
            self.bypassing or self.proxy_missing or self.proxy_executable_missing or self.proxy_arguments_unexpected
        )


@dataclass(frozen=True)
class WrapResult:
    """What `wrap` did: the servers it moved behind the proxy and the backup it made (None if unchanged).

    `before` and `after` are the file's bytes before and after (equal when unchanged); after a
    dry run, `after` is what would have been written and `backup` is None.
    """

    path: Path
    servers: tuple[ServerEntry, ...]
    backup: Path | None
    changed: bool
    before: bytes = b""
    after: bytes = b""


@dataclass(frozen=True)
class RestoreResult:
    """What `restore` did: the backup it restored from, and what a forced restore overwrote (saved in `saved`).

    `before` and `after` are the file's bytes before and after (equal when unchanged); after a
    dry run, `after` is what would have been written and `saved` is None.
    """

    path: Path
    restored_from: Path | None
    changed: bool
    lost: tuple[str, ...] = ()
    saved: Path | None = None
    before: bytes = b""
    after: bytes = b""
