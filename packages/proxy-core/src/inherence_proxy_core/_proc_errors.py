"""Errors of the process discipline: upstream processes, the per-client lock, the state files.

`ProcessError` is a `GatewayError` (the package root, drawn in `_errors.py`), and
`ProcessUsageError` is also a `GatewayUsageError`, so one `except` covers the whole package.

```
ProcessError                      every error raised by the process discipline
├── ProcessUsageError             a caller mistake (also GatewayUsageError, ValueError): bad client name, empty argv
├── UpstreamSpawnError            the upstream could not be started
│   └── UpstreamCommandNotFound   its command is not on the upstream's PATH
├── ClientLockError               the per-client lock could not be taken
│   └── ClientLockHeld            another live proxy serves that client
└── RegistryError                 a state file of upstream process groups is in use or unusable
```

Context travels as keyword attributes, never only inside the message.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from inherence_proxy_core._errors import GatewayError, GatewayUsageError

__all__ = [
    "ClientLockError",
    "ClientLockHeld",
    "ProcessError",
    "ProcessUsageError",
    "RegistryError",
    "UpstreamCommandNotFound",
    "UpstreamSpawnError",
]


class ProcessError(GatewayError):
    """Root of the errors raised by the process discipline."""


class ProcessUsageError(ProcessError, GatewayUsageError):
    """The caller passed something that can never work (an empty argv, an unsafe client name)."""


class UpstreamSpawnError(ProcessError):
    """An upstream process could not be started."""

    def __init__(self, message: str, *, name: str, argv: Sequence[str]) -> None:
        super().__init__(message)
        self.name = name
        self.argv = tuple(argv)


class UpstreamCommandNotFound(UpstreamSpawnError):
    """The upstream's command was not found where the upstream itself would look for it."""

    def __init__(self, *, name: str, argv: Sequence[str], search_path: str | None) -> None:
        command = argv[0] if argv else ""
        if os.sep in command or (os.altsep is not None and os.altsep in command):
            where = "(no executable file at that path)"
        else:
            where = f"on PATH {search_path!r}" if search_path else "(the upstream's PATH is empty)"
        super().__init__(f"upstream {name!r}: command {command!r} not found {where}", name=name, argv=argv)
        self.command = command
        self.search_path = search_path


class ClientLockError(ProcessError):
    """The per-client proxy lock could not be taken."""

    def __init__(self, message: str, *, client: str, path: os.PathLike[str] | str) -> None:
        super().__init__(message)
        self.client = client
        self.path = os.fspath(path)


class ClientLockHeld(ClientLockError):
    """Another live proxy already serves this client; `holder_pid` is its process id."""

    def __init__(self, *, client: str, path: os.PathLike[str] | str, holder_pid: int | None) -> None:
        who = f"process {holder_pid}" if holder_pid is not None else "another process"
        super().__init__(
            f"an inherence proxy for client {client!r} is already running ({who}, lock file {os.fspath(path)})",
            client=client,
            path=path,
        )
        self.holder_pid = holder_pid


class RegistryError(ProcessError):
    """A state file of upstream process groups belongs to another live proxy, or cannot be written."""

    def __init__(self, message: str, *, path: os.PathLike[str] | str) -> None:
        super().__init__(message)
        self.path = os.fspath(path)
