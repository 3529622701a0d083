"""The environment printed into a filter that keeps only counts or names: not a dump.

`env | grep -c PATH`, `printenv | wc -l` print a number; `env | cut -d= -f1`, `env | awk -F=
'{print $1}'`, `env | grep -o '^[A-Z_]*'` and `env | sed 's/=.*//'` print the names of the
variables, never their values. `env | grep -i token` or `env | sort` still print values, and so
does a names filter after `printenv NAME` (one value, no `NAME=`) or `set` (function bodies too).
Between the listing and the filter, other filters may narrow the lines (`grep`, `sort`, `head`).
"""

from __future__ import annotations

import itertools
import re

from inherence_policy_server.rules._shell import ShellCommand, ShellScript

__all__ = ["environment_reduced"]

_PRINTERS = frozenset({"env", "printenv", "export", "set", "declare", "typeset"})
_GREPS = frozenset({"grep", "egrep", "fgrep", "rg"})
_PASS_THROUGH = _GREPS | frozenset({"sort", "uniq", "head", "tail"})
_AWKS = frozenset({"awk", "gawk", "mawk", "nawk"})
# Where a printer's own output may go and still reach the pipe (or nowhere).
_HARMLESS_TARGETS = frozenset({"/dev/null", "1", "2", "&1", "&2"})
# `'{print $1}'`, optionally after a line pattern (`/^AWS/ {print $1}`).
_AWK_FIRST_FIELD = re.compile(r"^\s*(?:/[^/]*/\s*)?\{\s*print\s+\$1\s*;?\s*\}\s*$")
# An anchored pattern of name characters only: `^[A-Z_]*`, `^[A-Za-z0-9_]+`, `^\w+`.
_NAME_ATOM = r"(?:\[(?:A-Z|a-z|0-9|[A-Za-z0-9_])+\]|\\w|[A-Za-z0-9_])(?:[*+?]|\\?\{\d*,?\d*\\?\})?"
_NAME_PATTERN = re.compile(rf"^\^(?:{_NAME_ATOM})+$")
_SED_CUT_VALUE = re.compile(r"^s(.)=\.\*\$?\1\1g?$")


def environment_reduced(command: ShellCommand, script: ShellScript) -> bool:
    """Whether `command` prints the environment only into filters that keep counts or names."""
    if command.name not in _PRINTERS or _writes_elsewhere(command):
        return False
    for pipeline in script.pipelines:
        position = next((index for index, stage in enumerate(pipeline) if stage is command), None)
        if position is None:
            continue
        for stage in pipeline[position + 1 :]:
            if _counts(stage) or (_lists_names(command) and _keeps_names(stage)):
                return True
            if stage.name not in _PASS_THROUGH or _writes_elsewhere(stage) or _writes_files(stage):
                return False
        return False
    return False


def _writes_elsewhere(command: ShellCommand) -> bool:
    return any(">" in operator and target not in _HARMLESS_TARGETS for operator, target in command.redirects)


def _short_flags(command: ShellCommand) -> set[str]:
    return {letter for word in command.argv[1:] if word.startswith("-") and not word.startswith("--")
            for letter in word[1:]}  # fmt: skip


def _counts(stage: ShellCommand) -> bool:
    """`wc` and `grep -c` or `grep -q` print a number or nothing."""
    if stage.name == "wc":
        return not any(word.startswith("--files0-from") for word in stage.argv[1:])
    if stage.name in _GREPS:
        return bool(_short_flags(stage) & {"c", "q"}) or bool({"--count", "--quiet", "--silent"} & set(stage.argv))
    return False


def _writes_files(stage: ShellCommand) -> bool:
    """A filter that writes a file or runs a program of its own (`sort -o`, `rg --pre`)."""
    if stage.name not in ("sort", "rg"):
        return False
    return any(word.startswith(("-o", "--output", "--pre")) for word in stage.argv[1:])


def _lists_names(printer: ShellCommand) -> bool:
    """A listing of `NAME=value` lines: `env`, `printenv` with no name, `export -p`, `declare -x`."""
    if printer.name == "printenv":
        return all(word.startswith("-") for word in printer.argv[1:])
    return printer.name in ("env", "export", "declare", "typeset")


def _keeps_names(stage: ShellCommand) -> bool:
    words = list(stage.argv[1:])
    if stage.name == "cut":
        joined = " ".join(words)
        delimiter = re.search(r"(?:^|\s)(?:-d\s*|--delimiter[=\s])=(?:\s|$)", joined)
        fields = re.search(r"(?:^|\s)(?:-f\s*|--fields[=\s])1(?:\s|$)", joined)
        return delimiter is not None and fields is not None and "--complement" not in words
    if stage.name in _AWKS:
        separator = any(word in ("-F=", "-F =") for word in words) or any(
            word == "-F" and following == "=" for word, following in itertools.pairwise(words)
        )
        programs = [word for word in words if not word.startswith("-") and word != "="]
        return separator and len(programs) == 1 and bool(_AWK_FIRST_FIELD.match(programs[0]))
    if stage.name in _GREPS and "o" in _short_flags(stage):
        patterns = [word for word in words if not word.startswith("-")]
        return len(patterns) == 1 and bool(_NAME_PATTERN.match(patterns[0]))
    if stage.name == "sed":
        scripts = [word for word in words if word != "-e"]
        return len(scripts) == 1 and bool(_SED_CUT_VALUE.match(scripts[0]))
    return False
