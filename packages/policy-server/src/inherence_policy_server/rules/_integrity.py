"""Gate integrity: the agent a gate guards must not be able to switch the gate off.

Any call that would write, move, delete or change the mode of the proxy's own files (its
config, its rules, the policy's data, its classifications), of a client config that the proxy
wrapped, or of the proxy's executable is denied, whatever the tool: a filesystem tool, a shell,
git, an editor. So are commands that uninstall the proxy, undo its wrapping, or answer its own
confirmations (`inherence-proxy approve`). Reading those files is another rule's business
(`credential_access` keeps the API key in config.json out of reach).

The rule has no confirm mode: a human who wants to change these files does it by hand.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import re
from collections.abc import Sequence

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._api_endpoints import call_http_requests
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._paths import normalise_path
from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["RULE", "evaluate", "protected_match"]

RULE = "gate_integrity"

# Programs that only read the files they are given; any other program naming a protected path may change it.
_READING_PROGRAMS = frozenset(
    {"cat", "less", "more", "head", "tail", "grep", "egrep", "fgrep", "rg", "ag", "ls", "stat", "file", "wc", "diff",
     "cmp", "jq", "yq", "bat", "md5sum", "sha1sum", "sha256sum", "shasum", "b2sum", "readlink", "realpath", "du",
     "tree", "test", "[", "echo", "printf", "view", "nl", "od", "xxd", "hexdump", "strings", "sort", "uniq",
     "basename", "dirname", "which", "type", "whereis"}
)  # fmt: skip
# Programs whose last operand is written and whose other operands are only read.
_COPYING_PROGRAMS = frozenset({"cp", "rsync", "scp", "install", "ditto"})
_OPTION_WITH_VALUE = re.compile(r"^-[a-z]$")
_WRITE_WORDS = frozenset(
    {"write", "edit", "create", "update", "delete", "remove", "rm", "move", "mv", "rename", "copy", "save", "put",
     "patch", "append", "replace", "chmod", "chown", "set", "modify", "overwrite", "truncate", "upload", "insert",
     "apply", "restore", "unlink", "touch", "mkdir", "rmdir", "symlink", "link"}
)  # fmt: skip
_WRITING_CATEGORIES = frozenset({Category.FILE_WRITE, Category.FILE_DELETE})
_PROXY_PROGRAMS = frozenset({"inherence-proxy", "inherence-policy-server"})
# Subcommands that change what the gate enforces, or undo the wrapping of a client.
_PROXY_SUBCOMMANDS = frozenset(
    {"approve", "decline", "restore", "uninstall", "init", "rules", "keys", "key", "db", "config", "reap"}
)
_PACKAGE_MANAGERS = {
    "uv": ("tool", "uninstall"),
    "pip": ("uninstall",),
    "pip3": ("uninstall",),
    "pipx": ("uninstall",),
    "brew": ("uninstall",),
}
_PROXY_DISTRIBUTIONS = frozenset({"inherence-proxy", "inherence_proxy", "inherence-policy-server"})


def protected_match(path: str, patterns: tuple[str, ...]) -> str | None:
    """The protected pattern `path` (already normalised) falls under, or None.

    A pattern protects the file it names and everything under it. A path that is itself a glob
    (`~/.inherence-*/rules.toml`) is protected when it could name a protected file.
    """
    if not path:
        return None
    globbing = any(char in path for char in "*?[")
    for pattern in patterns:
        if fnmatch.fnmatchcase(path, pattern) or fnmatch.fnmatchcase(path, pattern.rstrip("/") + "/*"):
            return pattern
        if globbing and not any(char in pattern for char in "*?[") and _glob_could_name(path, pattern):
            return pattern
    return None


def _glob_could_name(glob: str, concrete: str) -> bool:
    # `rm -rf ~/.inh*` names the folder; `rm ~/.inherence-proxy/*.toml` names a file in it. A shell glob
    # never crosses a `/`, and a relative one (`*.toml`) names files of the working folder only.
    if not glob.startswith(("/", "~")):
        return False
    return any(_components_match(glob, concrete + suffix) for suffix in ("", "/config.json", "/rules.toml", "/policy"))


def _components_match(glob: str, path: str) -> bool:
    parts, names = glob.split("/"), path.split("/")
    if len(parts) != len(names):
        return False
    return all(fnmatch.fnmatchcase(name, part) for part, name in zip(parts, names, strict=True))


def _patterns(config: RulesConfig) -> tuple[str, ...]:
    section = config.gate_integrity
    return _normalised(section.protected_paths + section.runtime_paths)


@functools.lru_cache(maxsize=8)
def _normalised(raw: tuple[str, ...]) -> tuple[str, ...]:
    # Once per rules config, not once per call: normalising a path costs a few regular expressions.
    return tuple(normalise_path(path) for path in raw)


# Code that writes, moves or deletes files: `open(p, 'w')`, `json.dump`, `writeFileSync`, `os.replace`, `unlink`.
_CODE_WRITES = re.compile(
    r"""open\([^)]*['"][wax+]|\.write|dump\(|writeFile|appendFile|\breplace\(|\brename|\bunlink|\bremove\(|rmtree"""
    r"""|rmSync|\bchmod|\bsymlink|copyfile|\bmove\(|File\.write|IO\.write|spurt|>\s*['"$~/]"""
)
_GIT_WRITING = frozenset({"checkout", "restore", "reset", "stash", "apply", "am", "merge", "pull", "rebase",
                          "cherry-pick", "revert", "mv", "rm", "clean", "switch", "clone"})  # fmt: skip
