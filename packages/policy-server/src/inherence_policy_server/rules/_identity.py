"""Identity escalation: password resets and changes, MFA changes, admin or owner grants,
ownership transfers, invites of and shares with outside identities, and new SSH or deploy keys.

What a call does is read from its argument keys, its action-like values and its tool name
together (`CallAnalysis.intent_words`); a read such as listing the admins is not a grant.
"""

from __future__ import annotations

import datetime
import fnmatch
import functools
import re
from collections.abc import Mapping

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._api_endpoints import api_matches, call_http_requests
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._exfiltration import session_key, tenant_of
from inherence_policy_server.rules._hosts import find_emails, host_within
from inherence_policy_server.rules._outcomes import ACCOUNT_DOMAIN, OWNER, owner_digest
from inherence_policy_server.rules._pack_views import pack_views
from inherence_policy_server.rules._paths import component_match
from inherence_policy_server.rules._public_share import public_share_problem
from inherence_policy_server.rules._text import name_words

__all__ = ["RULE", "evaluate", "may_find_in_prose_read"]

RULE = "identity_escalation"

_ROLE_KEYS = frozenset({"role", "roles", "permission", "permissions", "access_level", "group", "groups",
                        "policy", "policy_arn", "clusterrole", "scope", "scopes", "privilege", "privileges",
                        "level"})  # fmt: skip
# A user record's profile, role or permission set, set by id (`{"Id": "005Q", "ProfileId": "00e..."}`): what it
# grants cannot be read from the id.
_ROLE_ID_KEYS = frozenset({"profileid", "roleid", "roleids", "userroleid", "permissionsetid", "permissionsetgroupid",
                           "roledefinitionid", "accessprofileid", "securityroleid"})  # fmt: skip
_MUTATION = frozenset({"grant", "assign", "add", "set", "update", "create", "invite", "promote", "change",
                       "make", "put", "patch", "post", "attach", "bind", "transfer", "edit", "modify", "upsert",
                       "elevate"})  # fmt: skip
_READING = frozenset({"list", "get", "search", "find", "read", "describe", "show", "query", "lookup", "count", "view"})
_ACTING = _MUTATION | frozenset({"reset", "disable", "remove", "delete", "enroll", "revoke", "register", "recover",
                                  "forgot", "deactivate", "unenroll", "rotate", "regenerate", "share", "approve",
                                  "turn", "off", "new", "join", "accept", "upload", "install"})  # fmt: skip
_SUBJECT_KEYS = frozenset({"user", "username", "user_id", "userid", "email", "login", "member", "member_id", "invitee",
                           "principal", "assignee", "collaborator", "account", "account_id", "identity", "invite",
                           "new_owner", "to", "subject", "grantee", "key", "password", "new_password"})  # fmt: skip
_LISTS = frozenset({"collaborators", "members", "users", "admins", "owners", "teams", "people", "roster",
                    "directory", "accounts", "profile", "me", "whoami", "memberships", "permissions", "roles",
                    "groups"})  # fmt: skip
_PASSWORD_KEYS = frozenset({"password", "new_password", "newpassword", "passwd", "new_passwd", "password_hash"})
_PASSWORD_WORDS = frozenset({"password", "passwd", "passcode"})
_MFA_WORDS = frozenset({"mfa", "2fa", "totp", "otp", "webauthn", "authenticator", "twofactor", "factor", "factors",
                        "passkey", "passkeys", "authenticators"})  # fmt: skip
_INVITE_WORDS = frozenset({"invite", "invitation", "collaborator", "collaborators", "member", "members"})
_OWNERSHIP = frozenset({"new_owner", "owner_id", "new_owner_id", "transfer_to", "owner"})
# Flags that make the account they are set on an administrator (`is_admin: true`), compared without `_`/`-`.
_ADMIN_FLAGS = frozenset({"admin", "isadmin", "superadmin", "issuperadmin", "isowner", "siteadmin", "isdelegatedadmin",
                          "orgadmin", "isorgadmin", "makeadmin", "grantadmin"})  # fmt: skip
