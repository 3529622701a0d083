"""What makes a parsed shell command destructive: recursive deletes of broad targets,
device writes, formatting, shredding, recursive permission changes, decode-and-run
pipelines and cloud or cluster teardown.

`rm -rf ./build` names one directory of a project; `rm -rf /`, `rm -rf ~/*` or
`rm -rf "$DIR/"` (empty when the variable is unset) name everything. Breadth is judged on
the normalised path.
"""

from __future__ import annotations

import re

from inherence_policy_server.rules._paths import matches_any_glob, normalise_path
from inherence_policy_server.rules._shell import INTERPRETERS, ShellCommand, ShellScript

__all__ = ["DYNAMIC_SCRIPT", "is_broad_target", "shell_problems"]

_RECURSIVE_FLAG = re.compile(r"^-[a-zA-Z]*[rR][a-zA-Z]*$|^--recursive$")
_SAFE_DEVICES = frozenset(
    {"/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/random", "/dev/urandom"}
)
_DEVICE = re.compile(r"^/dev/(?:sd|hd|vd|xvd|nvme|disk|rdisk|mmcblk|md|dm-|mapper/|loop|sr)")
_FIND_FILTERS = frozenset({"-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-newer", "-mtime", "-mmin",
                           "-size", "-user", "-empty", "-atime", "-ctime", "-wholename", "-perm"})  # fmt: skip
_DECODERS = frozenset({"base64", "base32", "xxd", "openssl", "gunzip", "zcat", "uudecode", "rev", "gzip", "bzip2",
                       "xz", "tr", "printf", "basenc"})  # fmt: skip
_FETCHERS = frozenset(
    {"curl", "wget", "fetch", "nc", "ncat", "socat", "aria2c", "http", "xh", "iwr", "invoke-webrequest"}
)
DYNAMIC_SCRIPT = re.compile(
    r"(?:\b(?:ba|z|da|k|fi)?sh\b[^|;&\n]*?\s-c\s*|\beval\s+|\bsource\s+|(?:^|[;&|]\s*)\.\s+|\b(?:ba|z)?sh\s+)[\"']?(?:\$\(|`|<\()"
)
_TEARDOWN: dict[str, re.Pattern[str]] = {
    "terraform": re.compile(r"(?:^|\s)destroy\b|\bapply\b.*\s-destroy\b|\bstate rm\b"),
    "tofu": re.compile(r"(?:^|\s)destroy\b|\bapply\b.*\s-destroy\b"),
    "pulumi": re.compile(r"\bdestroy\b|\bstack rm\b"),
    "kubectl": re.compile(
        r"\bdelete\s+(?:ns|namespace|namespaces|nodes?|pv|persistentvolumes?|crd|customresourcedefinitions?)\b|"
        r"\bdelete\b.*\s(?:--all|-A|--all-namespaces)\b|\bdrain\b"
    ),
    "aws": re.compile(
        r"\bterminate-instances\b|\bdelete-(?:db-instance|db-cluster|table|cluster|stack|bucket|vpc|file-system|"
        r"repository|function|user-pool|hosted-zone|keyspace|global-table|backup-vault)\b|"
        r"\bs3 rb\b|\bs3 rm\b.*--recursive|"
        r"\bschedule-key-deletion\b"
    ),
    "gcloud": re.compile(r"\bdelete\b"),
    "gsutil": re.compile(r"\brb\b|\brm\b.*\s-[a-zA-Z]*r"),
    "az": re.compile(r"\bdelete\b|\bpurge\b"),
    "doctl": re.compile(r"\bdelete\b|\bdestroy\b"),
    "heroku": re.compile(r"apps:destroy|pg:reset|apps:delete"),
    "fly": re.compile(r"\bapps destroy\b|\bdestroy\b"),
    "flyctl": re.compile(r"\bdestroy\b"),
    "eksctl": re.compile(r"\bdelete cluster\b"),
    "docker": re.compile(r"\bsystem prune\b.*(?:-a\b|--all|--volumes)|\bvolume (?:rm|prune)\b"),
    "podman": re.compile(r"\bsystem (?:prune|reset)\b|\bvolume (?:rm|prune)\b"),
    "redis-cli": re.compile(r"\bflushall\b|\bflushdb\b", re.IGNORECASE),
    "mongo": re.compile(r"dropDatabase|\.drop\(\)|deleteMany\(\{\s*\}\)"),
    "mongosh": re.compile(r"dropDatabase|\.drop\(\)|deleteMany\(\{\s*\}\)"),
    "dropdb": re.compile(r""),
    "vercel": re.compile(r"\b(?:remove|rm)\b"),
    "firebase": re.compile(r"\bprojects:delete\b|\bdatabase:remove\b|\bfirestore:delete\b.*--all-collections"),
}
_FORMATTERS = frozenset({"mkfs", "wipefs", "mkswap", "blkdiscard", "sgdisk", "fdisk", "sfdisk", "parted", "diskutil"})