# A path inside a longer word: interpreter code (`open(os.path.expanduser('~/.cursor/mcp.json'), 'w')`).
_EMBEDDED_PATH = re.compile(r"""(?:~|\$HOME|\$\{HOME\}|/)[^\s'"`;|&()<>,]*""")


def _written_by_command(command: ShellCommand) -> list[str]:
    """The words of one simple command that name something it may change."""
    written = [target for operator, target in command.redirects if operator not in ("<", "<<", "<<<", "<&")]
    name = command.name
    operands = [word for word in command.argv[1:] if not word.startswith("-")]
    if name in _READING_PROGRAMS:
        return written
    if name in _COPYING_PROGRAMS and operands:
        return [*written, operands[-1]]
    words = [word.split("=", 1)[1] if word.startswith("-") and "=" in word else word for word in command.argv[1:]]
    embedded = [
        path for word in words if " " in word and _CODE_WRITES.search(word) for path in _EMBEDDED_PATH.findall(word)
    ]
    # `HOME + '/.inherence-proxy/rules.toml'`, `homedir() + "/.cursor/mcp.json"`: a dot folder joined to the home.
    embedded += [f"~{path}" for path in embedded if path.startswith("/.")]
    return [*written, *words, *embedded, *_in_work_tree(command, operands)]


def _in_work_tree(command: ShellCommand, operands: list[str]) -> list[str]:
    """Git's relative paths under `--work-tree=<dir>`: `checkout <rev> -- .inherence-proxy/rules.toml`."""
    if command.name != "git" or not _GIT_WRITING & set(operands):
        return []
    tree = next((word.split("=", 1)[1] for word in command.argv[1:] if word.startswith("--work-tree=")), None)
    if tree is None and "--work-tree" in command.argv[1:-1]:
        tree = command.argv[command.argv.index("--work-tree") + 1]
    if not tree:
        return []
    return [f"{tree.rstrip('/')}/{word}" for word in operands if not word.startswith(("/", "~", "$"))]


def _switch_off_command(command: ShellCommand) -> str | None:
    """Why a command turns the gate off, or None."""
    words = [word.casefold() for word in command.argv]
    name = command.name.rsplit("/", 1)[-1]
    if name in _PROXY_PROGRAMS and not {"--help", "-h"} & set(words):
        verbs = [word for word in words[1:] if not word.startswith("-")]
        if verbs and verbs[0] in _PROXY_SUBCOMMANDS:
            return f"`{name} {verbs[0]}` changes what the gate enforces and is for the user alone"
    steps = _PACKAGE_MANAGERS.get(name)
    if steps is not None:
        verbs = [word for word in words[1:] if not word.startswith("-")]
        if verbs[: len(steps)] == list(steps) and _PROXY_DISTRIBUTIONS & set(verbs[len(steps) :]):
            return f"`{name} {' '.join(steps)}` would remove the gate"
    return _stops_the_gate(name, words)