# Minting a token that acts as a person or a service: through a tool so named, or a raw API path.
_TOKEN_MAKING = frozenset({"create", "generate", "new", "mint", "issue", "add", "make"})
_TOKEN_KINDS = frozenset({"api", "access", "personal", "pat", "auth", "deploy", "bot", "service", "apitoken",
                          "apitokens", "accesstoken"})  # fmt: skip
_TOKEN_PATH = re.compile(
    r"/(?:api|access|personal[-_]access|auth|deploy|bot|service[-_]account)[-_]?tokens?(?:/new)?/?$|/apitokens/?$"
)
_WRITING = frozenset({"POST", "PUT", "PATCH"})
_SSH_KEY = re.compile(
    r"^\s*(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) AAAA"
)
_SHELL_ESCALATION: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("passwd", re.compile(r""), "password_change"),
    ("chpasswd", re.compile(r""), "password_change"),
    ("usermod", re.compile(r"-[a-zA-Z]*G|--groups|-o\b"), "admin_grant"),
    ("useradd", re.compile(r"-[a-zA-Z]*G\s*\S*(?:sudo|wheel|admin)|-o\b"), "admin_grant"),
    ("gpasswd", re.compile(r"-a\b.*(?:sudo|wheel|admin)"), "admin_grant"),
    ("visudo", re.compile(r""), "admin_grant"),
    ("ssh-copy-id", re.compile(r""), "new_ssh_key"),
    ("gh", re.compile(r"\b(?:ssh-key|deploy-key|gpg-key) add\b"), "new_ssh_key"),
    (
        "aws",
        re.compile(
            r"attach-(?:user|role|group)-policy|put-(?:user|role)-policy|create-login-profile|"
            r"update-login-profile|add-user-to-group|deactivate-mfa-device|delete-virtual-mfa-device"
        ),
        "admin_grant",
    ),
    ("gcloud", re.compile(r"add-iam-policy-binding|set-iam-policy"), "admin_grant"),
    # A read-only role (`Reader`, `Storage Blob Data Reader`) grants nothing to change.
    (
        "az",
        re.compile(
            r"role assignment create(?!.*--role[= ](?:[\w-]+ ){0,4}reader\b)|ad user update.*password|"
            r"ad app credential reset",
            re.IGNORECASE,
        ),
        "admin_grant",
    ),
    # Google Workspace through GAM.
    ("gam", re.compile(r"\bupdate user\b.*\bpassword\b"), "password_reset"),
    ("gam", re.compile(r"\bcreate admin\b|\bupdate user\b.*\b(?:admin on|isadmin)\b"), "admin_grant"),
    ("gam", re.compile(r"\bturnoff2sv\b|\bdelete backupcodes\b"), "admin_mfa_change"),
    # Entra ID through PowerShell (Microsoft Graph, AzureAD and MSOnline modules).
    ("new-mgrolemanagementdirectoryroleassignment", re.compile(r""), "admin_grant"),
    ("new-mgdirectoryrolememberbyref", re.compile(r""), "admin_grant"),
    ("add-azureaddirectoryrolemember", re.compile(r""), "admin_grant"),
    ("add-msolrolemember", re.compile(r""), "admin_grant"),
    ("reset-mguserauthenticationmethodpassword", re.compile(r""), "password_reset"),
    ("set-msoluserpassword", re.compile(r""), "password_reset"),
    ("set-azureaduserpassword", re.compile(r""), "password_reset"),
    ("update-mguser", re.compile(r"-passwordprofile", re.IGNORECASE), "password_reset"),
    ("remove-mguserauthentication*method", re.compile(r""), "admin_mfa_change"),
    # Binding the built-in read-only role `view` grants nothing to change.
    (
        "kubectl",
        re.compile(r"create (?:cluster)?rolebinding(?!.*--clusterrole[= ]view\b)|clusterrole=cluster-admin"),
        "admin_grant",
    ),
    ("net", re.compile(r"\b(?:user|localgroup administrators)\b"), "admin_grant"),
)


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny calls that change who can get in or what they may do."""
    analysis = analysis or CallAnalysis(call)
    problems = _argument_problems(call, config, analysis, ledger, now) + _shell_problems(analysis)
    problems += _token_problems(analysis)
    problems += [
        (
            _own_or_any(match.endpoint.clause.split(".", 1)[1], match.request.path),
            f"{match.describe()} changes accounts or privileges",
        )
        for match in api_matches(analysis, RULE)
    ]
    findings: dict[str, Finding] = {}
    for clause, why in problems:
        findings.setdefault(clause, Finding(RULE, f"{RULE}.{clause}", f"Identity escalation: {why}."))
    return list(findings.values())


# An admin API's clause, when the user it names is the caller (`/users/me/...`): one's own account.
_OWN_CLAUSES = {"password_reset": "password_change", "admin_mfa_change": "mfa_change"}
_SELF = re.compile(r"/(?:users|accounts|members|people)/(?:me|self|current|~)(?:/|$)", re.IGNORECASE)


def _own_or_any(clause: str, path: str) -> str:
    return _OWN_CLAUSES.get(clause, clause) if _SELF.search(path) else clause


def _inside(domain: str, call: Call, config: RulesConfig, ledger: SessionLedger) -> bool:
    """An address of the organisation: a configured mail domain, else the domain of the account the session acts
    for, learnt from that account's own profile (as the exfiltration rule places recipients)."""
    organisation = config.organisation.email_domains
    if organisation:
        return host_within(domain, organisation)
    return ledger.is_known_recipient(tenant_of(call), f"{ACCOUNT_DOMAIN}{domain}")


