"""Credential access: reading, copying, archiving or searching credential material, and
commands that print or mint credentials.

Paths are matched by whole components after normalisation (`_paths`), so
`/home/bob/../bob/.aws//credentials`, `$HOME/.aws/credentials` and `C:\\Users\\Bob\\.aws\\credentials`
are one file. A read that this rule sees is also what the exfiltration rule remembers.
"""

from __future__ import annotations

import datetime
import re

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._api_endpoints import api_matches
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._credential_reads import (
    environment_dump,
    interpreter_dump,
    kubectl_secret_dump,
    metadata_only_paths,
    metadata_tool,
    names_only_store_tool,
)
from inherence_policy_server.rules._environment_listing import environment_reduced
from inherence_policy_server.rules._pack_views import CredentialPaths, pack_views
from inherence_policy_server.rules._paths import component_match, matches_any_glob, normalise_path
from inherence_policy_server.rules._shell import ShellCommand
from inherence_policy_server.rules._text import name_words

__all__ = ["RULE", "credential_labels", "evaluate", "may_find_in_prose_read"]

RULE = "credential_access"

# Commands whose output is a credential, by program name and a word of their arguments.
_PRINTING_COMMANDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("env", re.compile(r"^(?:(?:-\S*|[A-Za-z_]\w*=\S*)(?:\s+|$))*$")),
    ("printenv", re.compile(r"^$|key|secret|token|pass|credential|auth", re.IGNORECASE)),
    ("export", re.compile(r"^-p$|^$")),
    ("set", re.compile(r"^$")),
    ("declare", re.compile(r"^$|^-[a-zA-Z]*[px][a-zA-Z]*$")),
    ("typeset", re.compile(r"^$|^-[a-zA-Z]*[px][a-zA-Z]*$")),
    ("ps", re.compile(r"^[a-zA-Z]*e[a-zA-Z]*(?:\s|$)|^-[a-zA-Z]*E\b")),  # BSD `e`: each process's environment
    # PowerShell's environment drive, however the PowerShell was started (`pwsh -c`, a VM's run-command).
    ("get-childitem", re.compile(r"(?i)^(?:-path\s+)?env:\\?$")),
    ("gci", re.compile(r"(?i)^(?:-path\s+)?env:\\?$")),
    # A Terraform or OpenTofu state holds every secret the configuration made or read, in clear.
    ("terraform", re.compile(r"(?:^|\s)state\s+pull\b")),
    ("tofu", re.compile(r"(?:^|\s)state\s+pull\b")),
    ("gpg", re.compile(r"--export-secret|--export-ssh-key")),
    ("gpg2", re.compile(r"--export-secret|--export-ssh-key")),
    (
        "aws",
        re.compile(
            r"get-session-token|get-login-password|export-credentials|configure get \S*(?:secret|key|token|session)|"
            r"get-secret-value|"
            r"get-authorization-token|create-access-key|assume-role|get-federation-token|get-parameter.*--with-decryption"
        ),
    ),
    (
        "gcloud",
        re.compile(
            r"print-access-token|print-identity-token|print-refresh-token|secrets versions access|keys create|"
            r"config-helper"
        ),
    ),
    ("az", re.compile(r"get-access-token|keyvault secret show|list-keys|keys list|credential reset")),
    ("gh", re.compile(r"auth token|auth status.*(?:--show-token|-t\b)|auth refresh.*--show-token")),
    ("kubectl", re.compile(r"config view.*(?:--raw|--flatten)|create token")),
    ("security", re.compile(r"find-generic-password|find-internet-password|dump-keychain|export")),
    ("op", re.compile(r"read|item get|inject")),
    ("bw", re.compile(r"get|export|unlock")),
    ("vault", re.compile(r"read|kv get|token create|print token")),
    # `heroku config` prints every config var of the app: its database URL, its API keys.
    ("heroku", re.compile(r"auth:token|^config(?:\s|$)|^config:get\b")),
    ("vercel", re.compile(r"^env pull\b")),
    ("doppler", re.compile(r"^secrets(?:\s+(?:get|download))?(?:\s|$)(?!.*--only-names)")),
    # A container's environment, where its secrets are given to it.
    ("docker", re.compile(r"^(?:container )?inspect\b.*\bEnv\b")),
    ("podman", re.compile(r"^(?:container )?inspect\b.*\bEnv\b")),
    ("doctl", re.compile(r"auth token")),
    ("git", re.compile(r"credential (?:fill|get)|config .*credential")),
    ("npm", re.compile(r"token (?:list|create)|config get \S*(?:_authtoken|_auth|_password)", re.IGNORECASE)),
    # A GitLab CI variable's value, one (`get`) or all (`export`).
    ("glab", re.compile(r"^variable (?:get|export)\b")),
    # A Terraform output named as a secret, printed raw or as JSON (sensitive outputs print in clear there).
    ("terraform", re.compile(r"^output\b.*(?:-raw|-json)\b.*(?:pass|secret|token|key|credential)", re.I)),
    ("tofu", re.compile(r"^output\b.*(?:-raw|-json)\b.*(?:pass|secret|token|key|credential)", re.I)),
    ("secret-tool", re.compile(r"lookup")),
    ("pass", re.compile(r"show|^[\w/.-]+$")),
    ("keyring", re.compile(r"get")),
)
_SEARCH_TOOLS = frozenset({"grep", "rg", "ag", "egrep", "fgrep", "ack", "git", "findstr", "select-string"})
_SECRET_SEARCH = re.compile(r"password|passwd|secret|api[_-]?key|token|akia|private key|aws_secret|credential", re.I)
_PROC_ENVIRON = re.compile(r"^/proc/(?:[^/]+)/environ$")


