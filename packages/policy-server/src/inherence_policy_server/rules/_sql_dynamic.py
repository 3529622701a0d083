"""SQL that builds SQL and runs it: what it will run is only known when it runs.

`EXECUTE format('DROP TABLE %I', t)`, `EXECUTE 'DROP ' || t`, `EXEC('DROP TABLE ' + @t)`,
`sp_executesql @sql`, MySQL's `PREPARE s FROM @sql` and `EXECUTE s`, Oracle's `EXECUTE
IMMEDIATE`, and anonymous `DO $$ … $$` blocks. A single plain string literal is read and
judged as SQL of its own; anything assembled at run time cannot be read and is reported.
A `DO` block is procedural code: it is reported when it drops, truncates, deletes,
updates without WHERE or runs dynamic SQL itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["dynamic_sql_problems"]

Problems = list[tuple[str, str]]

_LITERAL = r"(?:N?'(?:[^']|'')*'|\$(?P<tag>\w*)\$.*?\$(?P=tag)\$)"
# EXEC/EXECUTE [IMMEDIATE] followed by what it runs.
_EXECUTE = re.compile(r"\bexec(?:ute)?\b(?:\s+immediate\b)?\s*(?P<what>\(|[^\s;]+)?", re.IGNORECASE | re.DOTALL)
_PLAIN_LITERAL = re.compile(rf"^\s*\(?\s*(?P<literal>{_LITERAL})\s*\)?\s*(?:;|$|using\b|into\b)", re.I | re.DOTALL)
_NAMED_EXECUTE = re.compile(r"(?:^|;)\s*exec(?:ute)?\s+[A-Za-z_]\w*\s*(?:\(|using\b|;|$)", re.IGNORECASE)
_PREPARE_FROM = re.compile(rf"\bprepare\s+\w+\s+from\s+(?P<what>{_LITERAL}|\S+)", re.IGNORECASE | re.DOTALL)
_PREPARE = re.compile(r"\bprepare\s+\w+", re.IGNORECASE)
_EXECUTESQL = re.compile(rf"\bsp_executesql\b\s*(?P<what>{_LITERAL}|\S+)?", re.IGNORECASE | re.DOTALL)
_DO_BLOCK = re.compile(r"\bdo\s+(?:language\s+\w+\s+)?\$(?P<tag>\w*)\$(?P<body>.*?)\$(?P=tag)\$", re.I | re.DOTALL)
_PROCEDURAL_DANGER = re.compile(
    r"\b(?:drop|truncate)\b|\bdelete\s+from\b|\bexecute\b|\bexec\b|\bupdate\s+\S+\s+set\b(?![^;]*\bwhere\b)",
    re.IGNORECASE,
)


def _literal_text(literal: str) -> str:
    if literal.startswith("$"):
        return literal[literal.index("$", 1) + 1 : literal.rindex("$", 0, len(literal) - 1)]
    body = literal[1:] if literal.startswith(("N", "n")) else literal
    return body[1:-1].replace("''", "'")


def dynamic_sql_problems(source: str, judge: Callable[[str], Problems]) -> tuple[Problems, str]:
    """(clause, explanation) for SQL run from text built at run time, and the SQL left outside `DO` blocks.

    `judge` reads the SQL of a plain literal.
    """
    problems: Problems = []
    for match in _DO_BLOCK.finditer(source):
        found = _PROCEDURAL_DANGER.search(match.group("body"))
        if found is not None:
            problems.append(("dynamic_sql", f"a DO block runs {found.group(0).strip()[:40]!r}"))
    outside = _DO_BLOCK.sub(" ", source)
    for pattern in (_PREPARE_FROM, _EXECUTESQL):
        for match in pattern.finditer(outside):
            problems.extend(_judged(match.group("what") or "", outside[match.end("what") or match.end() :], judge))
    for match in _EXECUTE.finditer(outside):
        what = match.group("what") or ""
        if what.lower() == "sp_executesql":
            continue
        rest = outside[match.start("what") :] if what else ""
        literal = _PLAIN_LITERAL.match(rest)
        if literal is not None:
            problems.extend(judge(_literal_text(literal.group("literal"))))
        elif what.startswith(("'", "N'", "n'", "$", "(", "@")) or what.lower().startswith(("format", "concat")):
            problems.append(("dynamic_sql", f"EXECUTE of SQL assembled at run time ({rest[:60]!r})"))
    if _NAMED_EXECUTE.search(outside) and not problems and not _PREPARE.search(outside):
        problems.append(("dynamic_sql", "EXECUTE of a prepared statement whose SQL this call does not show"))
    return problems, outside


def _judged(what: str, after: str, judge: Callable[[str], Problems]) -> Problems:
    stripped = what.strip()
    if re.fullmatch(_LITERAL, stripped, re.DOTALL) and not re.match(r"\s*(?:\|\||\+)", after):
        return judge(_literal_text(stripped))
    return [("dynamic_sql", f"SQL assembled at run time ({stripped[:60]!r})")]
