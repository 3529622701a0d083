"""Unauthorized exfiltration: what a session read reaching the outside, any send to a known
exfiltration endpoint, and secrets in any outbound payload.

A send is judged by what it carries and where it goes. It carries read material when its
payload holds a secret or an identifier the session read (not the recipient's own address)
or a substantial part of read text (`_material`), also once base64, hex or URL-decoded.
Where it goes (`_destinations`): inside the organisation, a known outside recipient
(configured, confirmed by a person before, or paid before), or a new outside one.

* a secret the session read, going outside: `read_secret_sent` (denied);
* other read material to a new outside recipient: `private_data_to_new_recipient` (a person
  confirms; once they do, the recipient is known to the tenant);
* read material to a known outside recipient: `private_data_to_known_recipient` (logged);
* a session whose credential reads were never followed by reported content (no outcome
  reporting: a hosted setup, or reporting turned off) sending outside: `send_after_credential_read`
  (a person confirms), since nothing says what the send carries;
* a standing forward of future mail to an outside address (`_forwarding`): `outside_forwarding` (denied);
* fresh text, sends inside, and sends of what the session never read: no finding.
"""

from __future__ import annotations

import datetime
import re

from inherence_policy_server.rules._analysis import CONTENT_KEYS, CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._api_endpoints import api_matches
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._destinations import RECIPIENT_KEYS, Destination, Place, destinations
from inherence_policy_server.rules._forwarding import outside_forwards
from inherence_policy_server.rules._hosts import host_within
from inherence_policy_server.rules._material import (
    IDENTIFIER,
    SECRET,
    SHINGLE,
    Payload,
    ReadItem,
    digest,
    handed_credential,
    label_own_source,
    label_sender,
    plain_label,
    sender_tag,
)
from inherence_policy_server.rules._outcomes import ACCOUNT_DOMAIN, source_tag
from inherence_policy_server.rules._pack_views import pack_views
from inherence_policy_server.rules._paths import is_path_like, normalise_path
from inherence_policy_server.rules._secrets import find_secrets
from inherence_policy_server.rules._shell_targets import is_data_folder
from inherence_policy_server.rules._text import name_words

__all__ = ["LOCAL_TENANT", "NEW_RECIPIENT", "RULE", "evaluate", "session_key", "tenant_of"]

RULE = "unauthorized_exfiltration"
NEW_RECIPIENT = f"{RULE}.private_data_to_new_recipient"
# The tenant of the embedded server, which has no API keys.
LOCAL_TENANT = "local"

_SEND_PROGRAMS = {
    "curl": re.compile(
        r"^(?:-d|--data(?:-\w+)?|-F|--form(?:-string)?|-T|--upload-file|--json|-X\s*(?:POST|PUT|PATCH))"
    ),
    "wget": re.compile(r"^--post-(?:data|file)|^--body-(?:data|file)|^--method=(?:post|put)", re.IGNORECASE),
    "http": re.compile(r"^(?:post|put|patch)$|=|:=", re.IGNORECASE),
    "xh": re.compile(r"^(?:post|put|patch)$|=|:=", re.IGNORECASE),
}
_ALWAYS_SENDING = frozenset({"nc", "ncat", "netcat", "socat", "scp", "sftp", "rsync", "ftp", "mail", "sendmail", "mutt",
                             "mailx", "telnet", "rclone", "aws", "gsutil", "az",
                             # messaging CLIs: whatever they are given goes to a person or a channel
                             "signal-cli", "telegram-send", "telegram-cli", "matrix-commander", "apprise", "sendxmpp",
                             "swaks", "msmtp", "ntfy", "mmctl", "twilio", "wacli", "whatsapp-cli", "slack-cli",
                             "discord-cli", "teams-cli"})  # fmt: skip
_OUTBOUND_CATEGORIES = frozenset({Category.OUTBOUND_SEND, Category.NETWORK_FETCH, Category.PAYMENT, Category.UNKNOWN})
_BODY_KEYS = CONTENT_KEYS | {"params", "query_params", "fields", "variables", "headers", "form_data", "upload"}
_URL_KEYS = frozenset({"url", "uri", "href", "link", "endpoint", "webhook", "webhook_url", "callback", "callback_url",
                       "base_url", "proxy", "redirect_uri", "from_url", "host", "hostname", "server", "domain",
                       "target", "destination", "remote", "origin", "registry", "ip"})  # fmt: skip
