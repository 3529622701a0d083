"""The decision log writer: decided calls and session sightings go to storage from one thread.

The request path only appends an entry to a deque: no lock, no wake-up of another thread
(each wake-up would hand the GIL over mid-request). A writer thread wakes every `interval`
seconds, masks secrets in what has gathered and stores it, one transaction per batch, so a
busy database never stalls a decision. The write-ahead log is copied back into the database
at most every `checkpoint_every` seconds: it is the costliest thing the writer does.
`flush()` wakes it at once and waits until everything recorded so far is stored; `close()`
flushes and stops it.

What waits in memory is bounded (`max_backlog` entries and sightings): a caller that finds it
full wakes the writer and waits for room, so a database slower than the traffic slows the
calls down instead of growing memory or losing entries. Sightings of the same session in one
batch are stored as its first and its last.

With a retention age, the writer also deletes decision rows older than it, at most every
`prune_every` seconds, in batches of `prune_batch` rows, each batch a short transaction of its
own: a decide never waits for a long delete.
"""

from __future__ import annotations

import collections
import datetime
import functools
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from inherence_policy_server._masking import mask_arguments, mask_text
from inherence_policy_server._storage import DEFAULT_TENANT, DecisionLogEntry, SQLStorage, Storage

__all__ = ["DecisionLogWriter", "prune_decisions"]

logger = logging.getLogger("inherence_policy_server")

_BATCH = 200
_MAX_BACKLOG = 10_000
_ROOM_WAIT = 30.0
_YIELD_EVERY = 8
_MEMO_CHARS = 256
_Item = TypeVar("_Item")
_Sighting = tuple[str, str | None, datetime.datetime, str]
_PRUNE_BATCH = 1000
_PRUNE_BATCHES = 100  # per round: a backlog is worked off over several rounds