# Stopping the gate's processes or services: `pkill -f inherence-proxy`, `systemctl stop inherence-policy-server`.
_KILLERS = frozenset({"pkill", "killall", "taskkill", "stop-process", "skill"})
_SERVICE_MANAGERS = {
    "systemctl": frozenset({"stop", "kill", "disable", "mask", "restart"}),
    "service": frozenset({"stop", "restart"}),
    "launchctl": frozenset({"unload", "bootout", "remove", "stop", "kill", "disable"}),
    "docker": frozenset({"stop", "kill", "rm", "pause"}),
    "podman": frozenset({"stop", "kill", "rm", "pause"}),
    "sc": frozenset({"stop", "delete"}),
}


def _names_the_gate(words: Sequence[str]) -> bool:
    return any("inherence" in word for word in words)


def _stops_the_gate(name: str, words: list[str]) -> str | None:
    if name in _KILLERS and _names_the_gate(words[1:]):
        return f"`{name}` would stop the gate's processes"
    verbs = _SERVICE_MANAGERS.get(name)
    if verbs is not None and verbs & set(words[1:]) and _names_the_gate(words[1:]):
        return f"`{name}` would stop the gate's service"
    return None


# The policy's own answers given over its HTTP API: `POST /api/admin/approvals/apr_.../approve`, a rules change.
_ADMIN_CHANGE = re.compile(
    r"/(?:api/admin/)?approvals/apr_[\w-]+/(?:approve|decline)|/api/admin/(?:rules|keys|recipients|tenants)\b",
    re.IGNORECASE,
)


def _answers_itself(analysis: CallAnalysis) -> str | None:
    """A request to the policy's admin API: the agent approving its own question, or changing the rules."""
    for request in call_http_requests(analysis):
        path = request.path.casefold()
        if not _ADMIN_CHANGE.search(path):
            continue
        if "approvals/" not in path and request.method.upper() in ("GET", "HEAD"):
            continue  # reading the rules or keys list changes nothing
        return f"a request to {request.path[:80]} answers the gate's own questions or changes its rules"
    return None


def _kills_the_gate(commands: Sequence[ShellCommand]) -> str | None:
    """`kill $(pgrep -f inherence-proxy)`: the process is found by one command and stopped by another."""
    names = [command.name.rsplit("/", 1)[-1] for command in commands]
    if "kill" in names and any(
        name in ("pgrep", "pidof") and _names_the_gate(command.argv[1:])
        for name, command in zip(names, commands, strict=True)
    ):
        return "`kill` would stop the gate's processes"
    return None


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny changes to the gate's own files, client configs and executable, and commands that switch it off."""
    del ledger, now
    analysis = analysis or CallAnalysis(call)
    candidates: list[str] = []
    if call.category in _WRITING_CATEGORIES or (
        call.category is not Category.FILE_READ and analysis.intent_words & _WRITE_WORDS
    ):
        candidates.extend(analysis.paths)
    commands = analysis.shell.commands
    finding = _answers_itself(analysis) or _kills_the_gate(commands)
    if finding is not None:
        return [
            Finding(RULE, f"{RULE}.switch_off", f"The gate cannot be switched off by the agent it guards: {finding}.")
        ]
    for command in commands:
        reason = _switch_off_command(command)
        if reason is not None:
            return [
                Finding(
                    RULE, f"{RULE}.switch_off", f"The gate cannot be switched off by the agent it guards: {reason}."
                )
            ]
        candidates.extend(normalise_path(word) for word in _written_by_command(command))
    patterns = _patterns(config) if candidates else ()
    for path in dict.fromkeys(candidates):
        pattern = protected_match(path, patterns)
        if pattern is not None:
            return [
                Finding(
                    RULE,
                    f"{RULE}.protected_file",
                    f"{path} belongs to the gate (protected as {pattern}); the agent it guards may not change it.",
                )
            ]
    return []