# Envelope fields: the sender's and recipients' own addresses are not what a send carries.
_ENVELOPE_KEYS = (RECIPIENT_KEYS - _URL_KEYS) | {"from", "sender", "from_email", "reply_to", "organizer", "owner"}
_FILE_MOVERS = frozenset({"scp", "sftp", "rsync", "rclone", "ftp"})
_UPLOAD_OPTIONS = frozenset({"-T", "--upload-file", "--post-file", "--body-file"})
_UPLOAD_PREFIXES = ("--post-file=", "--body-file=", "--upload-file=")
_ATTACHMENT_KEYS = frozenset({"attachment", "attachments", "attachment_path", "attachment_paths", "file_path", "files"})
# Shingles of read text a send must share to carry it: a few, and a quarter of the send or many.
MIN_SHARED_SHINGLES = 2
MANY_SHARED_SHINGLES = 16


def session_key(call: Call) -> str:
    """The ledger's key for a call's session; calls without one share a conservative common session."""
    return call.session_id or f"no-session:{call.client or ''}"


def tenant_of(call: Call) -> str:
    """Whose known recipients a call's sends are judged against: its API key, or the local tenant.

    The server's ledgers, one per tenant, share what any key of the tenant made known.
    """
    return call.key_id or LOCAL_TENANT


