"""Shares with everyone: a link anyone may open, a file or folder made public.

A public link is identity escalation without an identity: whoever holds the link gets in. A
person may well mean to publish a file to read (`public_share`, asked), but a link that lets
anyone edit, comment on or own it is denied (`public_edit_share`). Read from flags
(`anyone_with_link: true`, `public: true`) and from audience values (`type: "anyone"`,
`visibility: "public"`), to two levels of nesting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inherence_policy_server.rules._analysis import CallAnalysis

__all__ = ["public_share_problem"]

# Flags that name a link for everyone, and flags that only say "public" (of a share, not of a blog post).
_LINK_FLAGS = frozenset({"anyone_with_link", "anyonewithlink", "anyone_can_access", "public_link", "link_sharing",
                         "publicly_shared", "share_publicly"})  # fmt: skip
_PUBLIC_FLAGS = frozenset({"public", "is_public", "make_public", "allow_public"})
_AUDIENCE_KEYS = frozenset({"type", "visibility", "audience", "access", "general_access", "link_access", "scope",
                            "sharing", "share_with", "link_scope", "who", "permission_type", "grantee_type",
                            "privacy", "acl"})  # fmt: skip
# `requested_visibility` (Dropbox), `link_type`, `share_scope`: an audience under a longer name.
_AUDIENCE_ENDINGS = ("visibility", "audience", "_scope", "_access", "link_type", "sharing", "privacy")
_EVERYONE = frozenset({"anyone", "public", "everyone", "anyone_with_link", "anyonewithlink", "anyone_with_the_link",
                       "anyonecanview", "anyonecanedit", "internet", "world", "all_users", "allusers",
                       "public_read", "public-read", "public_read_write", "public-read-write",
                       # Microsoft Graph's createLink: `scope: "anonymous"` is a link anyone can open.
                       "anonymous", "anon", "unauthenticated", "guest_link"})  # fmt: skip
_WRITING_ROLES = frozenset({"writer", "editor", "edit", "write", "owner", "organizer", "fileorganizer", "commenter",
                            "comment", "contributor", "admin", "full", "fullcontrol", "full_control", "readwrite",
                            "read_write", "public_read_write", "public-read-write", "anyonecanedit"})  # fmt: skip
_ROLE_KEYS = frozenset({"role", "permission", "permissions", "access_level", "access", "link_role", "acl", "mode",
                        "type", "link_type"})  # fmt: skip
_SHARING_WORDS = frozenset({"share", "sharing", "shared", "permission", "permissions", "link", "links", "acl",
                            "visibility", "publish", "access"})  # fmt: skip


def public_share_problem(arguments: Mapping[str, Any], analysis: CallAnalysis) -> tuple[str, str] | None:
    """(clause, why) for a call that opens something to everyone; None otherwise."""
    sharing = bool(analysis.intent_words & _SHARING_WORDS)
    flags = _LINK_FLAGS | _PUBLIC_FLAGS if sharing else _LINK_FLAGS
    if not sharing and not _flagged(arguments, flags, 0):
        return None
    values = analysis.values(payload=False)
    public = _flagged(arguments, flags, 0) or any(
        (value.key in _AUDIENCE_KEYS or value.key.endswith(_AUDIENCE_ENDINGS)) and value.folded.strip() in _EVERYONE
        for value in values
    )
    if not public:
        return None
    writing = any(value.key in _ROLE_KEYS and value.folded.strip() in _WRITING_ROLES for value in values)
    if writing:
        return "public_edit_share", "the call lets anyone with the link change what it shares"
    return "public_share", "the call shares with anyone who has the link"


def _flagged(node: Mapping[str, Any], flags: frozenset[str], depth: int) -> bool:
    for key, value in list(node.items())[:64]:
        folded = str(key).casefold()
        if folded in flags and (value is True or (isinstance(value, str) and value.casefold() in ("true", "yes"))):
            return True
        if isinstance(value, Mapping) and depth < 2 and _flagged(value, flags, depth + 1):
            return True
    return False
