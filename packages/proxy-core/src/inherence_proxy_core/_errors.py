"""Errors raised by the gateway engine.

    GatewayError                 root: catch this to handle every failure of this package
    ├── GatewayUsageError        the caller's mistake (a bad upstream config); also a ValueError
    └── UpstreamError            an upstream could not be reached or stopped answering
        ├── UpstreamStartError   starting or initializing an upstream failed (reason in `detail`)
        └── UpstreamClosed       the upstream's connection ended while a request waited on it

Policy failures are not raised from here: a call that gets no decision is answered to the
client as a `POLICY_GATE_UNREACHABLE` tool error, never surfaced as an exception.
"""

from __future__ import annotations

__all__ = ["GatewayError", "GatewayUsageError", "UpstreamClosed", "UpstreamError", "UpstreamStartError"]


class GatewayError(Exception):
    """Root of every error this package raises."""


class GatewayUsageError(GatewayError, ValueError):
    """The caller passed something the gateway cannot use; nothing was started."""


class UpstreamError(GatewayError):
    """An upstream failed. `upstream` names it; `detail` is a short description for `status`."""

    def __init__(self, detail: str, *, upstream: str) -> None:
        self.detail = detail
        self.upstream = upstream
        super().__init__(f"upstream {upstream!r}: {detail}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r}, upstream={self.upstream!r})"


class UpstreamStartError(UpstreamError):
    """The upstream did not start, or did not answer `initialize` within its deadline."""


class UpstreamClosed(UpstreamError):
    """The upstream's connection ended while a request was waiting for its answer."""
