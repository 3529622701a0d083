"""Who may call a server that asks for no key: local programs, never a web page the user visits.

Without a key the server trusts whoever reaches it, and a browser reaches loopback on behalf of
any page: a form may post `text/plain` to 127.0.0.1, and a DNS name the attacker rebinds to
127.0.0.1 carries the page's own host name. So a keyless call must name a loopback host (an IP
literal or `localhost`) on the server's port, send JSON (a cross-origin JSON post needs a CORS
preflight, which this server never grants), and come from no foreign Origin. The dashboard asks
for a loopback host name too. A request without a Host header is not from a browser.
"""

from __future__ import annotations

import ipaddress

from inherence_policy_server._http import Scope, json_problem

__all__ = ["keyless_refusal", "loopback_host"]

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_FORBIDDEN_HOST = json_problem(
    "FORBIDDEN", "without an API key only a loopback Host (127.0.0.1, localhost, [::1]) on this server's port is served"
)
_FORBIDDEN_ORIGIN = json_problem("FORBIDDEN", "without an API key a cross-origin request (Origin) is refused")
_NOT_JSON = json_problem("UNSUPPORTED_MEDIA_TYPE", "the body must be sent as Content-Type: application/json")


def _header(scope: Scope, wanted: bytes) -> bytes | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value)
    return None


def _split_host(value: str) -> tuple[str, int | None] | None:
    """(host name, port or None) of a Host header value; None when it is malformed."""
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else None
    else:
        name, colon, port_text_or_empty = value.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        return name, None
    if not port_text.isdigit() or len(port_text) > 5:
        return None
    return name, int(port_text)


def _is_loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def loopback_host(scope: Scope, *, check_port: bool) -> bool:
    """True when the request names a loopback host (and, with `check_port`, the port the server listens on)."""
    raw = _header(scope, b"host")
    if raw is None:
        return True
    parsed = _split_host(raw.decode("latin-1").strip().lower())
    if parsed is None or not _is_loopback_name(parsed[0]):
        return False
    if not check_port:
        return True
    scheme = str(scope.get("scheme", "http"))
    port = parsed[1] if parsed[1] is not None else _DEFAULT_PORTS.get(scheme)
    server = scope.get("server")
    server_port = server[1] if server and server[1] is not None else _DEFAULT_PORTS.get(scheme)
    return port == server_port


def _same_origin(scope: Scope) -> bool:
    origin = _header(scope, b"origin")
    if origin is None:
        return True
    host = _header(scope, b"host")
    own = f"{scope.get('scheme', 'http')}://{(host or b'').decode('latin-1').strip()}"
    return host is not None and origin.decode("latin-1").strip().lower() == own.lower()


def _is_json(scope: Scope) -> bool:
    content_type = _header(scope, b"content-type")
    if content_type is None:
        return False
    media_type = content_type.split(b";", 1)[0].strip().lower()
    return media_type == b"application/json"


def keyless_refusal(scope: Scope) -> tuple[int, bytes] | None:
    """The status and body refusing a keyless Policy API call that may come from a web page; None to serve it."""
    if not loopback_host(scope, check_port=True):
        return 403, _FORBIDDEN_HOST
    if not _same_origin(scope):
        return 403, _FORBIDDEN_ORIGIN
    if not _is_json(scope):
        return 415, _NOT_JSON
    return None
