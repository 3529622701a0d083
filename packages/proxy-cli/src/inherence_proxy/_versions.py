"""The versions of every package that makes up an installation, for `version` and bug reports."""

from __future__ import annotations

import importlib.metadata

# Our own distributions first, then the MCP libraries whose behaviour users ask about.
DISTRIBUTIONS = (
    "inherence-proxy",
    "inherence-proxy-core",
    "inherence-policy-client",
    "inherence-policy-server",
    "inherence-client-adapters",
    "mcp",
    "fastmcp",
)


def installed_versions() -> dict[str, str | None]:
    """Map each distribution to its installed version, or None when it is not installed."""
    versions: dict[str, str | None] = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions
