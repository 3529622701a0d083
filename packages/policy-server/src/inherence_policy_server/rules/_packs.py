"""Rule packs: what the rules know, as data files with one id per entry and the clause it raises.

A pack is a TOML file under `rules/packs/` shipped inside the package: a `description` and a
list of `[[entries]]`. Packs are read and validated once, when this module is imported: every
model refuses unknown keys, ids are unique within a pack, and an entry's clause must be one of
`_modes` that the pack's entries can raise. A broken pack is a `PackError` naming its file and
entry, so the rules never run with half their knowledge.

Users extend a pack in the rules config (`[packs.<pack>]`): `entries` adds entries of the
same shape, `disable` switches off shipped entries by id. `_pack_views` turns the merged
entries into the fast forms the rules match with.
"""

from __future__ import annotations

import importlib.resources
import ipaddress
import re
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

import pydantic
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from inherence_policy_server.rules._modes import CLAUSE_DEFAULTS

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found,unused-ignore]

__all__ = [
    "PACK_NAMES",
    "SHIPPED",
    "AddressEntry",
    "ApiResourceEntry",
    "HostEntry",
    "PackError",
    "PacksConfig",
    "PathEntry",
    "RoleEntry",
    "load_pack",
]

PACK_NAMES = ("api_resources", "credential_paths", "exfiltration_hosts", "metadata_addresses", "privileged_roles")
MAX_USER_ENTRIES = 1000
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_ROLE = re.compile(r"^[a-z0-9](?:[a-z0-9 _:/.-]{0,98}[a-z0-9])?$")
_RESOURCE_SEGMENT = re.compile(r"^(?:\*\*|\{id\}|[a-z0-9_*.]+(?:\|[a-z0-9_*.]+)*)$")
_HOST = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$")


class PackError(ValueError):
    """A pack file that cannot be read or is not valid; the message names the file and the entry."""


def _id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"id {value!r} must be 1 to 100 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
    return value


def _host(value: str) -> str:
    folded = value.strip().lower().rstrip(".")
    if not _HOST.match(folded) or len(folded) > 253:
        raise ValueError(f"{value!r} is not a host name (letters, digits, '-', dots between labels)")
    return folded


def _path(value: str) -> str:
    folded = value.strip().casefold().replace("\\", "/")
    parts = folded.split("/")
    if not folded or len(folded) > 300 or folded.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{value!r} must be trailing path components such as '.aws/credentials' (no leading '/')")
    return folded


def _role(value: str) -> str:
    folded = value.strip().casefold()
    if not _ROLE.match(folded):
        raise ValueError(
            f"role {value!r} must be 1 to 100 of letters, digits, ' ', '_', ':', '/', '.', '-',"
            " starting and ending with a letter or digit"
        )
    return folded


def _resource_path(value: str) -> str:
    folded = value.strip().casefold().replace("-", "_")
    segments = folded.strip("/").split("/")
    if not folded or len(folded) > 1000 or not all(_RESOURCE_SEGMENT.match(segment) for segment in segments):
        raise ValueError(
            f"{value!r} must be '/'-separated segments: '**' (any segments), '{{id}}' (one), or words"
            " (a-z, 0-9, '_', '*' for any letters) joined by '|'"
        )
    if all(segment in ("**", "{id}") for segment in segments):
        raise ValueError(f"{value!r} names no resource word")
    return "/".join(segments)