# Where a share call names the file it shares.
_FILE_KEYS = frozenset({"file_id", "fileid", "id", "document_id", "documentid", "item_id", "itemid", "doc_id", "docid",
                        "file", "document", "name", "path", "drive_item_id", "driveitemid", "resource_id"})  # fmt: skip


def _owners_domain(call: Call, domain: str, ledger: SessionLedger, now: datetime.datetime) -> bool:
    """A file shared with someone of its owner's own organisation, the owner as this session saw the upstream list it.

    The owner's domain comes from the same upstream's answer about that very file (`owner maya@acme.com`): a
    colleague of the owner is inside the owner's organisation, and a file someone shared with the user goes back
    to its owner's organisation with nothing of the user's in it.
    """
    if not call.upstream:
        return False
    ids = [
        str(value).strip()
        for key, value in list(call.arguments.items())[:64]
        if str(key).casefold() in _FILE_KEYS and isinstance(value, (str, int)) and str(value).strip()
    ]
    if not ids:
        return False
    keys = [owner_digest(call.upstream, item_id, domain) for item_id in ids[:8]]
    return any(item.kind == OWNER for item in ledger.read_items(session_key(call), keys, now))


def _argument_problems(
    call: Call, config: RulesConfig, analysis: CallAnalysis, ledger: SessionLedger, now: datetime.datetime
) -> list[tuple[str, str]]:
    words = analysis.intent_words
    mutating = bool(words & _MUTATION) or not (words & _READING)
    if call.category is Category.READ_ONLY or not mutating or _names_nothing_to_change(words, analysis):
        return []
    considered = call.category in (Category.IDENTITY_ADMIN, Category.UNKNOWN)
    problems: list[tuple[str, str]] = []
    roles = pack_views(config.packs).privileged_roles
    public = public_share_problem(call.arguments, analysis)
    if public is not None:
        problems.append(public)
    if _sets_admin_flag(call.arguments, depth=0):
        problems.append(("admin_grant", "the call makes the account an administrator"))
    elif considered and _names_admin_grant(call.tool_name):
        problems.append(("admin_grant", f"{call.tool_name} makes someone an administrator or owner"))
    if any(key == "access_level" and value >= _GITLAB_MAINTAINER for _, key, value in analysis.text.numbers):
        problems.append(("admin_grant", "the call grants a maintainer's or owner's access level"))
    for value in analysis.values(payload=False):
        if value.is_key:
            if value.folded in _PASSWORD_KEYS:
                problems.append(("password_change", f"the call sets a password ({value.raw})"))
            elif value.folded in _OWNERSHIP and (considered or "transfer" in words):
                problems.append(("ownership_transfer", "the call transfers ownership"))
            continue
        if _SSH_KEY.match(value.raw):
            problems.append(("new_ssh_key", "the call adds an SSH public key"))
        elif value.key.replace("_", "") in _ROLE_ID_KEYS and value.raw.strip() and _about_users(analysis):
            problems.append(("role_grant", f"the call sets {value.key} to an id the rules cannot read as a role"))
        elif value.key in _ROLE_KEYS and value.folded.strip() not in config.identity_escalation.allowed_roles:
            clause = roles.clause_of(value.folded.strip())
            if clause is not None:
                problems.append((clause.split(".", 1)[1], f"the call grants the privileged role {value.raw!r}"))
    recovery = _recovery_change(words, analysis)
    if recovery is not None:
        problems.append(("mfa_change", recovery))
    added = _outside_attendees(call, config, analysis, ledger)
    if added:
        problems.append(("outside_invite", f"the call adds {', '.join(added[:3])} to an existing meeting"))
    if words & _GRANTING and words & _ACCESS_OBJECTS:
        problems.append(("role_grant", "the call gives an app or a person access to the account or a place"))
    if considered or call.category is Category.OUTBOUND_SEND:
        if words & _PASSWORD_WORDS and words & {"reset", "recover", "forgot"}:
            problems.append(("password_reset", "the call resets a password"))
        elif words & _PASSWORD_WORDS and words & {"change", "update", "set", "new"}:
            problems.append(("password_change", "the call changes a password"))
        if (words & _MFA_WORDS or {"two", "factor"} <= words) and words & {
            "disable",
            "remove",
            "reset",
            "delete",
            "add",
            "enroll",
            "change",
            "update",
            "register",
            "set",
            "toggle",
            "turn",
            "configure",
        }:
            problems.append(("mfa_change", "the call changes multi-factor authentication"))
        if words & {"transfer"} and words & {"owner", "ownership", "repo", "repository", "organization", "org"}:
            problems.append(("ownership_transfer", "the call transfers ownership"))
        if words & {"deploy", "ssh", "gpg"} and words & {"key", "keys"}:
            problems.append(("new_ssh_key", "the call adds a deploy, SSH or signing key"))
        if words & {"invite", "invitation", "collaborator", "collaborators", "member", "members", "share"}:
            outside = [
                address
                for address, domain in analysis.emails
                if not _inside(domain, call, config, ledger) and not _owners_domain(call, domain, ledger, now)
            ]
            if outside or (not analysis.emails and words & {"invite", "collaborator", "collaborators"}):
                who = ", ".join(outside[:3]) or "an identity that cannot be placed inside the organisation"
                if "share" in words and not words & _INVITE_WORDS:
                    problems.append(("outside_share", f"the call shares with {who}"))
                else:
                    problems.append(("outside_invite", f"the call invites {who}"))
    return problems


