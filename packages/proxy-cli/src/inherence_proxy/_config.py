"""config.json: the API key, the policy endpoint, the upstream servers and which client owns which.

A file written by 0.1.x loads unchanged; keys this version does not know are kept on save.
`confirm_timeout_seconds`, `report_outcomes` and `tool_names` are additive; environment variables
override each of them.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictBool

if TYPE_CHECKING:
    from inherence_proxy_core import UpstreamConfig

from inherence_proxy._files import write_private_file

__all__ = [
    "ConfigFileError",
    "MigratedClient",
    "ProxyConfig",
    "SettingError",
    "UpstreamEntry",
    "load_config",
    "save_config",
]

MAX_CONFIG_BYTES = 4 * 1024 * 1024
DEFAULT_CONFIRM_TIMEOUT = 120.0
MAX_CONFIRM_TIMEOUT = 3600.0
CONFIRM_TIMEOUT_VARIABLE = "INHERENCE_PROXY_CONFIRM_TIMEOUT"
REPORT_OUTCOMES_VARIABLE = "INHERENCE_PROXY_REPORT_OUTCOMES"
TOOL_NAMES_VARIABLE = "INHERENCE_PROXY_TOOL_NAMES"
ToolNames = Literal["prefixed", "upstream"]
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigFileError(Exception):
    """config.json cannot be used. `path` names the file, `detail` what is wrong and where."""

    def __init__(self, path: pathlib.Path, detail: str) -> None:
        self.path = path
        self.detail = detail
        super().__init__(f"{path}: {detail}")


class SettingError(Exception):
    """An environment variable holds a value the proxy cannot use. `name` names the variable."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self.detail = detail
        super().__init__(f"{name}: {detail}")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class UpstreamEntry(_Entry):
    """One upstream MCP server: a command to run (stdio) or a URL (streamable HTTP / SSE)."""

    name: str = Field(min_length=1)
    command: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    transport: str = "stdio"
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)

    @pydantic.model_validator(mode="after")
    def _runnable(self) -> UpstreamEntry:
        if self.transport == "stdio" and not self.command:
            raise ValueError(f"upstream {self.name!r} uses stdio but has no command")
        if self.transport != "stdio" and not self.url:
            raise ValueError(f"upstream {self.name!r} uses {self.transport} but has no url")
        return self

    def to_gateway(self) -> UpstreamConfig:
        """The engine's view of this upstream; raises `GatewayUsageError` for one it cannot run."""
        from inherence_proxy_core import UpstreamConfig  # the engine is heavy to import; `version` needs none of it

        transport = _TRANSPORTS.get(self.transport.lower(), self.transport)
        return UpstreamConfig(
            name=self.name,
            command=tuple(self.command),
            env=self.env,
            cwd=self.cwd,
            transport=transport,  # type: ignore[arg-type]  # an unknown one is refused by UpstreamConfig
            url=self.url,
            headers=self.headers,
        )


# Spellings clients use for streamable HTTP, all meaning the engine's "http".
_TRANSPORTS = {"streamable-http": "http", "streamable_http": "http", "streamablehttp": "http", "http": "http"}


class MigratedClient(_Entry):
    """A client whose config `init` wrapped, and the upstreams that came from it."""

    name: str
    config_path: str
    upstream_names: list[str] = Field(default_factory=list)


