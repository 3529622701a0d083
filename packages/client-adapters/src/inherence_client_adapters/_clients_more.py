"""Adapters for the clients with more than one servers section or a non-JSON file: Claude Code, Codex, Continue."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._adapter import ClientAdapter, simple_proxy_entry, typed_proxy_entry
from ._dialect import ConfigLocation, Dialect, Section, top_level_section
from ._model import PROXY_ENTRY_NAME, HostEnvironment, ProxyCommand
from ._syntax_json import JsonSyntax
from ._syntax_toml import TomlSyntax
from ._syntax_yaml import YamlSyntax

__all__ = ["ClaudeCodeAdapter", "CodexAdapter", "ContinueAdapter"]

_JSON = JsonSyntax(jsonc=False)
_JSONC = JsonSyntax(jsonc=True)


def _claude_home_sections(plain: Any) -> tuple[Section, ...]:
    """User scope at the top of `~/.claude.json`, plus each project's local scope that defines servers."""
    sections = [Section(scope="user", path=("mcpServers",))]
    projects = plain.get("projects") if isinstance(plain, dict) else None
    if isinstance(projects, dict):
        for project, settings in projects.items():
            if isinstance(settings, dict) and settings.get("mcpServers"):
                sections.append(
                    Section(scope=f"local:{project}", path=("projects", project, "mcpServers"), holds_proxy=False)
                )
    return tuple(sections)


class ClaudeCodeAdapter(ClientAdapter):
    """Claude Code: `~/.claude.json` (user scope and per-project local scope) and `<project>/.mcp.json`.

    Source: code.claude.com/docs/en/mcp "MCP installation scopes": user servers under the top
    `mcpServers`, local ones under `projects.<absolute path>.mcpServers` in the same file, project
    servers in `.mcp.json`; entries carry `type` ("stdio", "http", "sse"), `command`, `args`,
    `env`, `url`, `headers`. `CLAUDE_CONFIG_DIR` moves the home file.

    Wrapping the home file puts the proxy entry in the user scope and empties each project's local
    scope, whose servers move behind the proxy with `scope` saying which project they came from.
    """

    name = "claude-code"
    title = "Claude Code"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        home_file = host.variable_path("CLAUDE_CONFIG_DIR", host.home) / ".claude.json"
        home = Dialect(syntax=_JSON, sections=_claude_home_sections, proxy_entry=typed_proxy_entry)
        found = [self.location("user", home_file, home)]
        project = Dialect(
            syntax=_JSON, sections=top_level_section("mcpServers", scope="project"), proxy_entry=typed_proxy_entry
        )
        found += [self.location("project", p / ".mcp.json", project) for p in projects]
        return found


class CodexAdapter(ClientAdapter):
    """Codex CLI: `config.toml`, one `[mcp_servers.<name>]` table per server.

    Source: developers.openai.com/codex "Model Context Protocol" and the Codex `docs/config.md`:
    `command`, `args`, `env`, `cwd`, `env_vars`, `startup_timeout_sec`, `tool_timeout_sec`,
    `enabled`, and for streamable HTTP `url`, `bearer_token_env_var`, `http_headers`. The user
    file is `$CODEX_HOME/config.toml` (default `~/.codex`); a trusted project may have
    `.codex/config.toml`.
    """

    name = "codex"
    title = "Codex CLI"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        home = host.variable_path("CODEX_HOME", host.home / ".codex")
        syntax = TomlSyntax()
        user = Dialect(
            syntax=syntax, sections=top_level_section("mcp_servers", scope="user"), proxy_entry=simple_proxy_entry
        )
        found = [self.location("user", home / "config.toml", user)]
        project = Dialect(
            syntax=syntax, sections=top_level_section("mcp_servers", scope="project"), proxy_entry=simple_proxy_entry
        )
        found += [self.location("project", p / ".codex" / "config.toml", project) for p in projects]
        return found


def _continue_yaml_entry(proxy: ProxyCommand, client: str) -> dict[str, Any]:
    return {"name": PROXY_ENTRY_NAME, **simple_proxy_entry(proxy, client)}


def _continue_legacy_entry(proxy: ProxyCommand, client: str) -> dict[str, Any]:
    return {"transport": typed_proxy_entry(proxy, client)}


class ContinueAdapter(ClientAdapter):
    """Continue: `config.yaml`, the legacy `config.json`, and per-server block files.

    Source: docs.continue.dev "MCP" and "config.yaml Reference": `mcpServers` is a list of
    `{name, command, args, env, cwd, type, url}`; block files in `.continue/mcpServers/` are YAML
    with their own `mcpServers` list, or JSON copied from Claude Desktop or Cursor (an
    `mcpServers` mapping). "config.json Reference (Deprecated)": servers under
    `experimental.modelContextProtocolServers`, each `{transport: {type, command, args}}`.
    The global folder is `~/.continue` (`%USERPROFILE%\\.continue` on Windows).

    The proxy entry goes in `config.yaml` (or the legacy `config.json`); wrapping a block file
    empties its list, so its servers run behind the proxy that the main config starts.
    """

    name = "continue"
    title = "Continue"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        folder = host.home / ".continue"
        yaml = YamlSyntax()
        main_yaml = Dialect(
            syntax=yaml,
            sections=top_level_section("mcpServers", scope="user", listed=True),
            proxy_entry=_continue_yaml_entry,
        )
        legacy = Dialect(
            syntax=_JSONC,
            sections=lambda plain: (Section("user", ("experimental", "modelContextProtocolServers"), listed=True),),
            proxy_entry=_continue_legacy_entry,
        )
        found = [
            self.location("user", folder / "config.yaml", main_yaml),
            self.location("user", folder / "config.json", legacy),
        ]
        for scope, blocks in [("user-block", folder / "mcpServers")] + [
            ("project-block", p / ".continue" / "mcpServers") for p in projects
        ]:
            found += self._blocks(scope, blocks, yaml)
        return found

    def _blocks(self, scope: str, folder: Path, yaml: YamlSyntax) -> list[ConfigLocation]:
        try:
            names = sorted(entry.name for entry in os.scandir(folder) if not entry.name.startswith("."))
        except OSError:
            return []
        listed = Dialect(
            syntax=yaml,
            sections=top_level_section("mcpServers", scope=scope, listed=True, holds_proxy=False),
            proxy_entry=_continue_yaml_entry,
        )
        mapping = Dialect(
            syntax=_JSONC,
            sections=top_level_section("mcpServers", scope=scope, holds_proxy=False),
            proxy_entry=simple_proxy_entry,
        )
        found = []
        for name in names:
            if ".bak_inherence." in name:
                continue
            if name.endswith((".yaml", ".yml")):
                found.append(self.location(scope, folder / name, listed))
            elif name.endswith(".json"):
                found.append(self.location(scope, folder / name, mapping))
        return found