# Access given to an app (OAuth consent with scopes) or to a person (a guest code for a door, a share of a home).
_GRANTING = frozenset({"authorize", "authorise", "grant", "consent", "approve"})
_ACCESS_OBJECTS = frozenset({"access", "app", "application", "oauth", "scope", "scopes", "permission", "permissions",
                             "client", "integration", "guest", "guests"})  # fmt: skip
# An account's own record and its security settings: where its one-time codes, resets and alerts go.
_ACCOUNT_RECORD = frozenset({"profile", "account", "security", "settings", "traveler", "traveller", "me", "self",
                             "user", "login", "credentials", "recovery", "verification", "mfa", "2fa"})  # fmt: skip
# Records of other people or things, whose email or phone is nobody's way in.
_OTHER_RECORDS = frozenset({"contact", "contacts", "customer", "customers", "lead", "leads", "crm", "ticket",
                            "order", "booking", "reservation", "event", "calendar", "invoice", "vendor",
                            "supplier", "employee", "candidate", "guest", "passenger", "patient"})  # fmt: skip
_RECOVERY_KEYS = frozenset({"email", "email_address", "phone", "phone_number", "mobile", "mobile_number", "sms_phone",
                            "recovery_email", "recovery_phone", "mfa_phone", "otp_phone", "contact_email",
                            "contact_phone", "notification_email", "trusted_device", "trusted_devices",
                            "backup_email", "backup_phone", "two_factor_phone"})  # fmt: skip