def is_broad_target(word: str) -> bool:
    """Whether deleting `word` recursively would remove far more than one project directory."""
    if word.startswith("$") and not re.match(r"^\$\{?(?:home|pwd)\}?(?:/|$)", word.casefold()):
        return True  # an unset variable leaves `/` or the current directory
    path = normalise_path(word)
    while path.endswith("/*") or path == "*":
        path = path[:-2] or "/" if path != "*" else "."
    parts = [part for part in path.split("/") if part]
    if path in ("/", "~", ".", "..", "") or all(part == ".." for part in parts):
        return True
    if path.startswith("/") and (len(parts) <= 1 or any(ch in parts[0] for ch in "*?[")):
        return True
    return (path.startswith("~/") and len(parts) <= 2) or "*" in (parts[0] if parts else "")


def _flags(command: ShellCommand) -> tuple[list[str], list[str]]:
    flags: list[str] = []
    targets: list[str] = []
    after_dashes = False
    for word in command.argv[1:]:
        if word == "--":
            after_dashes = True
        elif word.startswith("-") and not after_dashes:
            flags.append(word)
        else:
            targets.append(word)
    return flags, targets


def _command_problem(command: ShellCommand, allowed_paths: tuple[str, ...]) -> tuple[str, str] | None:
    name = command.name
    flags, targets = _flags(command)
    shown = " ".join(command.argv)[:200]
    broad = [
        target
        for target in targets
        if is_broad_target(target) and not matches_any_glob(normalise_path(target), allowed_paths)
    ]
    if name in ("rm", "unlink", "del", "rd", "remove-item"):
        recursive = any(_RECURSIVE_FLAG.match(flag) or flag.lower() in ("/s", "-recurse") for flag in flags)
        if "--no-preserve-root" in flags or (recursive and broad):
            return "recursive_delete", f"`{shown}` deletes {', '.join(broad) or 'the root'} recursively"
        if recursive and not targets and "xargs" in command.via:
            return "recursive_delete", f"`{shown}` deletes recursively whatever is piped into it"
    if name == "find" and ("-delete" in command.argv or any(w in ("rm", "shred", "/bin/rm") for w in command.argv)):
        roots = [word for word in command.argv[1:] if not word.startswith("-")][:1] or ["."]
        filtered = any(word in _FIND_FILTERS for word in command.argv)
        if is_broad_target(roots[0]) and (not filtered or normalise_path(roots[0]) in ("/", "~")):
            return "find_delete", f"`{shown}` deletes everything it finds under {roots[0]}"
    if name == "git" and "clean" in command.argv:
        letters = "".join(flag.lstrip("-") for flag in flags if not flag.startswith("--"))
        forced = "f" in letters or "--force" in flags
        if forced and ("x" in letters or "d" in letters) and "n" not in letters and "--dry-run" not in flags:
            return "git_clean", f"`{shown}` deletes every untracked and ignored file"
    if name == "dd" and any(w.startswith("of=/dev/") and w[3:] not in _SAFE_DEVICES for w in command.argv):
        return "device_write", f"`{shown}` writes raw data over a device"
    if name in _FORMATTERS or name.startswith("mkfs."):
        return "format_device", f"`{shown}` formats or repartitions a disk"
    if name in ("shred", "srm", "wipe"):
        return "shred", f"`{shown}` overwrites files beyond recovery"
    if name in ("chmod", "chown", "chgrp", "setfacl") and any(_RECURSIVE_FLAG.match(f) for f in flags) and broad:
        return "recursive_permissions", f"`{shown}` changes permissions of {', '.join(broad)} recursively"
    if name == "mv" and broad[:1] == targets[:1] and broad:
        return "move_away", f"`{shown}` moves {broad[0]} away"
    for operator, target in command.redirects:
        if operator in (">", ">>", ">|", "&>") and _DEVICE.match(target) and target not in _SAFE_DEVICES:
            return "device_write", f"`{shown}` redirects output over the device {target}"
    teardown = _TEARDOWN.get(name)
    if teardown is not None and teardown.search(" ".join(command.argv[1:])):
        return "cloud_teardown", f"`{shown}` tears down infrastructure or data stores"
    return None


def _pipeline_problem(pipeline: list[ShellCommand]) -> tuple[str, str] | None:
    for position, stage in enumerate(pipeline[1:], start=1):
        if stage.name not in INTERPRETERS:
            continue
        if any(not word.startswith("-") for word in stage.argv[1:]) and stage.argv[1:2] != ("-",):
            continue  # the interpreter runs a named script, not its input
        earlier = {command.name for command in pipeline[:position]}
        if earlier & _DECODERS:
            return "decode_to_shell", f"decoded data is piped into {stage.name} to run"
        if earlier & _FETCHERS:
            return "remote_script", f"downloaded data is piped into {stage.name} to run unseen"
    return None


def shell_problems(script: ShellScript, allowed_paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(clause, explanation) for every destructive command and pipeline in `script`."""
    problems = [problem for command in script.commands if (problem := _command_problem(command, allowed_paths))]
    problems.extend(problem for pipeline in script.pipelines if (problem := _pipeline_problem(pipeline)))
    return problems
