"""What differs between clients inside one file: where the servers sit, how an entry reads, the proxy entry.

A `Dialect` ties a syntax (JSON, JSONC, YAML, TOML) to the sections that hold servers and to the
client's own spelling of the proxy entry. Entries are decoded into `ServerEntry` by one decoder
that knows every documented key; an entry with neither a command nor a URL is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath
from typing import Any

from ._errors import UnexpectedStructureError
from ._model import PROXY_ENTRY_NAME, ProxyCommand, ServerEntry
from ._syntax import ConfigSyntax, SectionPath, describe_path, get_path

__all__ = [
    "ConfigLocation",
    "Dialect",
    "Section",
    "decode_entry",
    "is_proxy_entry",
    "section_entries",
    "top_level_section",
]

_HTTP_TYPES = {"http", "streamable-http", "streamablehttp", "streamable_http"}


@dataclass(frozen=True)
class Section:
    """One place in a file that holds servers.

    `holds_proxy`: the wrapped file has the proxy entry here; otherwise this section is emptied
    (its servers move behind the proxy of the section that holds it). `listed`: the servers are a
    list of entries (Continue) rather than a mapping from name to entry.
    """

    scope: str
    path: SectionPath
    holds_proxy: bool = True
    listed: bool = False


@dataclass(frozen=True)
class Dialect:
    """A client's file format: syntax, servers sections (found from the content) and proxy entry."""

    syntax: ConfigSyntax
    sections: Callable[[Any], tuple[Section, ...]]
    proxy_entry: Callable[[ProxyCommand, str], dict[str, Any]]
    url_means_sse: bool = False

    def wrapped_value(self, section: Section, proxy_entry: Mapping[str, Any]) -> Any:
        """The servers value of `section` in a wrapped file."""
        if not section.holds_proxy:
            return [] if section.listed else {}
        if section.listed:
            return [dict(proxy_entry)]
        return {PROXY_ENTRY_NAME: dict(proxy_entry)}


def top_level_section(
    key: str, *, scope: str, listed: bool = False, holds_proxy: bool = True
) -> Callable[[Any], tuple[Section, ...]]:
    """The common case: one servers section under `key` at the top of the file."""
    section = Section(scope=scope, path=(key,), holds_proxy=holds_proxy, listed=listed)
    return lambda plain: (section,)


def is_proxy_entry(name: str, raw: Any) -> bool:
    """The proxy's own entry: named `inherence`, or (in unnamed lists) running `inherence-proxy serve`."""
    if name == PROXY_ENTRY_NAME:
        return True
    if not isinstance(raw, dict):
        return False
    body = raw.get("transport") if isinstance(raw.get("transport"), dict) else raw
    command = body.get("command") if isinstance(body, dict) else None
    args = body.get("args") if isinstance(body, dict) else None
    if not isinstance(command, str) or not isinstance(args, list) or not args or args[0] != "serve":
        return False
    stem = PureWindowsPath(command).name.lower().removesuffix(".exe")
    return stem == "inherence-proxy"


def section_entries(plain: Any, section: Section, *, path: Path) -> list[tuple[str, Any]]:
    """(name, raw entry) pairs of a section; an absent section is empty, a wrongly shaped one is refused."""
    value = get_path(plain, section.path)
    where = describe_path(section.path)
    if value is None:
        return []
    if section.listed:
        if not isinstance(value, list):
            raise UnexpectedStructureError("expected a list of servers", path=path, where=where)
        pairs = []
        for index, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else None
            pairs.append((name if isinstance(name, str) and name else f"server-{index + 1}", item))
        return pairs
    if not isinstance(value, dict):
        raise UnexpectedStructureError("expected a mapping from server name to entry", path=path, where=where)
    return list(value.items())


def decode_entry(
    name: str, raw: Any, *, dialect: Dialect, client: str, scope: str, source: Path, where: str
) -> ServerEntry:
    """Read one entry in any documented spelling into the common model."""

    def refuse(detail: str) -> UnexpectedStructureError:
        return UnexpectedStructureError(detail, path=source, where=f"{where} > {name}")

    if not isinstance(raw, dict):
        raise refuse("a server entry must be a mapping")
    body: dict[str, Any] = raw["transport"] if isinstance(raw.get("transport"), dict) else raw
    command = body.get("command")
    args = body.get("args", [])
    env = body.get("env", {})
    if isinstance(command, dict):  # Zed's older {"command": {"path", "args", "env"}}
        args, env, command = command.get("args", []), command.get("env", {}), command.get("path")
    url = next((body[key] for key in ("httpUrl", "serverUrl", "url") if isinstance(body.get(key), str)), None)
    kind = str(body.get("type") or body.get("transportType") or "").lower()
    if command is not None:
        if not isinstance(command, str) or not command:
            raise refuse("`command` must be a non-empty string")
        transport = "stdio"
    elif url is not None:
        if "httpUrl" in body or kind in _HTTP_TYPES:
            transport = "http"
        elif kind == "sse" or dialect.url_means_sse:
            transport = "sse"
        else:
            transport = "http"
    else:
        raise refuse("neither a command nor a URL: this entry shape is not one the client documents")
    if args is None:
        args = []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise refuse("`args` must be a list of strings")
    headers = body.get("headers", body.get("http_headers", {})) or {}
    cwd = body.get("cwd")
    env_file = body.get("envFile", body.get("env_file"))
    return ServerEntry(
        name=name,
        transport=transport,
        client=client,
        scope=scope,
        source=source,
        command=command,
        args=tuple(args),
        env=_string_map(env, refuse, "env"),
        cwd=cwd if isinstance(cwd, str) else None,
        env_file=env_file if isinstance(env_file, str) else None,
        url=url,
        headers=_string_map(headers, refuse, "headers"),
        disabled=raw.get("disabled") is True or raw.get("enabled") is False,
        raw=raw,
    )


def _string_map(value: Any, refuse: Callable[[str], UnexpectedStructureError], key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refuse(f"`{key}` must be a mapping")
    return {str(name): item if isinstance(item, str) else str(item) for name, item in value.items() if item is not None}


@dataclass(frozen=True)
class ConfigLocation:
    """One config file of one client: `path` as the user knows it (a symlink is followed on write)."""

    client: str
    scope: str
    path: Path
    dialect: Dialect = field(repr=False, compare=False)