def _is_credential_path(path: str, known: CredentialPaths) -> str | None:
    """What credential `path` is, by the `credential_paths` pack of the rules config (`known`)."""
    if _PROC_ENVIRON.match(path):
        return "a process environment"
    if not known.file_match.search(path) and not known.folder_match.search(path):
        return None
    if known.harmless_match.search(path):
        return None
    for pattern in known.files:
        if component_match(path, pattern):
            return "/".join(pattern)
    last = path.rsplit("/", 1)[-1]
    for pattern in known.folders:
        # The directory itself (archived, copied) or a glob inside it.
        if component_match(path, pattern) or (
            any(ch in last for ch in "*?[") and component_match(path, pattern, prefix=True)
        ):
            return "/".join(pattern) + "/"
    return None


def _printed_credentials(command: ShellCommand) -> str | None:
    arguments = " ".join(command.argv[1:])
    for program, pattern in _PRINTING_COMMANDS:
        if command.name == program and pattern.search(arguments):
            return f"`{program} {arguments}`".strip()
        if command.name.startswith("docker-credential-") and "get" in command.argv[1:]:
            return f"`{command.name} get`"
    if (
        command.name in _SEARCH_TOOLS
        and _SECRET_SEARCH.search(arguments)
        and any(
            word in ("-r", "-R", "--recursive", "-rn", "-ri", "-rl", "-ril", "-rni") or word in ("~", "/", ".")
            for word in command.argv
        )
    ):
        return f"a recursive search for secrets (`{command.name} {arguments}`)"
    return None


# `compgen -e` (or -v, -A export/variable) lists the names of the variables; `${!name}` is the value of each.
_NAME_LISTING = re.compile(r"^(?:-[a-zA-Z]*[ev][a-zA-Z]*|-A\s*(?:export|variable))\b")
_INDIRECT_VALUE = re.compile(r"\$\{![A-Za-z_]\w*\}")
_PREFIX_NAMES = re.compile(r"\$\{![A-Za-z_]\w*[@*]\}")


def _indirect_environment(analysis: CallAnalysis) -> str | None:
    """The values of every variable, printed by name: `for v in $(compgen -e); do echo "${!v}"; done`."""
    listed = any(
        command.name == "compgen" and _NAME_LISTING.match(" ".join(command.argv[1:]))
        for command in analysis.shell.commands
    )
    sources = [value.raw for value in analysis.text.values if not value.is_key and "${!" in value.raw]
    if any(_INDIRECT_VALUE.search(text) for text in sources) and (
        listed or any(_PREFIX_NAMES.search(text) for text in sources)
    ):
        return "the value of every variable of the environment, read by name"
    return None


def credential_labels(call: Call, config: RulesConfig, analysis: CallAnalysis) -> list[tuple[str, str]]:
    """(clause, what) for every credential the call would read or print, allowlists applied."""
    # Asked twice per call (the rule, then what the session read): worked out once per rules config.
    return analysis.memo(f"credential_labels:{id(config)}", lambda: _credential_labels(call, config, analysis))


