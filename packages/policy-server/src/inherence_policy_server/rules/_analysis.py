"""One call's arguments read once and viewed the ways the six rules need them.

Each view (commands, parsed shell, SQL, endpoints, paths, emails, intent words) is computed
on first use and kept, so a call is traversed and parsed at most once however many rules
look at it. The shell and URL views are bounded too (`MAX_SHELL_TEXTS`, `MAX_SHELL_CHARS`,
`MAX_ENDPOINTS`): a call past them is marked `beyond_limits` like one with too much text.
Prose fields (`body`, `message`, ...) are payload: a URL or a path written in an email body
is something the call carries, not somewhere it goes.
"""

from __future__ import annotations

import functools
import itertools
import re
import shlex
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from inherence_policy_server.rules._api import Call, Category
from inherence_policy_server.rules._database_clients import ClientSql, client_sql
from inherence_policy_server.rules._hosts import Endpoint, canonical_ip, find_emails, find_endpoints, parse_endpoint
from inherence_policy_server.rules._paths import is_path_like, normalise_path
from inherence_policy_server.rules._shell import ShellScript, parse_shell
from inherence_policy_server.rules._sql import SQL_HINT
from inherence_policy_server.rules._text import CONTENT_KEYS, ArgumentText, TextValue, extract_text

__all__ = ["CONTENT_KEYS", "DESTINATION_KEYS", "MAX_ENDPOINTS", "MAX_SHELL_CHARS", "MAX_SHELL_TEXTS", "CallAnalysis"]
_T = TypeVar("_T")
_UNSET: Any = object()


class _view(Generic[_T]):
    """`functools.cached_property` without the lock it takes on each first read before Python 3.12.

    One `CallAnalysis` belongs to the one call (and thread) that analyses it: nothing to lock.
    """

    def __init__(self, compute: Callable[[Any], _T]) -> None:
        self._compute = compute
        self._name = compute.__name__

    def __get__(self, analysis: object, owner: type | None = None) -> _T:
        # Stored under the same name: later reads find it in the instance and never come here.
        value = analysis.__dict__[self._name] = self._compute(analysis)
        return value


MAX_SHELL_TEXTS = 32
# A decide costs about 2 ms of CPU per KiB of realistic shell and up to about 9 ms per KiB of the
# costliest shapes (dense brace expansion), by benchmarks/bench_shell_parse.py: 8 KiB reads scripts
# of a few KiB and keeps the worst call under about 70 ms.
MAX_SHELL_CHARS = 8 * 1024
MAX_ENDPOINTS = 256

COMMAND_KEYS = frozenset({"command", "cmd", "script", "shell", "commandline", "command_line", "bash", "sh", "run",
                          "cli_command", "cmdline", "shell_command", "bash_command"})  # fmt: skip
ARGV_KEYS = frozenset({"args", "argv", "arguments"})
SQL_KEYS = frozenset({"query", "sql", "statement", "statements", "sql_query", "stmt"})
DESTINATION_KEYS = frozenset(
    {"url", "uri", "href", "link", "endpoint", "host", "hostname", "server", "address", "to", "cc", "bcc", "recipient",
     "recipients", "email", "emails", "webhook", "webhook_url", "callback", "callback_url", "target", "destination",
     "domain", "base_url", "proxy", "redirect_uri", "channel", "remote", "ip", "registry", "origin", "from_url"}
)  # fmt: skip
PATH_KEYS = frozenset(
    {"path", "paths", "file", "files", "filename", "file_path", "filepath", "source", "src", "dest", "dst",
     "destination", "target", "dir", "directory", "folder", "cwd", "root", "location", "uri", "old_path", "new_path"}
)  # fmt: skip
_SHELL_HINT = re.compile(r"[|;&`$><]|\b(?:rm|sudo|find|xargs|dd|mkfs|chmod|chown|curl|wget|cat|env|eval|kubectl|aws)\b")
_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ACTION_KEYS = frozenset({"action", "operation", "op", "method", "type", "event", "verb", "kind", "intent", "mode"})
# A tool named after one of these programs whose `args` hold its arguments runs `<program> <args>`.
CLI_PROGRAMS = frozenset({"kubectl", "docker", "podman", "helm", "git", "gh", "glab", "aws", "gcloud", "gsutil", "az",
                          "terraform", "psql", "mysql", "sqlite3", "rclone", "rsync", "ssh", "scp", "systemctl",
                          "crictl", "nerdctl", "oc", "doctl", "flyctl", "heroku", "vault", "stripe", "npm",
                          "pip", "find"})  # fmt: skip


