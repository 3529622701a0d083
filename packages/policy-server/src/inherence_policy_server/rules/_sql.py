"""SQL parsed as SQL (sqlglot), to tell a narrow change from a destructive one.

`DELETE FROM t WHERE id = 42` and `DELETE FROM t WHERE 1=1` look alike as text; as a tree
one narrows by a column and the other is a tautology. Comments, case, stacked statements
and MySQL's executable comments (`/*!50000 DROP */`) are undone by parsing; SQL that
mentions a destructive keyword but does not parse is reported, never passed.
"""

from __future__ import annotations

import re
from typing import Any

import sqlglot
from sqlglot import exp

from inherence_policy_server.rules._sql_dynamic import dynamic_sql_problems

__all__ = ["SQL_HINT", "is_scratch_database", "sql_problems"]

MAX_SQL_CHARS = 65_536

# Cheap gate before the parser: only text naming a destructive keyword or running SQL built at
# run time is looked at, and only the former is parsed.
_DESTRUCTIVE = re.compile(r"\b(?:drop|truncate|delete|update|alter)\b", re.IGNORECASE)
SQL_HINT = re.compile(
    r"\b(?:drop|truncate|delete|update|alter|exec|execute|prepare|sp_executesql)\b|\bdo\s+(?:language\s+\w+\s+)?\$",
    re.IGNORECASE,
)
# SQL Server's session-local temporary tables (#name, ##name) read as names the parser accepts.
_HASH_TEMP = re.compile(r"(?<![\w#])##?(?=[A-Za-z_])")
# A table named as throwaway: `tmp_`/`temp_`/`scratch_` first, or `_tmp`/`_scratch` as a word of its name.
_TEMP_NAME = re.compile(r"^(?:tmp|temp|scratch)_|_(?:tmp|temp|scratch)(?:_|$)", re.IGNORECASE)
# Drops of scratch tables only, found before parsing: T-SQL's `IF … DROP TABLE #t` does not parse.
_SCRATCH_NAME = r"(?:##?\w+|(?:tmp|temp|scratch)_\w+|\w+_(?:tmp|temp|scratch)(?:_\w+)?|pg_temp\.\w+)"
_SCRATCH_DROP = re.compile(
    rf"\bdrop\s+(?:temporary\s+)?table\s+(?:if\s+exists\s+)?{_SCRATCH_NAME}(?:\s*,\s*{_SCRATCH_NAME})*\s*(?=;|$|\s)",
    re.IGNORECASE,
)
_MYSQL_EXECUTABLE_COMMENT = re.compile(r"/\*!\d*(.*?)\*/", re.DOTALL)
_DIALECTS: tuple[str | None, ...] = (None, "postgres", "mysql", "tsql", "clickhouse")
# A database named for tests or throwaway work: one of these words first or last in its name
# (`shop_test`, `test-shop`, `e2e`, `tmp2`, `testdb`), not inside another word (`latest`, `contest`).
_SCRATCH_WORD = re.compile(r"^(?:tests?|testing|tmp|temp|scratch|dev|ci|e2e)(?:db)?\d*$")
# What the parser leaves as a bare command: CQL's `DROP KEYSPACE`, and the database it names.
_COMMAND_DROP = re.compile(r"^\s*(\w+)(?:\s+if\s+exists)?\s+[\"`]?(\w+)[\"`]?\s*;?\s*$", re.IGNORECASE)
_DATABASE_KINDS = frozenset({"DATABASE", "SCHEMA", "KEYSPACE"})


def is_scratch_database(name: str) -> bool:
    """Whether a database's name marks it as one for tests or throwaway work."""
    words = [word for word in re.split(r"[^a-z0-9]+", name.strip("\"'`").casefold()) if word]
    return bool(words) and (bool(_SCRATCH_WORD.match(words[0])) or bool(_SCRATCH_WORD.match(words[-1])))