def _credential_labels(call: Call, config: RulesConfig, analysis: CallAnalysis) -> list[tuple[str, str]]:
    section = config.credential_access
    found: list[tuple[str, str]] = []
    # Listing a credential folder or a file's metadata shows names and sizes, not contents.
    names_only = metadata_only_paths(analysis)
    metadata = metadata_tool(analysis) and not analysis.shell.commands
    known = pack_views(config.packs).credential_paths
    written_only = _written_only(analysis) | _kept_by_clean(analysis)
    for path in analysis.paths:
        if path in written_only:
            continue
        what = _is_credential_path(path, known)
        if what is not None and (metadata or path in names_only):
            continue
        if what is not None and not matches_any_glob(path, section.allowed_paths):
            found.append(("credential_file", f"{path} ({what})"))
    for command in analysis.shell.commands:
        what = _printed_credentials(command) or kubectl_secret_dump(command) or interpreter_dump(command)
        if what is not None and environment_reduced(command, analysis.shell):
            continue  # `env | grep -c PATH`, `env | cut -d= -f1`: a count or the names, no value
        if what is not None and not matches_any_glob(" ".join(command.argv), section.allowed_commands):
            found.append(("credential_command", what))
    dump = environment_dump(analysis) or _indirect_environment(analysis)
    if dump is not None:
        found.append(("environment_dump", dump))
    found.extend(("api_secret_read", match.describe()) for match in api_matches(analysis, RULE))
    if (
        call.category is Category.CREDENTIAL_STORE
        and not _writes_only(analysis)
        and not names_only_store_tool(analysis)
    ):
        found.append(("credential_store", f"the credential store tool {call.tool_name}"))
    elif _exports_keys(call.tool_name):
        found.append(("credential_store", f"{call.tool_name} hands out the keys that control a wallet or account"))
    if _cluster_secret_read(analysis):
        found.append(("credential_command", f"a Kubernetes secret's data through {call.tool_name}"))
    secret_table = _secret_select(analysis)
    if secret_table:
        found.append(("credential_store", f"a SELECT of the secrets kept in {secret_table}"))
    return found


_COPYING = frozenset({"cp", "install"})
# Programs that show a file's name, size or mode, never what it holds.
_METADATA_ONLY = frozenset({"ls", "stat", "test", "[", "du", "chmod", "touch"})


def _written_only(analysis: CallAnalysis) -> frozenset[str]:
    """Paths the call's commands only write: `cp -n .env.example .env` fills .env, it reads nothing from it.

    A path a command also reads, or names in any other way, stays in.
    """
    written: set[str] = set()
    other: list[str] = []
    for command in analysis.shell.commands:
        operands = [word for word in command.argv[1:] if not word.startswith("-")]
        if command.name in _COPYING and len(operands) >= 2 and not any(w.startswith("-t") for w in command.argv):
            written.add(normalise_path(operands[-1]))
            other.extend(operands[:-1])
        elif command.name not in _METADATA_ONLY:
            other.extend(command.argv[1:])
        written.update(normalise_path(target) for operator, target in command.redirects if operator in (">", ">|"))
    return frozenset(written - {normalise_path(word) for word in other})


def _kept_by_clean(analysis: CallAnalysis) -> frozenset[str]:
    """Paths `git clean` is told to keep (`-e .env.local`, `--exclude=.env`): spared, never read."""
    kept: set[str] = set()
    other: list[str] = []
    for command in analysis.shell.commands:
        argv = list(command.argv)
        if command.name == "git" and "clean" in argv:
            for n, word in enumerate(argv):
                if word == "-e" and n + 1 < len(argv):
                    kept.add(normalise_path(argv[n + 1]))
                elif word.startswith("--exclude="):
                    kept.add(normalise_path(word.partition("=")[2]))
                elif not (n and argv[n - 1] == "-e"):
                    other.append(word)
        else:
            other.extend(argv[1:])
    return frozenset(kept - {normalise_path(word) for word in other})


_KEY_EXPORTS = frozenset({"export", "reveal", "backup", "dump"})
_KEY_HOLDERS = frozenset({"wallet", "wallets", "seed", "mnemonic", "keystore", "privatekey", "private", "keypair",
                          "recovery"})  # fmt: skip


