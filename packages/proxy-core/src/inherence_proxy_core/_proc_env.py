"""The environment and command of an upstream process.

An upstream gets a small, sane base environment taken from the proxy's own (what a program
needs to find its tools, its home, its locale, its temp folder, a corporate proxy and CA
bundle), with the upstream's configured `env` laid over it. It never gets the rest of the
proxy's environment, and never the Inherence API key.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ._proc_errors import ProcessUsageError, UpstreamCommandNotFound, UpstreamSpawnError

__all__ = ["BASE_ENV_NAMES", "FORBIDDEN_ENV_NAMES", "resolve_command", "upstream_environment"]

_log = logging.getLogger("inherence_proxy_core.process")

BASE_ENV_NAMES: frozenset[str] = frozenset(
    {
        # POSIX
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "LANG",
        "LANGUAGE",
        "LC_ALL",
        "LC_CTYPE",
        "LC_MESSAGES",
        "TZ",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        # network egress through a corporate proxy and its CA bundle
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        # Windows
        "SYSTEMROOT",
        "SYSTEMDRIVE",
        "WINDIR",
        "COMSPEC",
        "PATHEXT",
        "TEMP",
        "TMP",
        "USERNAME",
        "USERPROFILE",
        "HOMEDRIVE",
        "HOMEPATH",
        "APPDATA",
        "LOCALAPPDATA",
        "PROGRAMDATA",
        "PROGRAMFILES",
        "PROGRAMFILES(X86)",
        "PROGRAMW6432",
        "NUMBER_OF_PROCESSORS",
        "PROCESSOR_ARCHITECTURE",
    }
)

FORBIDDEN_ENV_NAMES: frozenset[str] = frozenset({"INHERENCE_API_KEY"})

_WINDOWS = sys.platform == "win32"


def _key(name: str) -> str:
    # Windows environment names are case-insensitive.
    return name.upper() if _WINDOWS else name


def upstream_environment(
    overlay: Mapping[str, str] | None,
    *,
    parent: Mapping[str, str],
    upstream: str = "",
) -> dict[str, str]:
    """The environment of an upstream: the base names from `parent`, then `overlay` on top."""
    wanted = {_key(n) for n in BASE_ENV_NAMES}
    forbidden = {_key(n) for n in FORBIDDEN_ENV_NAMES}
    env = {name: value for name, value in parent.items() if _key(name) in wanted}
    for name, value in (overlay or {}).items():
        if _key(name) in forbidden:
            _log.warning("upstream %r: %s is never passed to an upstream; dropped from its env", upstream, name)
            continue
        if _WINDOWS:
            for existing in [n for n in env if _key(n) == _key(name)]:
                del env[existing]
        env[str(name)] = str(value)
    return env


def resolve_command(
    argv: Sequence[str],
    *,
    name: str,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str] | None,
) -> list[str]:
    """`argv` with argv[0] made an absolute path, looked up the way the upstream would (its PATH).

    Raises `ProcessUsageError` for an empty argv, `UpstreamCommandNotFound` when the command
    cannot be found (naming the PATH that was searched), `UpstreamSpawnError` for a missing cwd.
    """
    if not argv or not str(argv[0]):
        raise ProcessUsageError(f"upstream {name!r}: the command is empty")
    args = [str(a) for a in argv]
    command = args[0]
    search_path = next((v for k, v in env.items() if _key(k) == "PATH"), None)
    has_sep = os.sep in command or (os.altsep is not None and os.altsep in command)
    if has_sep:
        candidate = Path(command)
        if not candidate.is_absolute() and cwd is not None:
            candidate = Path(cwd) / candidate
        found = shutil.which(str(candidate))
    else:
        found = shutil.which(command, path=search_path) if search_path else None
    if found is None:
        raise UpstreamCommandNotFound(name=name, argv=args, search_path=search_path)
    if cwd is not None and not Path(cwd).is_dir():
        message = f"upstream {name!r}: working directory {os.fspath(cwd)!r} does not exist"
        raise UpstreamSpawnError(message, name=name, argv=args)
    args[0] = os.path.abspath(found)
    return args
