import logging
import pathlib
import sys

import pytest

from inherence_client_adapters import MalformedConfigError, PoisonedBackupError, RestoreWouldLoseChangesError
from inherence_policy_client import PolicyAuthError, PolicyUnreachable, PolicyUsageError
from inherence_proxy._config import ConfigFileError
from inherence_proxy._errors import CommandError, ExitCode, translate
from inherence_proxy._logging import LOG_BACKUPS, LOG_MAX_BYTES, proxy_log
from inherence_proxy._output import masked_key
from inherence_proxy_core import ClientLockHeld, GatewayUsageError, UpstreamStartError

if sys.version_info < (3, 11):
    from exceptiongroup import ExceptionGroup

HERE = pathlib.Path("/x/mcp.json")
KEY = "inh_live_0a1b2c3d4e5f60718293a4b5c6d7e8f9"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ClientLockHeld(client="cursor", path="/h/proxy-cursor.pid", holder_pid=12), ExitCode.ALREADY_RUNNING),
        (RestoreWouldLoseChangesError(path=HERE, lost=["server 'x'"]), ExitCode.UNSAFE),
        (PoisonedBackupError("lost", path=HERE, backup=None), ExitCode.UNSAFE),
        (MalformedConfigError("bad", path=HERE, line=1, column=2), ExitCode.CONFIG),
        (ConfigFileError(HERE, "is not valid JSON"), ExitCode.CONFIG),
        (
            PolicyAuthError("the API key was refused", endpoint="/api/proxy/auth/verify", status=401),
            ExitCode.POLICY_AUTH,
        ),
        (PolicyUnreachable("cannot connect", endpoint="/api/proxy/auth/verify"), ExitCode.POLICY_UNREACHABLE),
        (PolicyUsageError("bad url"), ExitCode.CONFIG),
        (GatewayUsageError("two upstreams are named 'a'"), ExitCode.CONFIG),
        (UpstreamStartError("no", upstream="a"), ExitCode.FAILURE),
        (PermissionError(13, "Permission denied", "/x"), ExitCode.FAILURE),
    ],
)
def test_each_library_error_has_its_exit_code(error: Exception, code: ExitCode) -> None:
    translated = translate(error)
    assert isinstance(translated, CommandError)
    assert translated.exit_code == code
    assert "\n" not in translated.message


def test_an_unknown_error_is_not_translated() -> None:
    assert translate(ZeroDivisionError()) is None


def test_the_key_is_shown_only_by_its_last_four() -> None:
    assert masked_key(KEY) == "inh_…e8f9"
    assert masked_key("short") == "inh_…"
    assert "embedded" in masked_key(None)


def test_the_log_never_holds_the_key_and_rotates(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "proxy.log"
    with proxy_log(path, secret=KEY, verbose=False) as handler:
        logging.getLogger("anything").warning("sent %s to the gate", KEY)
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logging.getLogger("anything").exception("failed")
        assert isinstance(handler, logging.handlers.RotatingFileHandler)
        assert (handler.maxBytes, handler.backupCount) == (LOG_MAX_BYTES, LOG_BACKUPS)
    text = path.read_text()
    assert KEY not in text
    assert "sent inh_…e8f9 to the gate" in text
    assert "bad key inh_…e8f9" in text
    assert path.stat().st_mode & 0o077 == 0
    assert handler not in logging.getLogger().handlers


def test_an_error_that_ended_a_task_group_is_translated_as_itself() -> None:
    group = ExceptionGroup("unhandled errors in a TaskGroup", [PolicyUsageError("bad url")])
    translated = translate(group)
    assert translated is not None
    assert (translated.exit_code, translated.message) == (ExitCode.CONFIG, "bad url")
    assert translate(ExceptionGroup("two", [ValueError(), KeyError()])) is None


def _group_raising(error: BaseException):
    import click

    from inherence_proxy._app import ProxyGroup

    @click.group(cls=ProxyGroup)
    def group() -> None:
        pass

    @group.command()
    def boom() -> None:
        raise error

    return group


@pytest.mark.parametrize(
    ("error", "code", "output"),
    [
        (ZeroDivisionError("no"), ExitCode.FAILURE, "Error: unexpected ZeroDivisionError: no (set INHERENCE_DEBUG=1"),
        (KeyboardInterrupt(), ExitCode.INTERRUPTED, "Error: interrupted"),
        (UpstreamStartError("could not start", upstream="a"), ExitCode.FAILURE, "Error: upstream 'a': could not start"),
    ],
)
def test_any_failure_is_one_line_with_its_exit_code(error, code, output) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(_group_raising(error), ["boom"], env={"INHERENCE_DEBUG": None}, catch_exceptions=False)
    assert result.exit_code == code
    assert result.output.startswith(output)
    assert result.output.count("\n") == 1
