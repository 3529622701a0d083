"""An upstream's stderr, relayed to a logger line by line, within bounds.

An upstream can write megabytes of stderr (a stack trace in a loop, a debug flag left on).
The relay cuts each line to `max_line` bytes and spends from a byte budget that refills at a
steady rate; what does not fit is dropped and counted, and the count is logged as
"... N bytes dropped" when lines flow again or the stream ends. Nothing goes to the proxy's
stdout, which belongs to the MCP client.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable

__all__ = ["StderrRelay", "start_stderr_thread"]


class StderrRelay:
    """Splits a byte stream into lines and logs them under a line-length cap and a byte-rate budget.

    Not thread-safe; one reader feeds it.
    """

    def __init__(
        self,
        logger: logging.Logger,
        upstream: str,
        *,
        max_line: int = 4096,
        burst_bytes: int = 256 * 1024,
        bytes_per_second: float = 16 * 1024,
        level: int = logging.INFO,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._upstream = upstream
        self._max_line = max_line
        self._burst = float(burst_bytes)
        self._rate = bytes_per_second
        self._level = level
        self._clock = clock
        self._tokens = float(burst_bytes)
        self._last = clock()
        self._line = bytearray()
        self._cut = 0
        self.dropped_bytes = 0
        self._pending_drop = 0

    def feed(self, chunk: bytes) -> None:
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            room = self._max_line - len(self._line)
            if room > 0:
                self._line += piece[:room]
            self._cut += max(0, len(piece) - max(room, 0))
            if end < 0:
                return
            self._emit_line()
            start = end + 1

    def close(self) -> None:
        """The stream ended: log a last unterminated line and any count of dropped bytes."""
        if self._line or self._cut:
            self._emit_line()
        self._flush_drop_note()

    def _emit_line(self) -> None:
        raw, cut = bytes(self._line), self._cut
        self._line.clear()
        self._cut = 0
        cost = len(raw) + cut + 1
        self._refill()
        if self._tokens < len(raw) + 1:
            self.dropped_bytes += cost
            self._pending_drop += cost
            return
        self._tokens -= len(raw) + 1
        self._flush_drop_note()
        text = raw.decode("utf-8", errors="replace").rstrip("\r")
        if cut:
            text = f"{text} ... [{cut} bytes cut]"
        self._logger.log(self._level, "upstream %s stderr: %s", self._upstream, text)

    def _flush_drop_note(self) -> None:
        if self._pending_drop:
            self._logger.warning("upstream %s stderr: ... %d bytes dropped", self._upstream, self._pending_drop)
            self._pending_drop = 0

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._last) * self._rate)
        self._last = now


def start_stderr_thread(fd: int, relay: StderrRelay, *, name: str) -> threading.Thread:
    """Read `fd` to its end on a daemon thread, feeding `relay`; the thread closes `fd`.

    A thread rather than a task: it needs no task group from the caller, and a blocked read
    costs the event loop nothing. The stream ends once every process holding the pipe (the
    upstream and anything it started) has exited.
    """

    def pump() -> None:
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                relay.feed(chunk)
        finally:
            with contextlib.suppress(Exception):
                relay.close()
            with contextlib.suppress(OSError):
                os.close(fd)

    thread = threading.Thread(target=pump, name=f"upstream-stderr-{name}", daemon=True)
    thread.start()
    return thread
