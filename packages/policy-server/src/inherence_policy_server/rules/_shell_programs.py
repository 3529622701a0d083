"""Which program a command really runs: wrappers peeled off, interpreters and the code they are given.

`sudo nice -n 5 ionice -c3 nohup env A=1 timeout 5 stdbuf -o0 xargs rm -rf` runs `rm`;
`bash -lc 'text'`, `eval text`, `su -c text` and `watch text` run shell text; `python3 -c`,
`node -e`, `perl -e`, `ruby -e`, `php -r`, `lua -e` and `pwsh -Command` run inline code; an
interpreter given no script runs what arrives on its standard input. The tables at the top
are the knowledge; `unwrap` is the engine.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
import re
import shlex

from inherence_policy_server.rules._shell_remote import REMOTE_PROGRAMS, injected_command, remote_runs

__all__ = ["INTERPRETERS", "SHELLS", "Unwrapped", "glob_candidates", "language_of", "program_name", "unwrap"]

SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ksh", "ash", "fish", "mksh", "busybox-sh", "rbash", "yash"})
INTERPRETERS = SHELLS | {"python", "python3", "perl", "ruby", "node", "php", "pwsh", "powershell", "lua", "luajit",
                        "tclsh", "wish"}  # fmt: skip

# Wrapper: (options that take a value, positional words before the wrapped command).
WRAPPERS: dict[str, tuple[frozenset[str], int]] = {
    "sudo": (frozenset({"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T", "--user", "--group"}), 0),
    "doas": (frozenset({"-u", "-C"}), 0),
    "env": (frozenset({"-u", "-C", "--unset", "--chdir"}), 0),
    "xargs": (frozenset({"-n", "-P", "-L", "-I", "-d", "-E", "-s", "-a", "--max-args", "--max-procs"}), 0),
    "nice": (frozenset({"-n", "--adjustment"}), 0),
    "ionice": (frozenset({"-c", "-n", "-t", "-p", "--class", "--classdata"}), 0),
    "timeout": (frozenset({"-s", "-k", "--signal", "--kill-after"}), 1),
    "stdbuf": (frozenset({"-i", "-o", "-e"}), 0),
    "busybox": (frozenset(), 0),
    "command": (frozenset(), 0),
    "builtin": (frozenset(), 0),
    "exec": (frozenset({"-a"}), 0),
    "nohup": (frozenset(), 0),
    "time": (frozenset({"-f", "-o", "--format", "--output"}), 0),
    "setsid": (frozenset(), 0),
    "chrt": (frozenset(), 1),
    "taskset": (frozenset(), 1),
    "flock": (frozenset({"-w", "-E", "--timeout", "--conflict-exit-code"}), 1),
    "chroot": (frozenset({"--userspec", "--groups"}), 1),
    "caffeinate": (frozenset({"-t", "-w"}), 0),
    "unbuffer": (frozenset(), 0),
    "strace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "ltrace": (frozenset({"-o", "-e", "-p", "-s", "-u"}), 0),
    "unshare": (frozenset(), 0),
    "firejail": (frozenset(), 0),
    "proxychains": (frozenset({"-f"}), 0),
    "proxychains4": (frozenset({"-f"}), 0),
    "torsocks": (frozenset(), 0),
    "chronic": (frozenset(), 0),
    "systemd-run": (frozenset({"-p", "--property", "--unit", "-u", "--uid", "--gid"}), 0),
    "npx": (frozenset({"-p", "--package"}), 0),
    "pnpx": (frozenset(), 0),
    "bunx": (frozenset({"-p", "--package"}), 0),
}
# Programs that are another program under a new name: `rimraf x` is `rm -rf x`.
ALIASES: dict[str, tuple[str, ...]] = {"rimraf": ("rm", "-rf"), "del-cli": ("rm", "-rf"), "trash-put": ("rm", "-r")}
# Task runners whose `run`/`exec` subcommand runs any program.
RUNNERS: dict[str, str] = {"uv": "run", "poetry": "run", "pipenv": "run", "pdm": "run", "bundle": "exec"}
# Lookups, not runs: `command -v rm` names rm without running it.
_LOOKUP_FLAGS = {"command": frozenset({"-v", "-V"})}
# Words that run the rest as shell text, and the option before the text (None: all the words).
SHELL_TEXT_RUNNERS: dict[str, str | None] = {"eval": None, "su": "-c", "runuser": "-c", "script": "-c", "watch": None}
_ASSIGNMENT = re.compile(r"^[A-Za-z_]\w*=")
_AWK = frozenset({"awk", "gawk", "mawk", "nawk", "busybox-awk"})
_AWK_SYSTEM = re.compile(r"""\bsystem\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)""")
# Language of each interpreter family: (code options, options that take a value, options that end the options).
_LANGUAGES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?:python|pypy)(?:\d+(?:\.\d+)*)?w?$"), "python"),
    (re.compile(r"^(?:node|nodejs|bun)(?:\d+)?$"), "javascript"),
    (re.compile(r"^perl(?:\d+(?:\.\d+)*)?$"), "perl"),
    (re.compile(r"^ruby(?:\d+(?:\.\d+)*)?$"), "ruby"),
    (re.compile(r"^php(?:\d+(?:\.\d+)*)?(?:-cli)?$"), "php"),
    (re.compile(r"^(?:pwsh|powershell)(?:\.exe)?$"), "powershell"),
    (re.compile(r"^(?:lua|luajit)(?:-?\d+(?:\.\d+)*)?$"), "lua"),
    (re.compile(r"^(?:tclsh|wish|jimsh)(?:\d+(?:\.\d+)*)?$"), "tcl"),
)
_CODE_OPTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "shell": (frozenset({"-c"}), frozenset({"-o", "+o", "-O", "+O", "--rcfile", "--init-file"})),
    "python": (frozenset({"-c"}), frozenset({"-W", "-X", "-Q"})),
    "javascript": (frozenset({"-e", "--eval", "-p", "--print"}), frozenset({"-r", "--require", "--import"})),
    "perl": (frozenset({"-e", "-E"}), frozenset({"-I", "-M", "-m"})),
    "ruby": (frozenset({"-e"}), frozenset({"-r", "-I", "-C"})),
    "php": (frozenset({"-r"}), frozenset({"-d", "-c", "-z"})),
    "lua": (frozenset({"-e"}), frozenset({"-l"})),
    "tcl": (frozenset(), frozenset({"-encoding"})),
}
_SCRIPT_OPTIONS = frozenset({"-m", "-f", "--file", "-file"})  # run a module or a named file
# Programs the rules judge by name: a glob in command position that could be one of these fails closed.
DANGEROUS_PROGRAMS: tuple[str, ...] = (
    "rm", "rmdir", "unlink", "shred", "srm", "wipe", "dd", "mkfs", "wipefs", "fdisk", "sfdisk", "parted",
    "truncate", "find", "xargs", "mv", "chmod", "chown", "rsync", "git", "kubectl", "helm", "docker", "terraform",
    "curl", "wget", "nc", "ncat", "netcat", "socat", "scp", "sftp", "ftp", "telnet", "base64", "xxd", "openssl",
    "cat", "tee", "eval", "sudo", "su", "doas", "env", "printenv", "aws", "gcloud", "az", "mkswap", "blkdiscard",
    *sorted(INTERPRETERS),
)  # fmt: skip


@dataclasses.dataclass
class Unwrapped:
    """The command under its wrappers, and what else it runs: shell text, inline code, its standard input."""

    argv: list[str]
    via: list[str] = dataclasses.field(default_factory=list)
    runs: list[tuple[str, str]] = dataclasses.field(default_factory=list)  # (language, code)
    stdin_language: str | None = None
    problems: list[str] = dataclasses.field(default_factory=list)
    assigned: list[str] = dataclasses.field(default_factory=list)  # variables set for the command (`env A=1`)
    remote: str = ""  # the program that runs `runs` on another machine or in a container (`ssh`, `docker`)
    injected: str = ""  # the program that runs the command with secrets fetched into its environment (`railway`)


def program_name(word: str) -> str:
    """The folded base name a rule compares: `/usr/bin/RM` and `\\rm` are both `rm`."""
    name = posixpath.basename(word.lstrip("\\").replace("\\", "/")).casefold()
    return name[:-4] if name.endswith(".exe") and name[:-4] in INTERPRETERS | {"cmd"} else name


def language_of(name: str) -> str | None:
    if name in SHELLS:
        return "shell"
    for pattern, language in _LANGUAGES:
        if pattern.match(name):
            return language
    return None


def glob_candidates(word: str) -> list[str]:
    """The programs the rules know that a glob in command position (`/???/?m`, `/bin/r?`) could run."""
    pattern = posixpath.basename(word).casefold() or word.casefold()
    return [name for name in DANGEROUS_PROGRAMS if fnmatch.fnmatchcase(name, pattern)]


def unwrap(words: list[str]) -> Unwrapped:
    """Peel wrappers off `words` (any order, any depth) and say what else the command runs."""
    result = Unwrapped(list(words))
    for _ in range(32):
        argv = result.argv
        if not argv:
            return result
        name = program_name(argv[0])
        if name in ALIASES:
            result.argv = [*ALIASES[name], *(word for word in argv[1:] if word not in ("--glob", "-g"))]
            continue
        if "=" in argv[0] and not argv[0].startswith(("-", "=")) and name not in WRAPPERS:
            result.assigned.append(argv[0].partition("=")[0])
            result.argv = argv[1:]  # an environment prefix the parser left as a word
            continue
        if name == "crontab" and (len(argv) == 1 or argv[-1] == "-"):
            result.stdin_language = "crontab"  # a table of commands the machine runs later, on a schedule
            return result
        if name in ("at", "batch") and not any(word.startswith("-") and word[1:2] in "lrdc" for word in argv[1:]):
            result.stdin_language = "shell"  # `echo 'rm -rf ~' | at now + 1 hour`: shell run later
            return result
        if name in SHELL_TEXT_RUNNERS:
            text = _shell_text(name, argv[1:])
            if text is None and name == "runuser":
                rest = _skip_options(
                    argv[1:], frozenset({"-u", "--user", "-g", "--group", "-G", "--supp-group"}), 0, name
                )
                if rest:
                    result.via.append(name)
                    result.argv = rest
                    continue
            if text is None:
                break
            result.runs.append(("shell", text))
            result.via.append(name)
            result.argv = []
            return result
        if name == "env" and any(word == "-S" or word.startswith("--split-string") for word in argv[1:]):
            position = next(i for i, w in enumerate(argv) if w == "-S" or w.startswith("--split-string"))
            inline = argv[position].partition("=")[2]
            rest = ([inline] if inline else []) + argv[position + 1 :]
            result.argv = (rest[0].split() + rest[1:]) if rest else []
            result.via.append(name)
            continue
        if RUNNERS.get(name) is not None and argv[1:2] == [RUNNERS[name]]:
            rest = _skip_options(argv[2:], frozenset({"--with", "--python", "-p", "--env-file"}), 0, name)
            if rest:
                result.via.append(name)
                result.argv = rest
                continue
            break
        injected = injected_command(name, argv)
        if injected is not None:
            result.via.append(name)
            result.injected = name
            result.argv, text = injected
            if text is not None:
                result.runs.append(("shell", text))
                return result
            continue
        if name in WRAPPERS and not (set(argv[1:2]) & _LOOKUP_FLAGS.get(name, frozenset())):
            takes_value, positional = WRAPPERS[name]
            rest = _skip_options(argv[1:], takes_value, positional, name)
            if not rest:
                break  # a bare `env` or `time` is a command of its own
            if name == "env":
                own = argv[1 : len(argv) - len(rest)]
                result.assigned.extend(word.partition("=")[0] for word in own if _ASSIGNMENT.match(word))
            result.via.append(name)
            result.argv = rest
            continue
        remote = remote_runs(name, argv) if name in REMOTE_PROGRAMS else None
        if remote is not None:
            result.runs.extend(remote)
            result.remote = name
        elsewhere = _runs_elsewhere(name, argv)
        if elsewhere is not None:
            result.runs.append(("shell", elsewhere))
        break
    language = language_of(program_name(result.argv[0])) if result.argv else None
    if language is not None:
        _interpreter(result, language)
    return result


def _runs_elsewhere(name: str, argv: list[str]) -> str | None:
    """Shell text the command runs apart from its own: from find, awk or a git alias."""
    if name == "find":
        for index, word in enumerate(argv):
            if word in ("-exec", "-execdir", "-ok", "-okdir"):
                rest = argv[index + 1 :]
                end = next((at for at, item in enumerate(rest) if item in (";", "+", "\\;")), len(rest))
                return shlex.join(rest[:end]) if rest[:end] else None
        return None
    if name in _AWK:
        found = [
            match.group(1).encode().decode("unicode_escape", "ignore")
            for match in _AWK_SYSTEM.finditer(" ".join(argv[1:]))
        ]
        return "\n".join(found) or None
    if name == "git":
        texts = [word.partition("=")[2][1:] for word in argv[1:] if word.startswith("alias.") and "=!" in word]
        return "\n".join(texts) or None
    return None


def _shell_text(name: str, rest: list[str]) -> str | None:
    option = SHELL_TEXT_RUNNERS[name]
    if option is None:
        if name == "watch":
            rest = _skip_options(rest, frozenset({"-n", "-d", "--interval", "-q"}), 0, name)
        return " ".join(rest) if rest else None
    for index, word in enumerate(rest):
        if word == option or (word.startswith("-") and not word.startswith("--") and option[1] in word[1:]):
            return rest[index + 1] if index + 1 < len(rest) else None
    return None


def _skip_options(rest: list[str], takes_value: frozenset[str], positional: int, name: str) -> list[str]:
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
    return rest[index + positional :]


def _interpreter(result: Unwrapped, language: str) -> None:
    argv = result.argv
    if language == "powershell":
        _powershell(result)
        return
    code_options, takes_value = _CODE_OPTIONS[language]
    letters = {option[1] for option in code_options if len(option) == 2}
    index = 1
    found_code = False
    while index < len(argv):
        word = argv[index]
        if word == "--" or word == "-" or not word.startswith("-"):
            break
        if word in _SCRIPT_OPTIONS:
            return
        long_name, equals, inline = word.partition("=")
        if word.startswith("--") and long_name in code_options:
            code = inline if equals else (argv[index + 1] if index + 1 < len(argv) else "")
            result.runs.append((language, code))
            found_code = True
            index += 1 if equals else 2
            continue
        if not word.startswith("--") and letters & set(word[1:]):
            position = min(word.index(letter, 1) for letter in letters if letter in word[1:])
            attached = word[position + 1 :]
            if language == "shell" or not attached:
                code = argv[index + 1] if index + 1 < len(argv) else ""
                index += 2
            else:
                code, index = attached, index + 1
            result.runs.append((language, code))
            found_code = True
            if language in ("shell", "python"):
                return  # the words after the code are its arguments
            continue
        index += 2 if word in takes_value else 1
    if not found_code and (index >= len(argv) or argv[index] == "-" or "-s" in argv[1:index]):
        result.stdin_language = language


def _powershell(result: Unwrapped) -> None:
    argv = result.argv
    for index, word in enumerate(argv[1:], start=1):
        option = word.casefold()
        if option in ("-command", "-c", "/c", "-com", "-comm", "-comma", "-comman"):
            result.runs.append(("powershell", " ".join(argv[index + 1 :])))
            return
        if option.startswith(("-e", "-ec", "/e")) and option not in ("-executionpolicy", "-ep"):
            result.problems.append("PowerShell given an encoded command that cannot be read")
            return
        if option in ("-file", "-f"):
            return
    if len(argv) > 1 and not argv[-1].startswith("-") and argv[-2].casefold() not in ("-executionpolicy", "-ep"):
        result.runs.append(("powershell", argv[-1]))
    elif len(argv) == 1 or argv[-1] == "-":
        result.stdin_language = "powershell"
