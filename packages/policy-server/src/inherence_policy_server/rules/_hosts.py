"""URLs, hosts and email addresses, parsed and canonicalised before any rule compares them.

An address may be written in many ways that all reach the same machine: 169.254.169.254 is
also 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, 169.254.43518, ::ffff:a9fe:a9fe or a
full-width form. `canonical_ip` undoes every one of them the way the C resolver does.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
import unicodedata
import urllib.parse
from collections.abc import Iterator

__all__ = [
    "Endpoint",
    "canonical_host",
    "canonical_ip",
    "find_emails",
    "find_endpoints",
    "host_within",
    "parse_endpoint",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_URL = re.compile(r"\b(?:[a-z][a-z0-9+.-]{1,15})://[^\s\"'<>`|;]+", re.IGNORECASE)
_BARE_HOST_PORT = re.compile(
    r"^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9-]+)*|[0-9a-fx.]+)(?::\d{1,5})?(?:/\S*)?$",
    re.IGNORECASE,
)
# socat and ncat address types before a `host:port`: `TCP:169.254.169.254:80`, `OPENSSL:host:443`.
_SOCKET_ADDRESS = re.compile(r"^(?:tcp|udp|ssl|openssl|sctp)(?:4|6)?(?:-connect)?:(?=[\w\[])", re.IGNORECASE)
_EMAIL = re.compile(r"[a-z0-9._%+'-]+@([a-z0-9-]+(?:\.[a-z0-9-]+)+)", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The deprecated IPv4-compatible form ::a.b.c.d still reaches a.b.c.d through many stacks.
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21, "ssh": 22}


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One place a call could reach: canonical host, its IP if it is written as one, port, and the URL parts."""

    host: str
    ip: IPAddress | None
    port: int | None
    scheme: str
    path: str
    query: str
    source: str


def canonical_ip(host: str) -> IPAddress | None:
    """The address `host` stands for if it is an IP literal in any encoding, else None."""
    text = host.strip("[]")
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return _inet_aton(text)
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 0xFFFF):
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    # The resolver accepts 1 to 4 parts, each decimal, 0x-hex or 0-octal; the last part fills the rest.
    parts = text.rstrip(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        lowered = part.lower()
        try:
            if lowered.startswith("0x"):
                numbers.append(int(lowered[2:] or "0", 16))
            elif len(lowered) > 1 and lowered.startswith("0"):
                numbers.append(int(lowered, 8))
            else:
                numbers.append(int(lowered, 10) if lowered.isdigit() else -1)
        except ValueError:
            return None
    if any(number < 0 for number in numbers):
        return None
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        return None
    value = 0
    for number in leading:
        value = value * 256 + number
    value = value * 256 ** (4 - len(leading)) + last
    return ipaddress.IPv4Address(value)


def canonical_host(host: str) -> str:
    """Lowercase, NFKC, no trailing dot, IP literals in their plain form."""
    text = unicodedata.normalize("NFKC", urllib.parse.unquote(host)).strip().lower().rstrip(".")
    address = canonical_ip(text)
    return str(address) if address is not None else text.strip("[]")


def host_within(host: str, domains: tuple[str, ...] | frozenset[str]) -> bool:
    """True when `host` is one of `domains` or a subdomain of one."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def _expansion_starts_path(url: str) -> str:
    """`http://169.254.170.2$URI` as `http://169.254.170.2/$URI`: the host is what precedes an expansion.

    A shell variable or command substitution right after the host is filled in when the command
    runs (the path of the ECS credentials endpoint is handed over in a variable); the host the
    request reaches starts with what is written, so that part is judged.
    """
    start = url.find("://") + 3
    end = len(url)
    for stop in "/?#":
        found = url.find(stop, start)
        if found != -1:
            end = min(end, found)
    cut = min((index for index in (url.find("$", start, end), url.find("`", start, end)) if index != -1), default=-1)
    return url if cut <= start else f"{url[:cut]}/{url[cut:]}"


def parse_endpoint(text: str, *, source: str) -> Endpoint | None:
    """An endpoint from a URL (`https://…`, `//host`), a `host:port` or a bare host; None when none."""
    candidate = _SOCKET_ADDRESS.sub("", text.strip(), count=1)
    if not candidate or any(char.isspace() for char in candidate):
        return None
    if "://" not in candidate:
        if candidate.startswith("//"):
            candidate = "http:" + candidate
        elif _BARE_HOST_PORT.match(candidate) and ("." in candidate or ":" in candidate):
            candidate = "tcp://" + candidate
        else:
            return None
    candidate = _expansion_starts_path(candidate)
    try:
        parts = urllib.parse.urlsplit(candidate)
        raw_host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if not raw_host:
        return None
    host = canonical_host(raw_host)
    scheme = parts.scheme.lower()
    return Endpoint(
        host=host,
        ip=canonical_ip(host),
        port=port if port is not None else _DEFAULT_PORTS.get(scheme),
        scheme=scheme,
        path=parts.path,
        query=parts.query,
        source=source,
    )


def find_endpoints(text: str, *, whole: bool) -> Iterator[Endpoint]:
    """URLs inside `text`, and when `whole` the text itself as a host or URL."""
    if whole:
        endpoint = parse_endpoint(text, source=text)
        if endpoint is not None:
            yield endpoint
            return
    if "://" in text:
        for match in _URL.finditer(text):
            endpoint = parse_endpoint(match.group(0), source=match.group(0))
            if endpoint is not None:
                yield endpoint


def find_emails(text: str) -> Iterator[tuple[str, str]]:
    """(address, domain) pairs, folded."""
    if "@" not in text:
        return
    for match in _EMAIL.finditer(text):
        yield match.group(0).lower(), canonical_host(match.group(1))