class CallAnalysis:
    """Lazily computed views of one call's arguments."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.text: ArgumentText = extract_text(call.arguments)
        self._memo: dict[str, Any] = {}
        self._plain: list[TextValue] | None = None
        self._payload: list[TextValue] | None = None

    def memo(self, key: str, build: Callable[[], _T]) -> _T:
        """A view that several rules share, built on first use and kept for the rest of the call."""
        # A lookup, not a try: most keys are missed once per call, and a raised KeyError costs more.
        value = self._memo.get(key, _UNSET)
        if value is _UNSET:
            value = self._memo[key] = build()
        return value  # type: ignore[no-any-return]

    @property
    def category(self) -> Category:
        return self.call.category

    def values(self, *, payload: bool) -> list[TextValue]:
        """Strings outside prose fields, and with `payload` the prose too (one list per call, not to be changed)."""
        # Asked for dozens of times per call: two plain attributes, no dictionary.
        if payload:
            found = self._payload
            if found is None:
                found = self._payload = list(self.text.strings())
            return found
        found = self._plain
        if found is None:
            found = self._plain = [value for value in self.text.strings() if value.key not in CONTENT_KEYS]
        return found

    @_view
    def intent_words(self) -> frozenset[str]:
        """Words of the tool name, the argument keys and short action-like values: what the call says it does."""
        words = set(_words(self.call.tool_name))
        for value in self.text.values:
            if value.is_key or (value.key in _ACTION_KEYS and len(value.raw) <= 64):
                words.update(_words(value.raw))
        return frozenset(words)

    @_view
    def command_texts(self) -> list[str]:
        """Shell command lines: command fields anywhere, and for shell or unknown tools anything shaped like one."""
        page_code = _page_code(self.call.tool_name, self.call.arguments)
        found = [text for text in _command_fields(self.call.arguments, depth=0) if text not in page_code]
        if not found and not page_code:
            found = _program_arguments(self.call.tool_name, self.call.arguments)
        else:
            found = [_with_program(self.call.tool_name, text) for text in found]
        # Script a browser tool runs in a page is JavaScript: read as `node -e` would be, never as shell.
        found += [shlex.join(["node", "-e", code]) for code in page_code]
        if self.category in (Category.SHELL_EXEC, Category.UNKNOWN):
            seen = set(found) | set(page_code)
            for value in self.values(payload=False):
                if value.key in COMMAND_KEYS or value.key in ARGV_KEYS or value.raw in seen:
                    continue
                if " " in value.raw.strip() and _SHELL_HINT.search(value.folded):
                    found.append(value.raw)
        return found

    def beyond(self, limit: str) -> None:
        """Note a limit the analysis reached; the engine denies the call for it."""
        if limit not in self.text.beyond_limits:
            self.text.beyond_limits.append(limit)

    @_view
    def shell(self) -> ShellScript:
        script = ShellScript()
        texts = self.command_texts
        if len(texts) > MAX_SHELL_TEXTS:
            self.beyond(f"more than {MAX_SHELL_TEXTS} command lines")
            texts = texts[:MAX_SHELL_TEXTS]
        budget = MAX_SHELL_CHARS
        for text in texts:
            budget -= len(text)
            if budget < 0:
                self.beyond(f"more than {MAX_SHELL_CHARS} characters of shell")
                break
            parsed = parse_shell(_closed_drive_root(text))
            script.commands.extend(parsed.commands)
            script.pipelines.extend(parsed.pipelines)
            script.problems.extend(parsed.problems)
            script.dynamic.extend(parsed.dynamic)
            script.assigned.update(parsed.assigned)
        return script

    @_view
    def shell_words(self) -> list[str]:
        # What echo and printf print is data, not a place the command reaches.
        words = [
            word
            for command in self.shell.commands
            if command.name not in ("echo", "printf")
            for word in command.argv[1:]
        ]
        words.extend(target for command in self.shell.commands for op, target in command.redirects if op != "<<")
        return words

    @_view
    def sql_sources(self) -> list[ClientSql]:
        """SQL in SQL-like fields, and what the shell's database clients are given (with where their server is)."""
        found = []
        looks_for_any = self.category in (Category.DATABASE_QUERY, Category.UNKNOWN)
        for value in self.values(payload=False):
            # One word (`"operation": "delete"`, `"action": "update"`) names an action; a statement has more.
            if (value.key in SQL_KEYS or looks_for_any) and SQL_HINT.search(value.raw) and len(value.raw.split()) > 1:
                found.append(ClientSql(value.raw, local=False))
        found.extend(client_sql(self.shell, self.shell.assigned))
        return found

    @property
    def sql_texts(self) -> list[str]:
        return [source.text for source in self.sql_sources]

    @_view
    def endpoints(self) -> list[Endpoint]:
        """Every place the call could reach: destination fields, URLs in non-prose fields, and command words."""
        found: list[Endpoint] = []
        for value in self.values(payload=False):
            if value.key in COMMAND_KEYS and not value.is_key:
                continue  # read as shell, word by word, below
            destination = value.key in DESTINATION_KEYS
            found.extend(itertools.islice(find_endpoints(value.raw, whole=destination), MAX_ENDPOINTS + 1))
            if destination and canonical_ip(value.raw.strip()) is not None and "." not in value.raw:
                endpoint = parse_endpoint(str(canonical_ip(value.raw.strip())), source=value.raw)
                if endpoint is not None:
                    found.append(endpoint)
            if len(found) > MAX_ENDPOINTS:
                return self._too_many_endpoints(found)
        for word in self.shell_words:
            if word.startswith("-") and "=" in word:
                word = word.split("=", 1)[1]
            found.extend(find_endpoints(word, whole=not word.startswith("-")))
            if len(found) > MAX_ENDPOINTS:
                return self._too_many_endpoints(found)
        return found

    def _too_many_endpoints(self, found: list[Endpoint]) -> list[Endpoint]:
        self.beyond(f"more than {MAX_ENDPOINTS} URLs or hosts")
        return found[:MAX_ENDPOINTS]

    @_view
    def paths(self) -> list[str]:
        """Normalised paths from path fields, path-shaped values and command words."""
        found: list[str] = []
        for value in self.values(payload=False):
            if value.key in PATH_KEYS or is_path_like(value.raw) or value.raw.startswith(("file://", "unix://")):
                found.append(normalise_path(value.raw))
        for word in self.shell_words:
            if word.startswith("-") and "=" in word:
                word = word.split("=", 1)[1]
            if not word.startswith("-") and "://" not in word:
                found.append(normalise_path(word))
        return [path for path in found if path]

    @_view
    def emails(self) -> list[tuple[str, str]]:
        found = [email for value in self.values(payload=False) for email in find_emails(value.raw)]
        found.extend(email for word in self.shell_words for email in find_emails(word))
        return found