EntryId = Annotated[str, AfterValidator(_id)]
HostName = Annotated[str, AfterValidator(_host)]
PathPattern = Annotated[str, AfterValidator(_path)]
RoleName = Annotated[str, AfterValidator(_role)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Entry(_Frozen):
    clauses: ClassVar[tuple[str, ...]]

    id: EntryId = Field(description="unique within the pack; names the entry in `disable` and in errors")
    clause: str = Field(description="the clause a match raises, `<rule>.<clause>`")
    note: str = Field(default="", max_length=300, description="what the entry is, for people")

    @model_validator(mode="after")
    def _raisable_clause(self) -> _Entry:
        rule, _, short = self.clause.partition(".")
        if short not in CLAUSE_DEFAULTS.get(rule, {}):
            raise ValueError(f"unknown clause {self.clause!r} (the clauses are listed in CLAUSES.md)")
        if self.clause not in self.clauses:
            raise ValueError(f"clause {self.clause!r} is not one this pack raises: {', '.join(self.clauses)}")
        return self


class HostEntry(_Entry):
    """An exfiltration endpoint: a send to the host or any subdomain of it raises the clause."""

    clauses = ("unauthorized_exfiltration.exfiltration_endpoint",)

    clause: str = clauses[0]
    host: HostName


class AddressEntry(_Entry):
    """A cloud metadata or host-agent address: an IP network, or a host name (and optionally its subdomains)."""

    clauses = ("lateral_pivot.metadata_endpoint",)

    clause: str = clauses[0]
    network: str | None = Field(default=None, description="an IPv4 or IPv6 network, `169.254.0.0/16`")
    host: HostName | None = None
    subdomains: bool = Field(default=False, description="with `host`: its subdomains too")

    @model_validator(mode="after")
    def _one_address(self) -> AddressEntry:
        if (self.network is None) == (self.host is None):
            raise ValueError("give exactly one of network and host")
        if self.network is not None:
            try:
                ipaddress.ip_network(self.network)
            except ValueError as exc:
                raise ValueError(f"network {self.network!r}: {exc}") from None
        if self.subdomains and self.host is None:
            raise ValueError("subdomains applies to a host entry only")
        return self


class PathEntry(_Entry):
    """A credential file, a folder whose whole content is credentials, or a harmless look-alike.

    `path` is trailing path components, `/`-separated, each an fnmatch glob, matched after
    normalisation (case folded). A harmless entry exempts what it matches from the clause.
    """

    clauses = ("credential_access.credential_file",)

    clause: str = clauses[0]
    path: PathPattern
    kind: Literal["file", "directory", "harmless"] = "file"


class RoleEntry(_Entry):
    """A privileged role: a role-like argument set to the name (or ending in it after ' ', '_', ':', '/', '-')."""

    clauses = ("identity_escalation.admin_grant",)

    clause: str = clauses[0]
    role: RoleName
    plural: bool = Field(default=False, description="the name with an 's' counts too: admin, admins")


_RESOURCE_CLAUSES = (
    "financial_drain.api_money_movement",
    "financial_drain.new_recipient",
    "financial_drain.recurring_recipient_change",
    "identity_escalation.password_reset",
    "identity_escalation.password_change",
    "identity_escalation.admin_mfa_change",
    "identity_escalation.mfa_change",
    "identity_escalation.admin_grant",
    "identity_escalation.role_grant",
    "identity_escalation.outside_invite",
    "identity_escalation.outside_share",
    "identity_escalation.public_share",
    "identity_escalation.new_ssh_key",
    "identity_escalation.token_create",
    "identity_escalation.ownership_transfer",
    "credential_access.api_secret_read",
    "mass_destruction.api_resource_delete",
    "unauthorized_exfiltration.outside_forwarding",
)


class ApiResourceEntry(_Entry):
    """A kind of resource any HTTP API may name: a request whose method and path match raises the clause.

    `path` is matched against the end of a request's path, segment by segment, case-folded with `-` read
    as `_`: `**` is any number of segments, `{id}` one, a word list `payees|beneficiaries` any of those
    words (`*` inside a word: any letters). `fields`, when given: the body or query must set one of these
    keys (the leaf key, case-folded) to a value that is not empty.
    """

    clauses = _RESOURCE_CLAUSES

    methods: tuple[Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"], ...] = Field(min_length=1)
    path: Annotated[str, AfterValidator(_resource_path)]
    fields: tuple[str, ...] = Field(default=(), max_length=32)


class _Pack(_Frozen):
    entry_type: ClassVar[type[_Entry]]

    description: str = Field(max_length=1000)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(entry.id for entry in self._entries())

    def _entries(self) -> Sequence[_Entry]:
        entries = getattr(self, "entries", ())
        assert isinstance(entries, tuple)
        return entries

    @model_validator(mode="after")
    def _unique_ids(self) -> _Pack:
        seen: set[str] = set()
        for entry in self._entries():
            if entry.id in seen:
                raise ValueError(f"entry {entry.id!r}: the id is used twice")
            seen.add(entry.id)
        return self


class ApiResourcesPack(_Pack):
    entries: tuple[ApiResourceEntry, ...]


class ExfiltrationHostsPack(_Pack):
    entries: tuple[HostEntry, ...]


class MetadataAddressesPack(_Pack):
    entries: tuple[AddressEntry, ...]


class CredentialPathsPack(_Pack):
    entries: tuple[PathEntry, ...]


class PrivilegedRolesPack(_Pack):
    entries: tuple[RoleEntry, ...]


_PACK_TYPES: Mapping[str, type[_Pack]] = {
    "api_resources": ApiResourcesPack,
    "credential_paths": CredentialPathsPack,
    "exfiltration_hosts": ExfiltrationHostsPack,
    "metadata_addresses": MetadataAddressesPack,
    "privileged_roles": PrivilegedRolesPack,
}


def load_pack(name: str, text: str, *, source: str) -> _Pack:
    """Parse and validate the TOML text of pack `name`; `PackError` names `source` and the entry."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PackError(f"{source}: not valid TOML: {exc}") from None
    try:
        return _PACK_TYPES[name].model_validate(data)
    except pydantic.ValidationError as exc:
        raise PackError(f"{source}: {_first_problem(exc, data)}") from None


def _first_problem(exc: pydantic.ValidationError, data: Any) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    location = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in location)
    if len(location) >= 2 and location[0] == "entries" and isinstance(location[1], int):
        entries = data.get("entries") if isinstance(data, dict) else None
        raw = entries[location[1]] if isinstance(entries, list) and location[1] < len(entries) else None
        entry_id = raw.get("id") if isinstance(raw, dict) else None
        named = f"entry {entry_id!r}" if isinstance(entry_id, str) else f"entry {location[1] + 1}"
        field = ".".join(str(part) for part in location[2:])
        where = f"{named}{f', field {field}' if field else ''}"
    more = exc.error_count() - 1
    return f"{where}: {message}" + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")


def _load_shipped() -> Mapping[str, _Pack]:
    folder = importlib.resources.files(__package__ or "inherence_policy_server.rules").joinpath("packs")
    packs: dict[str, _Pack] = {}
    for name in PACK_NAMES:
        resource = folder.joinpath(f"{name}.toml")
        try:
            text = resource.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PackError(f"packs/{name}.toml: cannot read the shipped pack: {exc}") from None
        packs[name] = load_pack(name, text, source=f"packs/{name}.toml")
    return MappingProxyType(packs)


SHIPPED: Mapping[str, _Pack] = _load_shipped()
"""Pack name -> the shipped pack, read once at import."""


class _Extension(_Frozen):
    pack: ClassVar[str]

    disable: tuple[str, ...] = Field(default=(), description="ids of shipped entries that no longer apply")

    def _added(self) -> Sequence[_Entry]:
        entries = getattr(self, "entries", ())
        assert isinstance(entries, tuple)
        return entries

    @model_validator(mode="after")
    def _known_ids(self) -> _Extension:
        shipped = SHIPPED[self.pack].ids
        unknown = [entry_id for entry_id in self.disable if entry_id not in shipped]
        if unknown:
            raise ValueError(f"disable: {unknown[0]!r} is not an entry of the shipped {self.pack} pack")
        seen: set[str] = set()
        for entry in self._added():
            if entry.id in shipped:
                raise ValueError(f"entry {entry.id!r}: the id is a shipped entry of {self.pack}; choose another")
            if entry.id in seen:
                raise ValueError(f"entry {entry.id!r}: the id is used twice")
            seen.add(entry.id)
        return self

    def merged(self) -> tuple[Any, ...]:
        """The shipped entries not disabled, then the added ones."""
        disabled = set(self.disable)
        shipped = SHIPPED[self.pack]._entries()
        return tuple(entry for entry in shipped if entry.id not in disabled) + tuple(self._added())


class ApiResourcesExtension(_Extension):
    pack = "api_resources"
    entries: tuple[ApiResourceEntry, ...] = Field(default=(), max_length=MAX_USER_ENTRIES)


class ExfiltrationHostsExtension(_Extension):
    pack = "exfiltration_hosts"
    entries: tuple[HostEntry, ...] = Field(default=(), max_length=MAX_USER_ENTRIES)


class MetadataAddressesExtension(_Extension):
    pack = "metadata_addresses"
    entries: tuple[AddressEntry, ...] = Field(default=(), max_length=MAX_USER_ENTRIES)


class CredentialPathsExtension(_Extension):
    pack = "credential_paths"
    entries: tuple[PathEntry, ...] = Field(default=(), max_length=MAX_USER_ENTRIES)


class PrivilegedRolesExtension(_Extension):
    pack = "privileged_roles"
    entries: tuple[RoleEntry, ...] = Field(default=(), max_length=MAX_USER_ENTRIES)


class PacksConfig(_Frozen):
    """`[packs.<pack>]` of the rules config: entries added to a shipped pack and shipped entries disabled."""

    api_resources: ApiResourcesExtension = ApiResourcesExtension()
    credential_paths: CredentialPathsExtension = CredentialPathsExtension()
    exfiltration_hosts: ExfiltrationHostsExtension = ExfiltrationHostsExtension()
    metadata_addresses: MetadataAddressesExtension = MetadataAddressesExtension()
    privileged_roles: PrivilegedRolesExtension = PrivilegedRolesExtension()

    def describe(self) -> list[str]:
        """For `rules show`: each pack's size, what is disabled and what was added."""
        lines = []
        for name in PACK_NAMES:
            extension: _Extension = getattr(self, name)
            shipped = len(SHIPPED[name].ids)
            lines.append(f"  {name}: {len(extension.merged())} entries ({shipped} shipped)")
            lines.extend(f"    disabled {entry_id}" for entry_id in extension.disable)
            lines.extend(f"    added {_shown(entry)}" for entry in extension._added())
        return lines


def _shown(entry: _Entry) -> str:
    fields = entry.model_dump(exclude={"id", "clause", "note"}, exclude_defaults=True)
    what = " ".join(f"{key}={value}" for key, value in fields.items())
    return f"{entry.id}: {what} -> {entry.clause}"
