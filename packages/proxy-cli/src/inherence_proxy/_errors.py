"""Exit codes, and the one place where library exceptions become one-line command errors.

    CommandError            a failure the command explains in one line, with its exit code
    ├── PolicyAuthFailed    the policy service refused the API key
    └── ProxyAlreadyRunning another live proxy serves this client

Library packages raise their own trees (`ClientConfigError`, `GatewayError`, `PolicyError`,
`ProcessError`, `ConfigFileError`); `translate` maps each to a `CommandError` so that every
command fails the same way: one line on stderr, a documented exit code, and a traceback only
with INHERENCE_DEBUG=1.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import click

from inherence_proxy._config import ConfigFileError, SettingError

__all__ = ["CommandError", "ExitCode", "debug_enabled", "translate"]


class ExitCode(enum.IntEnum):
    """Every exit status of `inherence-proxy`, as documented in `--help` and the README."""

    OK = 0
    FAILURE = 1  # something went wrong that no other code names
    USAGE = 2  # a bad flag or argument (click's own code)
    CONFIG = 3  # config.json or a client config file cannot be used
    POLICY_AUTH = 4  # the policy service refused the API key
    POLICY_UNREACHABLE = 5  # no answer from the policy service
    ALREADY_RUNNING = 6  # another live proxy already serves this client
    BYPASS = 7  # audit: a server or agent tool surface bypasses the gate
    UNSAFE = 8  # refused: the change would lose data or the way back (use --force if you mean it)
    NOTHING_TO_DO = 9  # no MCP client config found, or none matched --client
    INTERRUPTED = 130  # Ctrl-C


EXIT_CODES_HELP = """\b
Exit codes:
  0  success                      5  policy service unreachable
  1  other failure                6  a proxy already serves this client
  2  bad flag or argument         7  audit: something bypasses the gate
  3  config file unusable         8  refused: would lose data (see --force)
  4  API key refused              9  no MCP client found
"""


class CommandError(click.ClickException):
    """A failure explained in one line; `code` is its `ExitCode`."""

    def __init__(self, message: str, code: ExitCode = ExitCode.FAILURE) -> None:
        super().__init__(message)
        self.code = code
        # click declares `exit_code` on the class; each instance carries its own here.
        vars(self)["exit_code"] = int(code)


def debug_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("INHERENCE_DEBUG", "").strip() not in ("", "0", "false", "no")


def translate(exc: BaseException) -> CommandError | None:
    """The command error for a library exception, or None when it is not one we know."""
    # Imported here: the libraries are heavy, and `--help` or `version` should start fast.
    from inherence_client_adapters import (
        BackupError,
        ClientConfigError,
        ClientConfigUsageError,
        RestoreWouldLoseChangesError,
    )
    from inherence_policy_client import PolicyAuthError, PolicyError, PolicyUsageError
    from inherence_policy_server import PolicyServerError
    from inherence_proxy_core import ClientLockHeld, GatewayError, GatewayUsageError, ProcessError

    if isinstance(exc, CommandError):
        return exc
    inner = getattr(exc, "exceptions", None)
    if isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        # A task group wraps the one error that ended it; the user needs that error, not the group.
        return translate(inner[0])
    if isinstance(exc, ClientLockHeld):
        return CommandError(
            f"{exc}; stop that proxy (quit the client) first, or run `inherence-proxy reap` if it is stuck",
            ExitCode.ALREADY_RUNNING,
        )
    if isinstance(exc, RestoreWouldLoseChangesError):
        return CommandError(f"{exc} (--force restores anyway, keeping the edits as a backup)", ExitCode.UNSAFE)
    if isinstance(exc, BackupError):
        return CommandError(str(exc), ExitCode.UNSAFE)
    if isinstance(exc, SettingError):
        return CommandError(str(exc), ExitCode.CONFIG)
    if isinstance(exc, (ConfigFileError, ClientConfigError)) and not isinstance(exc, ClientConfigUsageError):
        return CommandError(str(exc), ExitCode.CONFIG)
    if isinstance(exc, PolicyAuthError):
        return CommandError(
            "the policy service refused the API key; check it, or use --local for the embedded policy",
            ExitCode.POLICY_AUTH,
        )
    if isinstance(exc, (PolicyUsageError, ClientConfigUsageError, GatewayUsageError)):
        return CommandError(str(exc), ExitCode.CONFIG)
    if isinstance(exc, PolicyError):
        return CommandError(f"the policy service could not be reached: {exc}", ExitCode.POLICY_UNREACHABLE)
    if isinstance(exc, (GatewayError, ProcessError, PolicyServerError)):
        return CommandError(str(exc))
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return CommandError(f"{exc.strerror or exc}{where}")
    return None
