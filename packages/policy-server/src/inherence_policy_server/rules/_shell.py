"""Shell text parsed as shell (tree-sitter-bash), down to the simple commands it would run.

What a command line does is not what it looks like: quotes, escapes, `${IFS}`, brace
expansion, variables, globs in command position, `sh -c`/`eval` strings, wrappers such as
`sudo`, `env`, `xargs` or `timeout`, inline interpreter code and heredocs fed to an
interpreter all hide the program that runs. `parse_shell` undoes them and returns every
simple command with its real program name first; inline code becomes the commands it
amounts to (`_inline_code`). What it cannot read it reports in `problems` (the rules deny
on them), and still returns what it could read so that rules can say why.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shlex

import tree_sitter
import tree_sitter_bash
from tree_sitter import Node

from inherence_policy_server.rules._inline_code import read_code
from inherence_policy_server.rules._shell_programs import (
    INTERPRETERS,
    glob_candidates,
    program_name,
    unwrap,
)
from inherence_policy_server.rules._shell_words import (
    BRACE_CLOSE,
    BRACE_OPEN,
    Substitution,
    Word,
    WordReader,
    decode_escapes,
)

__all__ = ["INTERPRETERS", "ShellCommand", "ShellScript", "fed_text", "parse_shell"]

MAX_SCRIPT_CHARS = 64 * 1024
MAX_NESTING = 4
MAX_COMMANDS = 2_000

_LANGUAGE = tree_sitter.Language(tree_sitter_bash.language())
# `{rm,-rf,~}` where a command starts: a brace group needs a space after `{`, so this is brace expansion.
_COMMAND_BRACES = re.compile(r"(?<![^\s;&|(!])\{([^\s{}]*,[^\s{}]*)\}")
# Substitutions that only look something up: `$(which python3)`, `$(git rev-parse --show-toplevel)`.
_LOOKUPS = frozenset(
    {"which", "command", "type", "dirname", "basename", "pwd", "realpath", "readlink", "git", "brew", "npm", "yarn",
     "pnpm", "go", "pyenv", "rbenv", "nodenv", "xcrun", "uname", "whoami", "id", "hostname", "date", "nproc",
     "mktemp", "printenv", "getconf", "arch", "rustc", "python", "python3", "node", "poetry", "uv"}
)  # fmt: skip
_ECHOES = frozenset({"echo", "printf", "print"})


# Wrappers that matter by themselves as well as by what they run.
_WRAPPERS_SEEN_THEMSELVES = frozenset({"chroot"})


@dataclasses.dataclass(frozen=True)
class ShellCommand:
    """One simple command: `argv[0]` is the program's folded base name; `via` the wrappers around it."""

    argv: tuple[str, ...]
    redirects: tuple[tuple[str, str], ...] = ()
    via: tuple[str, ...] = ()
    # The program that runs this command on another machine or in a container (`ssh`, `kubectl`), or here
    # with secrets fetched into its environment (`railway`); empty when it runs here as written.
    elsewhere: str = ""

    @property
    def name(self) -> str:
        return self.argv[0] if self.argv else ""


@dataclasses.dataclass
class ShellScript:
    commands: list[ShellCommand] = dataclasses.field(default_factory=list)
    pipelines: list[list[ShellCommand]] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    dynamic: list[str] = dataclasses.field(default_factory=list)
    # `alias name=value` definitions read so far: a later command named `name` runs `value` instead.
    aliases: dict[str, str] = dataclasses.field(default_factory=dict)
    # Names of the variables the script sets anywhere (`A=1`, `export A=1`, `env A=1 cmd`).
    assigned: set[str] = dataclasses.field(default_factory=set)


def parse_shell(text: str) -> ShellScript:
    """Every simple command in `text`, with wrappers, nested shell strings and inline code unwrapped."""
    script = ShellScript()
    read_shell(script, text, depth=0, variables={}, computed=set())
    return script


