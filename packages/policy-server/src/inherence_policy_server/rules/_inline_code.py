"""Inline interpreter code read for what it does to files, processes and the network.

`python -c`, `node -e`, `perl -e`, `ruby -e`, `php -r`, `lua -e` and code fed to an interpreter
on its standard input are tokenised lightly (string literals, names, brackets; nothing is run) and
each call found in `_code_calls.CALLS` becomes a shell command the rules already judge:
`shutil.rmtree(p)` is `rm -rf p`, `requests.post(url)` is `curl -d @- url`, a shell string
given to `os.system` is shell text read again. Values the code only computes when it runs
become `$X`, which the rules read as unknown. Code that decodes data and runs it, or runs
text it builds, cannot be read: it is a problem, and the rules deny on problems. Tcl
(`tclsh`) is read as simple commands: `exec` runs a program, `file delete -force` deletes trees.
"""

from __future__ import annotations

import dataclasses
import re
import shlex

from inherence_policy_server.rules._code_calls import CALLS, CallEntry

__all__ = ["MAX_CODE_CHARS", "CodeReading", "read_code"]

MAX_CODE_CHARS = 32 * 1024
MAX_TOKENS = 20_000
UNKNOWN = "$X"

_STRING = r"""(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>'''|\"\"\"|'|"|`)"""
_SIGILS = {"perl": "$@%&", "php": "$", "ruby": "@$", "javascript": "$"}
_TOKENS = {
    language: re.compile(
        r"(?P<space>[ \t\r\f]+)|(?P<nl>\n)|"
        rf"(?P<name>(?:{f'[{re.escape(sigils)}]?' if sigils else ''}[A-Za-z_][\w$]*{'|[$]' if '$' in sigils else ''})"
        r"(?:(?:\.|::|->)[A-Za-z_$][\w$]*)*)|(?P<num>\d[\w.]*)|(?P<punct>.)",
        re.DOTALL,
    )
    for language, sigils in {**_SIGILS, "python": "", "lua": ""}.items()
}
_QUOTE_START = re.compile(_STRING)
_COMMENTS = {
    "python": ("#",),
    "perl": ("#",),
    "ruby": ("#",),
    "javascript": ("//", "/*"),
    "php": ("//", "/*", "#"),
    "lua": ("--",),
}
# Lua's long brackets: `[[...]]`, `[==[...]==]` strings, and `--[[...]]` comments.
_LUA_LONG = re.compile(r"(--)?\[(=*)\[")
_INTERPOLATION = {
    "python": re.compile(r"\{[^{}]*\}"),
    "javascript": re.compile(r"\$\{[^{}]*\}"),
    "ruby": re.compile(r"#\{[^{}]*\}"),
}
_SHELL_QUOTES = {"perl": "`", "ruby": "`", "php": "`"}
_PERL_QX = re.compile(r"\b(?:qx|%x)\s*([({\[<|/!])")
# Perl's quote-like operators: `qw(rm -rf /srv)` is a list of words, `q(...)` and `qq{...}` strings.
_PERL_QUOTE = re.compile(r"\b(qw|qq|q)\s*([({\[<|/!])")
_CLOSERS = {"(": ")", "{": "}", "[": "]", "<": ">"}
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", "'": "'", '"': '"', "`": "`", "$": "$"}
_HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_SENDING = re.compile(r"\b(?:data|json|body|files|content|POST|PUT|PATCH|CURLOPT_POSTFIELDS)\b")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_WRITE_MODE = re.compile(r"^[+]?[>|]|[wax+]")
_PY_IMPORT_AS = re.compile(r"(?:\bimport|,)\s*([\w.]+)\s+as\s+(\w+)")
_PY_FROM_IMPORT = re.compile(r"\bfrom\s+([\w.]+)\s+import\s+\(?([\w\s,]+)")


@dataclasses.dataclass
class CodeReading:
    """What inline code amounts to: shell text it runs, commands it equals, and what could not be read."""

    shell: list[str] = dataclasses.field(default_factory=list)
    argvs: list[list[str]] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)
    dynamic: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class _Token:
    kind: str  # name, str, num, shell, punct, nl
    text: str
    literal: bool = True


