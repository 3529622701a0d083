"""What the rules see and what they say: the seam between the rules and the server around them.

The server turns a decide request into a `Call`, hands the rules a `SessionLedger` over its
storage, and turns the `Evaluation` into a wire `Decision`. The rules never touch HTTP,
SQL or files; tests drive them with an in-memory ledger.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any, Protocol

__all__ = ["Call", "Category", "Finding", "Mode", "SessionLedger", "VelocityTotals"]


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


@dataclasses.dataclass(frozen=True)
class Finding:
    """Why one rule objects: `clause` is `<rule>.<clause>`, `reason` a sentence for a person."""

    rule: str
    clause: str
    reason: str


@dataclasses.dataclass(frozen=True)
class VelocityTotals:
    """Sums (in minor units, e.g. cents) and counts of transfers in each window, this one included."""

    hour_cents: int
    day_cents: int
    week_cents: int
    hour_count: int
    day_count: int
    week_count: int


class SessionLedger(Protocol):
    """State that outlives one call. The server backs it with its storage; updates are atomic."""

    def sensitive_reads(self, session_id: str) -> list[str]:
        """What private data or credentials this session has read so far (short labels)."""
        ...

    def record_sensitive_read(self, session_id: str, label: str, now: datetime.datetime) -> None: ...

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
