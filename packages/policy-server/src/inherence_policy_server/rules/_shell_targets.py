"""The checks that `_destruction_shell.COMMAND_ENTRIES` name: what a command's targets are.

A target is judged on its normalised path: the root, the home folder or one folder under
it, a top-level folder, or a data folder (`/data`, `/srv`, `/var/lib/<x>`, a mount) is
broad; a relative path stays in the project; a temporary folder holds nothing to lose. A
variable nobody assigned is unknown, and unknown counts as broad (unset, `rm -rf "$D/"`
is `rm -rf /`). `Place` follows the script: the folder `cd` moved to and the folders it
made (empty) before each command.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
from collections.abc import Callable

from inherence_policy_server.rules._database_clients import database_drop_target
from inherence_policy_server.rules._paths import matches_any_glob, normalise_path
from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["CHECKS", "Place", "is_broad_target"]

# Folders that hold data of their own: the folder itself and each folder just under it are broad.
DATA_ROOTS = ("/data", "/srv", "/mnt", "/media", "/volumes", "/var/lib", "/var/opt", "/opt", "/backup", "/backups",
              "/var/backups", "/home", "/users", "/var/mail", "/var/spool", "/var/www", "/var/db")  # fmt: skip
# Folders of database servers: everything under them is the database (`/var/lib/postgresql/16/main`).
DATABASE_DIRS = ("/var/lib/postgresql", "/var/lib/pgsql", "/var/lib/mysql", "/var/lib/mariadb", "/var/lib/mongodb",
                 "/var/lib/mongo", "/var/lib/elasticsearch", "/var/lib/opensearch", "/var/lib/redis", "/var/lib/etcd",
                 "/var/lib/cassandra", "/var/lib/clickhouse", "/var/lib/influxdb", "/var/lib/rabbitmq",
                 "/var/lib/kafka", "/var/lib/zookeeper", "/var/lib/neo4j", "/var/lib/couchdb",
                 "/var/lib/docker/volumes", "/data/db")  # fmt: skip
# Where applications keep their own data (an agent's memory, a notes app's database), and the file
# kinds that are a store rather than a cache or a log.
APP_DATA_ROOTS = ("~/.local/share/", "$xdg_data_home/", "${xdg_data_home}/", "~/library/application support/",
                  "/var/lib/", "~/appdata/roaming/", "~/appdata/local/")  # fmt: skip
STORE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".jsonl", ".ndjson", ".duckdb", ".mdb", ".ldb", ".realm", ".kdbx",
                  ".db-wal", ".frm", ".ibd", ".rdb", ".aof")  # fmt: skip
TEMP_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "$tmpdir", "${tmpdir}", "/var/folders")
SAFE_DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/random",
                          "/dev/urandom", "/dev/full"})  # fmt: skip
# Options whose value is the next word, per program, so that operands are told from values.
VALUE_OPTIONS: dict[str, frozenset[str]] = {
    "rsync": frozenset({"-e", "--rsh", "-f", "--filter", "--exclude", "--include", "--exclude-from", "--include-from",
                        "--files-from", "--rsync-path", "--log-file", "--password-file", "--chmod", "--chown", "-T",
                        "--temp-dir", "--backup-dir", "--partial-dir", "--link-dest", "--compare-dest",
                        "--copy-dest", "--timeout", "--bwlimit", "--max-size", "--min-size", "--port", "-M",
                        "--remote-option", "--suffix", "--out-format", "--log-file-format"}),
    "helm": frozenset({"-n", "--namespace", "--kube-context", "--kubeconfig", "--timeout", "--description",
                       "--cascade", "--kube-apiserver", "--kube-token", "--kube-as-user", "--registry-config",
                       "--repository-config", "--repository-cache"}),
    "truncate": frozenset({"-s", "--size", "-r", "--reference"}),
    "find": frozenset(),
}  # fmt: skip
FIND_FILTERS = frozenset({"-name", "-iname", "-path", "-ipath", "-regex", "-iregex", "-newer", "-mtime", "-mmin",
                          "-size", "-user", "-empty", "-atime", "-ctime", "-wholename", "-perm"})  # fmt: skip
HELM_REMOVE = frozenset({"uninstall", "un", "delete", "del"})
_RECURSIVE_FLAG = re.compile(r"^-[a-zA-Z]*[rR][a-zA-Z]*$|^--recursive$")
_DEVICE = re.compile(r"^/dev/(?:sd|hd|vd|xvd|nvme|disk|rdisk|mmcblk|md|dm-|mapper/|loop|sr)")
_REMOTE = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:(?!//)")
_UNKNOWN = re.compile(r"^\$(?!\{?(?:home|pwd)\}?(?:/|$))")
# `C:/Users`, and `C:Users`, which is what a POSIX reading leaves of `C:\Users`.
_DRIVE_TOP = re.compile(r"^[a-z]:(?:/?[^/]*)?$")
# Programs of cmd.exe whose options are `/s`, `/q`: options, not top-level folders.
_SLASH_OPTION_PROGRAMS = frozenset({"del", "erase", "rd", "rmdir", "copy", "xcopy", "robocopy", "move", "attrib"})
_SLASH_OPTION = re.compile(r"^/[a-z?]$", re.IGNORECASE)
_LATER = ("$(", "`", "<(")  # a word only known when the command runs


def is_broad_target(word: str) -> bool:
    """Whether deleting `word` recursively would remove far more than one project directory."""
    if normalise_path(word).startswith("$(mktemp"):
        return False  # a folder made for the purpose
    if _UNKNOWN.match(word.casefold()):
        return True  # an unset variable leaves `/` or the current directory
    path = normalise_path(word)
    while path.endswith("/*") or path == "*":
        path = path[:-2] or "/" if path != "*" else "."
    parts = [part for part in path.split("/") if part]
    if path in ("/", "~", ".", "..", "") or all(part == ".." for part in parts):
        return True
    if path.startswith("/") and (len(parts) <= 1 or any(ch in parts[0] for ch in "*?[")):
        return True
    if _DRIVE_TOP.match(path):
        return True  # `C:\`, `D:`, `C:\Users`: a Windows drive or a folder at its top
    return (path.startswith("~/") and len(parts) <= 2) or _wide_glob(parts[0] if parts else "")


def _wide_glob(component: str) -> bool:
    """`*`, `.*` or `*e*` match most of a folder; `*.egg-info` or `build-*` name a kind of thing."""
    return "*" in component and len(re.sub(r"\[[^\]]*\]|[*?]", "", component)) < 3


def _under(path: str, roots: tuple[str, ...]) -> str | None:
    return next((root for root in roots if path == root or path.startswith(root + "/")), None)


def is_data_folder(word: str) -> bool:
    """A folder whose loss loses data: broad, a data root, a folder just under one, or any in a database's."""
    path = normalise_path(word).rstrip("/") or "/"
    root = _under(path, DATA_ROOTS)
    return (
        is_broad_target(word)
        or (root is not None and path[len(root) :].count("/") <= 1)
        or _under(path, DATABASE_DIRS) is not None
    )


