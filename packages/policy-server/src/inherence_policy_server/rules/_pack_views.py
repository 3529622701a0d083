"""The fast forms the rules match pack entries with, built once per rules config.

`pack_views(config.packs)` merges each shipped pack with the config's additions and disabled
ids and compiles it: host tuples for `host_within`, IP networks, one regular expression per
kind of credential path, one for the privileged role names. The result is cached by the packs'
value, so a call pays for a dictionary lookup, not for compiling.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import re
from collections.abc import Mapping

from inherence_policy_server.rules._packs import (
    AddressEntry,
    ApiResourceEntry,
    HostEntry,
    PacksConfig,
    PathEntry,
    RoleEntry,
)
from inherence_policy_server.rules._paths import compile_components

__all__ = [
    "ApiResource",
    "CredentialPaths",
    "ExfiltrationHosts",
    "MetadataAddresses",
    "PackViews",
    "PrivilegedRoles",
    "pack_views",
]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclasses.dataclass(frozen=True)
class ExfiltrationHosts:
    """Hosts whose subdomains count too, and the clause of each."""

    hosts: tuple[str, ...]
    clauses: Mapping[str, str]

    def clause_of(self, host: str) -> str | None:
        """The clause of the entry `host` falls within (itself or a parent domain), else None."""
        labels = host.split(".")
        for start in range(len(labels)):
            clause = self.clauses.get(".".join(labels[start:]))
            if clause is not None:
                return clause
        return None


@dataclasses.dataclass(frozen=True)
class MetadataAddresses:
    """Networks, exact host names and host names with their subdomains, each with its clause."""

    networks: tuple[tuple[Network, str], ...]
    names: Mapping[str, str]
    domains: tuple[tuple[str, str], ...]

    def address_clause(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
        for network, clause in self.networks:
            if address.version == network.version and address in network:
                return clause
        return None

    def name_clause(self, host: str) -> str | None:
        clause = self.names.get(host)
        if clause is not None:
            return clause
        for domain, clause in self.domains:
            if host.endswith("." + domain):
                return clause
        return None


@dataclasses.dataclass(frozen=True)
class CredentialPaths:
    """Credential files and folders as component tuples (in pack order), and their compiled matchers."""

    files: tuple[tuple[str, ...], ...]
    folders: tuple[tuple[str, ...], ...]
    harmless: tuple[tuple[str, ...], ...]
    file_match: re.Pattern[str]
    folder_match: re.Pattern[str]
    harmless_match: re.Pattern[str]


@dataclasses.dataclass(frozen=True)
class PrivilegedRoles:
    """Privileged role names, each with its clause, and one expression matching a value that names one."""

    clauses: Mapping[str, str]
    match: re.Pattern[str]

    def clause_of(self, value: str) -> str | None:
        """The clause of the role `value` names (alone or as its last word), else None."""
        found = self.match.match(value)
        return None if found is None else self.clauses.get(found.group("role").casefold())


@dataclasses.dataclass(frozen=True)
class ApiResource:
    """One kind of API resource: the methods, a pattern over the folded path's end, and the fields asked for."""

    id: str
    methods: frozenset[str]
    path: re.Pattern[str]
    clause: str
    fields: frozenset[str]


@dataclasses.dataclass(frozen=True)
class PackViews:
    api_resources: tuple[ApiResource, ...]
    exfiltration_hosts: ExfiltrationHosts
    metadata_addresses: MetadataAddresses
    credential_paths: CredentialPaths
    privileged_roles: PrivilegedRoles


_last: list[tuple[PacksConfig, PackViews]] = []


def pack_views(packs: PacksConfig) -> PackViews:
    """The merged, compiled packs of one rules config."""
    # The config in force is nearly always the one asked about last: an identity check spares hashing
    # its entries on every call; a config of equal value shares the views built for the first.
    last = _last[-1] if _last else None
    if last is not None and last[0] is packs:
        return last[1]
    views = _built(packs)
    _last[:] = [(packs, views)]
    return views


@functools.lru_cache(maxsize=8)
def _built(packs: PacksConfig) -> PackViews:
    return PackViews(
        api_resources=tuple(_resource(entry) for entry in packs.api_resources.merged()),
        exfiltration_hosts=_exfiltration(packs.exfiltration_hosts.merged()),
        metadata_addresses=_metadata(packs.metadata_addresses.merged()),
        credential_paths=_credentials(packs.credential_paths.merged()),
        privileged_roles=_roles(packs.privileged_roles.merged()),
    )


def _resource_segment(segment: str) -> str:
    if segment == "**":
        return "(?:/[^/]+)*"
    if segment == "{id}":
        return "/[^/]+"
    words = (re.escape(word).replace(r"\*", "[^/]*") for word in segment.split("|"))
    return "/(?:" + "|".join(words) + ")"


def _resource(entry: ApiResourceEntry) -> ApiResource:
    pattern = "".join(_resource_segment(segment) for segment in entry.path.split("/"))
    return ApiResource(
        id=entry.id,
        methods=frozenset(entry.methods),
        path=re.compile(rf"^{pattern}/?$"),
        clause=entry.clause,
        fields=frozenset(field.casefold() for field in entry.fields),
    )


def _exfiltration(entries: tuple[HostEntry, ...]) -> ExfiltrationHosts:
    hosts = tuple(dict.fromkeys(entry.host for entry in entries))
    clauses: dict[str, str] = {}
    for entry in entries:
        clauses.setdefault(entry.host, entry.clause)
    return ExfiltrationHosts(hosts=hosts, clauses=clauses)


def _metadata(entries: tuple[AddressEntry, ...]) -> MetadataAddresses:
    networks = tuple(
        (ipaddress.ip_network(entry.network), entry.clause) for entry in entries if entry.network is not None
    )
    names: dict[str, str] = {}
    domains: list[tuple[str, str]] = []
    for entry in entries:
        if entry.host is not None:
            names.setdefault(entry.host, entry.clause)
            if entry.subdomains:
                domains.append((entry.host, entry.clause))
    return MetadataAddresses(networks=networks, names=names, domains=tuple(domains))


def _credentials(entries: tuple[PathEntry, ...]) -> CredentialPaths:
    def of(kind: str) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(entry.path.split("/")) for entry in entries if entry.kind == kind)

    files, folders, harmless = of("file"), of("directory"), of("harmless")
    return CredentialPaths(
        files=files,
        folders=folders,
        harmless=harmless,
        file_match=_compiled(files),
        folder_match=_compiled(folders, prefix=True),
        harmless_match=_compiled(harmless),
    )


def _compiled(patterns: tuple[tuple[str, ...], ...], *, prefix: bool = False) -> re.Pattern[str]:
    # An empty kind (every entry disabled) matches nothing, not everything.
    return compile_components(patterns, prefix=prefix) if patterns else re.compile(r"(?!)")


def _roles(entries: tuple[RoleEntry, ...]) -> PrivilegedRoles:
    clauses: dict[str, str] = {}
    for entry in entries:
        clauses.setdefault(entry.role, entry.clause)
        if entry.plural:
            clauses.setdefault(entry.role + "s", entry.clause)
    # A role alone, or the last word of a longer name: `Org Admin`, `roles/owner`, `team:maintainer`.
    names = "|".join(re.escape(name) for name in sorted(clauses, key=len, reverse=True)) or r"(?!)"
    return PrivilegedRoles(clauses=clauses, match=re.compile(rf"^(?:.*[\s_:/-])?(?P<role>{names})$", re.IGNORECASE))
