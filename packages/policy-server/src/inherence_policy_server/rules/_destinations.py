"""Where a send goes: each destination named, and placed inside the organisation or outside.

Inside: the organisation's email domains and hosts, private and loopback addresses, its
chat workspaces. Outside: everything else, and always the places that forward to whoever
holds a token or a link whatever domain the organisation trusts: chat bot APIs, Discord
webhooks, and Slack incoming webhooks of a workspace that is not the organisation's. A send
that names no host or address at all (a chat post by channel id, `git push origin`) is
`unplaced` and named by upstream, tool and channel; it counts as outside unless its
upstream is one of the organisation's chat workspaces.
"""

from __future__ import annotations

import dataclasses
import enum
import re

from inherence_policy_server.rules._analysis import DESTINATION_KEYS, CallAnalysis
from inherence_policy_server.rules._api import Category
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._hosts import Endpoint, host_within

__all__ = ["RECIPIENT_KEYS", "Destination", "Place", "destinations", "payee_name"]

# Fields naming who receives a send or a payment: their values are where it goes, not what it carries.
RECIPIENT_KEYS = DESTINATION_KEYS | frozenset(
    {"payee", "beneficiary", "iban", "account_number", "to_account", "destination_account", "recipient_id",
     "payee_id", "receiver", "chat_id", "channel_id", "user", "user_id", "users", "phone", "phone_number",
     "attendees", "guests", "invitees", "participants", "members", "reviewers", "assignee", "assignees",
     "new_recipient", "new_payee", "wallet", "vendor"}
)  # fmt: skip
_PAYEE_KEYS = ("recipient", "payee", "beneficiary", "iban", "to_account", "destination_account", "recipient_id",
               "payee_id", "account_number", "receiver", "to", "new_recipient", "new_payee", "wallet",
               "vendor")  # fmt: skip
_CHANNEL_KEYS = ("channel", "channel_id", "chat_id", "conversation", "conversation_id", "room", "room_id", "thread",
                 "user", "user_id", "repo", "repository", "remote")  # fmt: skip
_BOT_HOSTS = ("api.telegram.org",)
_DISCORD_HOSTS = ("discord.com", "discordapp.com", "canary.discord.com", "ptb.discord.com")


class Place(str, enum.Enum):
    INSIDE = "inside"
    OUTSIDE = "outside"
    UNPLACED = "unplaced"


@dataclasses.dataclass(frozen=True)
class Destination:
    """One place a send reaches: `name` is how a known recipient is remembered (an address, a host, a payee)."""

    name: str
    place: Place
    configured: bool = False
    # Placed inside by inference, not by the configuration (the workspace a chat tool is signed in to):
    # enough for private data, never for a secret, which leaves the machine whoever reads it.
    inferred: bool = False


def _internal_host(host: str, config: RulesConfig) -> bool:
    organisation = config.organisation
    trusted = (
        organisation.internal_hosts
        + organisation.email_domains
        + organisation.chat_workspaces
        + config.unauthorized_exfiltration.allowed_hosts
    )
    return host_within(host, trusted) or host == "localhost"


def _endpoint(endpoint: Endpoint, config: RulesConfig) -> Destination:
    host, path = endpoint.host, endpoint.path
    workspaces = config.organisation.chat_workspaces
    allowed = config.unauthorized_exfiltration.allowed_hosts
    if host == "hooks.slack.com":
        parts = path.split("/")
        team = parts[2].lower() if len(parts) > 2 and parts[1] == "services" else ""
        return Destination(f"hooks.slack.com/services/{team}", Place.INSIDE if team in workspaces else Place.OUTSIDE)
    if host_within(host, _DISCORD_HOSTS) and path.startswith("/api/webhooks"):
        webhook = path.split("/")[3] if len(path.split("/")) > 3 else ""
        return Destination(f"{host}/api/webhooks/{webhook}", Place.OUTSIDE)
    if host in _BOT_HOSTS and not host_within(host, allowed):
        return Destination(host, Place.OUTSIDE)  # the path holds the bot's token: never part of a name
    if _internal_host(host, config) or (endpoint.ip is not None and not endpoint.ip.is_global):
        return Destination(host, Place.INSIDE)
    return Destination(host, Place.OUTSIDE)


