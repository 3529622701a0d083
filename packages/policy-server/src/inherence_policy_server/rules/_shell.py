"""Shell text parsed as shell (bashlex), down to the simple commands it would run.

What a command line does is not what it looks like: quotes, escapes, `${IFS}`, brace
expansion, variables, `sh -c`/`eval` strings and wrappers such as `sudo`, `env`, `xargs`
or `busybox` all hide the program that runs. `parse_shell` undoes them and returns every
simple command with its real program name first. What it cannot parse it reports in
`problems`, and still returns a best-effort split so that rules can say why.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import shlex
from typing import Any

import bashlex  # type: ignore[import-untyped]

__all__ = ["INTERPRETERS", "ShellCommand", "ShellScript", "parse_shell"]

MAX_SCRIPT_CHARS = 16_384
MAX_NESTING = 4
MAX_BRACE_WORDS = 64

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "mksh", "busybox-sh"})
INTERPRETERS = SHELLS | {"python", "python3", "perl", "ruby", "node", "php", "pwsh", "powershell"}
# Wrappers run their argument as a command; the value is how many leading option words take a value.
_WRAPPER_OPTIONS_WITH_VALUE: dict[str, frozenset[str]] = {
    "sudo": frozenset({"-u", "-g", "-h", "-p", "-c", "-C", "-D", "-r", "-t", "-U", "--user", "--group"}),
    "doas": frozenset({"-u", "-C"}),
    "env": frozenset({"-u", "-C", "--unset", "--chdir"}),
    "xargs": frozenset({"-n", "-P", "-L", "-I", "-d", "-E", "-s", "-a", "--max-args", "--max-procs"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-t"}),
    "timeout": frozenset({"-s", "-k", "--signal", "--kill-after"}),
    "stdbuf": frozenset({"-i", "-o", "-e"}),
    "busybox": frozenset(),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "nohup": frozenset(),
    "time": frozenset(),
    "setsid": frozenset(),
    "chrt": frozenset(),
    "caffeinate": frozenset(),
    "unbuffer": frozenset(),
}
_WRAPPERS_WITH_POSITIONAL = {"timeout": 1, "chrt": 1}
_RESERVED_WORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "(", ")"}
)
_ANSI_C = re.compile(r"\$'((?:[^'\\]|\\.)*)'")
_IFS = re.compile(r"\$\{IFS[^}]*\}|\$IFS\b")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
_BRACE = re.compile(r"\{([^{}]*,[^{}]*)\}")


@dataclasses.dataclass(frozen=True)
class ShellCommand:
    """One simple command: `argv[0]` is the program's folded base name; `via` the wrappers around it."""

    argv: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.argv[0] if self.argv else ""


@dataclasses.dataclass
class ShellScript:
    commands: list[ShellCommand] = dataclasses.field(default_factory=list)
    pipelines: list[list[ShellCommand]] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    dynamic: list[str] = dataclasses.field(default_factory=list)


def parse_shell(text: str) -> ShellScript:
    """Every simple command in `text`, with wrappers and nested shell strings unwrapped."""
    script = ShellScript()
    _parse_into(script, text, depth=0, variables={})
    return script


def _decode_ansi_c(match: re.Match[str]) -> str:
    body = match.group(1)
    try:
        decoded = body.encode("latin-1", "backslashreplace").decode("unicode_escape")
    except UnicodeDecodeError:
        decoded = body
    return shlex.quote(decoded)


def _parse_into(script: ShellScript, text: str, depth: int, variables: dict[str, str]) -> None:
    if depth > MAX_NESTING:
        script.problems.append("shell strings nested too deeply")
        return
    if len(text) > MAX_SCRIPT_CHARS:
        script.problems.append(f"a command of more than {MAX_SCRIPT_CHARS} characters")
        text = text[:MAX_SCRIPT_CHARS]
    prepared = _IFS.sub(" ", _ANSI_C.sub(_decode_ansi_c, text))
    try:
        trees = bashlex.parse(prepared)
    except Exception as error:  # bashlex raises its own errors and also plain ones on odd input
        script.problems.append(f"shell that does not parse ({type(error).__name__})")
        _fallback_split(script, prepared, depth, variables)
        return
    for tree in trees:
        _visit(script, tree, depth, variables, pipeline=None)


def _fallback_split(script: ShellScript, text: str, depth: int, variables: dict[str, str]) -> None:
    for piece in re.split(r"[;&|\n]+", text):
        try:
            words = shlex.split(piece)
        except ValueError:
            words = piece.split()
        while words and words[0] in _RESERVED_WORDS:
            words = words[1:]
        if words:
            _add_command(script, words, (), depth, variables, pipeline=None)


