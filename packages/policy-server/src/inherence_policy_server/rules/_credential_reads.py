"""What reads credential material and what only looks like it does.

Reads: a tool that dumps its process environment (an MCP server keeps its tokens there),
or one asked for its environment by argument (`{"include": ["env"]}`), an interpreter
one-liner that prints `os.environ` or `process.env`, `kubectl` printing a secret's data.
Look-alikes: listing a key folder or a file's metadata shows names and sizes, generating a
key pair writes a new key (`ssh-keygen -f`, `openssl genpkey -out`), `kubectl get secrets`
and `describe` print names only.
"""

from __future__ import annotations

import functools
import re

from inherence_policy_server.rules._analysis import PATH_KEYS, CallAnalysis
from inherence_policy_server.rules._paths import normalise_path
from inherence_policy_server.rules._shell import ShellCommand

__all__ = [
    "environment_dump",
    "interpreter_dump",
    "kubectl_secret_dump",
    "metadata_only_paths",
    "metadata_tool",
    "names_only_store_tool",
]

_WORD = re.compile(r"[a-z0-9]+")
_ENV_WORDS = frozenset({"env", "envs", "environ", "environment", "envvars", "printenv", "envvar"})
_DUMP_WORDS = frozenset({"get", "print", "dump", "show", "list", "read", "all", "export", "vars", "variables",
                         "var", "fetch", "reveal", "display", "view", "echo", "process", "current", "system",
                         "os"})  # fmt: skip
_NOT_DUMPING = frozenset({"set", "update", "write", "unset", "delete", "create", "add", "remove", "put", "edit",
                          "file", "files", "path", "dotenv", "example", "template"})  # fmt: skip
# Keys of arguments that name a deployment environment (GitHub, Vercel, ...), not the process's.
_DEPLOYMENT_KEYS = frozenset({"repo", "repository", "owner", "project", "project_id", "environment_name",
                              "environment_id", "app", "service", "deployment", "workspace", "team"})  # fmt: skip
# Arguments that pick what a tool reports, and the values among them that pick the process environment.
_SELECTING_KEYS = frozenset({"include", "includes", "fields", "field", "section", "sections", "select", "what",
                             "show", "parts", "part", "kind", "type", "scope", "details", "component", "components",
                             "category", "categories", "info", "report", "dump", "source"})  # fmt: skip
_ENV_SECTIONS = _ENV_WORDS | frozenset({"environment variables", "environment_variables", "env_vars", "env vars",
                                        "process.env", "os.environ"})  # fmt: skip
_NAME_KEYS = frozenset({"name", "names", "key", "keys", "var", "vars", "variable", "variables", "env_var", "envvar"})
_SECRET_NAME = re.compile(r"key|secret|token|pass|credential|auth|private|session|cookie|cert|signing", re.I)
_INTERPRETERS = frozenset({"python", "python3", "python2", "node", "nodejs", "deno", "bun", "ruby", "perl", "php",
                           "pwsh", "powershell"})  # fmt: skip
_PRINTED_ENVIRONMENT = re.compile(
    r"os\.environ(?!\s*(?:\[|\.get\b|\.setdefault\b|\.pop\b))|environ\.copy|process\.env(?!\s*(?:\.|\[))"
    r"|\bENV\.(?:to_h|to_a|inspect|each|keys|map)|%ENV\b|\bgetenv\(\s*\)|\$_ENV\b|\$_SERVER\b"
    r"|(?:get-childitem|gci|dir|ls)\s+env:|Deno\.env\.toObject",
    re.IGNORECASE,
)
_METADATA_COMMANDS = frozenset({"ls", "stat", "du", "test", "[", "mkdir", "tree", "file", "wc", "chmod", "realpath",
                                "readlink", "ssh-keygen", "basename", "dirname", "exa", "eza"})  # fmt: skip
# Options whose value is a file the command writes (a key it generates), never one it reads.
_OUTPUT_OPTIONS = {"openssl": frozenset({"-out", "-keyout"}), "age-keygen": frozenset({"-o", "--output"})}
_METADATA_TOOL_WORDS = frozenset({"list", "ls", "tree", "info", "stat", "stats", "metadata", "exists", "size",
                                  "attributes", "permissions", "directory", "dir", "mtime"})  # fmt: skip
_CONTENT_TOOL_WORDS = frozenset({"read", "cat", "content", "contents", "open", "download", "copy", "upload", "archive",
                                 "zip", "tar", "search", "grep", "export", "dump", "show", "head", "tail", "view",
                                 "load", "move", "send", "share", "print", "fetch", "text", "lines"})  # fmt: skip
_SECRET_RESOURCE = re.compile(r"^(?:secrets?|secret/\S+|secrets/\S+|[\w.,/-]*\bsecrets?\b[\w.,/-]*)$")
_NAMES_ONLY_OUTPUT = re.compile(r"^(?:name|wide|custom-columns=(?!.*\.(?:data|stringdata)\b).*)$", re.IGNORECASE)