_CHANGING = frozenset({"update", "set", "change", "edit", "modify", "patch", "put", "replace"})


_EVENT_WORDS = frozenset({"event", "events", "meeting", "meetings", "calendar", "appointment", "invite"})
_EVENT_UPDATING = frozenset({"update", "edit", "modify", "patch", "change", "add", "reschedule", "move", "put"})
_ATTENDEE_KEYS = frozenset({"attendees", "attendee", "participants", "participant", "guests", "guest", "invitees",
                            "add_attendees", "new_attendees", "required_attendees", "optional_attendees"})  # fmt: skip
_EVENT_ID_KEYS = frozenset({"event_id", "eventid", "id", "meeting_id", "meetingid", "event", "uid", "ical_uid"})


def _outside_attendees(call: Call, config: RulesConfig, analysis: CallAnalysis, ledger: SessionLedger) -> list[str]:
    """Attendees of an existing meeting (an update naming its id) that are not of the organisation.

    A meeting's title, notes and files reach every attendee. Without a configured organisation, an
    attendee is outside when their mail domain is neither the account's (learnt) nor that of any
    other attendee: a lone attendee, or colleagues of one domain, ask nothing.
    """
    words = name_words(call.tool_name.rpartition("__")[2])
    if not words & _EVENT_WORDS or not words & _EVENT_UPDATING:
        return []
    keys = {value.folded for value in analysis.text.values if value.is_key}
    if not keys & _EVENT_ID_KEYS:
        return []
    attendees = [
        (email, domain)
        for value in analysis.text.values
        if not value.is_key and any(str(part).casefold() in _ATTENDEE_KEYS for part in value.path)
        for email, domain in find_emails(value.raw)
    ]
    domains = [domain for _, domain in attendees]
    outside = []
    for email, domain in dict.fromkeys(attendees):
        if _inside(domain, call, config, ledger):
            continue
        if config.organisation.email_domains or (domains.count(domain) == 1 and len(domains) > 1):
            outside.append(email)
    return outside


# A tool named for making someone an administrator (`make_admin`, `promote_to_owner`, `grant_superadmin`).
_PROMOTING = frozenset({"make", "promote", "grant", "elevate", "assign", "add", "set"})
_ADMIN_NAMES = frozenset({"admin", "admins", "administrator", "superadmin", "superuser", "owner", "owners", "sudo"})
# GitLab's access levels: 40 maintainer, 50 owner.
_GITLAB_MAINTAINER = 40


_USER_RECORDS = frozenset({"user", "users", "member", "members", "assignee", "assigneeid", "principal", "employee",
                           "permissionsetassignment", "userid", "user_id", "staff"})  # fmt: skip


def _about_users(analysis: CallAnalysis) -> bool:
    """The call changes a user's record (`objectName: "User"`, a `user_id`), not an account's or a business's."""
    if analysis.intent_words & _USER_RECORDS:
        return True
    return any(value.folded.strip() in _USER_RECORDS for value in analysis.text.values if len(value.raw) <= 40)


def _names_admin_grant(tool_name: str) -> bool:
    words = name_words(tool_name.rpartition("__")[2])
    return bool(words & _PROMOTING and words & _ADMIN_NAMES)


