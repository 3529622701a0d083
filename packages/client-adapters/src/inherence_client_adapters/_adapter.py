"""The one small interface every client adapter offers."""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, ClassVar

from . import _operations
from ._dialect import ConfigLocation, Dialect
from ._fileio import DEFAULT_MAX_BYTES
from ._model import DriftReport, HostEnvironment, ProxyCommand, RestoreResult, ServerEntry, WrapResult

__all__ = ["ClientAdapter", "simple_proxy_entry", "typed_proxy_entry"]


def simple_proxy_entry(proxy: ProxyCommand, client: str) -> dict[str, Any]:
    """`{"command": <absolute path>, "args": ["serve", <client>]}`, the entry most clients document."""
    return {"command": str(proxy.executable), "args": proxy.arguments(client)}


def typed_proxy_entry(proxy: ProxyCommand, client: str) -> dict[str, Any]:
    """The same with `"type": "stdio"` first, for clients whose entries name their transport."""
    return {"type": "stdio", **simple_proxy_entry(proxy, client)}


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class ClientAdapter(ABC):
    """Finds one client's config files and reads, wraps, restores and checks them.

    `candidates` lists every file the client may read on the given host, for every scope;
    `detect` keeps those that exist. The other methods take one of those locations.
    """

    name: ClassVar[str]
    """The client's name in `inherence-proxy serve <name>` and in file names (`claude-desktop`)."""
    title: ClassVar[str]
    """The client's name as its makers write it (`Claude Desktop`)."""

    @abstractmethod
    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        """Every config file this client may read on `host`, user scope first, then each project's."""

    def detect(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        """The candidates that exist as files (a symlink to a file counts)."""
        return [location for location in self.candidates(host, projects) if location.path.is_file()]

    def location(self, scope: str, path: Path, dialect: Dialect) -> ConfigLocation:
        return ConfigLocation(client=self.name, scope=scope, path=path, dialect=dialect)

    def read(self, location: ConfigLocation, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[ServerEntry]:
        """The servers the file defines, the proxy's own entry left out."""
        return _operations.read_servers(location, max_bytes=max_bytes)

    def wrap(
        self,
        location: ConfigLocation,
        proxy: ProxyCommand,
        *,
        now: Callable[[], datetime] = _utc_now,
        max_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 10.0,
        dry_run: bool = False,
    ) -> WrapResult:
        """Back up the file and make the proxy entry its only server (`dry_run`: only say what would be written)."""
        return _operations.wrap(
            location, proxy, now=now, max_bytes=max_bytes, lock_timeout=lock_timeout, dry_run=dry_run
        )

    def restore(
        self,
        location: ConfigLocation,
        *,
        force: bool = False,
        now: Callable[[], datetime] = _utc_now,
        max_bytes: int = DEFAULT_MAX_BYTES,
        lock_timeout: float = 10.0,
        dry_run: bool = False,
    ) -> RestoreResult:
        """Put the pristine backup back, byte for byte (`dry_run`: only say what would be written)."""
        return _operations.restore(
            location, force=force, now=now, max_bytes=max_bytes, lock_timeout=lock_timeout, dry_run=dry_run
        )

    def drift(
        self,
        location: ConfigLocation,
        proxy: ProxyCommand | None = None,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        exists: Callable[[str], bool] = os.path.exists,
    ) -> DriftReport:
        """Servers beside the proxy entry, a missing proxy entry, or a proxy executable that is gone."""
        return _operations.drift(location, proxy, max_bytes=max_bytes, exists=exists)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
