"""Mass destruction: destructive shell and SQL, bulk deletes of many ids, deletes of everything.

Shell is judged in `_destruction_shell`, SQL in `_sql`; this module adds what tools
without a command line say: a delete call with a list of hundreds of ids, a wildcard, an
`all: true`, or a broad path.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Mapping
from typing import Any

from inherence_policy_server.rules._analysis import PATH_KEYS, CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._api_endpoints import api_matches, call_http_requests
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._destruction_shell import DYNAMIC_SCRIPT, is_broad_target, shell_problems
from inherence_policy_server.rules._paths import matches_any_glob, normalise_path
from inherence_policy_server.rules._sql import sql_problems

__all__ = ["RULE", "evaluate", "may_find_in_prose_read"]

RULE = "mass_destruction"

_DELETE_WORDS = frozenset({"delete", "remove", "destroy", "purge", "wipe", "erase", "drop", "rm", "unlink", "truncate",
                           "trash", "rmdir", "deletion", "clear", "empty", "nuke"})  # fmt: skip
# Compared with `_` and `-` taken out, so `deleteAll` and `delete-all` are the same flag.
_ALL_FLAGS = frozenset({"all", "deleteall", "removeall", "everything", "purgeall", "allitems", "recursiveall",
                        "allnamespaces"})  # fmt: skip
# A tool named for deleting many records at once, and the arguments that choose them by query.
_BULK_WORDS = frozenset({"bulk", "batch", "many", "mass", "multiple"})
_QUERY_KEYS = frozenset({"query", "jql", "filter", "where", "selector", "match", "q", "search", "criteria", "soql"})
_SELECTING = frozenset({"filter", "where", "query", "selector", "match", "labelselector", "label_selector",
                        "fieldselector", "field_selector", "prefix", "key_prefix"})  # fmt: skip
_WILDCARDS = frozenset({"*", "%", "all", "*.*", "**", "/*"})


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny destructive commands, statements and deletes of everything or of many ids at once."""
    del ledger, now
    analysis = analysis or CallAnalysis(call)
    section = config.mass_destruction
    problems: list[tuple[str, str]] = []
    allowed = [
        text for text in analysis.command_texts if matches_any_glob(text.strip().casefold(), section.allowed_commands)
    ]
    if not allowed:
        script = analysis.shell
        problems.extend(shell_problems(script, section.allowed_paths))
        for text in analysis.command_texts:
            if DYNAMIC_SCRIPT.search(text):
                problems.append(("dynamic_script", f"`{text[:120]}` runs a script that is only known when it runs"))
        if script.problems and (problems or call.category in (Category.SHELL_EXEC, Category.UNKNOWN)):
            problems.append(("unparseable_shell", f"the command cannot be checked: {script.problems[0]}"))
        problems.extend(
            (match.endpoint.clause.split(".", 1)[1], f"{match.describe()} deletes a whole store, repository or more")
            for match in api_matches(analysis, RULE)
        )
        problems.extend(_store_deletes(analysis))
    for source in analysis.sql_sources:
        problems.extend(
            sql_problems(source.text, bulk_threshold=section.bulk_delete_threshold, local_server=source.local)
        )
    if analysis.intent_words & _MOVE_WORDS and not analysis.shell.commands:
        problems.extend(_moved_away(analysis, section.allowed_paths))
    if _name_words(call.tool_name) & _CANCEL_WORDS and not problems:
        problems.extend(_many_cancelled(call.arguments))
    if call.category is Category.FILE_DELETE or analysis.intent_words & _DELETE_WORDS:
        problems.extend(
            _delete_call_problems(call.arguments, analysis, section.bulk_delete_threshold, section.allowed_paths)
        )
        if not problems:
            problems.extend(_many_items(call.arguments, section.many_items_threshold, depth=0))
        if not problems and _query_delete(call.tool_name, call.arguments):
            problems.append(("query_delete", f"{call.tool_name} deletes whatever its query matches, any number"))
        if not problems:
            problems.extend(_whole_store_delete(call.tool_name) or _whole_store_kind(analysis))
        if not problems:
            problems.extend(
                _permanent_many(call.tool_name, call.arguments) or _range_delete(call.tool_name, call.arguments)
            )
    findings: dict[str, Finding] = {}
    for clause, why in problems:
        findings.setdefault(clause, Finding(RULE, f"{RULE}.{clause}", f"Mass destruction: {why}."))
    return list(findings.values())


