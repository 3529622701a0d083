"""What every command shares: the environment it runs in, `-v/--verbose`, and one way to fail.

`ProxyGroup.invoke` is the only place library exceptions become click exceptions: one line on
stderr and a documented exit code, or the traceback too with INHERENCE_DEBUG=1.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import os
import pathlib
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import click

from inherence_client_adapters import HostEnvironment
from inherence_proxy._config import ProxyConfig, load_config
from inherence_proxy._errors import CommandError, ExitCode, debug_enabled, translate
from inherence_proxy._home import ProxyHome

__all__ = ["Environment", "ProxyGroup", "pass_environment", "verbose_option"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Environment:
    """The process's surroundings, read once when a command starts and passed to everything below."""

    environ: Mapping[str, str]
    user_home: pathlib.Path
    home: ProxyHome
    host: HostEnvironment

    @classmethod
    def current(cls) -> Environment:
        environ = dict(os.environ)
        user_home = pathlib.Path.home()
        host = HostEnvironment.current()
        return cls(
            environ=environ,
            user_home=user_home,
            home=ProxyHome.locate(environ, user_home),
            host=HostEnvironment(home=user_home, platform=host.platform, variables=environ),
        )

    def config(self) -> ProxyConfig:
        return load_config(self.home.config_path)


def pass_environment(function: F) -> F:
    """Give the command the `Environment` as its first argument."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return function(Environment.current(), *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _set_verbose(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    """Library warnings go to stderr only with -v; without it they stay out of the command's output."""
    root = logging.getLogger()
    handler: logging.Handler
    if value:
        ctx.meta["inherence.verbose"] = True
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        previous = root.level
        root.setLevel(logging.DEBUG)
        ctx.call_on_close(lambda: root.setLevel(previous))
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)
    ctx.call_on_close(lambda: root.removeHandler(handler))
    return value


def verbose_option(function: F) -> F:
    return click.option(
        "-v",
        "--verbose",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_verbose,
        help="Say more about what happens (serve: debug lines in proxy.log).",
    )(function)


def is_verbose(ctx: click.Context | None = None) -> bool:
    context = ctx or click.get_current_context(silent=True)
    while context is not None:
        if context.meta.get("inherence.verbose"):
            return True
        context = context.parent
    return False


class ProxyGroup(click.Group):
    """A click group whose commands fail with one line and a documented exit code.

    `lazy_commands` maps a command name to `module:attribute`, imported only when that command
    runs: the libraries behind `init` or `status` are heavy, and a client starting `serve`, or
    someone asking for the version, should not wait for them.
    """

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._lazy and cmd_name not in self.commands:
            module, _, attribute = self._lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            raise CommandError("interrupted", ExitCode.INTERRUPTED) from None
        except Exception as exc:
            translated = translate(exc)
            if debug_enabled(os.environ):
                traceback.print_exc(file=sys.stderr)
            if translated is None:
                if debug_enabled(os.environ):
                    raise
                translated = CommandError(
                    f"unexpected {type(exc).__name__}: {exc} (set INHERENCE_DEBUG=1 for the traceback)"
                )
            raise translated from None
