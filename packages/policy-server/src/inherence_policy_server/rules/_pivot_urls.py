"""URLs that reach inside by a detour: non-HTTP schemes towards local or internal
addresses (`gopher://127.0.0.1:6379/_…`, `dict://`, `ldap://`), `file://` URLs to process,
device or remote files, and open redirectors whose query or path carries a metadata URL
or address, percent-encoded once or twice or not at all.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from collections.abc import Callable

from inherence_policy_server.rules._hosts import Endpoint, canonical_ip, find_endpoints, parse_endpoint
from inherence_policy_server.rules._paths import normalise_path

__all__ = ["carried_target", "file_url_problem", "scheme_problem"]

# Schemes a server-side fetch can be talked into that speak raw TCP to whatever listens.
_RAW_SCHEMES = frozenset({"gopher", "dict"})
_INTERNAL_ONLY_SCHEMES = frozenset({"ldap", "ldaps", "ldapi", "tftp", "jar", "netdoc", "telnet", "smb", "nfs"})
_INTERNAL_SUFFIXES = (".internal", ".local", ".localdomain", ".svc", ".cluster.local", ".corp", ".lan", ".home.arpa")
_REDIRECT_KEYS = frozenset({"url", "u", "uri", "redirect", "redirect_uri", "redirect_url", "redirectto", "next", "to",
                            "target", "dest", "destination", "continue", "return", "returnto", "return_to",
                            "returnurl", "return_url", "goto", "go", "link", "r", "host", "domain", "proxy", "callback",
                            "out", "forward", "location", "site", "fetch", "load", "src", "href", "image", "img",
                            "feed", "endpoint", "server", "addr", "address", "ip"})  # fmt: skip
_FILE_URL = re.compile(r"\bfile:/{2,}[^\s\"'<>`|;]*", re.IGNORECASE)
_SENSITIVE_LOCAL = re.compile(r"^/(?:proc|sys|dev|etc|root|var/run|run|boot)(?:/|$)")

Judge = Callable[[Endpoint], "tuple[str, str] | None"]


def is_internal_host(endpoint: Endpoint) -> bool:
    if endpoint.ip is not None:
        address = endpoint.ip
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
    host = endpoint.host
    return host == "localhost" or host.endswith(_INTERNAL_SUFFIXES) or host.endswith(".localhost") or "." not in host


def scheme_problem(endpoint: Endpoint) -> str | None:
    """Why a non-HTTP URL reaches inside, or None."""
    scheme = endpoint.scheme
    if scheme in _RAW_SCHEMES:
        return f"{endpoint.source[:120]} speaks {scheme}:// to a raw port"
    if scheme in _INTERNAL_ONLY_SCHEMES and is_internal_host(endpoint):
        return f"{endpoint.source[:120]} reaches the internal address {endpoint.host} over {scheme}://"
    return None


def file_url_problem(text: str) -> str | None:
    """Why a `file://` URL in `text` reaches process, device or system files, or another machine."""
    if "file:" not in text.casefold():
        return None
    for match in _FILE_URL.finditer(text):
        url = match.group(0)
        remote = urllib.parse.urlsplit(url).netloc.casefold()
        if remote and remote not in ("localhost", "127.0.0.1"):
            return f"{url[:120]} reads a file on the machine {remote}"
        path = normalise_path(re.sub(r"(?i)^file://(?:localhost|127\.0\.0\.1)(?=/)", "file://", url))
        if _SENSITIVE_LOCAL.match(path):
            return f"{url[:120]} reads {path} on this machine"
    return None


def carried_target(endpoint: Endpoint, judge: Judge) -> str | None:
    """The metadata target an HTTP URL hands on in its query or path (an open redirector), or None."""
    if endpoint.scheme not in ("http", "https") or len(endpoint.query) + len(endpoint.path) < 4:
        return None
    query = urllib.parse.unquote(urllib.parse.unquote(endpoint.query))
    path = urllib.parse.unquote(urllib.parse.unquote(endpoint.path))
    for text in (query, path):
        if "://" in text:
            for nested in find_endpoints(text, whole=False):
                if judge(nested) is not None:
                    return nested.source
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True)[:64]:
        if key.casefold() in _REDIRECT_KEYS and _judged_bare(value, judge):
            return value
    for segment in path.split("/")[:32]:
        if "." in segment and _judged_bare(segment, judge):
            return segment
    return None


def _judged_bare(text: str, judge: Judge) -> bool:
    candidate = text.strip()
    if not candidate or " " in candidate:
        return False
    endpoint = parse_endpoint(candidate, source=candidate)
    if endpoint is None and canonical_ip(candidate) is not None:
        endpoint = parse_endpoint(str(canonical_ip(candidate)), source=candidate)
    return endpoint is not None and judge(endpoint) is not None