# Data stores that serve their databases over HTTP, by their usual port: CouchDB, Solr, ArangoDB, Neo4j,
# InfluxDB, Qdrant, Typesense, Meilisearch, ClickHouse. (Elasticsearch's indexes are dropped one by
# one by retention; its deletes of many at once are in the provider table.)
_STORE_PORTS = {5984: "CouchDB", 8983: "Solr", 8529: "ArangoDB", 7474: "Neo4j", 8086: "InfluxDB", 6333: "Qdrant",
                8108: "Typesense", 7700: "Meilisearch", 8123: "ClickHouse"}  # fmt: skip
# A store's own API lives under `_`-names (`/_users/...` aside): `/shop` is a database, `/_cluster` is not.
_STORE_OBJECT = re.compile(r"^/(?:[^/_][^/]*|_all)/?$")


def _store_deletes(analysis: CallAnalysis) -> list[tuple[str, str]]:
    """`DELETE /<database>` on a data store's HTTP port: the whole database or index with its data."""
    stores = {
        (endpoint.host, endpoint.path.rstrip("/") or "/"): _STORE_PORTS[endpoint.port]
        for endpoint in analysis.endpoints
        if endpoint.port in _STORE_PORTS
    }
    found = []
    for request in call_http_requests(analysis):
        if request.host is None:
            continue
        store = stores.get((request.host, request.path.rstrip("/") or "/"))
        if store and request.method == "DELETE" and _STORE_OBJECT.match(request.path):
            found.append(("store_delete", f"DELETE {request.path[:80]} drops a whole {store} database or index"))
    return found[:1]


_MOVE_WORDS = frozenset({"move", "rename", "mv"})
_SOURCE_KEYS = frozenset({"source", "src", "from", "old_path", "oldpath", "source_path", "sourcepath", "path"})