def read_code(language: str, code: str, depth: int = 0) -> CodeReading:
    """The shell commands `code` in `language` amounts to; `powershell` is read as simple shell words."""
    reading = CodeReading()
    if len(code) > MAX_CODE_CHARS:
        reading.problems.append(f"inline {language} code of more than {MAX_CODE_CHARS} characters")
        code = code[:MAX_CODE_CHARS]
    if language == "powershell":
        reading.argvs.extend(_powershell_commands(code))
        return reading
    if language == "tcl":
        reading.argvs.extend(_tcl_commands(code))
        return reading
    tokens = _tokenize(language, code)
    if tokens is None:
        reading.problems.append(f"inline {language} code that cannot be tokenised")
        return reading
    reading.shell.extend(token.text for token in tokens if token.kind == "shell")
    assigned = _assignments(tokens)
    aliases = _python_aliases(code) if language == "python" else _js_aliases(code) if language == "javascript" else {}
    actions: list[str] = []
    for index, token in enumerate(tokens):
        if token.kind != "name":
            continue
        arguments = _arguments(tokens, index)
        if arguments is None:
            continue
        head, dot, rest = token.text.partition(".")
        name = aliases[head] + dot + rest if head in aliases else token.text
        entry = _match(language, name, tokens, index, code)
        if entry is None:
            continue
        actions.append(entry[4])
        _apply(reading, entry, arguments, assigned, _receiver(tokens, index), language, depth)
    if "decode" in actions and any(action in ("eval", "shell", "argv", "indirect") for action in actions):
        reading.problems.append(f"inline {language} code that decodes data and runs it")
        reading.dynamic.append(code[:200])
    return reading


# `const f = require('fs')`, `, h = require("node:https")`, `import * as f from 'fs'`, `import f from "fs/promises"`.
_JS_REQUIRE = re.compile(r"(?<![\w$.])([A-Za-z_$][\w$]*)\s*=\s*require\(\s*['\"`](?:node:)?([\w@./-]+)['\"`]\s*\)")
_JS_IMPORT = re.compile(r"\bimport\s+(?:\*\s+as\s+)?([A-Za-z_$][\w$]*)\s+from\s+['\"](?:node:)?([\w@./-]+)['\"]")


def _js_aliases(code: str) -> dict[str, str]:
    """What each name bound to a module stands for: `f.readFileSync` is `fs.readFileSync`."""
    aliases: dict[str, str] = {}
    for pattern in (_JS_REQUIRE, _JS_IMPORT):
        for alias, module in pattern.findall(code):
            module = module.split("/")[0]
            if alias != module:
                aliases[alias] = module
    return aliases


_PY_MADE_BY = re.compile(r"(?<![\w.])([A-Za-z_]\w*)\s*=\s*(socket|ssl)\.\w+\(")


def _python_aliases(code: str) -> dict[str, str]:
    """`import shutil as s` and `from shutil import rmtree as nuke`: what each alias stands for."""
    aliases = {alias: module for module, alias in _PY_IMPORT_AS.findall(code)}
    # `s = socket.socket()`: the object a module makes is that module's (`s.connect(...)` is a socket's).
    for name, module in _PY_MADE_BY.findall(code):
        aliases.setdefault(name, module)
    for module, names in _PY_FROM_IMPORT.findall(code):
        for part in names.split(","):
            pieces = part.split()
            if len(pieces) >= 3 and pieces[1] == "as":
                aliases[pieces[2]] = f"{module}.{pieces[0]}"
    return aliases