def _recovery_change(words: frozenset[str], analysis: CallAnalysis) -> str | None:
    """A change of the email, phone or trusted device an account's codes and resets go to."""
    if not words & _CHANGING or not words & _ACCOUNT_RECORD or words & _OTHER_RECORDS:
        return None
    keys = {value.folded for value in analysis.text.values if value.is_key}
    changed = sorted(keys & _RECOVERY_KEYS)
    if not changed:
        return None
    return f"the call changes where the account's codes, resets and alerts go ({', '.join(changed[:3])})"


def _names_nothing_to_change(words: frozenset[str], analysis: CallAnalysis) -> bool:
    """A list named with no verb that changes anything and nobody to change: `repo_collaborators` reads a list."""
    if words & _ACTING or not words & _LISTS:
        return False
    return not any(value.is_key and value.folded in _SUBJECT_KEYS for value in analysis.text.values)


def _shell_problems(analysis: CallAnalysis) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for command in analysis.shell.commands:
        arguments = " ".join(command.argv[1:])
        for program, pattern, clause in _SHELL_ESCALATION:
            if fnmatch.fnmatchcase(command.name, program) and pattern.search(arguments):
                problems.append((clause, f"`{' '.join(command.argv)[:160]}` changes accounts or privileges"))
        for operator, target in command.redirects:
            if operator in (">", ">>") and _grants_access(target):
                problems.append(("new_ssh_key", f"the command writes to {target}"))
        if command.name in ("tee", "cp", "mv", "install", "ln") and any(
            _grants_access(word) for word in command.argv[1:]
        ):
            problems.append(("new_ssh_key", f"`{' '.join(command.argv)[:160]}` writes an access file"))
    if analysis.call.category in (Category.FILE_WRITE, Category.UNKNOWN):
        for path in analysis.paths:
            if _grants_access(path):
                problems.append(("new_ssh_key", f"the call writes {path}, which grants access"))
    return problems


def _grants_access(path: str) -> bool:
    lowered = path.casefold()
    return (
        component_match(lowered, ("authorized_keys",))
        or component_match(lowered, ("authorized_keys2",))
        or lowered.startswith("/etc/sudoers")
        or lowered in ("/etc/passwd", "/etc/shadow", "/etc/group")
    )


def _sets_admin_flag(node: object, depth: int) -> bool:
    if depth > 4 or not isinstance(node, Mapping):
        return False
    for key, value in node.items():
        if value is True and str(key).casefold().replace("_", "").replace("-", "") in _ADMIN_FLAGS:
            return True
        if isinstance(value, Mapping) and _sets_admin_flag(value, depth + 1):
            return True
    return False


def _token_problems(analysis: CallAnalysis) -> list[tuple[str, str]]:
    """A new API or access token: whoever holds it acts with its rights, outside any session."""
    words = _tool_words(analysis.call.tool_name)
    if words & {"token", "tokens", "pat", "apitoken", "accesstoken"} and words & _TOKEN_MAKING and words & _TOKEN_KINDS:
        return [("token_create", f"{analysis.call.tool_name} creates an access token")]
    for request in call_http_requests(analysis):
        path = request.path.casefold().split("?", 1)[0]
        if request.method.upper() in _WRITING and _TOKEN_PATH.search(path):
            return [("token_create", f"{request.method} {path[:80]} creates an access token")]
    return []


@functools.lru_cache(maxsize=1024)
def _tool_words(tool_name: str) -> frozenset[str]:
    # Tool names repeat from call to call: each is split once.
    return frozenset(re.findall(r"[a-z0-9]+", re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", tool_name).casefold()))


def may_find_in_prose_read(call: Call, config: RulesConfig, analysis: CallAnalysis) -> bool:
    """Whether this rule can find anything in a prose-only read (the engine's `prose_only_read`).

    A read-only call changes no argument-named account, runs no command and sends no request: only
    a tool named for minting access tokens is left.
    """
    del call, config
    return bool(_token_problems(analysis))
