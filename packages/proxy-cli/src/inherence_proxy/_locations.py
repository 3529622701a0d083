"""Which client config files a command acts on, and the proxy executable wrapped configs start.

Detection is the adapters' job; this module only chooses among what they find: by client
name, by an explicit `--config-path`, or by what config.json recorded at `init` (0.1.x wrote
client names with underscores, `claude_desktop`; the adapters call it `claude-desktop`).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import sys
from collections.abc import Mapping, Sequence

import click

from inherence_client_adapters import (
    ClientAdapter,
    ClientConfigError,
    ConfigLocation,
    HostEnvironment,
    all_adapters,
    get_adapter,
)
from inherence_proxy._config import ProxyConfig

__all__ = [
    "EXECUTABLE_VARIABLE",
    "ClientChoice",
    "Found",
    "adapter_for",
    "canonical_client",
    "client_names",
    "detected",
    "location_for_path",
    "proxy_executable",
    "recorded",
]

EXECUTABLE_VARIABLE = "INHERENCE_PROXY_EXECUTABLE"
Found = tuple[ClientAdapter, ConfigLocation]


def client_names() -> list[str]:
    return [adapter.name for adapter in all_adapters()]


def canonical_client(name: str) -> str:
    """The adapter name for a client name as 0.1.x or a user may spell it."""
    known = set(client_names())
    for candidate in (name, name.replace("_", "-"), name.lower().replace("_", "-").replace(" ", "-")):
        if candidate in known:
            return candidate
    return name


def adapter_for(name: str) -> ClientAdapter:
    return get_adapter(canonical_client(name))


def proxy_executable(environ: Mapping[str, str]) -> pathlib.Path:
    """The absolute path of the `inherence-proxy` command that wrapped configs must start.

    Absolute because GUI clients start with a minimal PATH. Not resolved through symlinks: a tool
    installer's link (`~/.local/bin/inherence-proxy`) outlives the environment it points into.
    """
    override = environ.get(EXECUTABLE_VARIABLE, "").strip()
    if override:
        return pathlib.Path(override).expanduser().absolute()
    name = "inherence-proxy.exe" if sys.platform == "win32" else "inherence-proxy"
    launched = pathlib.Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if launched is not None and launched.name == name and launched.exists():
        return launched.absolute()
    beside = pathlib.Path(sys.executable).parent / name
    if beside.exists():
        return beside.absolute()
    found = shutil.which("inherence-proxy", path=environ.get("PATH", os.defpath))
    if found:
        return pathlib.Path(found).absolute()
    return beside.absolute()


def detected(
    host: HostEnvironment, clients: Sequence[str] | None = None, projects: Sequence[pathlib.Path] = ()
) -> list[Found]:
    """Every existing config file of the named clients (all when None), user scope and `projects`' scopes."""
    wanted = None if clients is None else {canonical_client(name) for name in clients}
    found: list[Found] = []
    for adapter in all_adapters():
        if wanted is not None and adapter.name not in wanted:
            continue
        found.extend((adapter, location) for location in adapter.detect(host, projects))
    return found


def location_for_path(adapter: ClientAdapter, host: HostEnvironment, path: pathlib.Path) -> ConfigLocation:
    """A location of `adapter` for a file it would not find itself: the dialect of the best-matching candidate."""
    path = path.expanduser().absolute()
    candidates = adapter.candidates(host, projects=[path.parent.parent, path.parent])
    for candidate in candidates:
        if candidate.path == path:
            return candidate
    same_name = [c for c in candidates if c.path.name == path.name]
    chosen = same_name[0] if same_name else candidates[0] if candidates else None
    if chosen is None:
        raise ClientConfigError(f"{adapter.title} has no config file format this command knows")
    return ConfigLocation(client=adapter.name, scope=chosen.scope, path=path, dialect=chosen.dialect)


def recorded(config: ProxyConfig, host: HostEnvironment, clients: Sequence[str] | None = None) -> list[Found]:
    """The config files config.json says `init` wrapped, for the named clients (all when None)."""
    wanted = None if clients is None else {canonical_client(name) for name in clients}
    found: list[Found] = []
    for entry in config.migrated_clients:
        name = canonical_client(entry.name)
        if wanted is not None and name not in wanted:
            continue
        try:
            adapter = get_adapter(name)
        except ClientConfigError:
            continue
        paths = [
            entry.config_path,
            *[p for p in (entry.model_extra or {}).get("config_paths", []) if isinstance(p, str)],
        ]
        for path in dict.fromkeys(paths):
            found.append((adapter, location_for_path(adapter, host, pathlib.Path(path))))
    return found


class ClientChoice(click.Choice[str]):
    """`--client NAME|all`, accepting 0.1.x spellings (`claude_desktop`) of the adapters' names."""

    def __init__(self) -> None:
        super().__init__([*client_names(), "all"])

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        return super().convert(canonical_client(str(value)), param, ctx)