def read_shell(
    script: ShellScript, text: str, depth: int, variables: dict[str, str], computed: set[str], elsewhere: str = ""
) -> None:
    """Parse `text` into `script`; `variables` are those assigned so far, `computed` the ones only known when run.

    `elsewhere` names the program that runs `text` somewhere else (`ShellCommand.elsewhere`).
    """
    if depth > MAX_NESTING:
        script.problems.append("shell strings nested too deeply")
        return
    if len(text) > MAX_SCRIPT_CHARS:
        script.problems.append(f"a command of more than {MAX_SCRIPT_CHARS} characters")
        text = text[:MAX_SCRIPT_CHARS]
    prepared = _COMMAND_BRACES.sub(lambda match: BRACE_OPEN + match.group(1) + BRACE_CLOSE, text)
    tree = tree_sitter.Parser(_LANGUAGE).parse(prepared.encode("utf-8", "surrogatepass"))
    if tree.root_node.has_error:
        script.problems.append(f"shell that does not parse ({_first_error(tree.root_node)})")
    _Walker(script, depth, variables, computed, elsewhere).visit(tree.root_node, None, ())


def _first_error(node: Node) -> str:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_missing:
            return f"{current.type!r} missing at character {current.start_byte}"
        if current.is_error:
            return f"unexpected {_text(current)[:24]!r} at character {current.start_byte}"
        stack.extend(reversed([child for child in current.children if child.has_error or child.is_missing]))
    return "an error"


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