def _tokenize(language: str, code: str) -> list[_Token] | None:
    tokens: list[_Token] = []
    comments = _COMMENTS.get(language, ())
    position = 0
    while position < len(code) and len(tokens) < MAX_TOKENS:
        long_bracket = _LUA_LONG.match(code, position) if language == "lua" else None
        if long_bracket is not None:
            closing = "]" + long_bracket.group(2) + "]"
            end = code.find(closing, long_bracket.end())
            if end < 0:
                return None
            if not long_bracket.group(1):
                tokens.append(_Token("str", code[long_bracket.end() : end]))
            position = end + len(closing)
            continue
        if code.startswith(comments, position) and not (language == "php" and code.startswith("#[", position)):
            closing = "*/" if code.startswith("/*", position) else "\n"
            end = code.find(closing, position)
            position = len(code) if end < 0 else end + len(closing)
            continue
        qx = _PERL_QX.match(code, position) if language in ("perl", "ruby") else None
        if qx is not None:
            opener = qx.group(1)
            end = code.find(_CLOSERS.get(opener, opener), qx.end())
            if end < 0:
                return None
            tokens.append(_Token("shell", code[qx.end() : end]))
            position = end + 1
            continue
        perl_quote = _PERL_QUOTE.match(code, position) if language == "perl" else None
        if perl_quote is not None:
            operator, opener = perl_quote.groups()
            end = code.find(_CLOSERS.get(opener, opener), perl_quote.end())
            if end < 0:
                return None
            tokens.extend(_perl_quoted(operator, code[perl_quote.end() : end]))
            position = end + 1
            continue
        quote = _QUOTE_START.match(code, position)
        if quote is not None and (quote.group("prefix") == "" or language == "python"):
            token, position = _string(language, code, quote)
            if token is None:
                return None
            tokens.append(token)
            continue
        match = _TOKENS[language].match(code, position)
        if match is None:
            return None
        position = match.end()
        kind = match.lastgroup or "punct"
        if kind != "space":
            tokens.append(_Token(kind, match.group()))
    return tokens


def _perl_quoted(operator: str, body: str) -> list[_Token]:
    """`qw(a b)` as the list `("a", "b")`; `q(...)` as a literal string, `qq(...)` as one that may interpolate."""
    if operator != "qw":
        interpolated = operator == "qq" and re.search(r"[$@][A-Za-z_{]", body) is not None
        return [_Token("str", body, literal=not interpolated)]
    tokens = [_Token("punct", "(")]
    for n, word in enumerate(body.split()):
        if n:
            tokens.append(_Token("punct", ","))
        tokens.append(_Token("str", word))
    return [*tokens, _Token("punct", ")")]


def _string(language: str, code: str, quote: re.Match[str]) -> tuple[_Token | None, int]:
    prefix, mark = quote.group("prefix").lower(), quote.group("quote")
    index = quote.end()
    body: list[str] = []
    while index < len(code):
        if code.startswith(mark, index):
            break
        char = code[index]
        if char == "\\" and index + 1 < len(code) and "r" not in prefix:
            follower = code[index + 1]
            if follower == "x" and re.match(r"[0-9a-fA-F]{2}", code[index + 2 : index + 4]):
                body.append(chr(int(code[index + 2 : index + 4], 16)))
                index += 4
                continue
            keep = mark == "'" and language in ("perl", "ruby", "php") and follower not in "\\'"
            body.append("\\" + follower if keep else _SIMPLE_ESCAPES.get(follower, "\\" + follower))
            index += 2
            continue
        body.append(char)
        index += 1
    else:
        return None, index
    text = "".join(body)
    if mark == "`" and language in _SHELL_QUOTES:
        return _Token("shell", text), index + len(mark)
    interpolated = False
    if (
        (language == "python" and "f" in prefix)
        or (language == "javascript" and mark == "`")
        or (language == "ruby" and mark == '"')
    ):
        text, count = _INTERPOLATION[language].subn(UNKNOWN, text)
        interpolated = count > 0
    if language in ("perl", "php") and mark == '"' and re.search(r"[$@][A-Za-z_{]", text):
        interpolated = True
    return _Token("str", text, literal=not interpolated), index + len(mark)


