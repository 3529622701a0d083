"""Errors raised by inherence-proxy-core: one tree, rooted at `GatewayError`.

    GatewayError                      root: catch this to handle every failure of this package
    ├── GatewayUsageError             a caller mistake (bad upstream config, bad settings); also a ValueError
    │   └── ProcessUsageError         a bad client name or an empty argv (also a ProcessError)
    ├── UpstreamError                 an upstream could not be reached or stopped answering
    │   ├── UpstreamStartError        starting or initializing an upstream failed (reason in `detail`)
    │   └── UpstreamClosed            the upstream's connection ended while a request waited on it
    └── ProcessError                  the process discipline (`_proc_errors.py`)
        ├── ProcessUsageError         (see above)
        ├── UpstreamSpawnError        an upstream process could not be started
        │   └── UpstreamCommandNotFound   its command is not on the upstream's PATH
        ├── ClientLockError           the per-client lock could not be taken
        │   └── ClientLockHeld        another live proxy serves that client
        └── RegistryError             a state file of upstream process groups is in use or unusable

Context travels as keyword attributes (`upstream`, `detail`, `client`, `path`, ...), never only
inside the message. Policy failures are not raised from here: a call that gets no decision is
answered to the client as a `POLICY_GATE_UNREACHABLE` tool error, never surfaced as an exception.
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
