"""Errors raised by the Policy API client.

    PolicyError                  root: catch this to handle every failure of this package
    ├── PolicyUsageError         the caller's mistake (bad base URL, bad timeout); also a ValueError
    └── PolicyCallError          a call was made and produced no usable answer
        ├── PolicyUnreachable    no decision could be had: network error, timeout, deadline, 5xx,
        │                        a 4xx on decide, a malformed or wrongly shaped answer
        └── PolicyAuthError      the service refused the API key (401 or 403)

A caller that gates tool calls treats every `PolicyCallError` as "no decision" and fails closed.
No message or attribute of these errors ever holds the API key: they are built from the
endpoint path, the status and a short detail that this package writes itself.
"""

from __future__ import annotations

__all__ = ["PolicyAuthError", "PolicyCallError", "PolicyError", "PolicyUnreachable", "PolicyUsageError"]


class PolicyError(Exception):
    """Root of every error this package raises."""


class PolicyUsageError(PolicyError, ValueError):
    """The caller passed something this client cannot use; nothing was sent."""


class PolicyCallError(PolicyError):
    """A call to the policy service produced no usable answer.

    `endpoint` is the request path (for example `/api/proxy/decide`), `status` the HTTP status
    when one arrived, and `detail` a short description written by this package.
    """

    def __init__(self, detail: str, *, endpoint: str, status: int | None = None) -> None:
        self.detail = detail
        self.endpoint = endpoint
        self.status = status
        where = f"{endpoint} answered {status}" if status is not None else endpoint
        super().__init__(f"{where}: {detail}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(detail={self.detail!r}, endpoint={self.endpoint!r}, status={self.status!r})"


class PolicyUnreachable(PolicyCallError):
    """No decision could be had from the policy service; a gate must fail closed."""


class PolicyAuthError(PolicyCallError):
    """The policy service refused the API key."""