def prune_decisions(storage: SQLStorage, before: datetime.datetime, *, batch: int = _PRUNE_BATCH) -> int:
    """Delete one batch of decision rows older than `before` (oldest first); how many were deleted."""
    cutoff = before.astimezone(datetime.timezone.utc).isoformat()
    with storage.write() as db:
        cursor = db.execute(
            "DELETE FROM decisions WHERE id IN (SELECT id FROM decisions WHERE at < ? ORDER BY at LIMIT ?)",
            (cutoff, batch),
        )
        return max(0, int(cursor.rowcount))


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class DecisionLogWriter:
    """Stores decision log entries and session sightings off the request path."""

    def __init__(
        self,
        storage: Storage,
        *,
        interval: float = 0.1,
        checkpoint_every: float = 2.0,
        max_backlog: int = _MAX_BACKLOG,
        retention: datetime.timedelta | None = None,
        prune_every: float = 60.0,
        prune_batch: int = _PRUNE_BATCH,
        clock: Callable[[], datetime.datetime] = _utc_now,
    ) -> None:
        self._storage = storage
        self._retention = retention
        self._prune_every = prune_every
        self._prune_batch = prune_batch
        self._clock = clock
        self._pruned_at: float | None = None
        self._max_backlog = max_backlog
        self.dropped = 0
        self._interval = interval
        self._checkpoint_every = checkpoint_every
        self._checkpointed_at: float | None = None
        self._unchecked = False  # written since the last checkpoint
        self._entries: collections.deque[DecisionLogEntry] = collections.deque()
        self._sightings: collections.deque[_Sighting] = collections.deque()
        self._wake = threading.Event()
        self._drained = threading.Condition()
        self._generation = 0
        self._busy = False  # a pass is under way
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._closed:
                    self._thread = threading.Thread(target=self._run, name="inherence-decision-log", daemon=True)
                    self._thread.start()

    def record(self, entry: DecisionLogEntry) -> None:
        self._ensure_started()
        if len(self._entries) + len(self._sightings) >= self._max_backlog:
            self._make_room()
        self._entries.append(entry)

    def saw_session(
        self, session_id: str, client: str | None, at: datetime.datetime, tenant: str = DEFAULT_TENANT
    ) -> None:
        self._ensure_started()
        if len(self._entries) + len(self._sightings) >= self._max_backlog:
            self._make_room()
        self._sightings.append((session_id, client, at, tenant))

    def _make_room(self) -> None:
        """Wait until the writer has stored enough to take one more; past `_ROOM_WAIT`, drop the oldest."""

        def roomy() -> bool:
            return len(self._entries) + len(self._sightings) < self._max_backlog or self._thread is None

        with self._drained:
            self._wake.set()
            if self._drained.wait_for(roomy, _ROOM_WAIT) and self._thread is not None:
                return
        # No writer, or one stuck on the database: the oldest goes, counted, rather than memory without bound.
        while len(self._entries) + len(self._sightings) >= self._max_backlog:
            (self._sightings or self._entries).popleft()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.error("the decision log cannot keep up: %d entries dropped so far", self.dropped)

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything recorded before this call is stored; False on timeout."""
        if self._thread is None:
            return True
        with self._drained:
            # The next pass to start takes what was recorded before now; one under way may not have.
            target = self._generation + (2 if self._busy else 1)
            self._wake.set()
            return self._drained.wait_for(lambda: self._generation >= target or self._thread is None, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._closed = True
        thread = self._thread
        if thread is not None:
            self._wake.set()
            thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            with self._drained:
                self._busy = True
            stopping = self._closed
            self._drain(final=stopping)
            if not stopping:
                self._prune()
            with self._drained:
                self._generation += 1
                self._busy = False
                self._drained.notify_all()
            if stopping:
                return

    def _drain(self, *, final: bool) -> None:
        wrote = False
        while self._entries or self._sightings:
            wrote = True
            # A session id or client name could be anything a caller sent: stored masked, as in the decision rows.
            sightings = [
                (_mask_name(session_id), None if client is None else _mask_name(client), at, tenant)
                for session_id, client, at, tenant in _first_and_last(_take(self._sightings))
            ]
            entries = []
            for index, entry in enumerate(_take(self._entries), start=1):
                entries.append(_masked(entry))
                if index % _YIELD_EVERY == 0:
                    # Hand the GIL back so a request waiting on it is not held up for a whole batch.
                    time.sleep(0)
            try:
                self._storage.touch_sessions(sightings)
                self._storage.append_decisions(entries)
            except Exception:
                # The log is best effort: losing a batch must not stop the writer or the server.
                logger.exception("could not store %d decision log entries", len(entries))
            with self._drained:
                self._drained.notify_all()  # room for a caller waiting in `_make_room`
        self._unchecked = self._unchecked or wrote
        now = time.monotonic()
        due = self._checkpointed_at is None or now - self._checkpointed_at >= self._checkpoint_every
        if self._unchecked and (due or final):
            self._unchecked = False
            self._checkpointed_at = now
            try:
                self._storage.maintain()
            except Exception:
                logger.exception("storage housekeeping failed")

    def _prune(self) -> None:
        if self._retention is None or not isinstance(self._storage, SQLStorage):
            return
        now = time.monotonic()
        if self._pruned_at is not None and now - self._pruned_at < self._prune_every:
            return
        self._pruned_at = now
        before = self._clock() - self._retention
        try:
            for _ in range(_PRUNE_BATCHES):
                if prune_decisions(self._storage, before, batch=self._prune_batch) < self._prune_batch:
                    return
                time.sleep(0)  # between batches, requests and other writers get their turn
        except Exception:
            logger.exception("could not prune the decision log")


def _take(source: collections.deque[_Item]) -> list[_Item]:
    taken: list[_Item] = []
    while source and len(taken) < _BATCH:
        taken.append(source.popleft())
    return taken


def _first_and_last(sightings: list[_Sighting]) -> list[_Sighting]:
    """Each session's first sighting, and its last when later: what storing all of them in order leaves."""
    first: dict[tuple[str, str], _Sighting] = {}
    last: dict[tuple[str, str], _Sighting] = {}
    for sighting in sightings:
        session = (sighting[0], sighting[3])  # a session id is the tenant's own
        first.setdefault(session, sighting)
        last[session] = sighting
    kept = list(first.values())
    kept.extend(seen for session, seen in last.items() if seen is not first[session])
    return kept


def _masked(entry: DecisionLogEntry) -> DecisionLogEntry:
    # Built field by field (not `dataclasses.replace`): the writer masks every entry, and this is most of its work.
    return DecisionLogEntry(
        decision_id=entry.decision_id,
        at=entry.at,
        client=None if entry.client is None else _mask_name(entry.client),
        session_id=None if entry.session_id is None else _mask_name(entry.session_id),
        upstream=None if entry.upstream is None else _mask_name(entry.upstream),
        tool_name=_mask_name(entry.tool_name),
        category=entry.category,
        decision=entry.decision,
        rule=entry.rule,
        reason=None if entry.reason is None else _mask_name(entry.reason),
        arguments=mask_arguments(entry.arguments),
        request_id=entry.request_id,
        key_id=entry.key_id,
        tenant=entry.tenant,
    )


def _mask_name(text: str) -> str:
    # Tool names, clients, sessions and reasons repeat from call to call: mask each once.
    if len(text) > _MEMO_CHARS:
        return mask_text(text)
    return _mask_memo(text)


@functools.lru_cache(maxsize=4096)
def _mask_memo(text: str) -> str:
    return mask_text(text)
