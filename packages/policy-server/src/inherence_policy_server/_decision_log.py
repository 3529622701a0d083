"""The decision log writer: decided calls and session sightings go to storage from one thread.

The request path only puts an entry on a queue; a writer thread masks secrets in it and
stores it in batches, one transaction per batch, so a busy database never stalls a decision. `flush()` waits until
everything queued so far is stored; `close()` flushes and stops the thread.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import queue
import threading

from inherence_policy_server._masking import mask_arguments, mask_text
from inherence_policy_server._storage import DecisionLogEntry, Storage

__all__ = ["DecisionLogWriter"]

logger = logging.getLogger("inherence_policy_server")

_BATCH = 100
_Item = DecisionLogEntry | tuple[str, str | None, datetime.datetime] | threading.Event | None


class DecisionLogWriter:
    """Stores decision log entries and session sightings off the request path."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
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
        self._queue.put(entry)

    def saw_session(self, session_id: str, client: str | None, at: datetime.datetime) -> None:
        self._ensure_started()
        self._queue.put((session_id, client, at))

    def flush(self, timeout: float = 30.0) -> bool:
        """Wait until everything recorded before this call is stored; False on timeout."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [_masked(item) for item in batch if isinstance(item, DecisionLogEntry)]
            sessions = [item for item in batch if isinstance(item, tuple)]
            try:
                self._storage.touch_sessions(sessions)
                self._storage.append_decisions(entries)
            except Exception:
                # The log is best effort: losing a batch must not stop the writer or the server.
                logger.exception("could not store %d decision log entries", len(entries))
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()
                elif item is None:
                    stop = True


def _masked(entry: DecisionLogEntry) -> DecisionLogEntry:
    return dataclasses.replace(
        entry,
        tool_name=mask_text(entry.tool_name),
        reason=None if entry.reason is None else mask_text(entry.reason),
        arguments=mask_arguments(entry.arguments),
        client=None if entry.client is None else mask_text(entry.client),
        session_id=None if entry.session_id is None else mask_text(entry.session_id),
        upstream=None if entry.upstream is None else mask_text(entry.upstream),
    )