# Chat products whose channels and DMs live in one organisation's workspace (not public networks,
# phone numbers or federated rooms, where anyone may be on the other end).
_WORKSPACE_CHATS = frozenset({"slack", "teams", "msteams", "mattermost", "rocketchat", "zulip", "googlechat", "gchat",
                              "webex", "workplace", "chatter",
                              # work trackers and wikis whose issues and pages live in the organisation's workspace
                              "linear", "jira", "atlassian", "confluence", "asana", "clickup", "trello", "youtrack",
                              "basecamp", "notion"})  # fmt: skip


def _workspace_chat(tool_name: str, upstream: str) -> bool:
    words = set(re.findall(r"[a-z]+", f"{tool_name} {upstream}".casefold()))
    outward = {"webhook", "webhooks", "connect", "external", "guest", "public", "publish", "share", "invite"}
    return bool(words & _WORKSPACE_CHATS) and not words & outward


def _first_value(analysis: CallAnalysis, keys: tuple[str, ...]) -> str:
    for wanted in keys:
        for value in analysis.text.strings():
            if value.key == wanted and not value.derived and value.raw.strip():
                return value.folded.strip()[:200]
    return ""


def payee_name(analysis: CallAnalysis) -> str | None:
    """How the payee of a payment is remembered as a recipient (`payee:<name>`), or None."""
    if analysis.call.category is not Category.PAYMENT:
        return None
    payee = _first_value(analysis, _PAYEE_KEYS)
    return f"payee:{payee}" if payee and "@" not in payee else None


def destinations(analysis: CallAnalysis, config: RulesConfig) -> list[Destination]:
    """Every destination of a send, without repeats; one `unplaced` destination when it names none."""
    call = analysis.call
    organisation = config.organisation
    found: dict[str, Destination] = {}
    for address, domain in analysis.emails:
        top = domain.rpartition(".")[2]
        if not (top.isalpha() or top.startswith("xn--")):
            continue  # `19:general@thread.tacv2` is a chat's channel id: no mail domain ends that way
        if host_within(domain, organisation.email_domains + organisation.internal_hosts):
            found.setdefault(address, Destination(address, Place.INSIDE))
        else:
            configured = address in organisation.known_recipients
            found.setdefault(address, Destination(address, Place.OUTSIDE, configured=configured))
    for endpoint in analysis.endpoints:
        if "@" in endpoint.source and "://" not in endpoint.source:
            continue  # an email address, placed above
        destination = _endpoint(endpoint, config)
        found.setdefault(destination.name, destination)
    payee = payee_name(analysis)
    if payee is not None:
        configured = payee[len("payee:") :] in (known.casefold() for known in organisation.known_payees)
        found.setdefault(payee, Destination(payee, Place.OUTSIDE, configured=configured))
    if not found:
        upstream = (call.upstream or "").casefold()
        channel = _first_value(analysis, _CHANNEL_KEYS)
        name = f"{upstream or '-'}:{call.tool_name}" + (f":{channel}" if channel else "")
        place = Place.INSIDE if upstream and upstream in organisation.chat_workspaces else Place.UNPLACED
        if place is Place.UNPLACED and not organisation.chat_workspaces and _workspace_chat(call.tool_name, upstream):
            # No workspace configured: a post or a DM inside the one workspace the tool is signed in to
            # reaches colleagues. Its webhooks and bots are placed above, by their hosts.
            found[name] = Destination(name, Place.INSIDE, inferred=True)
            return list(found.values())
        found[name] = Destination(name, place)
    return list(found.values())