class _Walker:
    def __init__(
        self, script: ShellScript, depth: int, variables: dict[str, str], computed: set[str], elsewhere: str = ""
    ) -> None:
        self.script = script
        self.depth = depth
        self.elsewhere = elsewhere
        self.variables = variables
        self.computed = computed
        self.reader = WordReader(variables, computed, self._substitute)

    def visit(self, node: Node, sink: list[ShellCommand] | None, redirects: tuple[tuple[str, str], ...]) -> None:
        if len(self.script.commands) > MAX_COMMANDS:
            if "too many commands" not in self.script.problems:
                self.script.problems.append("too many commands")
            return
        kind = node.type
        if kind == "command":
            self._command(node, sink, redirects, stdin=None)
        elif kind == "pipeline":
            self._pipeline([child for child in node.children if child.is_named], sink, redirects)
        elif kind == "redirected_statement":
            self._redirected(node, sink, redirects)
        elif kind == "variable_assignment":
            self._assign(node)
        elif kind == "declaration_command":
            for child in node.children:
                if child.type == "variable_assignment":
                    self._assign(child)
            # `declare -x`, `export -p`, `typeset`: as commands they print variables, secrets among them.
            words = tuple(_text(child) for child in node.children)
            if words:
                declaration = ShellCommand(words, redirects, elsewhere=self.elsewhere)
                self.script.commands.append(declaration)
                if sink is not None:
                    sink.append(declaration)
        elif kind == "unset_command":
            for child in node.children[1:]:
                self.variables.pop(_text(child), None)
        elif kind == "for_statement":
            variable = node.child_by_field_name("variable")
            if variable is not None:
                self.variables.pop(_text(variable), None)
            for child in node.children:
                if child.type in ("do_group", "compound_statement"):
                    self.visit(child, sink, redirects)
                elif child.is_named and child != variable:
                    self.reader.read(child)  # the loop's words run their substitutions
        elif kind in ("comment", "heredoc_body", "heredoc_start", "heredoc_end", "variable_name", "word"):
            return
        else:
            for child in node.children:
                self.visit(child, sink, redirects)

    def _assign(self, node: Node) -> None:
        name_node = node.child_by_field_name("name")
        value_node = node.child_by_field_name("value")
        if name_node is None:
            return
        name = _text(name_node)
        self.script.assigned.add(name)
        if value_node is None:
            self.variables[name] = ""
            self.computed.discard(name)
            return
        words = self.reader.read(value_node)
        self.variables[name] = " ".join(word.text for word in words)
        if any(word.dynamic for word in words):
            self.computed.add(name)
        else:
            self.computed.discard(name)

    def _substitute(self, node: Node) -> Substitution:
        inner = ShellScript(aliases=self.script.aliases)
        walker = _Walker(inner, self.depth, self.variables, self.computed, self.elsewhere)
        for child in node.children:
            walker.visit(child, None, ())
        self._merge(inner)
        commands = inner.commands
        if node.type == "command_substitution" and len(commands) == 1 and commands[0].name in ("echo", "printf"):
            words = [word for word in commands[0].argv[1:] if word not in ("-n", "-e")]
            if not any("$" in word or "`" in word for word in words):
                return Substitution(_printed(commands[0], words))
        lookup = bool(commands) and all(command.name in _LOOKUPS for command in commands)
        return Substitution(None, lookup=lookup and not inner.problems)

    def _merge(self, inner: ShellScript) -> None:
        self.script.commands.extend(inner.commands)
        self.script.pipelines.extend(inner.pipelines)
        self.script.problems.extend(inner.problems)
        self.script.dynamic.extend(inner.dynamic)
        self.script.assigned.update(inner.assigned)

    def _redirected(self, node: Node, sink: list[ShellCommand] | None, outer: tuple[tuple[str, str], ...]) -> None:
        redirects = list(outer)
        stdin: str | None = None
        continuations: list[Node] = []
        for child in node.children:
            if child.type in ("file_redirect", "herestring_redirect"):
                redirects.append(self._redirect(child))
            elif child.type == "heredoc_redirect":
                stdin = _heredoc_body(child)
                redirects.append(("<<", stdin))
                for part in child.children:
                    if part.type == "file_redirect":
                        redirects.append(self._redirect(part))
                    elif part.is_named and part.type not in ("heredoc_start", "heredoc_body", "heredoc_end"):
                        continuations.append(part)
        body = node.child_by_field_name("body")
        herestring = next((value for op, value in redirects if op == "<<<"), None)
        pipe = next((part for part in continuations if part.type == "pipeline"), None)
        stages: list[ShellCommand] = []
        if body is not None and body.type == "command":
            self._command(body, stages, tuple(redirects), stdin if stdin is not None else herestring)
        elif body is not None:
            self.visit(body, stages, tuple(redirects))
        if sink is not None:
            sink.extend(stages)
        if pipe is not None:
            self._pipeline([child for child in pipe.children if child.is_named], None, (), first=stages)
        for part in continuations:
            if part is not pipe:
                self.visit(part, None, ())

    def _redirect(self, node: Node) -> tuple[str, str]:
        operator = next((_text(child) for child in node.children if not child.is_named), ">")
        targets = [child for child in node.children if child.is_named and child.type != "file_descriptor"]
        return operator, self.reader.read_text(targets[-1]) if targets else ""

    def _pipeline(
        self,
        parts: list[Node],
        sink: list[ShellCommand] | None,
        redirects: tuple[tuple[str, str], ...],
        first: list[ShellCommand] | None = None,
    ) -> None:
        stages: list[list[ShellCommand]] = [first] if first else []
        for part in parts:
            stage: list[ShellCommand] = []
            self.visit(part, stage, redirects)
            stages.append(stage)
        flat = [stage[-1] if stage else ShellCommand(()) for stage in stages]
        self.script.pipelines.append([command for command in flat if command.argv])
        # `(echo FLUSHALL; sleep 1) | nc ...`: every command of a group writes into the pipe, not only the last.
        for index, stage in enumerate(stages[:-1]):
            if flat[index + 1].argv:
                self.script.pipelines.extend([command, flat[index + 1]] for command in stage[:-1] if command.argv)
        if sink is not None:
            sink.extend(command for stage in stages for command in stage)
        for earlier, later in itertools.pairwise(flat):
            language = unwrap(list(later.argv)).stdin_language if later.argv else None
            fed = fed_text(earlier)
            if language is not None and fed is not None:
                self._run(language, fed, later.argv[0])

    def _command(
        self,
        node: Node,
        sink: list[ShellCommand] | None,
        outer: tuple[tuple[str, str], ...],
        stdin: str | None,
    ) -> None:
        words: list[Word] = []
        redirects = list(outer)
        name_dynamic = False
        for child in node.children:
            if child.type == "variable_assignment":
                self._assign(child)
            elif child.type in ("file_redirect", "herestring_redirect"):
                redirect = self._redirect(child)
                redirects.append(redirect)
                if redirect[0] == "<<<" and stdin is None:
                    stdin = redirect[1]
            elif child.type == "command_name":
                self.reader.lookup_only = True
                read = [word for part in child.children for word in self.reader.read(part)]
                name_dynamic = any(word.dynamic for word in read)
                words.extend(read)
            elif child.is_named:
                words.extend(self.reader.read(child))
        if words:
            self._add(words, tuple(redirects), stdin, sink, name_dynamic)

    def _add(
        self,
        words: list[Word],
        redirects: tuple[tuple[str, str], ...],
        stdin: str | None,
        sink: list[ShellCommand] | None,
        name_dynamic: bool = False,
    ) -> None:
        head = words[0]
        if not name_dynamic and not head.glob and head.text in self.script.aliases:
            self._expand_alias(head.text, [word.text for word in words[1:]], stdin, sink)
            return
        if name_dynamic:
            self.script.problems.append(f"a program named only when the command runs ({head.text[:60]})")
            self.script.dynamic.append(head.text[:200])
        if head.glob:
            candidates = glob_candidates(head.text)
            if candidates:
                self.script.problems.append(f"a glob in command position that could run {', '.join(candidates[:5])}")
                for candidate in candidates[:8]:
                    self._emit([candidate, *(word.text for word in words[1:])], redirects, stdin, None)
                return
        self._emit([word.text for word in words], redirects, stdin, sink)

    def _expand_alias(
        self, name: str, arguments: list[str], stdin: str | None, sink: list[ShellCommand] | None
    ) -> None:
        """`tidy /` after `alias tidy='rm -rf'`: the alias's text, then the arguments, read as shell again.

        Its last command is the one a pipe or a heredoc feeds (`alias py=python3; echo code | py`).
        """
        value = self.script.aliases.pop(name)  # an alias is not expanded inside its own text
        before = len(self.script.commands)
        try:
            read_shell(
                self.script,
                f"{value} {shlex.join(arguments)}",
                self.depth + 1,
                self.variables,
                self.computed,
                self.elsewhere,
            )
        finally:
            self.script.aliases[name] = value
        last = self.script.commands[-1] if len(self.script.commands) > before else None
        if last is None:
            return
        if sink is not None:
            sink.append(last)
        language = unwrap(list(last.argv)).stdin_language
        if stdin is not None and language is not None:
            self._run(language, stdin, last.name)

    def _define_aliases(self, argv: list[str]) -> None:
        name = program_name(argv[0])
        for word in argv[1:]:
            if name == "unalias":
                self.script.aliases.pop(word, None)
            elif "=" in word and not word.startswith(("-", "=")) and len(self.script.aliases) < 256:
                alias, _, value = word.partition("=")
                self.script.aliases[alias] = value

    def _emit(
        self,
        argv: list[str],
        redirects: tuple[tuple[str, str], ...],
        stdin: str | None,
        sink: list[ShellCommand] | None,
        via: tuple[str, ...] = (),
    ) -> None:
        unwrapped = unwrap(argv)
        via = via + tuple(unwrapped.via)
        self.script.problems.extend(unwrapped.problems)
        self.script.assigned.update(unwrapped.assigned)
        here = unwrapped.injected or self.elsewhere
        for language, code in unwrapped.runs:
            runner = unwrapped.argv[0] if unwrapped.argv else via[-1] if via else "sh"
            self._run(language, code, runner, unwrapped.remote or here)
        if stdin is not None and unwrapped.stdin_language is not None:
            self._run(unwrapped.stdin_language, stdin, unwrapped.argv[0], here)
        for index, word in enumerate(argv):
            # A wrapper whose own arguments say where the command runs: chroot into a host's root.
            if program_name(word) in _WRAPPERS_SEEN_THEMSELVES:
                own = argv[index : len(argv) - len(unwrapped.argv)] if unwrapped.argv else argv[index:]
                self.script.commands.append(ShellCommand((program_name(word), *own[1:]), redirects))
                break
        if unwrapped.argv and program_name(unwrapped.argv[0]) in ("alias", "unalias"):
            self._define_aliases(unwrapped.argv)
        if unwrapped.argv:
            command = ShellCommand((program_name(unwrapped.argv[0]), *unwrapped.argv[1:]), redirects, via, here)
            self.script.commands.append(command)
            if sink is not None:
                sink.append(command)
        elif via and sink is not None:
            sink.append(ShellCommand(("sh", "-c"), redirects, via))

    def _run(self, language: str, code: str, runner: str, elsewhere: str | None = None) -> None:
        """Read code that `runner` runs: shell recursively, other languages as the commands they amount to."""
        where = self.elsewhere if elsewhere is None else elsewhere
        if language == "crontab":
            language, code = "shell", cron_commands(code)
        if language == "shell":
            read_shell(self.script, code, self.depth + 1, self.variables, self.computed, where)
            return
        if self.depth >= MAX_NESTING:
            self.script.problems.append("inline code nested too deeply")
            return
        reading = read_code(language, code)
        self.script.problems.extend(reading.problems)
        self.script.dynamic.extend(reading.dynamic)
        for text in reading.shell:
            read_shell(self.script, text, self.depth + 1, self.variables, self.computed, where)
        via = (program_name(runner),)
        outer, self.elsewhere = self.elsewhere, where
        try:
            for argv in reading.argvs:
                if argv:
                    self._emit(list(argv), (), None, None, via)
        finally:
            self.elsewhere = outer


