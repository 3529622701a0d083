"""Where the proxy keeps its files: `~/.inherence-proxy/` unless INHERENCE_PROXY_HOME says otherwise."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Mapping

__all__ = ["ProxyHome"]

_CLIENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class ProxyHome:
    """The proxy's folder and the files in it (see DESIGN.md, "Files on the user's machine")."""

    root: pathlib.Path

    @classmethod
    def locate(cls, environ: Mapping[str, str], user_home: pathlib.Path) -> ProxyHome:
        override = environ.get("INHERENCE_PROXY_HOME", "").strip()
        root = pathlib.Path(override).expanduser() if override else user_home / ".inherence-proxy"
        return cls(root.absolute())

    @property
    def config_path(self) -> pathlib.Path:
        return self.root / "config.json"

    @property
    def classifications_path(self) -> pathlib.Path:
        return self.root / "classifications.json"

    @property
    def log_path(self) -> pathlib.Path:
        return self.root / "proxy.log"

    @property
    def policy_data_dir(self) -> pathlib.Path:
        """State of the embedded policy server (SQLite): velocity windows, sessions, decision log."""
        return self.root / "policy"

    @property
    def rules_path(self) -> pathlib.Path:
        """Optional rules config (TOML) of the embedded policy server; its defaults apply without it."""
        return self.root / "rules.toml"

    @property
    def discovery_path(self) -> pathlib.Path:
        """What the last discovery found per upstream, for `status`."""
        return self.root / "discovery.json"

    @property
    def backups_dir(self) -> pathlib.Path:
        return self.root / "backups"

    @property
    def legacy_pid_path(self) -> pathlib.Path:
        """The single PID file of 0.1.x, read as the lock of a proxy started without a client name."""
        return self.root / "proxy.pid"

    def pid_path(self, client: str) -> pathlib.Path:
        if not _CLIENT_NAME.match(client):
            raise ValueError(f"client name {client!r} must be 1-64 letters, digits, '.', '_' or '-'")
        return self.root / f"proxy-{client}.pid"

    def client_of_pid_file(self, path: pathlib.Path) -> str | None:
        """The client a PID file in this home stands for; 0.1.x's `proxy.pid` is the client-less `default`."""
        if path.name == self.legacy_pid_path.name:
            return "default"
        name = path.name
        if name.startswith("proxy-") and name.endswith(".pid") and _CLIENT_NAME.match(name[6:-4]):
            return name[6:-4]
        return None

    def ensure(self) -> None:
        """Create the folder, private to this user (0700), and tighten it if it exists looser."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix" and self.root.stat().st_mode & 0o077:
            self.root.chmod(0o700)