def _words(text: str) -> tuple[str, ...]:
    # Tool names and short values repeat from call to call: each short text is split once.
    return _short_words(text) if len(text) <= 128 else tuple(_WORD.findall(_CAMEL.sub(" ", text).lower()))


@functools.lru_cache(maxsize=4096)
def _short_words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(_CAMEL.sub(" ", text).lower()))


def _command_fields(node: Any, depth: int) -> list[str]:
    """Command lines in `command`-like fields, joining an argv list and a sibling `args` list."""
    if depth > 6:
        return []
    found: list[str] = []
    if type(node) is dict or isinstance(node, Mapping):
        for key, value in node.items():
            name = str(key).lower()
            if type(value) is str and name not in COMMAND_KEYS:
                continue  # most values: neither a command field nor a mapping or list to look into
            if name in COMMAND_KEYS:
                words = _string_list(value)
                if words is None:
                    continue
                extra = next((_string_list(node[k]) for k in node if str(k).lower() in ARGV_KEYS), None) or []
                found.append(" ".join(words) if isinstance(value, str) else shlex.join(words + extra))
                if isinstance(value, str) and extra:
                    found[-1] = value + " " + shlex.join(extra)
            elif isinstance(value, (Mapping, list)):
                found.extend(_command_fields(value, depth + 1))
    elif isinstance(node, list):
        for item in node[:256]:
            found.extend(_command_fields(item, depth + 1))
    return found


