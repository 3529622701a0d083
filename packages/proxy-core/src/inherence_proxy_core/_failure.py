"""Why an upstream failed, in one line a user can act on: for `status`, proxy.log and the client.

The `mcp` SDK's HTTP transports fail inside their own task groups, so what reaches the gateway
is often an exception group around an `httpx2` error around the OS error that says what really
happened (a refused connection, a name that does not resolve, a certificate). This digs it out.
"""

from __future__ import annotations

import socket
import ssl

from inherence_proxy_core._errors import GatewayError, UpstreamError

__all__ = ["describe_failure", "leaf_errors"]

_LIMIT = 300


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside `exc`, exception groups flattened (`[exc]` for a plain one)."""
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and inner:
        return [leaf for each in inner for leaf in leaf_errors(each)]
    return [exc]


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 20:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _named(exc: BaseException) -> str | None:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"DNS lookup failed ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS failed: certificate not trusted ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or exc})"
    if isinstance(exc, ConnectionResetError):
        return "the connection was reset"
    response = getattr(exc, "response", None)  # httpx2.HTTPStatusError, without importing httpx2 here
    status = getattr(response, "status_code", None)
    if isinstance(status, int):
        return f"HTTP {status} {getattr(response, 'reason_phrase', '')}".rstrip()
    return None


def describe_failure(exc: BaseException) -> str:
    """One line saying why `exc` ended an upstream's connection; never a traceback."""
    leaves = leaf_errors(exc)
    for leaf in leaves:
        for link in _chain(leaf):
            named = _named(link)
            if named is not None:
                return named
    leaf = leaves[0]
    if isinstance(leaf, UpstreamError):
        text = leaf.detail
    elif isinstance(leaf, GatewayError):
        text = f"could not start: {leaf}"
    else:
        text = str(leaf).strip() or type(leaf).__name__
        if type(leaf).__name__ not in text:
            text = f"{type(leaf).__name__}: {text}"
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"
