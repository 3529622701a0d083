"""The files that make up this gate, which the embedded policy keeps every tool call from changing.

The proxy's home (config, rules, policy data, classifications), the client configs `init` wrapped,
the user-level MCP config of every client the proxy knows, and the proxy's executable and, for a
tool install, its environment. The agent that the gate guards must not be able to switch it off by
editing any of them.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Mapping

from inherence_client_adapters import ClientConfigError, HostEnvironment, all_adapters
from inherence_proxy._config import ProxyConfig
from inherence_proxy._home import ProxyHome
from inherence_proxy._locations import proxy_executable, recorded

__all__ = ["gate_paths"]

# Folders that tool installers make for one application's environment.
_TOOL_ENVIRONMENTS = (("uv", "tools"), ("pipx", "venvs"))


def gate_paths(
    home: ProxyHome, config: ProxyConfig | None, environ: Mapping[str, str], host: HostEnvironment
) -> list[str]:
    """Absolute paths, each protecting itself and everything under it."""
    paths: list[pathlib.Path] = [home.root]
    if config is not None:
        paths.extend(location.path for _, location in recorded(config, host))
    for adapter in all_adapters():
        try:
            paths.extend(location.path for location in adapter.candidates(host) if location.scope == "user")
        except (ClientConfigError, OSError):
            continue
    paths.append(proxy_executable(environ))
    prefix = pathlib.Path(sys.prefix)
    if any(_within(prefix, *parts) for parts in _TOOL_ENVIRONMENTS):
        paths.append(prefix)
    return list(dict.fromkeys(str(path.absolute()) for path in paths))


def _within(path: pathlib.Path, *parents: str) -> bool:
    parts = path.parts
    return any(parts[index : index + len(parents)] == parents for index in range(len(parts)))