_TRAILING_DRIVE_ROOT = re.compile(r"(?<![\\\w])([A-Za-z]:\\)$")


def _closed_drive_root(text: str) -> str:
    """`dir C:\\` ends in a Windows drive root, not in a line continuation: the backslash is a word's own."""
    return _TRAILING_DRIVE_ROOT.sub(r"\1\\", text.rstrip()) if text.rstrip().endswith(":\\") else text


# CLIs whose MCP tools take the rest of a command line: `terraform__run_command(command="destroy")`.
_SUBCOMMAND_CLIS = frozenset({"terraform", "kubectl", "helm", "gcloud", "aws", "az", "gh", "glab", "heroku", "flyctl",
                              "doctl", "vercel", "oc", "stripe", "vault", "gsutil"})  # fmt: skip


def _with_program(tool_name: str, text: str) -> str:
    """A command field of a CLI's own tool that names only a subcommand, with the CLI's name in front."""
    programs = [word for word in _words(tool_name) if word in _SUBCOMMAND_CLIS]
    first = text.strip().split(" ", 1)[0] if text.strip() else ""
    if not programs or not first or not re.fullmatch(r"[a-z][a-z0-9-]*", first) or first in CLI_PROGRAMS:
        return text
    return f"{programs[-1]} {text}"


_PAGE_TOOL_WORDS = frozenset({"evaluate", "javascript", "js", "browser", "page", "puppeteer", "playwright", "console",
                              "devtools", "chrome", "webview"})  # fmt: skip
_PAGE_RUNNING = frozenset({"evaluate", "javascript", "js", "console", "run", "execute", "exec", "eval"})
_PAGE_CODE_KEYS = frozenset({"function", "script", "expression", "code", "js", "javascript", "pagefunction", "source"})


def _page_code(tool_name: str, arguments: Mapping[str, Any]) -> list[str]:
    """The JavaScript a browser tool runs in a page (`browser_evaluate(function=...)`)."""
    words = set(_words(tool_name))
    if not words & _PAGE_TOOL_WORDS or not words & _PAGE_RUNNING:
        return []
    return [
        value
        for key, value in arguments.items()
        if str(key).casefold() in _PAGE_CODE_KEYS and isinstance(value, str) and value.strip()
    ]


def _program_arguments(tool_name: str, arguments: Mapping[str, Any]) -> list[str]:
    """`kubectl(args="get pods")` runs `kubectl get pods`: the tool is the program, its `args` the rest."""
    programs = [word for word in _words(tool_name) if word in CLI_PROGRAMS]
    if not programs:
        return []
    for key, value in arguments.items():
        if str(key).lower() in ARGV_KEYS:
            if isinstance(value, str) and value.strip():
                return [f"{programs[-1]} {value}"]
            words = _string_list(value)
            if words:
                return [shlex.join([programs[-1], *words])]
    return []


def _string_list(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    return None
