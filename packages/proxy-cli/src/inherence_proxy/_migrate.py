"""From the servers in client configs to config.json: upstreams, and which client owns which.

Each client's proxy serves that client's own servers (`migrated_clients[].upstream_names`).
Names must be unique across the whole file and safe as the engine's upstream names, so a
server called the same in two clients but defined differently gets the client's name appended.
Running `init` again keeps what an earlier run recorded and adds what is new.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from inherence_client_adapters import ServerEntry, merge_servers
from inherence_proxy._config import MigratedClient, ProxyConfig, UpstreamEntry
from inherence_proxy._locations import canonical_client

__all__ = ["ClientServers", "Migration", "forget_clients", "migrate", "upstream_entry", "upstream_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def upstream_name(raw: str) -> str:
    """A name the engine accepts: letters, digits, '.', '_', '-'; no '__' (it separates tool names)."""
    name = _UNSAFE.sub("-", raw).strip("-._")
    while "__" in name:
        name = name.replace("__", "_")
    return (name or "server")[:64]


def upstream_entry(name: str, server: ServerEntry) -> UpstreamEntry:
    """The config.json entry of one client server, in the 0.1.x shape plus `url`/`headers`."""
    if server.transport == "stdio":
        return UpstreamEntry(
            name=name,
            command=[server.command or "", *server.args],
            env=dict(server.env),
            cwd=server.cwd,
            transport="stdio",
        )
    return UpstreamEntry(name=name, transport=server.transport, url=server.url, headers=dict(server.headers))


def _definition(entry: UpstreamEntry) -> tuple[Any, ...]:
    return (entry.transport, tuple(entry.command), sorted(entry.env.items()), entry.cwd, entry.url,
            sorted(entry.headers.items()))  # fmt: skip


@dataclasses.dataclass(frozen=True)
class ClientServers:
    """One client chosen for wrapping: its config files and the servers they define."""

    client: str
    config_paths: tuple[str, ...]
    servers: tuple[ServerEntry, ...]


@dataclasses.dataclass(frozen=True)
class Migration:
    config: ProxyConfig
    upstreams_of: dict[str, list[str]]  # client -> its upstream names
    notes: list[str]


def _unique(candidate: str, taken: set[str]) -> str:
    number = 2
    name = candidate
    while name in taken:
        name = f"{candidate[:60]}-{number}"
        number += 1
    return name


def migrate(config: ProxyConfig, chosen: Sequence[ClientServers], *, now: str) -> Migration:
    """config.json with the chosen clients' servers recorded as their upstreams."""
    notes: list[str] = []
    upstreams = {entry.name: entry for entry in config.upstreams}
    owners: dict[str, MigratedClient] = {canonical_client(c.name): c for c in config.migrated_clients}
    servers = [s for group in chosen for s in group.servers]
    for server in servers:
        if server.disabled:
            notes.append(f"{server.client}: {server.name} is disabled in the client; not served")
        if server.env_file:
            notes.append(f"{server.client}: {server.name} reads variables from {server.env_file}; copy them into env")
    merged = merge_servers(s for s in servers if not s.disabled)
    names_of = {(e.client, e.scope, e.source, e.name): name for name, e in merged.servers.items()}
    names_of.update(merged.renamed)
    upstreams_of: dict[str, list[str]] = {}
    for group in chosen:
        client = canonical_client(group.client)
        previous = owners.get(client)
        names = [n for n in (previous.upstream_names if previous else []) if n in upstreams]
        for server in group.servers:
            if server.disabled:
                continue
            wanted = upstream_name(names_of.get((server.client, server.scope, server.source, server.name), server.name))
            entry = upstream_entry(wanted, server)
            existing = upstreams.get(wanted)
            if existing is not None and _definition(existing) != _definition(entry) and wanted not in names:
                wanted = _unique(upstream_name(f"{wanted}-{client}"), set(upstreams))
                entry = entry.model_copy(update={"name": wanted})
                notes.append(f"{client}: {server.name} is served as {wanted} (another client's {server.name} differs)")
            upstreams[wanted] = entry
            if wanted not in names:
                names.append(wanted)
        upstreams_of[client] = names
        record = MigratedClient(name=previous.name if previous else client, config_path=group.config_paths[0],
                                upstream_names=names)  # fmt: skip
        if len(group.config_paths) > 1:
            record = MigratedClient.model_validate({**record.model_dump(), "config_paths": list(group.config_paths)})
        owners[client] = record
    updated = config.model_copy(
        update={"upstreams": list(upstreams.values()), "migrated_clients": list(owners.values()), "migrated_at": now}
    )
    return Migration(config=updated, upstreams_of=upstreams_of, notes=notes)


def forget_clients(config: ProxyConfig, clients: Sequence[str]) -> ProxyConfig:
    """config.json after `restore` of `clients`: their records gone, upstreams no other client serves gone."""
    gone = {canonical_client(name) for name in clients}
    kept = [c for c in config.migrated_clients if canonical_client(c.name) not in gone]
    if len(kept) == len(config.migrated_clients):
        return config
    still_served = {name for c in kept for name in c.upstream_names}
    dropped = {name for c in config.migrated_clients if canonical_client(c.name) in gone for name in c.upstream_names}
    upstreams = [u for u in config.upstreams if u.name in still_served or u.name not in dropped]
    return config.model_copy(update={"migrated_clients": kept, "upstreams": upstreams})