def is_temporary(word: str) -> bool:
    path = normalise_path(word).rstrip("/")
    return path.startswith("$(mktemp") or _under(path, TEMP_ROOTS) is not None


def outside_project(word: str) -> bool:
    """A path that is neither under the current folder nor temporary: absolute, in home, above, or unknown."""
    if is_temporary(word):
        return False
    path = normalise_path(word)
    return _unknown(word) or path == ".." or path.startswith(("/", "~", "../"))


@dataclasses.dataclass
class Place:
    """Where the script stands before each command: the folder `cd` chose (None: the project) and folders it made."""

    allowed_paths: tuple[str, ...]
    assigned: frozenset[str] = frozenset()  # variables the script sets: a client may read its server from one
    folder: str | None = None
    made: set[str] = dataclasses.field(default_factory=set)
    listed: bool = False

    def follow(self, command: ShellCommand) -> None:
        if command.name in ("cd", "pushd", "chdir"):
            operands = [word for word in command.argv[1:] if not word.startswith("-") or word == "-"]
            target = operands[0] if operands else "~"
            if target == "-":
                self.folder = "$OLDPWD"
            else:
                resolved = self.resolve(target)
                self.folder = resolved if _unknown(resolved) or _absolute(resolved) else None
        elif command.name == "mkdir":
            self.made.update(_folder(self.resolve(word)) for word in command.argv[1:] if not word.startswith("-"))
        elif command.name == "helm" and {"ls", "list"} & set(command.argv[1:]):
            self.listed = True  # a loop over the releases may follow

    def resolve(self, word: str) -> str:
        """`word` seen from the folder the script moved to, when that folder is known."""
        folder = self.folder
        if folder is None or not _absolute(folder) or _unknown(word) or _absolute(word):
            return word
        return posixpath.join(folder, word)

    def allowed(self, word: str) -> bool:
        return matches_any_glob(normalise_path(word), self.allowed_paths)


