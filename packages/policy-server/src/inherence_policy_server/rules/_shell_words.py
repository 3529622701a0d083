"""Shell words as the shell would hand them to a program, read from tree-sitter-bash nodes.

A word is assembled character by character, each character remembering whether it was
quoted: only unquoted braces expand (`{rm,-rf,~}`), only unquoted `*?[` glob, and only an
unquoted expansion splits (`rm${IFS}-rf${IFS}/` is three words). Quotes and backslashes
vanish (`'r'm`, `r\\m` and `"r"m` are all `rm`). Variables assigned earlier in the script
are substituted; a variable nobody assigned keeps its `$NAME` spelling, which the rules
read as "unknown". A command substitution whose text is literal (`$(echo rm)`) is
replaced by that text; any other is kept as written and marks the word `dynamic`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from tree_sitter import Node

__all__ = ["BRACE_CLOSE", "BRACE_OPEN", "MAX_WORDS", "Substitution", "Word", "WordReader", "decode_escapes"]

MAX_WORDS = 64
# Stand-ins for a brace group in command position, which tree-sitter would read as `{ list; }`.
BRACE_OPEN = "\ue000"
BRACE_CLOSE = "\ue001"

_QUOTED, _ACTIVE, _SPLIT = 0, 1, 2  # how a character came to be in the word
_GLOB = frozenset("*?[")
_ANSI_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "e": "\x1b", "f": "\f", "v": "\v"}


@dataclasses.dataclass(frozen=True)
class Word:
    """One word after expansion; `glob` when it holds an unquoted pattern, `dynamic` when only known at run time."""

    text: str
    glob: bool = False
    dynamic: bool = False


@dataclasses.dataclass(frozen=True)
class Substitution:
    """What a `$(...)` stands for: its literal text when known, and whether it only looks something up."""

    text: str | None
    lookup: bool = False


_Chars = list[tuple[str, int]]


class WordReader:
    """Expands word nodes with the script's variables; `substitute` reads (and records) a command substitution."""

    def __init__(
        self, variables: dict[str, str], computed: set[str], substitute: Callable[[Node], Substitution]
    ) -> None:
        self.variables = variables
        self.computed = computed
        self.substitute = substitute
        self.dynamic = False
        self.lookup_only = True

    def read(self, node: Node) -> list[Word]:
        self.dynamic = False
        chars: _Chars = []
        self._collect(node, chars, quoted=False)
        words: list[Word] = []
        for variant in _expand_braces(chars):
            for piece in _split(variant):
                text = "".join(char for char, _ in piece)
                glob = any(char in _GLOB and how != _QUOTED for char, how in piece)
                words.append(Word(text, glob, self.dynamic))
                if len(words) >= MAX_WORDS:
                    return words
        return words

    def read_text(self, node: Node) -> str:
        """The node's words joined by spaces: a redirect target, an assignment's value."""
        return " ".join(word.text for word in self.read(node))

    def _collect(self, node: Node, out: _Chars, quoted: bool) -> None:
        kind = node.type
        text = _text(node)
        if kind == "concatenation":
            for child in node.children:
                self._collect(child, out, quoted)
        elif kind == "raw_string":
            out.extend((char, _QUOTED) for char in _unbrace(text[1:-1]))
        elif kind in ("string", "translated_string"):
            for child in node.children:
                if child.type == "string_content":
                    out.extend((char, _QUOTED) for char in _unescape_double(_text(child)))
                elif child.type != '"' and child.type != '$"':
                    self._collect(child, out, quoted=True)
        elif kind == "ansi_c_string":
            out.extend((char, _QUOTED) for char in _decode_ansi_c(text[2:-1]))
        elif kind in ("simple_expansion", "expansion"):
            self._expansion(node, out, quoted)
        elif kind in ("command_substitution", "process_substitution"):
            found = self.substitute(node)
            if kind == "command_substitution" and found.text is not None:
                out.extend((char, _QUOTED if quoted else _SPLIT) for char in found.text)
            else:
                self.dynamic = self.dynamic or not found.lookup
                self.lookup_only = self.lookup_only and found.lookup
                out.extend((char, _QUOTED) for char in text)
        elif quoted:
            out.extend((char, _QUOTED) for char in _unbrace(text))
        else:
            out.extend(_unquoted(text))

    def _expansion(self, node: Node, out: _Chars, quoted: bool) -> None:
        names = [child for child in node.children if child.type in ("variable_name", "special_variable_name")]
        name = _text(names[0]) if names else ""
        how = _QUOTED if quoted else _SPLIT
        if name == "IFS":
            out.append((" ", how))
            return
        if node.type == "expansion" and len(node.children) == 4 and node.children[1].type == "!":
            # `${!p}`: the variable that `p` names. Known when both assignments are; else only at run time.
            target = self.variables.get(name) if name not in self.computed else None
            if target is not None and target in self.variables and target not in self.computed:
                out.extend((char, how) for char in self.variables[target])
                return
            self.dynamic = True
            self.lookup_only = False
            shown = f"${target}" if target else _text(node)
            out.extend((char, _QUOTED) for char in shown)
            return
        if name in self.variables and len(node.children) <= 4:
            if name in self.computed:
                self.dynamic = True
                self.lookup_only = False
            out.extend((char, how) for char in self.variables[name])
            return
        operator = node.child_by_field_name("operator")
        if name and operator is not None and _text(operator) in (":-", "-", ":=", "="):
            # Unset in the environment, the default is what runs: `${DIR:-/}` is `/`.
            default = [child for child in node.children if child.start_byte > operator.end_byte and child.is_named]
            if default:
                self._collect(default[0], out, quoted)
                return
        out.extend((char, _QUOTED) for char in _text(node))