@functools.lru_cache(maxsize=1024)
def _name_words(text: str) -> frozenset[str]:
    # Asked of the same tool name on every call of it: worked out once per name.
    return frozenset(_WORD.findall(re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text).casefold()))


def environment_dump(analysis: CallAnalysis) -> str | None:
    """Why a tool prints the environment of the server it runs in; None when it asks for harmless names only."""
    tool = analysis.call.tool_name
    words = _name_words(tool)
    if words & _NOT_DUMPING:
        return None
    if not words & _ENV_WORDS:
        return _environment_selected(analysis, tool)
    if not (words & _DUMP_WORDS or words <= _ENV_WORDS):
        return None
    keys = {value.folded for value in analysis.text.values if value.is_key}
    if keys & _DEPLOYMENT_KEYS:
        return None
    names = [value.raw for value in analysis.values(payload=False) if not value.is_key and value.key in _NAME_KEYS]
    if names and not any(_SECRET_NAME.search(name) or name.strip() in ("*", "") for name in names):
        return None
    return f"the environment of the server, through {tool}"


def _environment_selected(analysis: CallAnalysis, tool: str) -> str | None:
    """A diagnostics tool asked for its environment by argument (`{"include": ["env", "argv"]}`), or None."""
    for value in analysis.values(payload=False):
        if not value.is_key and value.key in _SELECTING_KEYS and value.folded.strip() in _ENV_SECTIONS:
            return f"the environment of the server, through {tool} ({value.key}: {value.raw.strip()[:40]})"
    return None


def interpreter_dump(command: ShellCommand) -> str | None:
    if command.name.rstrip("0123456789.") not in _INTERPRETERS and command.name not in _INTERPRETERS:
        return None
    code = " ".join(command.argv[1:])
    return f"`{command.name}` printing its environment" if _PRINTED_ENVIRONMENT.search(code) else None


def kubectl_secret_dump(command: ShellCommand) -> str | None:
    """`kubectl get secret … -o yaml|json|jsonpath|go-template` and `edit`: a secret's data, not its name."""
    if command.name != "kubectl":
        return None
    argv = list(command.argv[1:])
    if "view-secret" in argv:
        return "`kubectl view-secret`"
    if "exec" in argv and "--" in argv:
        inner = argv[argv.index("--") + 1 :]
        if inner[:1] in (["env"], ["printenv"]) and len(inner) == 1:
            return "`kubectl exec … -- env`"
    verb = next((word for word in argv if word in ("get", "edit", "describe", "create", "delete", "apply")), "")
    if verb not in ("get", "edit") or not any(_SECRET_RESOURCE.match(word.casefold()) for word in argv[1:]):
        return None
    if verb == "edit":
        return "`kubectl edit secret`"
    for index, word in enumerate(argv):
        output = None
        if word in ("-o", "--output") and index + 1 < len(argv):
            output = argv[index + 1]
        elif word.startswith(("--output=", "-o=")):
            output = word.split("=", 1)[1]
        elif word.startswith("-o") and not word.startswith("--") and len(word) > 2:
            output = word[2:]
        elif word.startswith("--template"):
            return "`kubectl get secret --template`"
        if output is not None and not _NAMES_ONLY_OUTPUT.match(output):
            return f"`kubectl get secret -o {output[:40]}`"
    return None


def metadata_only_paths(analysis: CallAnalysis) -> set[str]:
    """Paths the call names only to list, stat, create or generate: their contents are never read."""
    listed: set[str] = set()
    read: set[str] = set()
    for command in analysis.shell.commands:
        target = listed if command.name in _METADATA_COMMANDS else read
        outputs = _OUTPUT_OPTIONS.get(command.name, frozenset())
        previous = ""
        for word in command.argv[1:]:
            option, equals, inline = word.partition("=")
            if previous in outputs or (equals and option in outputs):
                listed.add(normalise_path(inline if equals and option in outputs else word))
            elif word.startswith("-") and equals:
                target.add(normalise_path(inline))
            elif not word.startswith("-"):
                target.add(normalise_path(word))
            previous = word
        read.update(normalise_path(word) for _, word in command.redirects)
    for value in analysis.values(payload=False):
        if value.key in PATH_KEYS and not value.is_key and not metadata_tool(analysis):
            read.add(normalise_path(value.raw))
    return listed - read


# A store tool named for these hands out secret values, whatever else its name says.
_VALUE_WORDS = frozenset({"value", "values", "password", "passwords", "reveal", "decrypt", "decrypted", "plaintext",
                          "get", "unseal"})  # fmt: skip


def names_only_store_tool(analysis: CallAnalysis) -> bool:
    """A key store tool that lists what is stored (`list_keys`), never a value: no command, no value word."""
    words = _name_words(analysis.call.tool_name)
    return metadata_tool(analysis) and not words & _VALUE_WORDS and not analysis.shell.commands


def metadata_tool(analysis: CallAnalysis) -> bool:
    """A file tool that lists a folder or reports a file's metadata, never its content."""
    words = _name_words(analysis.call.tool_name)
    return bool(words & _METADATA_TOOL_WORDS) and not words & _CONTENT_TOOL_WORDS