def _sends_data(call: Call, analysis: CallAnalysis) -> bool:
    if _own_calendar_entry(call, analysis):
        return False
    if call.category in (Category.OUTBOUND_SEND, Category.PAYMENT):
        return True
    has_body = any(value.is_key and value.folded in _BODY_KEYS for value in analysis.text.values)
    if _keeps_for_the_user(call, analysis):
        return False
    if call.category in (Category.NETWORK_FETCH, Category.UNKNOWN) and (
        has_body or any(endpoint.query or len(endpoint.path) > 64 for endpoint in analysis.endpoints)
    ):
        return True
    for command in analysis.shell.commands:
        if command.name == "git" and "push" in [word for word in command.argv[1:] if not word.startswith("-")][:3]:
            return True
        pattern = _SEND_PROGRAMS.get(command.name)
        if command.name in _ALWAYS_SENDING or (pattern and any(pattern.search(word) for word in command.argv[1:])):
            return True
        if pattern and any(endpoint.query for endpoint in analysis.endpoints):
            return True
    # Text addressed to people (an invite's title, a share's note) reaches them whatever the tool is called.
    return (call.category is Category.UNKNOWN or has_body) and bool(analysis.emails)


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Judge a send by what it carries and where it goes; deny exfiltration endpoints and secrets going out."""
    analysis = analysis or CallAnalysis(call)
    section = config.unauthorized_exfiltration
    findings: list[Finding] = []
    # Exfiltration endpoints are the `exfiltration_hosts` pack (shipped, plus the config's entries).
    pack = pack_views(config.packs).exfiltration_hosts
    catchers = pack.hosts + section.extra_exfiltration_hosts
    hosts = [endpoint.host for endpoint in analysis.endpoints] + [domain for _, domain in analysis.emails]
    for host in dict.fromkeys(hosts):
        if host_within(host, catchers) and not host_within(host, section.allowed_hosts):
            clause = pack.clause_of(host) or f"{RULE}.exfiltration_endpoint"
            findings.append(Finding(RULE, clause, f"{host} is a known exfiltration endpoint."))
            break
    # The engine skips this rule for a prose-only read, which reaches no host: keep `_engine._PROSE_READ_CHECKS` true.
    if call.category is Category.READ_ONLY and not analysis.shell.commands:
        return findings
    forwards = outside_forwards(analysis, config)
    if forwards:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.outside_forwarding",
                f"The call would forward future mail to {', '.join(forwards[:3])}, outside the organisation.",
            )
        )
    elif matches := api_matches(analysis, RULE):
        findings.append(
            Finding(
                RULE,
                matches[0].endpoint.clause,
                f"{matches[0].describe()} would forward or redirect future mail to another address.",
            )
        )
    if _page_secrets_sent(analysis):
        findings.append(
            Finding(
                RULE,
                f"{RULE}.secret_in_payload",
                "The page's script sends its cookies or stored session data to a web address.",
            )
        )
    sending = _sends_data(call, analysis)
    if section.scan_secrets and (sending or call.category in _OUTBOUND_CATEGORIES or analysis.shell.commands):
        leak = _secret_leak(analysis, hosts)
        if leak is not None:
            findings.append(Finding(RULE, f"{RULE}.secret_in_payload", f"The outbound payload contains {leak}."))
    if not sending and not findings and _published(analysis) and call.category is not Category.READ_ONLY:
        secrets, private = _carried(analysis, ledger, session_key(call), now)
        if secrets or private:
            clause = "read_secret_sent" if secrets else "private_data_to_new_recipient"
            findings.append(
                Finding(
                    RULE,
                    f"{RULE}.{clause}",
                    f"{call.tool_name} would publish {secrets or private}, read earlier in this session.",
                )
            )
    if not sending and not findings and _stores_text_elsewhere(call, analysis):
        # A note, a task or a ticket in someone's service: a secret put there has left the machine, and
        # private data put in a notebook, list or board named as shared reaches whoever shares it.
        secrets, private = _carried(analysis, ledger, session_key(call), now)
        shared = _shared_place(analysis)
        if secrets:
            findings.append(
                Finding(
                    RULE,
                    f"{RULE}.read_secret_sent",
                    f"{call.tool_name} would store {secrets}, read earlier in this session, in its service.",
                )
            )
        elif private and shared and not ledger.is_known_recipient(tenant_of(call), shared):
            findings.append(
                Finding(
                    RULE,
                    NEW_RECIPIENT,
                    f"{call.tool_name} would put {private}, read earlier in this session, in {shared!r}, "
                    "which is shared with others.",
                    subjects=(shared,),
                )
            )
    if not sending or findings:
        return findings
    tenant = tenant_of(call)
    pushed = [
        remote
        for remote in _pushed_remotes(analysis)
        if not host_within(remote.partition("/")[0], config.organisation.internal_hosts)
        and not ledger.is_known_recipient(tenant, remote)
    ]
    if pushed:
        # A repository's history is the organisation's private content, whatever the session read.
        return [
            Finding(
                RULE,
                NEW_RECIPIENT,
                f"This push sends the repository's history to {', '.join(pushed[:3])}, never pushed to before.",
                subjects=tuple(pushed),
            )
        ]
    learnt_domains = not config.organisation.email_domains
    reached = [
        place
        for place in destinations(analysis, config)
        if place.place is not Place.INSIDE
        or place.inferred
        or (learnt_domains and _account_domain(place, tenant, ledger))
    ]
    if not reached:
        return findings
    session = session_key(call)
    if (
        not ledger.has_read_items(session, now)
        and not _storage_link(analysis)
        and not _bulk_source(analysis)
        and handed_credential(value.raw for value in analysis.text.values if not value.is_key) is None
        and not ledger.unreported_reads(session, now)
    ):
        # Nothing read, nothing handed over by name: no finding below can hold, so no recipient is looked up.
        return findings
    # A reply to the one person whose message the material came in: what they wrote goes back to them.
    only = [place.name for place in reached if not place.inferred]
    sender = sender_tag(only[0]) if len(reached) == 1 and len(only) == 1 and "@" in only[0] else None
    # The user's own details, from their own profile at a service, given back to that same service (a booking).
    upstream = (call.upstream or "").casefold()
    same_service = all(place.place is Place.UNPLACED and place.name.startswith(f"{upstream}:") for place in reached)
    own = source_tag(upstream) if upstream and same_service else None
    secrets, private = _carried(analysis, ledger, session, now, excused_sender=sender, excused_source=own)
    if private and same_service and _updates_own_profile(call):
        private = None  # the user's own record at the service: their new passport or loyalty number, kept there
    # Inside by inference (the chat tool's own workspace, the account's own mail domain) is inside for
    # private data; a secret leaves the machine whoever is on the other end.
    outside = [
        place
        for place in reached
        if secrets or not (place.inferred or (learnt_domains and _account_domain(place, tenant, ledger)))
    ]
    if not outside:
        return findings
    new = [place for place in outside if not place.configured and not ledger.is_known_recipient(tenant, place.name)]
    where = _names(outside)
    if private is None and secrets is None and _uploads_local_file(analysis) and ledger.has_read_items(session, now):
        private = "a local file, whose content cannot be checked, after this session read private data"
    if private is None and secrets is None and new and _storage_link(analysis):
        private = "a sharing link to a stored file or folder"
    if private is None and secrets is None and new and (bulk := _bulk_source(analysis)):
        private = bulk
    if secrets:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.read_secret_sent",
                f"This send to {where} carries {secrets}, read earlier in this session.",
            )
        )
    elif private and new:
        findings.append(
            Finding(
                RULE,
                NEW_RECIPIENT,
                f"This send carries {private}, read earlier in this session, to {_names(new)}, never sent to before.",
                subjects=tuple(place.name for place in new),
            )
        )
    elif private:
        findings.append(
            Finding(
                RULE,
                f"{RULE}.private_data_to_known_recipient",
                f"This send carries {private} to {where}, a known recipient.",
            )
        )
    elif new and ledger.has_read_items(session, now) and (refused := _declined_before(new, ledger, session, now)):
        # The person said no to a send there in this session: what follows (the rest, in pieces) asks again.
        findings.append(
            Finding(
                RULE,
                NEW_RECIPIENT,
                f"This send goes to {', '.join(refused[:3])}, where a call was declined earlier in this session.",
                subjects=tuple(refused),
            )
        )
    elif new and (handed := handed_credential(value.raw for value in analysis.text.values if not value.is_key)):
        # Whatever the session read: a password or key handed to a new outside recipient by name.
        findings.append(
            Finding(
                RULE,
                f"{RULE}.credential_in_message",
                f"This send hands {handed} to {_names(new)}, never sent to before.",
                subjects=tuple(place.name for place in new),
            )
        )
    elif new and not ledger.has_read_items(session, now):
        unreported = ledger.unreported_reads(session, now)
        if unreported:
            findings.append(
                Finding(
                    RULE,
                    f"{RULE}.send_after_credential_read",
                    f"This session read {', '.join(unreported[:3])} and what it holds is not known; "
                    f"sending to {_names(new)} needs confirmation.",
                )
            )
    return findings


_GIT_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://(?:[^@/]*@)?(?P<host>[^/:]+)(?::\d+)?/|(?:[^@/]+@)?(?P<scp>[^/:]+):)"
                      r"(?P<owner>[^/]+)/", re.IGNORECASE)  # fmt: skip


_USUAL_REMOTES = frozenset({"origin", "upstream"})


def _pushed_remotes(analysis: CallAnalysis) -> list[str]:
    """`host/owner` of each remote a `git push` names by URL, or names as a remote this same call added."""
    added: dict[str, str] = {}
    pushed: list[str] = []
    for command in analysis.shell.commands:
        argv = command.argv
        if command.name != "git":
            continue
        words = [word for word in argv[1:] if not word.startswith("-")]
        verb = next((n for n, word in enumerate(words) if word in ("remote", "push")), len(words))
        words = words[verb:]
        if words[:2] in (["remote", "add"], ["remote", "set-url"]) and len(words) >= 4:
            added[words[2]] = words[3]
        elif words[:1] == ["push"] and len(words) >= 2:
            url = added.get(words[1], words[1])
            match = _GIT_URL.match(url)
            if match:
                host = (match.group("host") or match.group("scp") or "").casefold()
                pushed.append(f"{host}/{match.group('owner').casefold()}")
            elif url not in _USUAL_REMOTES and {"--all", "--mirror"} & set(argv):
                # Every branch to a remote that is not the repository's own: added earlier, outside this call.
                pushed.append(f"git remote {url}")
    return list(dict.fromkeys(pushed))


# Script run in a browser page (`browser_evaluate`, `puppeteer_evaluate`) that reads what signs the user in ...
_PAGE_SECRETS = re.compile(r"document\s*\.\s*cookie|\blocalStorage\b|\bsessionStorage\b|\bindexedDB\b|cookieStore")
# ... and sends it somewhere: a request, a beacon, an image or a navigation.
_PAGE_SENDS = re.compile(
    r"\bfetch\s*\(|sendBeacon|XMLHttpRequest|new\s+Image|WebSocket|\.src\s*=|location(?:\.href)?\s*=|window\.open"
    r"|\$\.(?:post|get|ajax)|axios"
)


def _page_secrets_sent(analysis: CallAnalysis) -> bool:
    for value in analysis.text.values:
        raw = value.raw
        if not value.is_key and len(raw) < 65_536 and _PAGE_SECRETS.search(raw) and _PAGE_SENDS.search(raw):
            return True
    return False


# Tools that keep what they are given in a service of their own: no known kind, a private-data service, or
# one whose description speaks of members and sharing (`Shared lists sync to all their members`).
_STORING_CATEGORIES = frozenset({Category.UNKNOWN, Category.PRIVATE_DATA_READ, Category.IDENTITY_ADMIN})
_SHARED_WORDS = frozenset({"shared", "external", "public", "partner", "partners", "guest", "guests"})
_PLACE_KEYS = frozenset({"notebook", "notebook_name", "list", "list_name", "folder", "board", "project", "space",
                         "workspace", "collection", "group", "page", "parent", "destination", "location",
                         "section", "category", "tag", "tags", "label", "labels"})  # fmt: skip


def _stores_text_elsewhere(call: Call, analysis: CallAnalysis) -> bool:
    """A tool that takes prose (a note's body, a task's details) into its own service: not a local file."""
    if call.category not in _STORING_CATEGORIES or analysis.shell.commands:
        return False
    return any(value.is_key and value.folded in _BODY_KEYS for value in analysis.text.values)


# The user's own notes, tasks and reminders: what is put there stays with the user unless the place is shared.
_PERSONAL_STORES = frozenset({"note", "notes", "task", "tasks", "todo", "todos", "reminder", "reminders", "memo",
                              "memos", "journal", "diary", "checklist", "notebook", "bookmark"})  # fmt: skip


# A memory server's knowledge graph (`memory__add_observations`): the assistant's own memory of the user.
_MEMORY_WORDS = frozenset({"memory", "memories", "knowledge"})


# An event of the user's own calendar that invites nobody: its title and notes stay with the user.
_CALENDAR_WORDS = frozenset({"calendar", "event", "events", "appointment", "appointments"})
_CREATING = frozenset({"create", "add", "new", "update", "edit", "modify", "patch", "reschedule", "move", "set"})


def _own_calendar_entry(call: Call, analysis: CallAnalysis) -> bool:
    words = name_words(call.tool_name.rpartition("__")[2])
    if not words & _CALENDAR_WORDS or not words & _CREATING or words & {"share", "invite", "publish", "send"}:
        return False
    return not (analysis.emails or analysis.endpoints or analysis.shell.commands)


# The user's own profile at a service (`update_traveler_profile`): what is written there is the user's own record.
_OWN_RECORDS = frozenset({"profile", "traveler", "traveller", "preferences", "myself"})
_UPDATING = frozenset({"update", "set", "edit", "modify", "patch", "change"})
# What a person files about their own work with their employer: expenses, timesheets, leave.
_OWN_CLAIMS = frozenset({"expense", "expenses", "reimbursement", "reimbursements", "timesheet", "timesheets",
                         "timeoff", "pto", "leave", "absence"})  # fmt: skip
_FILING = frozenset({"submit", "create", "add", "file", "log", "record", "new"})


def _keeps_for_the_user(call: Call, analysis: CallAnalysis) -> bool:
    """A tool of no known kind named for the user's notes, tasks, reminders or the assistant's memory, or one that
    updates the user's own profile, addressing nobody and no web address."""
    if call.category is Category.OUTBOUND_SEND or analysis.shell.commands or analysis.emails or analysis.endpoints:
        return False
    own = name_words(call.tool_name.rpartition("__")[2])
    if own & _OWN_RECORDS and own & _UPDATING:
        return True
    if name_words(call.tool_name) & _OWN_CLAIMS and own & (_UPDATING | _FILING):
        return True  # the user's own expense claim or timesheet, in the organisation's own system
    if call.category is not Category.UNKNOWN:
        return False
    if name_words(call.tool_name) & _MEMORY_WORDS or (call.upstream or "").casefold() in _MEMORY_WORDS:
        return True
    return bool(name_words(call.tool_name.rpartition("__")[2]) & _PERSONAL_STORES)


