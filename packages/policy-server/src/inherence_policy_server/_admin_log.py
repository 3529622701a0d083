"""Rule weakenings in the admin log: written when new rules come into force, read by the proxy's status.

The admin log (`admin_events`) is the dashboard's audit trail; a weakening is one more kind of
entry in it, whoever made the change: the dashboard, or a rules file edited by hand.
"""

from __future__ import annotations

import dataclasses
import datetime
import pathlib
from collections.abc import Sequence

from inherence_policy_server._sqlite import SQLiteStorage
from inherence_policy_server._storage import SQLStorage

__all__ = ["RULES_WEAKENED", "RuleWeakening", "recent_rule_weakenings", "record_weakening"]

RULES_WEAKENED = "rules.weakened"


@dataclasses.dataclass(frozen=True)
class RuleWeakening:
    """When, by what (`source`) and how (`detail`, sentences joined by "; ") the rules were weakened."""

    at: str
    source: str
    detail: str


def record_weakening(storage: SQLStorage, at: datetime.datetime, source: str, weaker: Sequence[str]) -> None:
    with storage.write() as db:
        db.execute(
            "INSERT INTO admin_events (at, action, target, detail) VALUES (?, ?, ?, ?)",
            (at.astimezone(datetime.timezone.utc).isoformat(), RULES_WEAKENED, source[:500], "; ".join(weaker)[:4000]),
        )


def recent_rule_weakenings(data_dir: pathlib.Path | str, *, limit: int = 10) -> list[RuleWeakening]:
    """The newest weakenings recorded in a policy data dir, newest first; none when it has no state yet."""
    folder = pathlib.Path(data_dir)
    if not folder.is_dir():
        return []
    storage = SQLiteStorage(folder)
    try:
        rows = storage.read(
            "SELECT at, target, detail FROM admin_events WHERE action = ? ORDER BY id DESC LIMIT ?",
            [RULES_WEAKENED, limit],
        )
    finally:
        storage.close()
    return [RuleWeakening(str(at), str(source), str(detail)) for at, source, detail in rows]