def _visit(
    script: ShellScript, node: Any, depth: int, variables: dict[str, str], pipeline: list[ShellCommand] | None
) -> None:
    kind = getattr(node, "kind", "")
    if kind == "pipeline":
        stages: list[ShellCommand] = []
        for part in node.parts:
            _visit(script, part, depth, variables, pipeline=stages)
        script.pipelines.append(stages)
        return
    if kind == "command":
        _visit_command(script, node, depth, variables, pipeline)
        return
    for attribute in ("parts", "list"):
        for child in getattr(node, attribute, None) or ():
            _visit(script, child, depth, variables, pipeline)
    inner = getattr(node, "command", None)
    if inner is not None and not isinstance(inner, str):
        _visit(script, inner, depth, variables, None)


def _visit_command(
    script: ShellScript, node: Any, depth: int, variables: dict[str, str], pipeline: list[ShellCommand] | None
) -> None:
    words: list[str] = []
    redirects: list[tuple[str, str]] = []
    for part in node.parts:
        if part.kind == "assignment":
            name, _, value = part.word.partition("=")
            variables[name] = _clean_word(value)
        elif part.kind == "word":
            for sub in getattr(part, "parts", None) or ():
                if sub.kind in ("commandsubstitution", "processsubstitution"):
                    script.dynamic.append(part.word)
                    _visit(script, sub.command, depth, variables, None)
            words.extend(_expand_word(part.word, variables))
        elif part.kind == "redirect":
            target = part.output
            if getattr(part, "heredoc", None) is not None:
                redirects.append(("<<", part.heredoc.value))
            elif hasattr(target, "word"):
                redirects.append((str(part.type), _clean_word(target.word)))
    if words:
        _add_command(script, words, tuple(redirects), depth, variables, pipeline)


def _clean_word(word: str) -> str:
    # bashlex leaves quotes inside a word that joins quoted pieces (r''m); the shell would not.
    return word.replace("'", "").replace('"', "")


def _expand_word(word: str, variables: dict[str, str]) -> list[str]:
    text = _clean_word(word)
    if "$" in text and variables:
        substituted = _VARIABLE.sub(lambda match: variables.get(match.group(1), match.group(0)), text)
        if substituted != text:
            # An unquoted variable splits on spaces when the shell expands it.
            return substituted.split()[:MAX_BRACE_WORDS]
    words = [text]
    while any(_BRACE.search(item) for item in words) and len(words) < MAX_BRACE_WORDS:
        expanded: list[str] = []
        for item in words:
            match = _BRACE.search(item)
            if match is None:
                expanded.append(item)
                continue
            head, tail = item[: match.start()], item[match.end() :]
            expanded.extend(head + choice + tail for choice in match.group(1).split(","))
        words = expanded
    return words[:MAX_BRACE_WORDS]


def _add_command(
    script: ShellScript,
    words: list[str],
    redirects: tuple[tuple[str, str], ...],
    depth: int,
    variables: dict[str, str],
    pipeline: list[ShellCommand] | None,
) -> None:
    via: list[str] = []
    argv = list(words)
    while argv:
        name = _program_name(argv[0])
        if "=" in argv[0] and not argv[0].startswith("-") and name not in _WRAPPER_OPTIONS_WITH_VALUE:
            argv = argv[1:]
            continue
        if name == "eval":
            _parse_into(script, " ".join(argv[1:]), depth + 1, variables)
            via.append(name)
            argv = []
            break
        if name in SHELLS and "-c" in argv[1:]:
            position = argv.index("-c", 1)
            if position + 1 < len(argv):
                _parse_into(script, argv[position + 1], depth + 1, variables)
            via.append(name)
            argv = []
            break
        if name in ("su", "runuser") and "-c" in argv[1:]:
            position = argv.index("-c", 1)
            if position + 1 < len(argv):
                _parse_into(script, argv[position + 1], depth + 1, variables)
            argv = []
            break
        if name == "env" and "-S" in argv[1:]:
            position = argv.index("-S", 1)
            argv = argv[position + 1 : position + 2] and argv[position + 1].split() + argv[position + 2 :]
            via.append(name)
            continue
        if name not in _WRAPPER_OPTIONS_WITH_VALUE:
            break
        rest = _skip_wrapper(name, argv[1:])
        if not rest:
            break  # a bare `env` or `time` is a command of its own
        via.append(name)
        argv = rest
    if argv:
        command = ShellCommand((_program_name(argv[0]), *argv[1:]), redirects, tuple(via))
        script.commands.append(command)
        if pipeline is not None:
            pipeline.append(command)
    elif via and pipeline is not None:
        pipeline.append(ShellCommand(("sh", "-c"), redirects, tuple(via)))


def _skip_wrapper(name: str, rest: list[str]) -> list[str]:
    takes_value = _WRAPPER_OPTIONS_WITH_VALUE[name]
    index = 0
    while index < len(rest):
        word = rest[index]
        if word == "--":
            index += 1
            break
        if name == "env" and "=" in word and not word.startswith("-"):
            index += 1
            continue
        if not word.startswith("-") or word == "-":
            break
        index += 2 if word in takes_value else 1
    index += _WRAPPERS_WITH_POSITIONAL.get(name, 0)
    return rest[index:]


def _program_name(word: str) -> str:
    return posixpath.basename(word.lstrip("\\")).casefold()