_VISIBILITY_KEYS = frozenset({"visibility", "privacy", "access", "audience"})


def _published(analysis: CallAnalysis) -> bool:
    """A call that makes what it writes public (`public: true`, `visibility: "public"`): a gist, a paste, a page."""
    for value in analysis.text.values:
        if not value.is_key and value.key in _VISIBILITY_KEYS and value.folded == "public":
            return True
    return any(
        isinstance(flag, bool) and flag and str(key).casefold() in ("public", "is_public", "ispublic", "published")
        for key, flag in analysis.call.arguments.items()
    )


_PROFILE_WORDS = frozenset({"profile", "traveler", "traveller", "passenger", "me", "my", "myself", "self"})
_UPDATE_WORDS = _UPDATING | {"save"}
_NOT_OWN_WORDS = frozenset({"list", "search", "find", "users", "travelers", "travellers", "passengers", "profiles",
                            "share", "send", "invite", "add", "create", "booking", "book", "order"})  # fmt: skip


def _updates_own_profile(call: Call) -> bool:
    """`update_traveler_profile`, `edit_my_profile`: the account's own record at the service, changed."""
    words = name_words(call.tool_name)
    return bool(words & _UPDATE_WORDS and words & _PROFILE_WORDS) and not words & _NOT_OWN_WORDS


