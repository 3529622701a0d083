"""`db export` and `db import`: the whole state of one storage to a file, and from it into another.

The file is JSON Lines: a header line (`{"format": "inherence-policy-export", "version": 2,
"schema": ...}`), then one line per row, `{"table": NAME, "row": [values...]}` in the column
order of `TABLES`, tables in that order and rows in the order they were written (the decision
log keeps its order, so the dashboard's feed reads the same after a move). Bytes (a key's salt
and digest) are hex. Row ids are not carried: the target numbers the rows itself.

An export is written to a temporary file beside the target, mode 0600 (it holds the keys'
digests and the masked decision log), and renamed into place when complete. An import goes
into a storage that holds no state yet, in one transaction: a file that is cut short or
malformed changes nothing, and the error names the line and what is wrong with it. Dashboard
logins are not moved.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from typing import IO, Any

from inherence_policy_server._errors import ServerUsageError, StorageError
from inherence_policy_server._storage import DECISION_COLUMNS, SQLStorage

__all__ = ["FORMAT", "TABLES", "export_state", "import_state"]

FORMAT = "inherence-policy-export"
# Version 2: known recipients are a tenant's, each naming the key that made it known.
_VERSION = 2
_PAGE = 5000
_MAX_LINE = 8 * 1024 * 1024
_BATCH = 1000
_BYTES = frozenset({("api_keys", "salt"), ("api_keys", "digest")})
_APPROVAL_COLUMNS = (
    "approval_id", "binding", "key_id", "session_id", "upstream", "tool_name", "rule", "clauses", "reason",
    "summary", "created_at", "expires_at", "state", "decided_at", "used_at", "tenant",
)  # fmt: skip
# Table, its columns, and the column that orders its rows as they were written (None: any order).
TABLES: tuple[tuple[str, tuple[str, ...], str | None], ...] = (
    ("api_keys", ("key_id", "prefix", "salt", "digest", "created_at", "revoked_at", "label", "tenant"), None),
    ("sessions", ("tenant", "session_id", "client", "first_seen", "last_seen"), None),
    ("sensitive_reads", ("tenant", "session_id", "label", "at"), "@insertion"),
    ("read_sessions", ("tenant", "session_id", "touched", "reported"), None),
    ("read_items", ("tenant", "session_id", "digest", "kind", "label", "at"), "id"),
    ("transfers", ("tenant", "account", "recipient", "amount_cents", "at"), "id"),
    ("recipients", ("tenant", "account", "recipient", "first_paid"), None),
    ("known_recipients", ("tenant", "recipient", "key_id", "source", "first_seen", "last_seen"), None),
    ("decisions", tuple(name.strip() for name in DECISION_COLUMNS.split(",")), "id"),
    ("admin_events", ("at", "action", "target", "detail"), "id"),
    ("approvals", _APPROVAL_COLUMNS, None),
    ("rule_settings", ("version", "config", "changed_at"), None),
)
_COLUMNS = {table: columns for table, columns, _ in TABLES}


def _order_column(storage: SQLStorage, order: str | None) -> str | None:
    if order != "@insertion":
        return order
    # Labels of a session are read back in the order they were recorded.
    return "seq" if getattr(storage, "dialect", "sqlite") == "postgresql" else "rowid"


def _rows(storage: SQLStorage, table: str, columns: Sequence[str], order: str | None) -> Iterator[tuple[Any, ...]]:
    listed = ", ".join(columns)
    column = _order_column(storage, order)
    if column is None:
        yield from storage.read(f"SELECT {listed} FROM {table}")
        return
    last: object = None
    while True:
        where, parameters = ("", [_PAGE]) if last is None else (f" WHERE {column} > ?", [last, _PAGE])
        page = storage.read(f"SELECT {listed}, {column} FROM {table}{where} ORDER BY {column} LIMIT ?", parameters)
        for row in page:
            yield row[:-1]
        if len(page) < _PAGE:
            return
        last = page[-1][-1]


def _exported(table: str, columns: Sequence[str], row: Sequence[Any]) -> list[Any]:
    return [
        bytes(value).hex() if (table, name) in _BYTES and value is not None else value
        for name, value in zip(columns, row, strict=True)
    ]


def export_state(storage: SQLStorage, path: pathlib.Path) -> dict[str, int]:
    """Write every table of `storage` to `path` (replaced only once complete); rows per table."""
    path = pathlib.Path(path)
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    counts: dict[str, int] = {}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            header = {"format": FORMAT, "version": _VERSION, "tables": [table for table, _, _ in TABLES]}
            out.write(json.dumps(header) + "\n")
            for table, columns, order in TABLES:
                counts[table] = 0
                for row in _rows(storage, table, columns, order):
                    line = {"table": table, "row": _exported(table, columns, row)}
                    out.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n")
                    counts[table] += 1
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return counts


def _problem(source: str, number: int, message: str) -> ServerUsageError:
    return ServerUsageError(f"{source}: line {number}: {message}")


def _imported(table: str, columns: Sequence[str], row: Sequence[Any], where: str) -> list[Any]:
    values = []
    for name, value in zip(columns, row, strict=True):
        if isinstance(value, (dict, list)) or (isinstance(value, float) and value != value):
            raise ServerUsageError(f"{where}: {table}.{name} holds a value no column takes")
        if (table, name) in _BYTES and value is not None:
            try:
                value = bytes.fromhex(str(value))
            except ValueError:
                raise ServerUsageError(f"{where}: {table}.{name} is not hex") from None
        values.append(value)
    return values


def _parsed(stream: IO[str], source: str) -> Iterator[tuple[str, list[Any]]]:
    first = stream.readline(_MAX_LINE + 1)
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _problem(source, 1, f"not a {FORMAT} file")
    if header.get("version") != _VERSION:
        raise _problem(source, 1, f"export version {header.get('version')!r}; this release reads version {_VERSION}")
    for number, line in enumerate(iter(lambda: stream.readline(_MAX_LINE + 1), ""), start=2):
        if len(line) > _MAX_LINE:
            raise _problem(source, number, f"longer than {_MAX_LINE} characters")
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError:
            raise _problem(source, number, "not JSON (the file may be cut short)") from None
        if not isinstance(item, dict) or set(item) != {"table", "row"}:
            raise _problem(source, number, 'expected {"table": ..., "row": [...]}')
        table, row = item["table"], item["row"]
        columns = _COLUMNS.get(table) if isinstance(table, str) else None
        if columns is None:
            raise _problem(source, number, f"unknown table {str(table)[:60]!r}")
        if not isinstance(row, list) or len(row) != len(columns):
            raise _problem(source, number, f"a {table} row has {len(columns)} values")
        yield table, _imported(table, columns, row, f"{source}: line {number}")


def import_state(storage: SQLStorage, path: pathlib.Path) -> dict[str, int]:
    """Load an export into `storage`, which must hold no state yet; rows per table. All or nothing."""
    path = pathlib.Path(path)
    for table, _, _ in TABLES:
        if storage.read(f"SELECT 1 FROM {table} LIMIT 1"):
            raise ServerUsageError(f"the target already holds state (table {table}): import into a new, empty one")
    counts = {table: 0 for table, _, _ in TABLES}
    try:
        stream = path.open(encoding="utf-8")
    except OSError as exc:
        raise ServerUsageError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        _load(storage, stream, path, counts)
    except sqlite3.Error as exc:  # SQLite's own errors (PostgreSQL's arrive as StorageError)
        raise StorageError(f"the import was rolled back: {exc}") from None
    return counts


def _load(storage: SQLStorage, stream: IO[str], path: pathlib.Path, counts: dict[str, int]) -> None:
    with stream, storage.write() as db:
        pending: list[list[Any]] = []
        pending_table: str | None = None

        def flush() -> None:
            if pending and pending_table is not None:
                columns = _COLUMNS[pending_table]
                extra = ("only_row",) if pending_table == "rule_settings" else ()
                marks = ", ".join("?" * (len(columns) + len(extra)))
                rows = [[*row, True] if extra else row for row in pending]
                db.executemany(f"INSERT INTO {pending_table} ({', '.join(columns + extra)}) VALUES ({marks})", rows)
                pending.clear()

        try:
            for table, row in _parsed(stream, str(path)):
                if table != pending_table or len(pending) >= _BATCH:
                    flush()
                    pending_table = table
                pending.append(row)
                counts[table] += 1
            flush()
        except UnicodeDecodeError:
            raise ServerUsageError(f"{path}: not UTF-8 text") from None