def _text(node: Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _unbrace(text: str) -> str:
    return text.replace(BRACE_OPEN, "{").replace(BRACE_CLOSE, "}")


def _unquoted(text: str) -> _Chars:
    out: _Chars = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            if text[index + 1] != "\n":
                out.append((_unbrace(text[index + 1]), _QUOTED))
            index += 2
            continue
        out.append((_unbrace(char), _ACTIVE))
        index += 1
    return out


def _unescape_double(text: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '$`"\\\n':
            if text[index + 1] != "\n":
                out.append(text[index + 1])
            index += 2
            continue
        out.append(char)
        index += 1
    return _unbrace("".join(out))


def _decode_ansi_c(body: str) -> str:
    return _unbrace(decode_escapes(body))


def decode_escapes(body: str) -> str:
    """Backslash escapes as `$'...'`, `printf` and `echo -e` read them: `\\x72`, `\\162`, `\\n`."""
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\" or index + 1 >= len(body):
            out.append(char)
            index += 1
            continue
        code = body[index + 1]
        if code in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[code]
            digits = ""
            while len(digits) < width and index + 2 + len(digits) < len(body):
                if body[index + 2 + len(digits)] not in "0123456789abcdefABCDEF":
                    break
                digits += body[index + 2 + len(digits)]
            out.append(chr(int(digits, 16)) if digits and int(digits, 16) < 0x110000 else "\\" + code)
            index += 2 + len(digits)
        elif code in "01234567":
            digits = body[index + 1 : index + 4]
            digits = digits[: len(digits) - len(digits.lstrip("01234567"))] or digits[:1]
            out.append(chr(int(digits, 8)))
            index += 1 + len(digits)
        else:
            out.append(_ANSI_ESCAPES.get(code, code))
            index += 2
    return "".join(out)


def _expand_braces(chars: _Chars) -> list[_Chars]:
    """`a{b,c}d` as `abd acd`, nested groups too, at most `MAX_WORDS` results."""
    pending: list[_Chars] = [chars]
    done: list[_Chars] = []
    while pending and len(done) + len(pending) <= MAX_WORDS:
        current = pending.pop(0)
        group = _brace_group(current)
        if group is None:
            done.append(current)
            continue
        start, commas, end = group
        bounds = [start, *commas, end]
        head, tail = current[:start], current[end + 1 :]
        pending.extend(head + current[bounds[i] + 1 : bounds[i + 1]] + tail for i in range(len(bounds) - 1))
    return (done + pending)[:MAX_WORDS]


def _brace_group(chars: _Chars) -> tuple[int, list[int], int] | None:
    for start, (char, how) in enumerate(chars):
        if char != "{" or how != _ACTIVE:
            continue
        depth = 0
        commas: list[int] = []
        for index in range(start + 1, len(chars)):
            inner, inner_how = chars[index]
            if inner_how != _ACTIVE:
                continue
            if inner == "{":
                depth += 1
            elif inner == "}" and depth:
                depth -= 1
            elif inner == "}":
                if commas:
                    return start, commas, index
                break
            elif inner == "," and not depth:
                commas.append(index)
    return None


def _split(chars: _Chars) -> list[_Chars]:
    pieces: list[_Chars] = [[]]
    for char, how in chars:
        if how == _SPLIT and char in " \t\n":
            if pieces[-1]:
                pieces.append([])
        else:
            pieces[-1].append((char, how))
    return [piece for piece in pieces if piece] or ([[]] if not chars else [])