# A recipient a person refused a call to in this session, remembered as a digest among the session's reads.
DECLINED = "declined"


def _declined_digest(name: str) -> int:
    return digest(f"declined|{name.casefold()}")


def declined_items(call: Call, config: RulesConfig | None) -> list[ReadItem]:
    """The outside destinations of a call a person declined, as read items of the call's session."""
    analysis = CallAnalysis(call)
    places = destinations(analysis, config if isinstance(config, RulesConfig) else RulesConfig())
    return [
        ReadItem(DECLINED, _declined_digest(place.name), "a declined recipient")
        for place in places[:32]
        if place.place is not Place.INSIDE and place.name
    ]


def _declined_before(
    places: list[Destination], ledger: SessionLedger, session: str, now: datetime.datetime
) -> list[str]:
    keys = {_declined_digest(place.name): place.name for place in places[:32] if place.name}
    if not keys:
        return []
    return [keys[item.digest] for item in ledger.read_items(session, list(keys), now) if item.kind == DECLINED]


def _shared_place(analysis: CallAnalysis) -> str | None:
    """The notebook, list or board a call writes into, when its name says others share it (`Agency shared`)."""
    for value in analysis.text.values:
        if value.is_key or value.key not in _PLACE_KEYS or len(value.raw) > 200:
            continue
        if set(re.findall(r"[a-z]+", value.folded)) & _SHARED_WORDS:
            return value.raw.strip()
    return None


