"""Adapters for the clients whose servers live in one JSON mapping: the file locations and entry spelling.

Each docstring names the published documentation the format and locations were checked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ._adapter import ClientAdapter, simple_proxy_entry, typed_proxy_entry
from ._dialect import ConfigLocation, Dialect, top_level_section
from ._model import HostEnvironment
from ._syntax_json import JsonSyntax

__all__ = [
    "ClaudeDesktopAdapter",
    "ClineAdapter",
    "CursorAdapter",
    "GeminiCliAdapter",
    "VSCodeAdapter",
    "WindsurfAdapter",
    "ZedAdapter",
    "vscode_user_folders",
]

_JSON = JsonSyntax(jsonc=False)
_JSONC = JsonSyntax(jsonc=True)


def _mapping(syntax: JsonSyntax, key: str, scope: str, *, typed: bool = False, sse: bool = False) -> Dialect:
    entry = typed_proxy_entry if typed else simple_proxy_entry
    return Dialect(syntax=syntax, sections=top_level_section(key, scope=scope), proxy_entry=entry, url_means_sse=sse)


class ClaudeDesktopAdapter(ClientAdapter):
    """Claude Desktop: `claude_desktop_config.json`, `mcpServers` mapping of `command`/`args`/`env`.

    Source: modelcontextprotocol.io "Connect to local MCP servers" (Claude Desktop quickstart):
    macOS `~/Library/Application Support/Claude/`, Windows `%APPDATA%\\Claude\\`. Linux has no
    official build; community builds use `~/.config/Claude/`.
    """

    name = "claude-desktop"
    title = "Claude Desktop"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        folder = {
            "darwin": host.mac_support / "Claude",
            "win32": host.appdata / "Claude",
            "linux": host.xdg_config / "Claude",
        }[host.platform]
        dialect = _mapping(_JSON, "mcpServers", "user")
        return [self.location("user", folder / "claude_desktop_config.json", dialect)]


class CursorAdapter(ClientAdapter):
    """Cursor: `~/.cursor/mcp.json` (global) and `<project>/.cursor/mcp.json`, `mcpServers` mapping.

    Source: docs.cursor.com "Model Context Protocol": stdio entries `command`, `args`, `env`,
    `envFile`; remote entries `url` and `headers`. The same folder on macOS, Linux and Windows.
    """

    name = "cursor"
    title = "Cursor"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        found = [self.location("user", host.home / ".cursor" / "mcp.json", _mapping(_JSON, "mcpServers", "user"))]
        project_dialect = _mapping(_JSON, "mcpServers", "project")
        found += [self.location("project", project / ".cursor" / "mcp.json", project_dialect) for project in projects]
        return found


class WindsurfAdapter(ClientAdapter):
    """Windsurf (Cascade): `~/.codeium/windsurf/mcp_config.json`, `mcpServers` mapping.

    Source: docs.windsurf.com "Cascade MCP integration": stdio `command`/`args`/`env`, remote
    servers `serverUrl` (or `url`) with `headers`, `disabled` flags. Windows uses
    `%USERPROFILE%\\.codeium\\windsurf\\`.
    """

    name = "windsurf"
    title = "Windsurf"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        path = host.home / ".codeium" / "windsurf" / "mcp_config.json"
        return [self.location("user", path, _mapping(_JSON, "mcpServers", "user"))]


def vscode_user_folders(host: HostEnvironment) -> list[Path]:
    """The `User` folders of VS Code and VS Code Insiders on `host`."""
    base = {"darwin": host.mac_support, "win32": host.appdata, "linux": host.xdg_config}[host.platform]
    return [base / "Code" / "User", base / "Code - Insiders" / "User"]


class VSCodeAdapter(ClientAdapter):
    """VS Code: `mcp.json` in the user profile and `<workspace>/.vscode/mcp.json`, JSONC.

    Source: code.visualstudio.com "MCP configuration reference": a top-level `servers` mapping
    (entries with `type` "stdio" | "http" | "sse", `command`, `args`, `env`, `envFile`, `url`,
    `headers`) and an optional `inputs` list, which is left as it is.
    """

    name = "vscode"
    title = "Visual Studio Code"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        user = _mapping(_JSONC, "servers", "user", typed=True)
        found = [self.location("user", folder / "mcp.json", user) for folder in vscode_user_folders(host)]
        workspace = _mapping(_JSONC, "servers", "workspace", typed=True)
        found += [self.location("workspace", project / ".vscode" / "mcp.json", workspace) for project in projects]
        return found


class ClineAdapter(ClientAdapter):
    """Cline: `cline_mcp_settings.json`, `mcpServers` mapping with `disabled` and `autoApprove` flags.

    Source: docs.cline.bot "Configuring MCP servers": the VS Code extension keeps the file in its
    global storage (`<VS Code User>/globalStorage/saoudrizwan.claude-dev/settings/`), the Cline
    CLI in `~/.cline/data/settings/` (or where `CLINE_MCP_SETTINGS_PATH` points).
    """

    name = "cline"
    title = "Cline"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        dialect = _mapping(_JSON, "mcpServers", "user")
        file_name = "cline_mcp_settings.json"
        storage = Path("globalStorage") / "saoudrizwan.claude-dev" / "settings" / file_name
        found = [self.location("user", folder / storage, dialect) for folder in vscode_user_folders(host)]
        cli = host.variable_path("CLINE_MCP_SETTINGS_PATH", host.home / ".cline" / "data" / "settings" / file_name)
        found.append(self.location("user", cli, dialect))
        return found


class GeminiCliAdapter(ClientAdapter):
    """Gemini CLI: `~/.gemini/settings.json` and `<project>/.gemini/settings.json`, `mcpServers` mapping.

    Source: geminicli.com "MCP servers with the Gemini CLI" and "Gemini CLI configuration": stdio
    `command`/`args`/`env`/`cwd`, `httpUrl` (streamable HTTP), `url` (SSE), `headers`, `trust`,
    `includeTools`/`excludeTools`. Settings files may hold comments.
    """

    name = "gemini-cli"
    title = "Gemini CLI"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        user = _mapping(_JSONC, "mcpServers", "user", sse=True)
        found = [self.location("user", host.home / ".gemini" / "settings.json", user)]
        project_dialect = _mapping(_JSONC, "mcpServers", "project", sse=True)
        found += [self.location("project", p / ".gemini" / "settings.json", project_dialect) for p in projects]
        return found


class ZedAdapter(ClientAdapter):
    """Zed: `settings.json` (JSONC), servers under `context_servers`.

    Source: zed.dev/docs/ai/mcp "As Custom Servers": `{"command", "args", "env"}` or a remote
    `{"url", "headers"}`; older settings spell the command as `{"command": {"path", "args",
    "env"}}`, which is read too. User settings are `~/.config/zed/settings.json` on macOS and
    Linux (`$XDG_CONFIG_HOME` honoured), `%APPDATA%\\Zed\\settings.json` on Windows; project
    settings `<project>/.zed/settings.json`. Extension-provided servers have no command and are
    refused: the proxy cannot start them.
    """

    name = "zed"
    title = "Zed"

    def candidates(self, host: HostEnvironment, projects: Sequence[Path] = ()) -> list[ConfigLocation]:
        if host.platform == "win32":
            user_path = host.appdata / "Zed" / "settings.json"
        else:
            user_path = host.xdg_config / "zed" / "settings.json"
        found = [self.location("user", user_path, _mapping(_JSONC, "context_servers", "user"))]
        project_dialect = _mapping(_JSONC, "context_servers", "project")
        found += [self.location("project", p / ".zed" / "settings.json", project_dialect) for p in projects]
        return found
