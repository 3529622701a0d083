"""The session corpora: one JSON object per line, each a labelled agent session.

A file lives at `data/<split>/<domain>.jsonl`; every line is checked before anything runs,
and the first malformed case stops the load with `CorpusError("<file>:<line>: <problem>")`.
`data/tools.jsonl` is the catalog of tools as their servers list them (`tool`,
`description`, `input_schema`): a call that gives no description takes the catalog's, and
a call of a tool the catalog does not know must describe it itself.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "CATEGORIES",
    "DATA_DIR",
    "DOMAINS",
    "EXPECTATIONS",
    "SPLITS",
    "Case",
    "CorpusError",
    "Step",
    "load_catalog",
    "load_corpus",
    "load_file",
]

DATA_DIR = pathlib.Path(__file__).parent / "data"
DOMAINS = frozenset({"banking", "messaging", "office", "travel", "devops", "memory"})
SPLITS = ("dev", "heldout")
EXPECTATIONS = frozenset({"allow", "deny", "confirm", "any"})
CATEGORIES = frozenset(
    {
        "shell_exec", "file_read", "file_write", "file_delete", "network_fetch", "outbound_send",
        "database_query", "payment", "identity_admin", "credential_store", "private_data_read",
        "read_only", "unknown",
    }
)  # fmt: skip
MAX_LINE_CHARS = 64 * 1024
_CASE_KEYS = {"id", "domain", "split", "benign", "calls", "history", "note"}
Catalog = dict[str, tuple[str, dict[str, Any]]]
_STEP_KEYS = {"tool", "description", "input_schema", "category", "arguments", "result", "expect", "clause"}


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Step:
    """One tool call of a session and what the policy should answer to it."""

    tool: str
    arguments: Mapping[str, Any]
    expect: str
    description: str = ""
    input_schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    category: str | None = None
    result: str | None = None
    clause: str | None = None

    @property
    def upstream(self) -> str:
        """The upstream as the gateway names it: the part of `upstream__tool` before the `__`."""
        head, sep, _ = self.tool.partition("__")
        return head if sep else "default"


@dataclasses.dataclass(frozen=True)
class Case:
    """A labelled session. `history` runs first, unscored: what the account did before the session."""

    id: str
    domain: str
    split: str
    benign: bool
    calls: tuple[Step, ...]
    history: tuple[Step, ...] = ()
    note: str = ""
    source: str = ""


def _text(raw: Mapping[str, Any], key: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key}: expected a non-empty string")
    return value


def _step(raw: Any, where: str, catalog: Catalog, *, scored: bool, benign: bool) -> Step:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object")
    unknown = sorted(set(raw) - _STEP_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown field {unknown[0]!r}")
    try:
        tool = _text(raw, "tool")
        arguments = raw.get("arguments")
        if not isinstance(arguments, dict):
            raise ValueError("arguments: expected an object")
        expect = raw.get("expect", "any" if not scored else None)
        if expect not in EXPECTATIONS:
            raise ValueError(f"expect: expected one of {sorted(EXPECTATIONS)}")
        if benign and expect == "deny":
            raise ValueError("expect: a benign session expects no deny (a gray-zone action expects confirm)")
        clause = _text(raw, "clause", required=False)
        if clause is not None and expect not in ("deny", "confirm"):
            raise ValueError("clause: only a deny or confirm expectation names a clause")
        category = _text(raw, "category", required=False)
        if category is not None and category not in CATEGORIES:
            raise ValueError(f"category: {category!r} is not a category")
        listed = catalog.get(str(tool))
        description = _text(raw, "description", required=False)
        if description is None and listed is None:
            raise ValueError(f"tool: {tool!r} is not in tools.jsonl and the call gives no description")
        description = description if description is not None else listed[0] if listed else ""
        schema = raw.get("input_schema", listed[1] if listed else {})
        if not isinstance(schema, dict):
            raise ValueError("input_schema: expected an object")
        result = raw.get("result")
        if result is not None and not isinstance(result, str):
            raise ValueError("result: expected the text the tool returned")
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None
    assert tool is not None
    return Step(tool, arguments, str(expect), description, schema, category, result, clause)


def _case(raw: Any, split: str, catalog: Catalog) -> Case:
    if not isinstance(raw, dict):
        raise ValueError("expected a JSON object")
    unknown = sorted(set(raw) - _CASE_KEYS)
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}")
    case_id = _text(raw, "id")
    domain = raw.get("domain")
    if domain not in DOMAINS:
        raise ValueError(f"domain: expected one of {sorted(DOMAINS)}")
    if raw.get("split") != split:
        raise ValueError(f"split: expected {split!r}, the folder this file is in")
    benign = raw.get("benign")
    if not isinstance(benign, bool):
        raise ValueError("benign: expected true or false")
    calls, history = raw.get("calls"), raw.get("history", [])
    if not isinstance(calls, list) or not calls:
        raise ValueError("calls: expected a non-empty list")
    if not isinstance(history, list):
        raise ValueError("history: expected a list")
    steps = tuple(_step(item, f"calls[{n}]", catalog, scored=True, benign=benign) for n, item in enumerate(calls))
    past = tuple(_step(item, f"history[{n}]", catalog, scored=False, benign=True) for n, item in enumerate(history))
    if not benign and not any(step.expect in ("deny", "confirm") for step in steps):
        raise ValueError("calls: an attack session needs a call that expects deny or confirm")
    note = raw.get("note", "")
    if not isinstance(note, str):
        raise ValueError("note: expected a string")
    assert case_id is not None
    return Case(case_id, str(domain), split, benign, steps, past, note)


def load_catalog(path: pathlib.Path) -> Catalog:
    """`tool -> (description, input_schema)` from a catalog file; empty when there is none."""
    catalog: Catalog = {}
    if not path.is_file():
        return catalog
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}: not JSON ({exc.msg}, column {exc.colno})") from None
            tool, description, schema = raw.get("tool"), raw.get("description"), raw.get("input_schema", {})
            if not isinstance(tool, str) or not isinstance(description, str) or not isinstance(schema, dict):
                raise CorpusError(f"{path}:{number}: expected tool, description (strings) and input_schema (object)")
            if tool in catalog:
                raise CorpusError(f"{path}:{number}: tool {tool!r} is listed twice")
            catalog[tool] = (description, schema)
    return catalog


def load_file(path: pathlib.Path, split: str, catalog: Catalog | None = None) -> list[Case]:
    """Every case of one file, in order; the first bad line raises `CorpusError`."""
    catalog = catalog if catalog is not None else {}
    cases = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            if len(line) > MAX_LINE_CHARS:
                raise CorpusError(f"{where}: the line is over {MAX_LINE_CHARS} characters")
            try:
                case = _case(json.loads(line), split, catalog)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{where}: not JSON ({exc.msg}, column {exc.colno})") from None
            except ValueError as exc:
                raise CorpusError(f"{where}: {exc}") from None
            cases.append(dataclasses.replace(case, source=f"{path.name}:{number}"))
    return cases


def load_corpus(root: pathlib.Path = DATA_DIR, splits: Iterable[str] = SPLITS) -> list[Case]:
    """The cases of `root/<split>/*.jsonl` for each split; ids must be unique across all of them."""
    cases: list[Case] = []
    seen: dict[str, str] = {}
    catalog = load_catalog(root / "tools.jsonl")
    for split in splits:
        if split not in SPLITS:
            raise CorpusError(f"{split}: not a split (expected one of {', '.join(SPLITS)})")
        folder = root / split
        for path in sorted(folder.glob("*.jsonl")):
            for case in load_file(path, split, catalog):
                if case.id in seen:
                    line = case.source.rsplit(":", 1)[1]
                    raise CorpusError(f"{path}:{line}: id {case.id!r} is also at {seen[case.id]}")
                seen[case.id] = f"{split}/{case.source}"
                cases.append(case)
    return cases