def _folder(word: str) -> str:
    return normalise_path(word).rstrip("/") or "/"


def _unknown(word: str) -> bool:
    """A variable nobody assigned, or a value only known when the command runs."""
    return _UNKNOWN.match(word.casefold()) is not None or word.startswith(_LATER)


def _absolute(word: str) -> bool:
    return normalise_path(word).startswith(("/", "~"))


def _split(command: ShellCommand) -> tuple[list[str], list[str]]:
    """(options, operands), the value of an option that takes one skipped."""
    takes_value = VALUE_OPTIONS.get(command.name, frozenset())
    slash_options = command.name.casefold() in _SLASH_OPTION_PROGRAMS
    flags: list[str] = []
    operands: list[str] = []
    words = iter(command.argv[1:])
    for word in words:
        if slash_options and _SLASH_OPTION.match(word):
            flags.append(word)
        elif word == "--":
            operands.extend(words)
        elif word.startswith("-") and len(word) > 1:
            flags.append(word)
            if word in takes_value:
                next(words, None)
        else:
            operands.append(word)
    return flags, operands


def _recursive(flags: list[str]) -> bool:
    return any(_RECURSIVE_FLAG.match(flag) or flag.lower() in ("/s", "-recurse") for flag in flags)


def _broad_recursive(command: ShellCommand, place: Place) -> str | None:
    flags, operands = _split(command)
    resolved = [place.resolve(word) for word in operands]
    broad = [word for word in resolved if is_broad_target(word) and not place.allowed(word)]
    return ", ".join(broad) if broad and _recursive(flags) else None


def _data_recursive(command: ShellCommand, place: Place) -> str | None:
    flags, operands = _split(command)
    resolved = [place.resolve(word) for word in operands]
    lost = [word for word in resolved if _absolute(word) and is_data_folder(word) and not place.allowed(word)]
    return ", ".join(lost) if lost and _recursive(flags) else _broad_recursive(command, place)


def _data_store(command: ShellCommand, place: Place) -> str | None:
    """Store files of an application's data folder (`~/.local/share/<app>/memory.jsonl`, `*.db`)."""
    _, operands = _split(command)
    stores = []
    for word in operands:
        path = normalise_path(place.resolve(word)).casefold()
        if path.startswith(APP_DATA_ROOTS) and path.endswith(STORE_SUFFIXES) and not place.allowed(path):
            stores.append(word)
    return ", ".join(stores[:3]) or None


def _is_store(path: str) -> bool:
    """A store file of an application's data folder, or any file of a database server's folder."""
    folded = normalise_path(path).casefold()
    return (folded.startswith(APP_DATA_ROOTS) and folded.endswith(STORE_SUFFIXES)) or _under(
        folded, DATABASE_DIRS
    ) is not None


def _store_redirect(command: ShellCommand, place: Place) -> str | None:
    for operator, target in command.redirects:
        if operator in (">", ">|", "&>") and _is_store(place.resolve(target)) and not place.allowed(target):
            return target
    return None