def _account_domain(place: Destination, tenant: str, ledger: SessionLedger) -> bool:
    """An address on the domain of the account the tool acts for, learnt from that account's own profile."""
    local, at, domain = place.name.rpartition("@")
    return bool(at and local and "/" not in domain) and ledger.is_known_recipient(tenant, f"{ACCOUNT_DOMAIN}{domain}")


# Links that open a stored file or folder of the account (whoever holds one reads what it shares).
_STORAGE_LINK = re.compile(
    r"https?://(?:www\.)?(?:dropbox\.com/(?:s|sh|scl)/|1drv\.ms/|[\w-]+(?:-my)?\.sharepoint\.com/:\w:/"
    r"|drive\.google\.com/(?:file/d|drive/folders|open\?id=)|docs\.google\.com/(?:document|spreadsheets|presentation)/d/"
    r"|(?:app\.)?box\.com/s/|we\.tl/|wetransfer\.com/downloads/|mega\.nz/(?:file|folder)/|(?:www\.)?icloud\.com/iclouddrive/)",
    re.IGNORECASE,
)


def _storage_link(analysis: CallAnalysis) -> bool:
    """A send that carries a link to a stored file or folder (Dropbox, OneDrive, SharePoint, Google Drive, Box...)."""
    return any(
        not value.is_key and len(value.raw) < 65_536 and _STORAGE_LINK.search(value.raw)
        for value in analysis.text.values
    )


# Programs whose output is a whole database.
_DUMPERS = frozenset({"pg_dump", "pg_dumpall", "mysqldump", "mariadb-dump", "mongodump", "mongoexport", "sqlite3",
                      "redis-cli", "clickhouse-client", "cockroach"})  # fmt: skip
_ARCHIVERS = frozenset({"tar", "zip", "7z", "7za", "rclone"})


def _bulk_source(analysis: CallAnalysis) -> str | None:
    """A whole database dumped, or a whole data folder archived or copied, in a call that sends it somewhere."""
    for command in analysis.shell.commands:
        words = command.argv[1:]
        if (
            command.name in _DUMPERS
            and (command.name != "sqlite3" or ".dump" in words)
            and (command.name != "redis-cli" or "--rdb" in words)
        ):
            return f"a dump of a database ({command.name})"
        if command.name in _ARCHIVERS:
            folders = [word for word in words if not word.startswith("-") and is_data_folder(normalise_path(word))]
            if folders:
                return f"the whole data folder {folders[0][:80]}"
    return None


