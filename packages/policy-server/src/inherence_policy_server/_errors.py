"""The exceptions of inherence-policy-server.

```
PolicyServerError               every error this package raises on purpose
├── ServerUsageError            a caller's mistake: fix the call or the input
│   ├── ConfigError             a rules config file that cannot be read or is invalid (names file and field)
│   ├── UnknownKeyError         `keys revoke` of a key id that does not exist
│   ├── ApprovalNotFound        no approval has this id
│   └── ApprovalExpired         the approval can no longer be answered (expired, used or declined)
└── StorageError                the data dir cannot be opened or written (permissions, corruption, lock timeout)
```

The CLI alone turns these into `click.ClickException`; the HTTP layer never lets one become
a 5xx on decide (an evaluation that fails is a deny).
"""

from __future__ import annotations

import pathlib

__all__ = [
    "ApprovalExpired",
    "ApprovalNotFound",
    "ConfigError",
    "PolicyServerError",
    "ServerUsageError",
    "StorageError",
    "UnknownKeyError",
]


class PolicyServerError(Exception):
    """Root of every error raised on purpose by inherence-policy-server."""


class ServerUsageError(PolicyServerError):
    """The caller asked for something that cannot be done as asked."""


class ConfigError(ServerUsageError):
    """A rules config file that cannot be used; `path` and `field` say where."""

    def __init__(self, message: str, *, path: pathlib.Path | None = None, field: str | None = None) -> None:
        where = str(path) if path is not None else "<config>"
        if field:
            where = f"{where}: {field}"
        super().__init__(f"{where}: {message}")
        self.path = path
        self.field = field


class UnknownKeyError(ServerUsageError):
    """No API key has this id."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no API key with id {key_id!r}")
        self.key_id = key_id


class ApprovalNotFound(ServerUsageError):
    """No approval has this id."""

    def __init__(self, approval_id: str) -> None:
        super().__init__(f"no approval with id {approval_id!r}")
        self.approval_id = approval_id


class ApprovalExpired(ServerUsageError):
    """The approval can no longer be answered: it expired, was used, or was declined; `state` says which."""

    def __init__(self, approval_id: str, state: str) -> None:
        super().__init__(f"approval {approval_id!r} is {state} and can no longer be answered")
        self.approval_id = approval_id
        self.state = state


class StorageError(PolicyServerError):
    """The data dir could not be opened, read or written."""

    def __init__(self, message: str, *, data_dir: pathlib.Path | None = None) -> None:
        super().__init__(message if data_dir is None else f"{message} (data dir {data_dir})")
        self.data_dir = data_dir
