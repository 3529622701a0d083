"""What makes a parsed shell command destructive, as data (`COMMAND_ENTRIES`) and the checks it names.

`rm -rf ./build` names one directory of a project; `rm -rf /`, `rm -rf ~/*` or
`rm -rf "$DIR/"` (empty when the variable is unset) name everything. Breadth is judged on
the normalised path (`_shell_targets`). Each entry says which programs it concerns, a
pattern the words after the program must contain, and the check of the command's targets
that must also hold; the checks are the engine, the entries the knowledge.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import re

from inherence_policy_server.rules._shell import INTERPRETERS, ShellCommand, ShellScript, fed_text
from inherence_policy_server.rules._shell_targets import CHECKS, Place, is_broad_target

__all__ = ["COMMAND_ENTRIES", "DYNAMIC_SCRIPT", "CommandEntry", "is_broad_target", "shell_problems"]

# Each entry: id, the clause it raises, the programs (globs), a pattern the words after the program must
# contain ("" for any), the check of `_shell_targets.CHECKS` that must also hold ("" for none), what it does.
_ENTRIES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("rm_recursive_broad", "recursive_delete", "rm unlink del rd remove-item", "", "data_recursive",
     "deletes {detail} recursively"),
    ("rm_data_store", "store_delete", "rm unlink del remove-item shred", "", "data_store",
     "deletes {detail}, the store of an application's data"),
    ("rm_no_preserve_root", "recursive_delete", "rm", r"(?:^|\s)--no-preserve-root\b", "", "deletes the root"),
    ("rm_recursive_piped", "recursive_delete", "rm", "", "recursive_from_xargs",
     "deletes recursively whatever is piped into it"),
    ("find_delete_broad", "find_delete", "find",
     r"(?:^|\s)(?:-delete|-(?:exec|execdir|ok|okdir)\s+(?:\S*/)?(?:rm|shred|unlink|srm)\b)", "find_broad",
     "deletes what it finds under {detail}"),
    ("git_clean_home", "git_clean", "git", r"(?:^|\s)clean(?:\s|$)", "git_clean_outside_project",
     "deletes every untracked and ignored file under {detail}"),
    ("git_push_shared_branch", "force_push", "git", r"(?:^|\s)push(?:\s|$)", "force_push_protected",
     "overwrites or deletes the shared branch {detail}"),
    ("dd_device", "device_write", "dd", r"(?:^|\s)of=/dev/", "device_operand", "writes raw data over {detail}"),
    ("redirect_device", "device_write", "*", "", "device_redirect", "redirects output over {detail}"),
    ("redirect_store", "store_delete", "*", "", "store_redirect",
     "overwrites {detail}, the store of an application's data"),
    ("null_onto_store", "store_delete", "cp install", r"(?:^|\s)/dev/null(?:\s|$)", "data_store_destination",
     "empties {detail}, the store of an application's data"),
    ("copy_to_device", "device_write", "tee cp pv", "", "device_destination", "writes over the device {detail}"),
    ("format_disk", "format_device", "mkfs mkfs.* wipefs mkswap blkdiscard sgdisk fdisk sfdisk parted diskutil", "",
     "", "formats or repartitions a disk"),
    ("shred_files", "shred", "shred srm wipe", "", "", "overwrites files beyond recovery"),
    # Volumes, pools and snapshots removed with all they hold: ZFS, LVM, Btrfs.
    ("zfs_destroy", "format_device", "zfs zpool", r"(?:^|\s)destroy(?:\s|$)", "", "destroys a dataset or pool"),
    ("lvm_remove", "format_device", "lvremove vgremove pvremove", "", "", "removes a volume with its data"),
    ("btrfs_delete", "format_device", "btrfs", r"\bsubvolume\s+(?:delete|del)\b|\bdevice\s+(?:remove|delete)\b", "",
     "deletes a subvolume with its files"),
    ("permissions_recursive_broad", "recursive_permissions", "chmod chown chgrp setfacl", "", "broad_recursive",
     "changes permissions of {detail} recursively"),
    ("move_broad", "move_away", "mv", "", "moves_broad", "moves {detail} away"),
    ("truncate_outside_project", "truncate_file", "truncate",
     r"(?:^|\s)(?:-[a-z]*s\s*|--size[=\s])0+(?:[kmgtpezy]i?b?)?(?:\s|$)", "outside_project",
     "empties {detail}, outside the project and temporary folders"),
    ("rsync_delete_from_empty", "mirror_delete", "rsync", r"(?:^|\s)--del(?:ete(?:-[a-z]+)?)?(?:=\S*)?(?:\s|$)",
     "rsync_empty_source", "deletes everything in {detail} that the source lacks"),
    ("helm_uninstall_many", "cloud_teardown", "helm", r"(?:^|\s)(?:uninstall|un|delete|del)(?:\s|$)",
     "helm_many_releases", "uninstalls {detail}"),
    ("kubectl_delete_namespace", "cloud_teardown", "kubectl",
     r"\bdelete\s+(?:ns|namespaces?|nodes?|pv|persistentvolumes?|crds?|customresourcedefinitions?)\b", "",
     "deletes a namespace, node, volume or resource type and everything in it"),
    ("kubectl_delete_all", "cloud_teardown", "kubectl", r"\bdelete\b.*\s(?:--all|-A|--all-namespaces)\b", "",
     "deletes every resource of a kind"),
    ("kubectl_delete_piped", "cloud_teardown", "kubectl", r"(?:^|\s)delete(?:\s|$)", "operands_from_xargs",
     "deletes whatever resources are piped into it"),
    ("kubectl_drain", "cloud_teardown", "kubectl", r"\bdrain\b", "", "evicts everything from a node"),
    ("terraform_destroy", "cloud_teardown", "terraform tofu", r"(?:^|\s)destroy\b|\bapply\b.*\s-destroy\b", "",
     "destroys the infrastructure it manages"),
    ("terraform_state_rm", "cloud_teardown", "terraform", r"\bstate rm\b", "", "drops resources from its state"),
    ("pulumi_destroy", "cloud_teardown", "pulumi", r"\bdestroy\b|\bstack rm\b", "", "destroys a stack"),
    ("cdk_destroy", "cloud_teardown", "cdk cdktf", r"(?:^|\s)destroy\b.*(?:\s--force\b|\s-f\b|--auto-approve)", "",
     "destroys its stacks without asking"),
    ("terragrunt_destroy", "cloud_teardown", "terragrunt", r"(?:^|\s)destroy\b|\bapply\b.*\s-destroy\b", "",
     "destroys the infrastructure it manages"),
    ("s3_sync_delete_from_empty", "mirror_delete", "aws", r"\bs3 sync\b.*\s--delete\b", "rsync_empty_source",
     "deletes everything in {detail} that the empty source lacks"),
    ("gsutil_rsync_delete_from_empty", "mirror_delete", "gsutil", r"\brsync\b.*\s-[a-zA-Z]*d", "rsync_empty_source",
     "deletes everything in {detail} that the empty source lacks"),
    ("gcloud_rsync_delete_from_empty", "mirror_delete", "gcloud", r"\bstorage rsync\b.*--delete-unmatched",
     "rsync_empty_source", "deletes everything in {detail} that the empty source lacks"),
    ("rclone_sync_from_empty", "mirror_delete", "rclone", r"(?:^|\s)sync(?:\s|$)", "rsync_empty_source",
     "deletes everything in {detail} that the empty source lacks"),
    ("rclone_purge", "cloud_teardown", "rclone", r"(?:^|\s)purge(?:\s|$)", "",
     "deletes a remote path and everything in it"),
    ("rclone_delete", "cloud_teardown", "rclone",
     r"(?:^|\s)delete(?:\s|$)(?!.*--(?:include|exclude|filter|files-from|min-age|max-age|min-size|max-size)\b)", "",
     "deletes every file under a remote path"),
    ("archive_remove_files", "recursive_delete", "tar bsdtar gtar", r"--remove-files\b", "archived_away",
     "deletes {detail} once archived"),
    ("zip_move", "recursive_delete", "zip", r"(?:^|\s)-[a-zA-Z]*m", "archived_away", "deletes {detail} once zipped"),
    ("supabase_remote_reset", "cloud_teardown", "supabase", r"\bdb reset\b.*--(?:linked|db-url)\b", "",
     "resets a remote database, dropping its data"),
    ("aws_delete", "cloud_teardown", "aws",
     r"\bterminate-instances\b|\bdelete-(?:db-instance|db-cluster|table|cluster|stack|bucket|vpc|file-system|"
     r"repository|function|user-pool|hosted-zone|keyspace|global-table|backup-vault)\b|\bs3 rb\b|"
     r"\bs3 rm\b.*--recursive|\bschedule-key-deletion\b", "", "deletes cloud resources or data"),
    ("gcloud_delete", "cloud_teardown", "gcloud", r"\bdelete\b", "", "deletes cloud resources"),
    ("gcloud_storage_remove", "cloud_teardown", "gcloud", r"\bstorage rm\b.*\s(?:-[a-zA-Z]*r[a-zA-Z]*|--recursive)\b",
     "", "deletes objects recursively"),
    ("gsutil_remove", "cloud_teardown", "gsutil", r"\brb\b|\brm\b.*\s-[a-zA-Z]*r", "", "deletes buckets"),
    ("az_delete", "cloud_teardown", "az", r"\bdelete\b|\bpurge\b", "", "deletes cloud resources"),
    ("doctl_delete", "cloud_teardown", "doctl", r"\bdelete\b|\bdestroy\b", "", "deletes cloud resources"),
    ("heroku_destroy", "cloud_teardown", "heroku", r"apps:destroy|pg:reset|apps:delete", "", "destroys an app"),
    ("fly_destroy", "cloud_teardown", "fly flyctl", r"\bdestroy\b", "", "destroys an app"),
    ("eksctl_delete", "cloud_teardown", "eksctl", r"\bdelete cluster\b", "", "deletes a cluster"),
    ("docker_prune_all", "cloud_teardown", "docker", r"\bsystem prune\b.*(?:-a\b|--all|--volumes)", "",
     "deletes every unused image, container and volume"),
    ("docker_volumes", "cloud_teardown", "docker", r"\bvolume (?:rm|prune)\b", "", "deletes volumes and their data"),
    ("podman_prune", "cloud_teardown", "podman", r"\bsystem (?:prune|reset)\b|\bvolume (?:rm|prune)\b", "",
     "deletes volumes and their data"),
    ("redis_flush", "cloud_teardown", "redis-cli", r"(?i)\bflushall\b|\bflushdb\b", "", "empties the database"),
    ("mongo_drop", "cloud_teardown", "mongo mongosh", r"dropDatabase|\.drop\(\)|deleteMany\(\{\s*\}\)",
     "database_kept", "drops data ({detail})"),
    ("dropdb", "cloud_teardown", "dropdb", "", "database_kept", "drops the database ({detail})"),
    ("mysqladmin_drop", "cloud_teardown", "mysqladmin mariadb-admin", r"(?:^|\s)drop(?:\s|$)", "database_kept",
     "drops the database ({detail})"),
    ("vercel_remove", "cloud_teardown", "vercel", r"\b(?:remove|rm)\b", "", "removes deployments"),
    ("firebase_delete", "cloud_teardown", "firebase",
     r"\bprojects:delete\b|\bdatabase:remove\b|\bfirestore:delete\b.*--all-collections", "", "deletes a project"),
    ("gam_purge", "cloud_teardown", "gam gam7", r"(?:^|\s)(?:purge|empty\s+drivetrash)(?:\s|$)", "",
     "purges Google Workspace data beyond recovery"),
    ("gam_delete_by_query", "cloud_teardown", "gam gam7",
     r"(?:^|\s)(?:delete|del|trash)\s.*(?:^|\s)(?:query|queries|matchname|fullquery)(?:\s|$)", "",
     "deletes every Google Workspace item its query matches"),
    ("gam_delete_users", "cloud_teardown", "gam gam7", r"(?:^|\s)(?:delete|del)\s+users(?:\s|$)", "",
     "deletes Google Workspace users"),
    ("gam_many_delete", "cloud_teardown", "gam gam7",
     r"^(?:all\s+users|all\s+users_ns|groups?|ous?|ous?_and_children|domains?|csv|csvfile|file|datafile|query"
     r"|queries|licenses?|courses?)\s.*(?:^|\s)(?:delete|del|purge)(?:\s|$)", "",
     "deletes for a whole group of Google Workspace users at once"),
    ("computed_program_broad", "dynamic_script", "$*", "", "broad_operand",
     "runs a program named only when it runs on {detail}"),
)  # fmt: skip
# Programs whose output, piped into an interpreter, is decoded or downloaded code.
DECODERS = frozenset({"base64", "base32", "xxd", "openssl", "gunzip", "zcat", "uudecode", "rev", "gzip", "bzip2",
                      "xz", "tr", "printf", "basenc"})  # fmt: skip
FETCHERS = frozenset({"curl", "wget", "fetch", "nc", "ncat", "socat", "aria2c", "http", "xh", "iwr",
                      "invoke-webrequest"})  # fmt: skip
DYNAMIC_SCRIPT = re.compile(
    r"(?:\b(?:ba|z|da|k|fi)?sh\b[^|;&\n]*?\s-c\s*|\beval\s+|\bsource\s+|(?:^|[;&|]\s*)\.\s+|\b(?:ba|z)?sh\s+)[\"']?(?:\$\(|`|<\()"
)


@dataclasses.dataclass(frozen=True)
class CommandEntry:
    """One destructive form of a command: `pattern` over its words and `check` over its targets must both hold."""

    id: str
    clause: str
    programs: tuple[str, ...]
    pattern: re.Pattern[str] | None
    check: str
    does: str


COMMAND_ENTRIES: tuple[CommandEntry, ...] = tuple(
    CommandEntry(entry_id, clause, tuple(programs.split()), re.compile(pattern) if pattern else None, check, does)
    for entry_id, clause, programs, pattern, check, does in _ENTRIES
)


@functools.lru_cache(maxsize=1024)
def _entries_for(name: str) -> tuple[CommandEntry, ...]:
    """The entries that concern program `name`, in table order; a script runs few distinct programs."""
    return tuple(
        entry for entry in COMMAND_ENTRIES if any(fnmatch.fnmatchcase(name, program) for program in entry.programs)
    )


def _command_problems(command: ShellCommand, place: Place) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    words = " ".join(command.argv[1:])
    shown = " ".join(command.argv)[:200]
    for entry in _entries_for(command.name[:64].casefold()):
        if entry.pattern is not None and not entry.pattern.search(words):
            continue
        detail = CHECKS[entry.check](command, place) if entry.check else ""
        if detail is not None:
            problems.append((entry.clause, f"`{shown}` {entry.does.format(detail=detail)}"))
    return problems


# Programs that pass what arrives on their standard input to a data store: its own client, or a raw
# connection to its port. A wipe command in that input empties the store as surely as one in the arguments.
_STORE_INPUT_READERS = frozenset({"redis-cli", "valkey-cli", "keydb-cli", "mongo", "mongosh", "nc", "ncat", "netcat",
                                  "socat", "telnet", "openssl"})  # fmt: skip
_STORE_WIPES = re.compile(
    r"(?i)(?:^|[\s\"'*$]|\\[nrt])(?:flushall|flushdb|flush_all)(?:[\s\"'\\]|$)|"
    r"(?-i:dropDatabase)\s*\(|\.drop\s*\(\s*\)|\.(?:deleteMany|remove)\s*\(\s*\{\s*\}\s*\)"
)


def _store_wipe_fed(command: ShellCommand, fed: str | None) -> tuple[str, str] | None:
    """`printf 'FLUSHALL\\r\\n' | nc cache 6379`, `echo 'db.dropDatabase()' | mongosh`: a wipe sent as input."""
    if fed is None or command.name not in _STORE_INPUT_READERS:
        return None
    found = _STORE_WIPES.search(fed)
    if found is None:
        return None
    return "cloud_teardown", f"`{found.group().strip()[:40]}` is sent to {command.name}, which empties the data store"


def _store_wipe_redirected(command: ShellCommand) -> tuple[str, str] | None:
    """The same wipe given as a heredoc or herestring (`nc cache 6379 <<< FLUSHALL`)."""
    for operator, value in command.redirects:
        if operator in ("<<", "<<-", "<<<") and (problem := _store_wipe_fed(command, value)):
            return problem
    return None


def _pipeline_problem(pipeline: list[ShellCommand]) -> tuple[str, str] | None:
    for position, stage in enumerate(pipeline[1:], start=1):
        if wipe := _store_wipe_fed(stage, fed_text(pipeline[position - 1])):
            return wipe
        if _deletes_every_key(stage, pipeline[:position]):
            return "cloud_teardown", "every key a scan of the whole database lists is deleted"
        if stage.name not in INTERPRETERS:
            continue
        if any(not word.startswith("-") for word in stage.argv[1:]) and stage.argv[1:2] != ("-",):
            continue  # the interpreter runs a named script, not its input
        earlier = {command.name for command in pipeline[:position]}
        if earlier & DECODERS:
            return "decode_to_shell", f"decoded data is piped into {stage.name} to run"
        if earlier & FETCHERS:
            return "remote_script", f"downloaded data is piped into {stage.name} to run unseen"
    return None


_REDIS_DELETES = frozenset({"del", "unlink"})


def _deletes_every_key(stage: ShellCommand, earlier: list[ShellCommand]) -> bool:
    """`redis-cli --scan | xargs redis-cli del` (or `KEYS *`): every key of the database."""
    if stage.name != "redis-cli" or not {word.casefold() for word in stage.argv[1:]} & _REDIS_DELETES:
        return False
    for command in earlier:
        words = [word.casefold() for word in command.argv[1:]]
        if command.name != "redis-cli":
            continue
        if "keys" in words:
            return words[words.index("keys") + 1 : words.index("keys") + 2] in ([], ["*"])
        if "--scan" in words:
            pattern = words[words.index("--pattern") + 1] if "--pattern" in words[:-1] else "*"
            return pattern.strip("'\"") in ("*", "")
    return False


def shell_problems(script: ShellScript, allowed_paths: tuple[str, ...]) -> list[tuple[str, str]]:
    """(clause, explanation) for every destructive command and pipeline in `script`."""
    place = Place(allowed_paths, frozenset(script.assigned))
    problems: list[tuple[str, str]] = []
    for command in script.commands:
        problems.extend(_command_problems(command, place))
        if wipe := _store_wipe_redirected(command):
            problems.append(wipe)
        place.follow(command)
    problems.extend(problem for pipeline in script.pipelines if (problem := _pipeline_problem(pipeline)))
    return problems
