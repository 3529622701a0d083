"""Plain configuration of the gateway: the upstreams it fronts and the knobs of its lifecycle."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from typing import Literal

from inherence_proxy_core._errors import GatewayUsageError

__all__ = ["GatewaySettings", "UpstreamConfig"]

Transport = Literal["stdio", "http", "sse"]
NameStyle = Literal["prefixed", "upstream"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclasses.dataclass(frozen=True)
class UpstreamConfig:
    """One upstream MCP server, as `config.json` of 0.1.x describes it (`url`, `headers` are additive).

    `command` is an argv list for `stdio`; `url` (and optional `headers`) for `http` (streamable
    HTTP) and `sse`. `env` is laid over the gateway's base environment for a stdio upstream.
    """

    name: str
    command: Sequence[str] = ()
    env: Mapping[str, str] = dataclasses.field(default_factory=dict)
    cwd: str | None = None
    transport: Transport = "stdio"
    url: str | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise GatewayUsageError(
                f"upstream name {self.name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                "starting with a letter or digit"
            )
        if "__" in self.name:
            raise GatewayUsageError(f"upstream name {self.name!r} must not contain '__' (it separates tool names)")
        if self.transport == "stdio":
            if isinstance(self.command, str) or not self.command or not all(isinstance(a, str) for a in self.command):
                raise GatewayUsageError(f"stdio upstream {self.name!r} needs `command` as a non-empty argv list")
        elif self.transport in ("http", "sse"):
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise GatewayUsageError(f"{self.transport} upstream {self.name!r} needs an http(s) `url`")
        else:
            raise GatewayUsageError(f"upstream {self.name!r} has unknown transport {self.transport!r}")
        object.__setattr__(self, "command", tuple(self.command))
        object.__setattr__(self, "env", dict(self.env))
        object.__setattr__(self, "headers", dict(self.headers))


@dataclasses.dataclass(frozen=True)
class GatewaySettings:
    """Deadlines and limits, in seconds unless named otherwise. The defaults suit a desktop client.

    `names` is how tools and prompts are named towards the client: `"prefixed"` (the default,
    `<upstream>__<tool>` as 0.1.x named them) or `"upstream"`, the upstreams' own names (two
    upstreams offering one name are a collision: see `Gateway.check_names`). The policy knows a
    tool by its prefixed name either way.

    `ready_wait` bounds how long a listing (and a call of a tool not listed yet) waits for
    upstreams still on their first start: a server started through npx or from a cold cache can
    take several seconds, and a client that lists once must still see its tools. An upstream
    whose start failed does not hold anything up.

    `confirm_timeout` is how long the user has to answer a confirmation the policy asked for;
    no answer in time is a decline. `report_outcomes` sends what each allowed call returned to
    a policy service that takes outcome reports (off the call's path; see `OutcomeReporter`).
    """

    initialize_timeout: float = 30.0
    list_timeout: float = 30.0
    call_timeout: float = 300.0
    classify_timeout: float = 10.0
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0
    restarts_per_minute: int = 5
    start_retry_max: float = 60.0
    shutdown_grace: float = 2.0
    ready_wait: float = 20.0
    decide_timeout: float = 10.0
    max_message_bytes: int = 64 * 1024 * 1024
    confirm_timeout: float = 120.0
    names: NameStyle = "prefixed"
    report_outcomes: bool = True

    def __post_init__(self) -> None:
        if self.names not in ("prefixed", "upstream"):
            raise GatewayUsageError(f"setting 'names' must be 'prefixed' or 'upstream', not {self.names!r}")
        if not isinstance(self.report_outcomes, bool):
            raise GatewayUsageError(f"setting 'report_outcomes' must be true or false, not {self.report_outcomes!r}")
        for field in dataclasses.fields(self):
            if field.name in ("names", "report_outcomes"):
                continue
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise GatewayUsageError(f"setting {field.name!r} must be a positive number, not {value!r}")


def check_unique_names(upstreams: Sequence[UpstreamConfig]) -> None:
    seen: set[str] = set()
    for upstream in upstreams:
        if upstream.name in seen:
            raise GatewayUsageError(f"two upstreams are named {upstream.name!r}")
        seen.add(upstream.name)