def _assignments(tokens: list[_Token]) -> dict[str, list[_Token]]:
    """`name = <value>` with a literal value: a later `os.system(name)` reads it."""
    found: dict[str, list[_Token]] = {}
    for index, token in enumerate(tokens[:-2]):
        if token.kind == "name" and tokens[index + 1].text == "=" and tokens[index + 2].text != "=":
            end = index + 2
            depth = 0
            while end < len(tokens) and (depth or tokens[end].text not in (";", "\n", ",")):
                depth += 1 if tokens[end].text in "([{" else -1 if tokens[end].text in ")]}" else 0
                if depth < 0:
                    break
                end += 1
            found[token.text.removeprefix("my ")] = tokens[index + 2 : end]
    return found


def _arguments(tokens: list[_Token], index: int) -> list[list[_Token]] | None:
    """The arguments of a call at `index`: `name(a, b)`, or `name "a", b` without brackets."""
    following = tokens[index + 1] if index + 1 < len(tokens) else None
    if following is None:
        return None
    if following.text == "(":
        end, depth = index + 1, 0
        while end < len(tokens):
            depth += 1 if tokens[end].text in "([{" else -1 if tokens[end].text in ")]}" else 0
            if depth == 0:
                break
            end += 1
        inner = tokens[index + 2 : end]
    elif following.kind in ("str", "shell") or (following.kind == "name" and following.text.startswith("$")):
        end = index + 1
        while end < len(tokens) and tokens[end].text not in (";", "\n", ")", "}", "|"):
            end += 1
        inner = tokens[index + 1 : end]
    else:
        return None
    arguments: list[list[_Token]] = [[]]
    depth = 0
    for token in inner:
        if token.kind == "nl":
            continue
        if token.text == "," and depth == 0:
            arguments.append([])
            continue
        depth += 1 if token.text in "([{" else -1 if token.text in ")]}" else 0
        arguments[-1].append(token)
    return [argument for argument in arguments if argument]


def _match(language: str, name: str, tokens: list[_Token], index: int, code: str) -> CallEntry | None:
    parts = re.split(r"\.|::|->", name)
    last, qualifiers = parts[-1], parts[:-1]
    method = index > 0 and tokens[index - 1].text in (".", "->")
    receiver = _receiver(tokens, index)
    for entry in CALLS:
        _, languages, names, modules, _ = entry
        if language not in languages or last not in names:
            continue
        if qualifiers or method:
            # `os.system`, `require('child_process').exec`; not `re.exec` or `items.remove`.
            if any(part in modules for part in qualifiers) or "::".join(qualifiers) in modules or receiver in modules:
                return entry
        elif "*" in modules or any(re.search(rf"(?<![\w$]){re.escape(module)}\b", code) for module in modules):
            return entry
    return None


def _receiver(tokens: list[_Token], index: int) -> str | None:
    """For `X(...).name(`, the first string given to X: `Path('a').unlink()`, `require('fs').rmSync(...)`."""
    if index < 2 or tokens[index - 1].text not in (".", "->") or tokens[index - 2].text != ")":
        return None
    depth, position = 0, index - 2
    while position >= 0:
        depth += 1 if tokens[position].text == ")" else -1 if tokens[position].text == "(" else 0
        if depth == 0:
            break
        position -= 1
    inner = tokens[position + 1 : index - 2]
    return next((token.text for token in inner if token.kind == "str"), None)


def _value(argument: list[_Token], assigned: dict[str, list[_Token]], hops: int = 0) -> tuple[str, bool]:
    """An argument's text with what only the running code knows as `$X`, and whether all of it is literal."""
    pieces: list[str] = []
    literal = True
    position = 0
    while position < len(argument):
        token = argument[position]
        position += 1
        if token.kind == "str":
            pieces.append(token.text)
            literal = literal and token.literal
        elif token.kind == "name" and token.text in assigned and hops < 4:
            text, known = _value(assigned[token.text], assigned, hops + 1)
            pieces.append(text)
            literal = literal and known
        elif token.kind == "name" or token.text == "%":
            literal = False
            if token.text in ("format", "%"):
                pieces = [re.sub(r"%[-0-9.]*[sdrfx]|\{[^{}]*\}", UNKNOWN, piece) for piece in pieces]
                if token.text == "%":
                    break
            else:
                pieces.append(UNKNOWN)
            position = _skip_group(argument, position)
    return "".join(pieces), literal


