"""Live rule settings shared by every server on one storage: a change made on one reaches all within 2 s.

A rule change made on a dashboard is stored (`rule_settings`: the whole config as JSON and a
version that only grows) in the same storage the servers share. Each served process runs a
follower thread that notices a newer version and swaps its rules:

* on PostgreSQL, the change is announced with NOTIFY in its own transaction and the follower
  waits on LISTEN, so it wakes at once; it also checks the version at least every second, so
  a notification lost with a dropped connection delays a change by a second at most;
* on SQLite (several workers on one data dir), the follower reads the version every half
  second: one indexed row, a few microseconds.

A server adopts only changes made after it started: when it starts, its own `--config` is in force.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable
from typing import Any

import pydantic

from inherence_policy_server._storage import SQLStorage
from inherence_policy_server.rules import RulesConfig

__all__ = ["CHANNEL", "LiveRules", "publish_rules", "rules_version"]

logger = logging.getLogger("inherence_policy_server")

CHANNEL = "inherence_rules"
_SQLITE_INTERVAL = 0.5
_POSTGRES_INTERVAL = 1.0
# A config is a few KiB; anything far larger in the table was not written by a server.
_MAX_CONFIG_CHARS = 4 * 1024 * 1024


def rules_version(storage: SQLStorage) -> int:
    """The version of the live settings stored (0 when nobody changed the rules yet)."""
    rows = storage.read("SELECT version FROM rule_settings")
    return int(str(rows[0][0])) if rows else 0


def publish_rules(storage: SQLStorage, config: RulesConfig, now: datetime.datetime) -> int:
    """Store `config` as the live settings of every server; the new version."""
    text = config.model_dump_json()
    with storage.write() as db:
        row = db.execute("SELECT version FROM rule_settings").fetchone()
        version = (int(row[0]) if row else 0) + 1
        if row:
            db.execute(
                "UPDATE rule_settings SET version = ?, config = ?, changed_at = ?", (version, text, now.timestamp())
            )
        else:
            db.execute(
                "INSERT INTO rule_settings (only_row, version, config, changed_at) VALUES (?, ?, ?, ?)",
                (True, version, text, now.timestamp()),
            )
        if _is_postgres(storage):
            # Delivered when this transaction commits, to every server listening.
            db.execute("SELECT pg_notify(?, ?)", (CHANNEL, str(version)))
    return version


def _is_postgres(storage: SQLStorage) -> bool:
    return getattr(storage, "dialect", "sqlite") == "postgresql"


class LiveRules:
    """Follows the live settings of one storage and applies newer ones through `apply`."""

    def __init__(self, storage: SQLStorage, apply: Callable[[RulesConfig], object]) -> None:
        self._storage = storage
        self._apply = apply
        self._seen = rules_version(storage)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._listener: Any = None

    def publish(self, config: RulesConfig, now: datetime.datetime) -> int:
        """Store a change this process already applied; the others follow it."""
        with self._lock:
            version = publish_rules(self._storage, config, now)
            self._seen = max(self._seen, version)
        return version

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="inherence-live-rules", daemon=True)
            self._thread.start()

    def close(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(10)
        self._close_listener()

    def check(self) -> bool:
        """Apply the stored settings if they are newer than those in force; True when they were applied."""
        with self._lock:
            rows = self._storage.read("SELECT version, config FROM rule_settings")
            if not rows:
                return False
            version, text = int(str(rows[0][0])), str(rows[0][1])
            if version <= self._seen:
                return False
            self._seen = version
            if len(text) > _MAX_CONFIG_CHARS:
                logger.error("the live rule settings (version %d) are too large; the rules in force stay", version)
                return False
            try:
                config = RulesConfig.model_validate_json(text)
            except pydantic.ValidationError as exc:
                count = exc.error_count()
                logger.error("the live rule settings (version %d) are not valid (%d errors); kept", version, count)
                return False
            self._apply(config)
            logger.info("rules changed on another server applied (version %d)", version)
            return True

    def _run(self) -> None:
        postgres = _is_postgres(self._storage)
        while not self._stop.is_set():
            if postgres:
                self._wait_for_notice()
            else:
                self._stop.wait(_SQLITE_INTERVAL)
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception as exc:  # the storage is away for now: the next round tries again
                logger.warning("the live rule settings could not be read (%s)", type(exc).__name__)
                self._stop.wait(_POSTGRES_INTERVAL)

    def _wait_for_notice(self) -> None:
        """Return on a notification on the channel, or after a second without one."""
        import psycopg

        try:
            if self._listener is None:
                url = self._storage.url  # type: ignore[attr-defined]
                self._listener = psycopg.connect(url, autocommit=True, connect_timeout=10)
                self._listener.execute(f"LISTEN {CHANNEL}")
            for _notice in self._listener.notifies(timeout=_POSTGRES_INTERVAL, stop_after=1):
                break
        except psycopg.Error as exc:
            logger.warning("listening for rule changes failed (%s); checking every second", type(exc).__name__)
            self._close_listener()
            self._stop.wait(_POSTGRES_INTERVAL)

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.close()
            except Exception as exc:
                logger.debug("closing the listener failed (%s)", type(exc).__name__)