def sql_problems(text: str, *, bulk_threshold: int, local_server: bool = False) -> list[tuple[str, str]]:
    """(clause, explanation) pairs for every destructive statement in `text`.

    With `local_server` (the SQL goes to a database server on this machine), dropping a database
    whose name marks it as scratch is not destruction: a developer recreates test databases often.
    """
    if len(text) > MAX_SQL_CHARS:
        return [("unparseable_sql", f"SQL of more than {MAX_SQL_CHARS} characters cannot be checked")]
    source = _MYSQL_EXECUTABLE_COMMENT.sub(r" \1 ", text)
    problems, source = dynamic_sql_problems(
        source, lambda inner: sql_problems(inner, bulk_threshold=bulk_threshold, local_server=local_server)
    )
    if problems or not _DESTRUCTIVE.search(_SCRATCH_DROP.sub(" ", source)):
        return problems
    statements = _parse(_HASH_TEMP.sub("tmp_", source))
    if statements is None:
        return [("unparseable_sql", "SQL that names a destructive keyword but does not parse")]
    temporary: set[str] = set()
    for statement in statements:
        if isinstance(statement, exp.Create) and _is_temporary(statement):
            table = statement.find(exp.Table)
            temporary.update({table.name.casefold()} if table is not None else set())
        if not (local_server and _drops_scratch_database(statement)):
            problems.extend(_statement_problems(statement, bulk_threshold, temporary))
        for nested in statement.find_all(exp.Delete, exp.Update):
            if nested is not statement and not isinstance(nested.parent, exp.When):  # a data-modifying CTE or subquery
                problems.extend(
                    (clause, f"{why}, inside a WITH clause or subquery")
                    for clause, why in _statement_problems(nested, bulk_threshold, temporary)
                )
    return problems


def _is_temporary(create: Any) -> bool:
    properties = create.args.get("properties")
    return properties is not None and any(isinstance(item, exp.TemporaryProperty) for item in properties.expressions)


def _drops_only_scratch(statement: Any, temporary: set[str]) -> bool:
    """A DROP TABLE of tables this SQL created as temporary, or named as scratch (tmp_*, pg_temp, #name)."""
    if str(statement.args.get("kind") or "").upper() != "TABLE":
        return False
    tables = list(statement.find_all(exp.Table))
    return bool(tables) and all(
        table.name.casefold() in temporary or table.db.casefold() == "pg_temp" or _TEMP_NAME.match(table.name)
        for table in tables
    )


def _drops_scratch_database(statement: Any) -> bool:
    """A DROP DATABASE, SCHEMA or KEYSPACE of databases whose names all mark them as scratch."""
    if isinstance(statement, exp.Command) and statement.name.upper() == "DROP":
        found = _COMMAND_DROP.match(str(statement.expression or ""))
        return found is not None and found.group(1).upper() in _DATABASE_KINDS and is_scratch_database(found.group(2))
    if not isinstance(statement, exp.Drop) or str(statement.args.get("kind") or "").upper() not in _DATABASE_KINDS:
        return False
    names = [table.name or table.db for table in statement.find_all(exp.Table)]
    return bool(names) and all(is_scratch_database(name) for name in names)