def _skip_group(tokens: list[_Token], position: int) -> int:
    """Past a call's or an index's brackets that start at `position`, if any."""
    depth = 0
    while position < len(tokens):
        text = tokens[position].text
        if depth == 0 and text not in ("(", "["):
            return position
        depth += 1 if text in "([{" else -1 if text in ")]}" else 0
        position += 1
        if depth == 0:
            return position
    return position


def _words(argument: list[_Token], assigned: dict[str, list[_Token]]) -> list[str] | None:
    """A list literal's words (`["rm", "-rf", p]`), or None when the argument is not a list."""
    if not argument or argument[0].text not in ("[", "(") or argument[-1].text not in ("]", ")"):
        if len(argument) == 1 and argument[0].text in assigned:
            return _words(assigned[argument[0].text], assigned)
        return None
    words: list[str] = []
    for element in (
        _arguments([_Token("name", "list"), _Token("punct", "("), *argument[1:-1], _Token("punct", ")")], 0) or []
    ):
        words.append(_value(element, assigned)[0])
    return words


def _apply(
    reading: CodeReading,
    entry: CallEntry,
    arguments: list[list[_Token]],
    assigned: dict[str, list[_Token]],
    receiver: str | None,
    language: str,
    depth: int,
) -> None:
    action = entry[4]
    positional = [
        arg for arg in arguments if not (len(arg) > 1 and arg[0].kind == "name" and arg[1].text in ("=", ":"))
    ]
    rest_text = " ".join(token.text for argument in arguments[1:] for token in argument)
    first, known = _value(positional[0], assigned) if positional else (receiver or "", receiver is not None)
    if action in ("shell", "argv"):
        listed = [_words(arg, assigned) for arg in positional]
        if positional and listed[0] is not None:
            reading.argvs.append(listed[0] or [])
        elif action == "argv" and len(positional) > 1:
            words = [_value(positional[0], assigned)[0]]
            for arg, as_list in zip(positional[1:], listed[1:], strict=True):
                words.extend(as_list if as_list is not None else [_value(arg, assigned)[0]])
            reading.argvs.append(words)
        elif first.replace(UNKNOWN, "").strip() and not first.lstrip().startswith(UNKNOWN):
            reading.shell.append(first)
        else:
            reading.problems.append(f"inline {language} code runs a command it builds when it runs")
            reading.dynamic.append(first[:200])
    elif action == "eval":
        if known and positional and depth < 2:
            inner = read_code(language, first, depth + 1)
            reading.shell.extend(inner.shell)
            reading.argvs.extend(inner.argvs)
            reading.problems.extend(inner.problems)
        elif positional:
            reading.problems.append(f"inline {language} code evaluates code it builds when it runs")
            reading.dynamic.append(first[:200])
    elif action == "indirect" and (not known or any(first in entry[2] for entry in CALLS)):
        reading.problems.append(f"inline {language} code calls a function looked up by name")
    elif action in ("rm_tree", "rm_maybe_tree", "rm"):
        recursive = action == "rm_tree" or (action == "rm_maybe_tree" and re.search(r"recursive\s*:\s*true", rest_text))
        reading.argvs.append(["rm", "-rf", first] if recursive else ["rm", first])
    elif action in ("read", "write", "open"):
        _file_access(reading, action, positional, assigned, first, language)
    elif action in ("send", "fetch"):
        options = _request_options(positional[0], assigned) if positional else None
        if options is not None:
            first = options  # `http.get({host: 'metadata.google.internal', path: '/computeMetadata/...'})`
        if first.upper() in _HTTP_METHODS and len(positional) > 1:
            action = "send" if first.upper() in ("POST", "PUT", "PATCH") else action
            first = _value(positional[1], assigned)[0]
        sending = action == "send" or len(positional) > 1 or bool(_SENDING.search(rest_text))
        reading.argvs.append(["curl", "-d", "@-", first] if sending else ["curl", first])
    elif action == "connect":
        _connect(reading, arguments)