def _moved_away(analysis: CallAnalysis, allowed_paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """A file tool moving a home or data folder, or a repository's history (`.git`), somewhere else."""
    for value in analysis.values(payload=False):
        if value.is_key or value.key not in _SOURCE_KEYS:
            continue
        text = value.raw.strip()
        history = normalise_path(text).rstrip("/").endswith("/.git")
        if (history or is_broad_target(text)) and not matches_any_glob(normalise_path(text), allowed_paths):
            return [("move_away", f"the call moves {text!r} away, with everything it holds")]
    return []


# Lists of what a batch delete removes (`delete_batch(entries=["/Finance", ...])`): paths when written as paths.
_ENTRY_KEYS = frozenset({"entries", "items", "targets", "folders", "objects", "resources", "selection"})


def _delete_call_problems(
    arguments: Mapping[str, Any], analysis: CallAnalysis, threshold: int, allowed_paths: tuple[str, ...]
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for value in analysis.values(payload=False):
        if value.is_key:
            continue
        text = value.raw.strip()
        if (
            (value.key in PATH_KEYS or (value.key in _ENTRY_KEYS and text.startswith(("/", "~"))))
            and is_broad_target(text)
            and not matches_any_glob(normalise_path(text), allowed_paths)
        ):
            problems.append(("broad_delete", f"the delete names {text!r}, which holds far more than one item"))
        elif value.key.endswith(
            ("id", "ids", "key", "keys", "path", "paths", "name", "names", "pattern", "filter")
        ) and (text.casefold() in _WILDCARDS):
            problems.append(("delete_all", f"the delete matches everything ({value.key} = {text!r})"))
    problems.extend(_flag_and_list_problems(arguments, threshold, depth=0))
    return problems


def _flag_and_list_problems(node: Any, threshold: int, depth: int) -> list[tuple[str, str]]:
    if depth > 8:
        return []
    problems: list[tuple[str, str]] = []
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = str(key).casefold()
            if name.replace("_", "").replace("-", "") in _ALL_FLAGS and value is True:
                problems.append(("delete_all", f"the delete is asked to remove everything ({name} = true)"))
            elif name in _SELECTING and value in ({}, "", None, []):
                problems.append(("delete_all", f"the delete has an empty {name}, which matches everything"))
            elif isinstance(value, list) and len(value) > threshold and _names_items(value):
                problems.append(("bulk_delete", f"the delete lists {len(value)} items at once (limit {threshold})"))
            elif isinstance(value, list) and _elided(value) and _names_items(value):
                problems.append(("bulk_delete", "the delete lists its items with some left out: more than shown"))
            elif isinstance(value, (Mapping, list)):
                problems.extend(_flag_and_list_problems(value, threshold, depth + 1))
    elif isinstance(node, list):
        if len(node) > threshold:
            problems.append(("bulk_delete", f"the delete lists {len(node)} items at once (limit {threshold})"))
        for item in node[:64]:
            problems.extend(_flag_and_list_problems(item, threshold, depth + 1))
    return problems


_ITEM_KEYS = frozenset({"id", "_id", "uuid", "key", "name", "path", "ref", "sys_id"})


# A list shown with its middle left out (`["r1", "r2", "...", "r18412"]`) holds more than it shows.
_ELISIONS = frozenset({"...", "…", "etc", "etc."})


def _elided(items: list[Any]) -> bool:
    return any(isinstance(item, str) and item.strip() in _ELISIONS for item in items[:256])


def _names_items(items: list[Any]) -> bool:
    """A list of ids or names: plain values, or records that carry nothing but an id (`[{"Id": "001A"}]`)."""
    if all(not isinstance(item, (Mapping, list)) for item in items):
        return True
    return all(
        isinstance(item, Mapping) and 0 < len(item) <= 2 and any(str(key).casefold() in _ITEM_KEYS for key in item)
        for item in items[:256]
    )


def _many_items(node: Any, threshold: int, depth: int) -> list[tuple[str, str]]:
    """A delete listing more names or ids than `threshold` (but not enough for `bulk_delete`): a person is asked."""
    if depth > 8:
        return []
    children = node.values() if isinstance(node, Mapping) else node[:64] if isinstance(node, list) else ()
    if isinstance(node, list) and len(node) > threshold and _names_items(node):
        return [("many_items", f"the delete lists {len(node)} items at once (more than {threshold})")]
    for child in children:
        found = _many_items(child, threshold, depth + 1)
        if found:
            return found
    return []


# What a dedicated tool deletes as a whole with everything in it, and the clause that deletion raises.
_WHOLE_STORES = {
    "repository_delete": frozenset({"repository", "repositories", "repo", "repos", "project", "projects",
                                    "organization", "organisation", "org", "workspace"}),
    "store_delete": frozenset({"database", "databases", "db", "bucket", "buckets", "cluster", "clusters", "namespace",
                               "namespaces", "keyspace", "collection", "collections", "table", "tables", "volume",
                               "volumes", "mailbox", "drive", "vault", "tenant", "graph", "knowledge", "index",
                               "indexes", "indices", "keyspaces", "dataset", "datasets"}),
}  # fmt: skip
_DELETE_VERBS = frozenset({"delete", "destroy", "drop", "remove", "purge", "wipe", "erase", "nuke", "terminate"})
# Parts of a store (a branch, a record, a member of a team): deleting one leaves the store.
_PARTS = frozenset({"branch", "branches", "tag", "tags", "file", "files", "record", "records", "row", "rows", "item",
                    "items", "entry", "entries", "member", "members", "user", "users", "comment", "comments",
                    "issue", "issues", "label", "labels", "webhook", "webhooks", "key", "keys", "document",
                    "documents", "doc", "message", "messages", "event", "events", "observation", "observations",
                    "relation", "relations", "entity", "node", "edge", "collaborator", "invitation", "session",
                    "alias", "field", "column", "snapshot", "backup", "secret", "variable", "release", "artifact",
                    "pod", "job", "run", "deployment", "object", "objects", "blob", "version", "versions"})  # fmt: skip
# What a "delete all" tool may clear with no data lost: an issue's labels, a view's filters, the notifications.
_EPHEMERAL = frozenset({"label", "labels", "tag", "tags", "filter", "filters", "notification", "notifications",
                        "reaction", "reactions", "breakpoint", "breakpoints", "highlight", "highlights", "selection",
                        "selections", "cache", "caches", "alert", "alerts"})  # fmt: skip
# Stores with no trash to restore from: a memory server's knowledge graph.
_NO_TRASH = frozenset({"entities", "entity", "nodes", "graph", "memories", "memory", "observations"})
_PERMANENT_FLAGS = frozenset({"skiptrash", "permanent", "permanently", "hard", "harddelete", "force", "purge",
                              "bypasstrash", "nobackup", "skiprecyclebin"})  # fmt: skip
_RANGE_KEYS = frozenset({"time_min", "time_max", "start", "end", "start_date", "end_date", "from", "until", "before",
                         "after", "older_than", "newer_than", "since", "date_from", "date_to", "range"})  # fmt: skip


@functools.lru_cache(maxsize=1024)
def _name_words(tool_name: str) -> frozenset[str]:
    # Tool names repeat from call to call: each is split once.
    name = tool_name.rpartition("__")[2]
    return frozenset(re.findall(r"[a-z0-9]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).casefold()))


@functools.lru_cache(maxsize=1024)
def _all_name_words(tool_name: str) -> frozenset[str]:
    return frozenset(re.findall(r"[a-z0-9]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool_name).casefold()))


def _whole_store_delete(tool_name: str) -> list[tuple[str, str]]:
    """`delete_repository`, `drop_database`, `delete_bucket`: a tool for deleting a whole store with its data."""
    words = _name_words(tool_name)
    if words & _DELETE_VERBS and words & {"all", "everything"} and not words & _EPHEMERAL:
        # `delete_all_memories`, `purge_all_files`, `clear_all`: every item of the kind, parts included.
        return [("store_delete", f"{tool_name} deletes everything of its kind at once")]
    if not words & _DELETE_VERBS or words & _PARTS:
        return []
    for clause, stores in _WHOLE_STORES.items():
        if words & stores:
            return [(clause, f"{tool_name} deletes a whole {sorted(words & stores)[0]} with everything in it")]
    return []


# A generic delete tool told what kind of thing it deletes: `kubectl_delete(resourceType="namespace")`.
_KIND_KEYS = frozenset({"resourcetype", "resource_type", "kind", "type", "resource", "object_type", "objecttype",
                        "resource_kind", "target_type"})  # fmt: skip


def _whole_store_kind(analysis: CallAnalysis) -> list[tuple[str, str]]:
    if not analysis.intent_words & _DELETE_VERBS:
        return []
    for value in analysis.values(payload=False):
        if value.is_key or value.key not in _KIND_KEYS:
            continue
        kind = value.folded.strip()
        for clause, stores in _WHOLE_STORES.items():
            if kind in stores:
                return [(clause, f"the call deletes a whole {kind} with everything in it")]
    return []


def _permanent_many(tool_name: str, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Several items deleted for good (`skip_trash: true`, a memory graph's entities), past any trash."""
    flags = {str(key).casefold().replace("_", "").replace("-", "") for key, value in arguments.items() if value is True}
    if not flags & _PERMANENT_FLAGS and not _name_words(tool_name) & _NO_TRASH:
        return []
    lists = [value for value in arguments.values() if isinstance(value, list) and len(value) >= 3]
    if not lists:
        return []
    return [("many_items", f"the delete removes {len(lists[0])} items for good, past the trash")]


# Cancelling bookings, orders or subscriptions: no trash holds them, and a fare or a deposit is often lost.
_CANCEL_WORDS = frozenset({"cancel", "cancellation", "cancellations", "cancels"})


def _many_cancelled(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Three or more bookings, orders or subscriptions cancelled in one call: a person is asked."""
    for value in arguments.values():
        if isinstance(value, list) and len(value) >= 3 and _names_items(value):
            return [("many_items", f"the call cancels {len(value)} bookings or orders at once")]
    return []


def _range_delete(tool_name: str, arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """`delete_events(time_min, time_max)`: whatever falls in a span of time, any number of items."""
    words = _name_words(tool_name)
    plural = any(word.endswith("s") and len(word) > 3 for word in words - _DELETE_VERBS)
    keys = {str(key).casefold() for key, value in arguments.items() if value not in (None, "")}
    if not words & _DELETE_VERBS or not plural or not keys & _RANGE_KEYS:
        return []
    return [("query_delete", f"{tool_name} deletes everything in a span of time, any number")]


def _query_delete(tool_name: str, arguments: Mapping[str, Any]) -> bool:
    """A bulk delete tool (`bulk_delete_issues`, `deleteMany`) that picks what it deletes by a query."""
    words = _all_name_words(tool_name)
    if not words & _BULK_WORDS or not words & _DELETE_WORDS:
        return False
    queries = [value for key, value in arguments.items() if str(key).casefold() in _QUERY_KEYS]
    if not any(value not in (None, "", {}, []) for value in queries):
        return False
    return not all(_picks_test_data(value) for value in queries if value not in (None, "", {}, []))


# Data a test run made, picked by its marker: `{"source": "loadtest-1206"}`, `{"email": {"$regex": "@qa\\.invalid$"}}`.
_TEST_MARKER = re.compile(
    r"(?<![a-z])(?:load-?test|loadtest\w*|e2e|qa|fixtures?|dummy|fake|seed(?:ed)?|test(?:ing|s)?)(?![a-z])"
    r"|\.(?:invalid|test|example)\b|@example\.(?:com|org|net)\b",
    re.IGNORECASE,
)
# Conditions that pick more than the marked records: alternatives, negations, ranges, code.
_WIDENING_OPERATORS = frozenset({"$or", "$nor", "$not", "$ne", "$nin", "$exists", "$where", "$expr", "$gt", "$lt",
                                 "$gte", "$lte"})  # fmt: skip
# Regular expression parts that match more than the marker beside them.
_WIDE_PATTERN = re.compile(r"(?<!\\)(?:\.[*+?]|\||\[\^)")


def _picks_test_data(query: Any, depth: int = 0) -> bool:
    """A filter all of whose conditions pick records a test run marked as its own (and nothing wider)."""
    if depth > 4:
        return False
    if isinstance(query, str):
        return bool(_TEST_MARKER.search(query)) and not _WIDE_PATTERN.search(query)
    if isinstance(query, Mapping):
        if not query or len(query) > 8:
            return False
        for key, value in query.items():
            name = str(key).casefold()
            if name in _WIDENING_OPERATORS:
                return False
            if name in ("$options",):
                continue
            if not _picks_test_data(value, depth + 1):
                return False
        return True
    if isinstance(query, list):
        return bool(query) and len(query) <= 16 and all(_picks_test_data(item, depth + 1) for item in query)
    return False


def may_find_in_prose_read(call: Call, config: RulesConfig, analysis: CallAnalysis) -> bool:
    """Whether this rule can find anything in a prose-only read (the engine's `prose_only_read`).

    Such a call has no command line, no SQL, no request and no path: only a call that says it
    deletes, or a tool named for cancelling, is left (both read the arguments themselves).
    """
    del config
    return bool(analysis.intent_words & _DELETE_WORDS or _name_words(call.tool_name) & _CANCEL_WORDS)
