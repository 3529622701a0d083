"""proxy.log: size-capped and rotating, and never the API key.

`serve` writes nothing but protocol to stdout, so everything it has to say goes here. The key
is scrubbed from every record by a filter on the handler, whatever logger the record came
from (an upstream's stderr is relayed through logging too). Tool results are never logged by
the engine; this file adds nothing that could hold them.
"""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import pathlib
from collections.abc import Iterator
from contextlib import contextmanager

from inherence_proxy._output import masked_key

__all__ = ["LOG_BACKUPS", "LOG_MAX_BYTES", "KeyScrubber", "proxy_log"]

LOG_MAX_BYTES = 5 * 1024 * 1024
LOG_BACKUPS = 3
_FORMAT = "%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s"


class KeyScrubber(logging.Filter):
    """Replaces the API key with its masked form in the message and its arguments."""

    def __init__(self, secret: str | None) -> None:
        super().__init__()
        self._secret = secret if secret and len(secret) >= 8 else None
        self._shown = masked_key(secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._secret is None:
            return True
        message = record.getMessage()
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text and self._secret in record.exc_text:
            record.exc_text = record.exc_text.replace(self._secret, self._shown)
        if self._secret in message:
            record.msg = message.replace(self._secret, self._shown)
            record.args = None
        return True


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens, the first and each after a rotation, is readable by this user only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return io.TextIOWrapper(io.BufferedWriter(io.FileIO(fd, "a")), encoding=self.encoding, errors=self.errors)


@contextmanager
def proxy_log(path: pathlib.Path, *, secret: str | None, verbose: bool) -> Iterator[logging.Handler]:
    """Send every log record of this process to `path` while the block runs; detach it afterwards."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    handler = _PrivateRotatingFileHandler(
        path, maxBytes=LOG_MAX_BYTES, backupCount=LOG_BACKUPS, encoding="utf-8", delay=True
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    # Scrub on every handler (the -v one on stderr too), not only on ours.
    scrubber = KeyScrubber(secret)
    scrubbed = list(root.handlers)
    for each in scrubbed:
        each.addFilter(scrubber)
    previous_level = root.level
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # The HTTP stack and the SDK log request lines, and at debug whole messages (tool results among
    # them): never more than warnings from them, even with -v.
    quiet = [logging.getLogger(name) for name in ("httpx2", "httpcore", "httpcore2", "mcp", "uvicorn", "sse_starlette")]
    quiet_levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.WARNING)
    try:
        yield handler
    finally:
        for each in scrubbed:
            each.removeFilter(scrubber)
        root.removeHandler(handler)
        root.setLevel(previous_level)
        for logger, level in zip(quiet, quiet_levels, strict=True):
            logger.setLevel(level)
        handler.close()