def _uploads_local_file(analysis: CallAnalysis) -> bool:
    """True when what the call sends is a local file named in its arguments, not text in them."""
    for command in analysis.shell.commands:
        words = command.argv[1:]
        if command.name in _FILE_MOVERS or (command.name in ("aws", "gsutil", "az") and {"cp", "sync"} & set(words)):
            return True
        if command.name in ("nc", "ncat", "netcat", "socat", "telnet") and command.redirects:
            return True
        if command.name in ("curl", "wget") and any(
            word.startswith("@") or "=@" in word or word in _UPLOAD_OPTIONS or word.startswith(_UPLOAD_PREFIXES)
            for word in words
        ):
            return True
    return any(
        value.key in _ATTACHMENT_KEYS and not value.is_key and is_path_like(value.raw) for value in analysis.text.values
    )


def _names(places: list[Destination]) -> str:
    names = ", ".join(place.name for place in places[:3])
    return names + (f" and {len(places) - 3} more" if len(places) > 3 else "")


def _carried(
    analysis: CallAnalysis,
    ledger: SessionLedger,
    session: str,
    now: datetime.datetime,
    excused_sender: str | None = None,
    excused_source: str | None = None,
) -> tuple[str | None, str | None]:
    """What of the session's reads the send carries: (a secret's label, a description of private data).

    Identifiers and text that came in a message of `excused_sender` (the send's one recipient) are not counted.
    """
    if not ledger.has_read_items(session, now):
        return None, None
    texts = [value.raw for value in analysis.text.values if not value.is_key]
    envelope = [
        value.raw
        for value in analysis.text.values
        if not value.is_key and not value.derived and value.key in _ENVELOPE_KEYS and "://" not in value.raw
    ]
    payload = Payload(texts)
    if envelope:
        payload.tokens -= Payload(envelope).tokens
    items = ledger.read_items(session, payload.digests, now)
    secrets = [plain_label(item.label) for item in items if item.kind == SECRET]
    if secrets:
        return secrets[0] or "a secret", None
    if excused_sender is not None:
        items = [item for item in items if label_sender(item.label) != excused_sender]
    if excused_source is not None:
        items = [item for item in items if label_own_source(item.label) != excused_source]
    identifiers = list(dict.fromkeys(plain_label(item.label) for item in items if item.kind == IDENTIFIER))
    shared = sum(item.kind == SHINGLE for item in items)
    substantial = shared >= MIN_SHARED_SHINGLES and (
        shared * 4 >= len(payload.shingles) or shared >= MANY_SHARED_SHINGLES
    )
    if identifiers:
        return None, " and ".join(identifiers[:2])
    if substantial:
        return None, "a substantial part of text"
    return None, None


def _secret_leak(analysis: CallAnalysis, hosts: list[str]) -> str | None:
    for value in analysis.text.values:
        for label, issuers in find_secrets(value.raw):
            if issuers and hosts and all(host_within(host, issuers) for host in hosts):
                continue  # a provider's own token sent only to that provider's API
            return label
    for value in analysis.text.values:
        if "://" in value.raw and "@" in value.raw and _carried_url_password(value.raw, hosts):
            return "a password inside a URL of another host"
    return None


# `scheme://user:password@host`: a connection string with its password.
_URL_PASSWORD = re.compile(r"\b[a-z][a-z0-9+.-]{0,20}://[^\s/?#@:\"']{1,64}:(?P<password>[^\s/?#@\"']{1,128})@"
                           r"(?P<host>[a-z0-9.-]{1,253})", re.IGNORECASE)  # fmt: skip
_PLACEHOLDER = re.compile(r"pass(?:word|wd)?|secret|changeme|example|dummy|redacted|x{3,}|\*{3,}|[<>${}%]", re.I)


def _carried_url_password(text: str, hosts: list[str]) -> bool:
    """A connection string with a real-looking password, to a host the call does not itself connect to.

    `curl http://admin:pw@couch.internal/` logs in where it goes; a `postgres://app:pw@db/` URL
    in a chat message hands the database's password to whoever reads the chat.
    """
    for match in _URL_PASSWORD.finditer(text[:65_536]):
        password, host = match.group("password"), match.group("host").casefold()
        if len(password) < 6 or _PLACEHOLDER.search(password) or not re.search(r"\d", password):
            continue
        if not re.search(r"[A-Za-z]", password) or host in hosts:
            continue
        return True
    return False