def _exports_keys(tool_name: str) -> bool:
    """`export_wallet`, `reveal_seed_phrase`, `backup_keystore`: whoever holds the export holds the funds."""
    name = tool_name.rpartition("__")[2]
    words = name_words(name)
    return bool(words & _KEY_EXPORTS and words & _KEY_HOLDERS)


_RESOURCE_KEYS = frozenset({"resourcetype", "resource_type", "resource", "kind", "type", "resourcekind"})
_DATA_OUTPUTS = frozenset({"yaml", "json", "jsonpath", "go-template", "template", "wide-json"})


def _cluster_secret_read(analysis: CallAnalysis) -> bool:
    """A cluster tool's `get`/`describe` of a Secret by name or with its data (`output: yaml`), not a list of names."""
    values = [value for value in analysis.values(payload=False) if not value.is_key]
    if not any(value.key in _RESOURCE_KEYS and value.folded.strip() in ("secret", "secrets") for value in values):
        return False
    if analysis.intent_words & {"delete", "create", "apply", "patch"}:
        return False
    named = any(value.key in ("name", "names", "resourcename", "resource_name") for value in values)
    output = next((value.folded.strip() for value in values if value.key in ("output", "o", "format")), "")
    return named or output.split("=", 1)[0] in _DATA_OUTPUTS


# Tables that hold secrets in the clear, or a database's own password hashes, read by a SELECT.
_SECRET_SELECT = re.compile(
    r"\bselect\s+(?P<columns>[^;]{1,400}?)\s+from\s+(?P<table>(?:[\w\"`]+\.)?[\"`]?(?:decrypted_secrets|secrets"
    r"|credentials|api_keys|apikeys|access_tokens|oauth_tokens|refresh_tokens|personal_access_tokens|pg_shadow"
    r"|pg_authid|user_passwords)[\"`]?|mysql\.user)(?![\w.])",
    re.IGNORECASE,
)
# Counting rows, or naming them, shows no secret: `SELECT count(*) FROM api_keys`, `SELECT name FROM secrets`.
_HARMLESS_COLUMNS = re.compile(
    r"^(?:count\s*\([^)]*\)|(?:id|name|key_id|created_at|updated_at|expires_at)(?:\s*,\s*(?:id|name|key_id"
    r"|created_at|updated_at|expires_at))*)$",
    re.IGNORECASE,
)


def _secret_select(analysis: CallAnalysis) -> str | None:
    """The secret-holding table a SELECT reads whole values from (in SQL fields or a shell's database client)."""
    texts = [value.raw for value in analysis.values(payload=False) if not value.is_key and "select" in value.folded]
    for text in [*texts, *analysis.command_texts]:
        for match in _SECRET_SELECT.finditer(text[:65_536]):
            if not _HARMLESS_COLUMNS.match(match.group("columns").strip()):
                return match.group("table")
    return None


def _writes_only(analysis: CallAnalysis) -> bool:
    """A store's tool that writes, deletes, locks, or makes up a new random password: it hands out nothing kept."""
    return bool(
        analysis.intent_words
        & {"set", "store", "save", "put", "create", "write", "delete", "lock", "add", "update", "generate", "generator"}
    ) and not (analysis.intent_words & {"get", "read", "show", "list", "export", "reveal", "fetch", "retrieve", "dump"})


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny reads of credential files and commands that print credentials."""
    del ledger, now  # stateless: the engine records what was read once the call is allowed
    analysis = analysis or CallAnalysis(call)
    findings = []
    for clause, what in credential_labels(call, config, analysis)[:5]:
        findings.append(Finding(RULE, f"{RULE}.{clause}", f"The call would read credential material: {what}."))
    return findings


def may_find_in_prose_read(call: Call, config: RulesConfig, analysis: CallAnalysis) -> bool:
    """Whether this rule can find anything in a prose-only read (the engine's `prose_only_read`).

    Such a call names no path, runs no command, sends no request and has no value outside prose
    fields for a SELECT or a cluster's secret, and its category is not a credential store's: what
    is left is a tool named for exporting keys, a tool that prints its environment, and the
    indirect reading of every variable (`${!name}`), which prose can hold.
    """
    del config
    return (
        _exports_keys(call.tool_name)
        or environment_dump(analysis) is not None
        or _indirect_environment(analysis) is not None
    )