def _parse(source: str) -> list[Any] | None:
    for dialect in _DIALECTS:
        try:
            parsed = sqlglot.parse(source, read=dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
            continue
        return [statement for statement in parsed if statement is not None]
    return None


def _statement_problems(statement: Any, bulk_threshold: int, temporary: set[str]) -> list[tuple[str, str]]:
    if isinstance(statement, exp.Drop):
        if statement.args.get("temporary") or _drops_only_scratch(statement, temporary):
            return []
        kind = str(statement.args.get("kind") or "object").lower()
        table = statement.find(exp.Table)
        return [("sql_drop", f"DROP {kind.upper()} {table.name if table is not None else ''}".strip())]
    if isinstance(statement, exp.TruncateTable):
        return [("sql_truncate", "TRUNCATE empties whole tables")]
    if isinstance(statement, exp.Alter) and any(
        isinstance(action, exp.Drop) for action in statement.args.get("actions") or ()
    ):
        return [("sql_drop", "ALTER … DROP removes columns or constraints with their data")]
    if isinstance(statement, (exp.Delete, exp.Update)):
        verb = "DELETE" if isinstance(statement, exp.Delete) else "UPDATE"
        where = statement.args.get("where")
        if where is None or not _narrows(where.this, _whole_table_sources(statement)):
            return [(f"sql_unbounded_{verb.lower()}", f"{verb} without a WHERE clause that narrows the rows")]
        if verb == "DELETE":
            largest = max((len(node.expressions) for node in where.find_all(exp.In)), default=0)
            if largest > bulk_threshold:
                return [("bulk_delete", f"DELETE of {largest} listed rows at once (limit {bulk_threshold})")]
    if isinstance(statement, exp.Merge):
        return _merge_problems(statement)
    if isinstance(statement, exp.Command) and statement.name.upper() in ("DROP", "TRUNCATE"):
        # A DROP the parser does not know (CQL's `DROP KEYSPACE`) removes something all the same.
        what = " ".join(str(statement.expression or "").split()[:4])
        clause = "sql_drop" if statement.name.upper() == "DROP" else "sql_truncate"
        return [(clause, f"{statement.name.upper()} {what[:80]}".strip())]
    if isinstance(statement, exp.Command) and SQL_HINT.search(statement.sql()):
        return [("unparseable_sql", "SQL that names a destructive keyword in a form that cannot be checked")]
    return []


def _merge_problems(merge: Any) -> list[tuple[str, str]]:
    """A MERGE that matches every row of its table and deletes or updates them with no further condition.

    Every row matches when the source is the table itself joined on its own columns, or when the
    ON condition holds for any pair of rows (`ON 1=1`).
    """
    target, source, on = merge.this, merge.args.get("using"), merge.args.get("on")
    if not isinstance(target, exp.Table):
        return []
    whole = {target.name.casefold()}
    if isinstance(source, exp.Table):
        itself = source.name.casefold() in whole
    else:
        itself = source is not None and _selects_everything(source, whole)
    if not (on is None or _always_true(on) or (itself and not _narrows_merge(on))):
        return []
    whens = merge.args.get("whens")
    problems = []
    for when in whens.expressions if whens is not None else ():
        if not when.args.get("matched") or when.args.get("condition") is not None:
            continue
        then = when.args.get("then")
        verb = "DELETE" if isinstance(then, exp.Var) and then.name.upper() == "DELETE" else None
        verb = verb or ("UPDATE" if isinstance(then, exp.Update) else None)
        if verb:
            problems.append(
                (f"sql_unbounded_{verb.lower()}", f"MERGE that matches every row of its table and {verb}s them")
            )
    return problems


def _always_true(condition: Any) -> bool:
    """`TRUE`, `1=1`, `'a'='a'`: a condition that names no column."""
    return not list(condition.find_all(exp.Column)) and not isinstance(condition, (exp.Not, exp.NEQ))


def _narrows_merge(on: Any) -> bool:
    """Whether a MERGE of a table with itself is joined on anything but each column with itself."""
    if isinstance(on, exp.Paren):
        return _narrows_merge(on.this)
    if isinstance(on, exp.And):
        return _narrows_merge(on.left) or _narrows_merge(on.right)
    if isinstance(on, (exp.EQ, exp.NullSafeEQ)):
        left, right = on.left, on.right
        return not (isinstance(left, exp.Column) and isinstance(right, exp.Column) and left.name == right.name)
    return True


def _whole_table_sources(statement: Any) -> frozenset[str]:
    """The changed table's name and the CTEs of the statement that select every one of its rows."""
    target = statement.this
    if not isinstance(target, exp.Table):
        return frozenset()
    whole = {target.name.casefold()}
    for cte in statement.find_all(exp.CTE):
        if _selects_everything(cte.this, whole):
            whole.add(cte.alias_or_name.casefold())
    return frozenset(whole)


def _selects_everything(query: Any, whole: set[str] | frozenset[str]) -> bool:
    """A SELECT of every row of one of `whole`: no WHERE, LIMIT, HAVING or join that could leave rows out."""
    select = query.this if isinstance(query, exp.Subquery) else query
    if not isinstance(select, exp.Select) or any(select.find(kind) for kind in (exp.Where, exp.Limit, exp.Having)):
        return False
    tables = list(select.find_all(exp.Table))
    return len(tables) == 1 and tables[0].name.casefold() in whole and select.find(exp.Join) is None


_NOW_NAMES = frozenset({"now", "sysdate", "systimestamp", "getdate", "getutcdate", "sysdatetime", "localtimestamp",
                        "current_timestamp", "current_date", "utc_timestamp", "transaction_timestamp",
                        "statement_timestamp", "clock_timestamp"})  # fmt: skip


def _is_now(node: Any) -> bool:
    """The current time or date itself (`now()`, `CURRENT_DATE`, `GETDATE()`, `SYSDATE`), with nothing taken off."""
    if isinstance(node, (exp.CurrentTimestamp, exp.CurrentDate, exp.CurrentDatetime, exp.CurrentTime)):
        return True
    if isinstance(node, exp.Column) and not node.table:
        return node.name.casefold() in _NOW_NAMES
    if isinstance(node, exp.Anonymous):
        return str(node.this).casefold() in _NOW_NAMES
    return False


# A column of a time yet to come for some rows: an expiry, a deadline, a schedule.
_FUTURE_COLUMN = re.compile(
    r"expir|valid|until|due|deadline|end|ttl|next|after|schedul|retry|lock|ban|remind|renew", re.IGNORECASE
)


def _past_column(node: Any) -> bool:
    """A column that holds when a row was written or happened, never a time to come."""
    return isinstance(node, exp.Column) and not _FUTURE_COLUMN.search(node.name)


def _narrows(condition: Any, whole: frozenset[str] = frozenset()) -> bool:
    """Whether a WHERE condition limits rows by a column rather than matching all of them.

    `whole` names the tables and CTEs that hold every row of the changed table: `id IN (SELECT
    id FROM <one of them>)` narrows nothing.
    """
    if isinstance(condition, exp.Paren):
        return _narrows(condition.this, whole)
    if isinstance(condition, exp.Or):
        return _narrows(condition.left, whole) and _narrows(condition.right, whole)
    if isinstance(condition, exp.And):
        return _narrows(condition.left, whole) or _narrows(condition.right, whole)
    if isinstance(condition, (exp.Not, exp.NEQ)):
        return False
    if isinstance(condition, exp.In) and condition.args.get("query") is not None:
        return not _selects_everything(condition.args["query"], whole)
    columns = list(condition.find_all(exp.Column))
    if not columns:
        return False
    if isinstance(condition, (exp.EQ, exp.NullSafeEQ)):
        left, right = condition.left, condition.right
        if isinstance(left, exp.Column) and isinstance(right, exp.Column) and left.sql() == right.sql():
            return False
    # `created_at < now()`: every row written before this moment, which is every row (`expires_at < now()` is not).
    if isinstance(condition, (exp.LT, exp.LTE)) and _is_now(condition.expression) and _past_column(condition.this):
        return False
    if isinstance(condition, (exp.GT, exp.GTE)) and _is_now(condition.this) and _past_column(condition.expression):
        return False
    if isinstance(condition, exp.Like) and isinstance(condition.expression, exp.Literal):
        return str(condition.expression.this).strip("%") != ""
    if isinstance(condition, (exp.GT, exp.GTE)) and isinstance(condition.expression, exp.Literal):
        try:
            return float(condition.expression.this) > 0
        except ValueError:
            return True
    return True