def _file_access(
    reading: CodeReading,
    action: str,
    positional: list[list[_Token]],
    assigned: dict[str, list[_Token]],
    path: str,
    language: str,
) -> None:
    if action == "open":
        texts = [_value(arg, assigned)[0] for arg in positional]
        if language == "perl":
            # open(FH, "<", $path), open(FH, "< path"), open(FH, "cmd |")
            target = texts[-1] if texts else ""
            mode = (
                texts[1]
                if len(texts) > 2
                else target.strip()[: len(target.strip()) - len(target.strip().lstrip("+<>|"))]
            )
            target = target.strip().lstrip("+<>|").rstrip("|").strip() if len(texts) <= 2 else target
            if "|" in mode or (texts and texts[-1].rstrip().endswith("|")):
                reading.shell.append(target)
                return
            action, path = ("write" if ">" in mode else "read"), target
        else:
            mode = texts[1] if len(texts) > 1 else ""
            action = "write" if _WRITE_MODE.search(mode) else "read"
    if action == "read" and _URL.match(path):
        reading.argvs.append(["curl", path])
    else:
        reading.argvs.append(["cat", path] if action == "read" else ["tee", path])


_OPTION_KEYS = frozenset({"host", "hostname", "path", "port", "protocol"})


def _request_options(argument: list[_Token], assigned: dict[str, list[_Token]]) -> str | None:
    """The URL an options object gives (`{host: 'h', port: 8080, path: '/p'}`), or None when it is no such object."""
    if not argument or argument[0].text != "{":
        return None
    found: dict[str, str] = {}
    for index, token in enumerate(argument[:-2]):
        key = token.text.strip("'\"")
        if token.kind in ("name", "str") and key in _OPTION_KEYS and argument[index + 1].text == ":":
            value = argument[index + 2]
            if value.kind in ("str", "num"):
                found.setdefault(key, value.text)
            elif value.kind == "name":
                found.setdefault(key, _value([value], assigned)[0])
    host = found.get("hostname") or found.get("host")
    if not host:
        return None
    scheme = found.get("protocol", "http:").rstrip(":") or "http"
    port = f":{found['port']}" if found.get("port") else ""
    return f"{scheme}://{host}{port}{found.get('path', '/')}"


def _connect(reading: CodeReading, arguments: list[list[_Token]]) -> None:
    flat = [token for argument in arguments for token in argument]
    strings = [token.text for token in flat if token.kind == "str"]
    numbers = [token.text for token in flat if token.kind == "num"]
    host = strings[0] if strings else UNKNOWN
    host = re.sub(r"^[a-z]+://", "", host)
    if ":" in host and not numbers and host.count(":") == 1:
        host, port = host.split(":")
        numbers = [port]
    reading.argvs.append(["nc", host, *numbers[:1]])


def _tcl_commands(code: str) -> list[list[str]]:
    """Tcl read as simple commands: `exec rm -rf ~` runs a program, `file delete -force P` is `rm -rf P`."""
    commands = []
    for piece in re.split(r"[;\n\[\]]+", code):
        try:
            words = shlex.split(piece.replace("{", '"').replace("}", '"'), posix=True)
        except ValueError:
            words = piece.split()
        if words[:1] == ["exec"]:
            argv = words[1:]
            while argv and argv[0].startswith("-"):
                if argv.pop(0) == "--":
                    break
            argv = argv[: argv.index("|")] if "|" in argv else argv
            if argv and argv[-1] == "&":
                argv = argv[:-1]
            if argv:
                commands.append(argv)
        elif words[:2] == ["file", "delete"]:
            targets = [word for word in words[2:] if not word.startswith("-")]
            commands.append(["rm", "-rf" if "-force" in words[2:] else "-f", *targets])
    return commands


def _powershell_commands(code: str) -> list[list[str]]:
    commands = []
    for piece in re.split(r"[;|\n]+", code):
        try:
            words = shlex.split(piece.replace("\\", "/"), posix=True)
        except ValueError:
            words = piece.split()
        if words:
            commands.append([words[0].casefold(), *words[1:]])
    return commands