def _data_store_destination(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    written = operands[-1:] if len(operands) > 1 else []
    stores = [word for word in written if _is_store(place.resolve(word)) and not place.allowed(word)]
    return ", ".join(stores) or None


def _device_destination(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    written = operands if command.name == "tee" else operands[-1:] if len(operands) > 1 else []
    devices = [word for word in written if _DEVICE.match(word) and word not in SAFE_DEVICES]
    return ", ".join(devices) or None


def _recursive_from_xargs(command: ShellCommand, place: Place) -> str | None:
    flags, operands = _split(command)
    return "" if _recursive(flags) and not operands and "xargs" in command.via else None


def _operands_from_xargs(command: ShellCommand, place: Place) -> str | None:
    return "" if "xargs" in command.via else None


def _find_broad(command: ShellCommand, place: Place) -> str | None:
    roots: list[str] = []
    for word in command.argv[1:]:
        if word.startswith(("-", "(", "!")) and word not in ("-H", "-L", "-P"):
            break
        if not word.startswith("-"):
            roots.append(word)
    filtered = any(word in FIND_FILTERS for word in command.argv)
    for root in map(place.resolve, roots or ["."]):
        if place.allowed(root):
            continue
        path = _folder(root)
        if path in ("/", "~") or path in DATA_ROOTS or (not filtered and is_data_folder(root)):
            return root
    return None


def _git_clean_outside_project(command: ShellCommand, place: Place) -> str | None:
    flags = [word for word in command.argv[command.argv.index("clean") + 1 :] if word.startswith("-")]
    letters = "".join(flag.lstrip("-") for flag in flags if not flag.startswith("--"))
    forced = "f" in letters or "--force" in flags
    if not forced or not ("x" in letters or "d" in letters) or "n" in letters or "--dry-run" in flags:
        return None
    folder = place.folder
    argv = list(command.argv)
    for index, word in enumerate(argv):
        if word in ("-C", "--work-tree") and index + 1 < len(argv):
            folder = place.resolve(argv[index + 1])
        elif word.startswith("--work-tree="):
            folder = place.resolve(word.partition("=")[2])
    # Pathspecs given (`git clean -fdx ~`): each is cleaned, wherever the repository is.
    after = argv[argv.index("clean") + 1 :]
    for index, word in enumerate(after):
        if word.startswith("-") or (index and after[index - 1] in ("-e", "--exclude", "-C")):
            continue
        target = place.resolve(word)
        if not place.allowed(target) and (target in ("/", "~") or (_absolute(target) and is_data_folder(target))):
            return target
    if folder is None or place.allowed(folder):
        return None
    return folder if _unknown(folder) or (_absolute(folder) and is_data_folder(folder)) else None


def _archived_away(command: ShellCommand, place: Place) -> str | None:
    """`tar --remove-files -czf x.tgz ~/Documents`: the folder deleted once it is in an archive elsewhere."""
    _, operands = _split(command)
    lost = [
        target
        for target in (place.resolve(word) for word in operands)
        if not place.allowed(target) and (target in ("/", "~") or (_absolute(target) and is_data_folder(target)))
    ]
    return ", ".join(lost[:3]) or None


def _device_operand(command: ShellCommand, place: Place) -> str | None:
    devices = [word[3:] for word in command.argv if word.startswith("of=/dev/") and word[3:] not in SAFE_DEVICES]
    return ", ".join(devices) or None


def _device_redirect(command: ShellCommand, place: Place) -> str | None:
    for operator, target in command.redirects:
        if operator in (">", ">>", ">|", "&>") and _DEVICE.match(target) and target not in SAFE_DEVICES:
            return f"the device {target}"
    return None


def _moves_broad(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    first = place.resolve(operands[0]) if operands else ""
    return first if first and is_broad_target(first) and not place.allowed(first) else None


def _outside_project(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    # A folder the script moved to is the project unless it is home, a data folder or unknown.
    moved = place.folder is not None and (_unknown(place.folder) or is_data_folder(place.folder))
    outside = [
        word
        for word in operands
        if (outside_project(word) or (moved and not is_temporary(place.resolve(word))))
        and not place.allowed(place.resolve(word))
    ]
    return ", ".join(outside) or None


def _remote_path(word: str) -> str:
    """`host:path` as the path on that host (`host:` is its home)."""
    match = _REMOTE.match(word)
    if match is None or re.match(r"^[a-zA-Z]:[\\/]", word):
        return word
    return word[match.end() :] or "~"


def _rsync_empty_source(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    if len(operands) < 2:
        return None
    sources = [place.resolve(_remote_path(word)) for word in operands[:-1]]
    destination = place.resolve(_remote_path(operands[-1]))
    if place.allowed(destination) or is_temporary(destination):
        return None
    if _folder(destination) in ("/", "~"):
        return destination
    for source in sources:
        made = _folder(source) in place.made or "$(mktemp" in source
        empty = made or "empty" in posixpath.basename(_folder(source))
        if empty or (is_temporary(source) and is_data_folder(destination)):
            return destination
    return None


def _helm_many_releases(command: ShellCommand, place: Place) -> str | None:
    _, operands = _split(command)
    position = next((index for index, word in enumerate(operands) if word in HELM_REMOVE), None)
    if position is None:
        return None
    releases = operands[position + 1 :]
    if "xargs" in command.via:
        return "every release piped into it"
    if any(word.startswith(_LATER) or "*" in word or (place.listed and _unknown(word)) for word in releases):
        return "releases listed only when it runs"
    return f"{len(releases)} releases at once ({', '.join(releases[:5])})" if len(releases) > 1 else None


# Branches others build on: overwriting or deleting one loses the work everyone shares.
SHARED_BRANCHES = frozenset({"main", "master", "trunk", "develop", "development", "production", "prod", "release",
                             "stable", "live"})  # fmt: skip
_PUSH_VALUE_OPTIONS = frozenset({"-o", "--push-option", "--repo", "--receive-pack", "--exec"})


def _force_push_protected(command: ShellCommand, place: Place) -> str | None:
    argv = list(command.argv)
    words = argv[argv.index("push") + 1 :] if "push" in argv else []
    forced = deleting = trying = False
    operands: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in _PUSH_VALUE_OPTIONS:
            skip = True
        elif word.startswith("--"):
            forced = forced or word in ("--force", "--force-if-includes") or word.startswith("--force-with-lease")
            deleting = deleting or word == "--delete"
            trying = trying or word == "--dry-run"
        elif word.startswith("-") and len(word) > 1:
            forced = forced or "f" in word[1:]
            deleting = deleting or "d" in word[1:]
            trying = trying or "n" in word[1:]
        else:
            operands.append(word)
    for refspec in operands[1:] if not trying else ():
        plus = refspec.startswith("+")
        source, colon, target = refspec.lstrip("+").partition(":")
        branch = (target if colon else source).removeprefix("refs/heads/")
        if branch.casefold() in SHARED_BRANCHES and (forced or plus or deleting or (colon and not source)):
            return branch
    return None


def _broad_operand(command: ShellCommand, place: Place) -> str | None:
    """A home, the root or a top folder named as an operand (`$cmd -rf ~`); not `.`, not one file (`~/.bashrc`)."""
    _, operands = _split(command)
    resolved = [place.resolve(word) for word in operands]
    broad = [word for word in resolved if _top_folder(word) and not place.allowed(word)]
    return ", ".join(broad) or None


def _top_folder(word: str) -> bool:
    if _unknown(word) or not is_broad_target(word):
        return False
    path = _folder(word)
    while path.endswith("/*"):
        path = path[:-2] or "/"
    return path not in (".", "..") and len([part for part in path.split("/") if part]) <= 1


def _database_kept(command: ShellCommand, place: Place) -> str | None:
    """A database dropped by name, unless it is a scratch database on this machine (`dropdb -h localhost app_test`)."""
    return database_drop_target(command, place.assigned)


CHECKS: dict[str, Callable[[ShellCommand, Place], str | None]] = {
    "broad_operand": _broad_operand,
    "database_kept": _database_kept,
    "broad_recursive": _broad_recursive,
    "data_recursive": _data_recursive,
    "data_store": _data_store,
    "data_store_destination": _data_store_destination,
    "store_redirect": _store_redirect,
    "device_destination": _device_destination,
    "device_operand": _device_operand,
    "device_redirect": _device_redirect,
    "find_broad": _find_broad,
    "force_push_protected": _force_push_protected,
    "git_clean_outside_project": _git_clean_outside_project,
    "archived_away": _archived_away,
    "helm_many_releases": _helm_many_releases,
    "moves_broad": _moves_broad,
    "operands_from_xargs": _operands_from_xargs,
    "outside_project": _outside_project,
    "recursive_from_xargs": _recursive_from_xargs,
    "rsync_empty_source": _rsync_empty_source,
}