class ProxyConfig(_Entry):
    api_key: SecretStr | None = None
    hosted_endpoint: str | None = None
    upstreams: list[UpstreamEntry] = Field(default_factory=list)
    migrated_at: str | None = None
    client_type: str | None = None
    client_config_path: str | None = None
    migrated_clients: list[MigratedClient] = Field(default_factory=list)
    confirm_timeout_seconds: Annotated[float, Field(strict=True, gt=0, le=MAX_CONFIRM_TIMEOUT)] | None = None
    report_outcomes: StrictBool | None = None
    tool_names: ToolNames | None = None

    def effective_confirm_timeout(self, environ: Mapping[str, str]) -> float:
        """Seconds a user has to answer a confirmation: the variable, else config.json, else 120."""
        text = environ.get(CONFIRM_TIMEOUT_VARIABLE, "").strip()
        if not text:
            return self.confirm_timeout_seconds or DEFAULT_CONFIRM_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            raise SettingError(CONFIRM_TIMEOUT_VARIABLE, f"{text[:40]!r} is not a number of seconds") from None
        if not 0 < seconds <= MAX_CONFIRM_TIMEOUT:
            raise SettingError(CONFIRM_TIMEOUT_VARIABLE, f"must be more than 0 and at most {MAX_CONFIRM_TIMEOUT:g}")
        return seconds

    def effective_report_outcomes(self, environ: Mapping[str, str]) -> bool:
        """Whether outcome reports are sent: the variable (1/0, true/false), else config.json, else yes."""
        text = environ.get(REPORT_OUTCOMES_VARIABLE, "").strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        if text:
            raise SettingError(REPORT_OUTCOMES_VARIABLE, f"{text[:40]!r} is not 1 or 0 (true or false)")
        return True if self.report_outcomes is None else self.report_outcomes

    def effective_tool_names(self, environ: Mapping[str, str]) -> ToolNames:
        """How tools are named towards the client: the variable, else config.json, else `prefixed` (0.1.x)."""
        text = environ.get(TOOL_NAMES_VARIABLE, "").strip().lower()
        if text == "prefixed" or text == "upstream":
            return text  # type: ignore[return-value]  # narrowed by the comparison
        if text:
            raise SettingError(TOOL_NAMES_VARIABLE, f"{text[:40]!r} is not prefixed or upstream")
        return self.tool_names or "prefixed"

    def upstreams_for(self, client: str | None) -> list[UpstreamEntry]:
        """The upstreams a client's proxy serves: those recorded for it, or all when it has no record."""
        owners = {_client_key(entry.name): entry for entry in self.migrated_clients}
        if client is None or _client_key(client) not in owners:
            return list(self.upstreams)
        wanted = set(owners[_client_key(client)].upstream_names)
        return [upstream for upstream in self.upstreams if upstream.name in wanted]

    def effective_api_key(self, environ: Mapping[str, str]) -> str | None:
        from_env = environ.get("INHERENCE_API_KEY", "").strip()
        if from_env:
            return from_env
        return self.api_key.get_secret_value() if self.api_key else None

    def effective_endpoint(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("INHERENCE_ENDPOINT", "").strip() or self.hosted_endpoint

    def to_json(self) -> str:
        # Only what was set: a file saved back holds the keys it was read with, and no new defaults.
        body: dict[str, Any] = self.model_dump(mode="python", exclude_unset=True)
        if self.api_key is not None:
            body["api_key"] = self.api_key.get_secret_value()
        return json.dumps(body, indent=2, ensure_ascii=False) + "\n"


def _client_key(name: str) -> str:
    # 0.1.x recorded `claude_desktop`; wrapped configs now start `serve claude-desktop`.
    return name.lower().replace("_", "-")


def load_config(path: pathlib.Path) -> ProxyConfig:
    """Read config.json; a missing file is an empty config, anything unusable a `ConfigFileError`."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        return ProxyConfig()
    except OSError as exc:
        raise ConfigFileError(path, f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigFileError(path, f"is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB")
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigFileError(path, f"is not UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(path, f"is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(document, dict):
        raise ConfigFileError(path, f"must hold a JSON object, not {type(document).__name__}")
    try:
        return ProxyConfig.model_validate(document)
    except pydantic.ValidationError as exc:
        raise ConfigFileError(path, _first_problem(exc)) from None


def _first_problem(exc: pydantic.ValidationError) -> str:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]).lstrip(".")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"field {where or '(top level)'}: {first['msg']}{more}"


def save_config(path: pathlib.Path, config: ProxyConfig) -> None:
    """Write config.json atomically (temp file in the same folder, fsync, rename), mode 0600: it holds the key."""
    write_private_file(path, config.to_json())