def _printed(command: ShellCommand, words: list[str]) -> str:
    """What `echo` or `printf` prints, escapes decoded where the program decodes them."""
    if command.name == "printf":
        return _printf(words[0], words[1:]) if words else ""
    text = " ".join(words)
    return decode_escapes(text) if "-e" in command.argv[1:] else text


def _printf(template: str, arguments: list[str]) -> str:
    """`printf` with `%s` (and `%b`) directives filled in turn, the template repeated while arguments remain."""
    pieces = re.split(r"%[sb]", template.replace("%%", "\0"))
    if any("%" in piece for piece in pieces):
        return " ".join(arguments)  # other directives: the arguments are what matters
    out: list[str] = []
    remaining = list(arguments)
    for _ in range(64):
        for index, piece in enumerate(pieces):
            out.append(decode_escapes(piece).replace("\0", "%"))
            if index < len(pieces) - 1:
                out.append(remaining.pop(0) if remaining else "")
        if not remaining or len(pieces) == 1:
            break
    return "".join(out)


def _heredoc_body(node: Node) -> str:
    body = next((child for child in node.children if child.type == "heredoc_body"), None)
    text = _text(body) if body is not None else ""
    if any(child.type == "<<-" for child in node.children):
        text = "\n".join(line.lstrip("\t") for line in text.split("\n"))
    return text


_CRON_SCHEDULE = re.compile(r"^\s*(?:@\w+|(?:\S+\s+){4}\S+)\s+(?P<command>.+)$")


def cron_commands(table: str) -> str:
    """The commands of a crontab, one a line, without their schedules, settings and comments."""
    commands = []
    for line in table.splitlines():
        if not line.strip() or line.lstrip().startswith("#") or re.match(r"^\s*\w+\s*=", line):
            continue
        match = _CRON_SCHEDULE.match(line)
        commands.append(match.group("command") if match else line)
    return "\n".join(commands)


def fed_text(command: ShellCommand) -> str | None:
    """What a pipeline stage writes that is known now: an echo's words, a heredoc or herestring through cat."""
    if command.name in _ECHOES:
        words = list(command.argv[1:])
        while words and words[0] in ("-n", "-e", "-E", "-ne", "-en", "--"):
            words = words[1:]
        if command.name == "printf" and words:
            return _printf(words[0], words[1:])
        return " ".join(words)
    if command.name == "cat" and len(command.argv) == 1:
        for operator, value in command.redirects:
            if operator in ("<<", "<<-", "<<<"):
                return value
    return None
