"""What the rules see and what they say: the seam between the rules and the server around them.

The server turns a decide request into a `Call`, hands the rules a `SessionLedger` over its
storage, and turns the `Evaluation` into a wire `Decision`. The rules never touch HTTP,
SQL or files; tests drive them with an in-memory ledger.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Protocol

from inherence_policy_server.rules._material import ReadItem

__all__ = ["Call", "Category", "Finding", "KnownRecipient", "Mode", "ReadItem", "SessionLedger", "VelocityTotals"]


class Category(str, enum.Enum):
    """What a tool does, as `classify` decides it from name, description and input schema."""

    SHELL_EXEC = "shell_exec"
    FILE_READ = "file_read"
    FILE_WRITE = "file_write"
    FILE_DELETE = "file_delete"
    NETWORK_FETCH = "network_fetch"
    OUTBOUND_SEND = "outbound_send"
    DATABASE_QUERY = "database_query"
    PAYMENT = "payment"
    IDENTITY_ADMIN = "identity_admin"
    CREDENTIAL_STORE = "credential_store"
    PRIVATE_DATA_READ = "private_data_read"
    READ_ONLY = "read_only"
    # A tool nothing could place: the rules look at its arguments as if it could do anything.
    UNKNOWN = "unknown"


class Mode(str, enum.Enum):
    """`enforce` denies, `confirm` asks a person first, `log` allows with a log entry, `off` skips."""

    ENFORCE = "enforce"
    CONFIRM = "confirm"
    LOG = "log"
    OFF = "off"


@dataclasses.dataclass(frozen=True)
class Call:
    """One call to decide. `kind` is `tool`, `resource` (arguments hold the `uri`) or `prompt`.

    `approved` says a person granted this very call (an approval of a `confirm`): findings
    in `confirm` mode then let it through once, and what it does is recorded as for any call
    let through. Findings in `enforce` mode still deny it.
    """

    tool_name: str
    category: Category
    arguments: Mapping[str, Any]
    session_id: str | None = None
    upstream: str | None = None
    client: str | None = None
    kind: str = "tool"
    approved: bool = False
    # The API key (tenant) the call came with; None in the embedded server.
    key_id: str | None = None


@dataclasses.dataclass(frozen=True)
class Finding:
    """Why one rule objects: `clause` is `<rule>.<clause>`, `reason` a sentence for a person."""

    rule: str
    clause: str
    reason: str
    # What the finding is about, for what the server remembers once a person confirms it
    # (e.g. the new recipients of private data).
    subjects: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class VelocityTotals:
    """Sums (in minor units, e.g. cents) and counts of transfers in each window, this one included."""

    hour_cents: int
    day_cents: int
    week_cents: int
    hour_count: int
    day_count: int
    week_count: int


@dataclasses.dataclass(frozen=True)
class KnownRecipient:
    """An outside recipient a tenant may send private data to: how it became known and when."""

    tenant: str
    recipient: str
    source: str
    first_seen: datetime.datetime
    last_seen: datetime.datetime


class SessionLedger(Protocol):
    """State that outlives one call. The server backs it with its storage; updates are atomic.

    What a session read is kept for `READ_TTL` after it was read, bounded per session
    (`MAX_READ_ITEMS`, `MAX_READ_LABELS`) and in the number of sessions (`MAX_READ_SESSIONS`),
    the oldest dropped first.
    """

    def sensitive_reads(self, session_id: str) -> list[str]:
        """The credentials this session read so far, as short labels (the coarse record, no content)."""
        ...

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None: ...

    def unreported_reads(self, session_id: str, now: datetime.datetime) -> list[str]:
        """Labels of credential reads recorded after the last content this session reported, if any."""
        ...

    def record_read_items(self, session_id: str, items: Sequence[ReadItem], now: datetime.datetime) -> None:
        """Add what a tool returned to the session's reads; marks the session as reporting content."""
        ...

    def has_read_items(self, session_id: str, now: datetime.datetime) -> bool:
        """True when the session reported any recognisable content still remembered."""
        ...

    def read_items(self, session_id: str, digests: Collection[int], now: datetime.datetime) -> list[ReadItem]:
        """Those of `digests` the session read within `READ_TTL`."""
        ...

    def add_known_recipient(self, tenant: str, recipient: str, source: str, now: datetime.datetime) -> None:
        """Remember an outside recipient of private data (`confirmed` by a person, or `paid`).

        `tenant` is the rules' `tenant_of` the call (its key). The in-memory ledger keeps recipients
        per that key; the server's ledgers, each one tenant's, share them among the tenant's keys and
        keep the key as the one that made the recipient known.
        """
        ...

    def is_known_recipient(self, tenant: str, recipient: str) -> bool: ...

    def known_recipients(self, tenant: str | None = None, limit: int = 1000) -> list[KnownRecipient]:
        """The newest known recipients first, of one tenant or all."""
        ...

    def known_recipient(self, account: str, recipient: str) -> bool:
        """True when this account has paid this recipient before."""
        ...

    def reserve_transfer(
        self,
        account: str,
        recipient: str,
        amount_cents: int,
        now: datetime.datetime,
        limits: Mapping[str, int],
    ) -> VelocityTotals | None:
        """Atomically add a transfer to the account's windows if the totals stay within `limits`.

        `limits` maps `hour_cents`, `day_cents`, `week_cents`, `hour_count`, `day_count`,
        `week_count` to their maxima. Returns the totals including this transfer when it was
        recorded, or None (recording nothing) when it would exceed any limit. Two concurrent
        reservations can never both pass when together they exceed a limit.
        """
        ...

    def window_totals(self, account: str, now: datetime.datetime) -> VelocityTotals:
        """Current totals without this call, for a reason text."""
        ...
