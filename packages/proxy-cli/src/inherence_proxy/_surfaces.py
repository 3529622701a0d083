"""Agent tool surfaces that never traverse MCP, for `audit`.

Coding agents carry built-in tools (a shell, file edits, web fetches) that run inside the
agent itself; wrapping their MCP config cannot gate those. `audit` names the agents it finds
on this machine and their built-in tools so the user knows what the gate does not see.
Found by their files under the home folder or their command on PATH, never by running them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping

from inherence_client_adapters import HostEnvironment

__all__ = ["AGENT_SURFACES", "AgentSurface", "FoundSurface", "find_surfaces"]


@dataclasses.dataclass(frozen=True)
class AgentSurface:
    """An agent: where its files live (relative to home, `*` allowed), its commands, its built-in tools."""

    agent: str
    home_paths: tuple[str, ...]
    commands: tuple[str, ...]
    built_in_tools: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class FoundSurface:
    surface: AgentSurface
    evidence: str


def _s(agent: str, paths: str, commands: str, tools: str) -> AgentSurface:
    return AgentSurface(agent, tuple(paths.split()), tuple(commands.split()), tuple(tools.split()))


AGENT_SURFACES: tuple[AgentSurface, ...] = (
    _s("Claude Code", ".claude .claude.json", "claude",
       "Bash Read Write Edit MultiEdit Glob Grep WebFetch WebSearch NotebookEdit Task"),
    _s("Cursor agent", ".cursor", "cursor-agent",
       "run_terminal_cmd read_file edit_file delete_file grep_search file_search web_search"),
    _s("opencode", ".config/opencode .local/share/opencode", "opencode",
       "bash read write edit patch glob grep list webfetch"),
    _s("Codex CLI", ".codex", "codex", "shell apply_patch web_search"),
    _s("Gemini CLI", ".gemini", "gemini",
       "run_shell_command read_file write_file replace glob search_file_content list_directory web_fetch "
       "google_web_search read_many_files save_memory"),
    _s("Windsurf Cascade", ".codeium/windsurf", "windsurf",
       "run_command view_file write_to_file edit_file find_by_name grep_search read_url_content search_web"),
    _s("Cline", ".vscode/extensions/saoudrizwan.claude-dev-* .cline", "cline",
       "execute_command read_file write_to_file replace_in_file search_files list_files browser_action"),
    _s("Continue", ".continue", "cn",
       "builtin_read_file builtin_run_terminal_command builtin_create_new_file builtin_edit_existing_file "
       "builtin_grep_search builtin_fetch_url_content"),
    _s("GitHub Copilot agent", ".vscode/extensions/github.copilot-chat-*", "",
       "runInTerminal editFiles createFile fetch codebase"),
    _s("Aider", ".aider.conf.yml .aider.chat.history.md", "aider", "/run (shell) file edits /web"),
)  # fmt: skip


def _on_path(command: str, environ: Mapping[str, str]) -> str | None:
    return shutil.which(command, path=environ.get("PATH", os.defpath))


def find_surfaces(host: HostEnvironment) -> list[FoundSurface]:
    """The agents of `AGENT_SURFACES` present on `host`, each with what gave it away."""
    found: list[FoundSurface] = []
    for surface in AGENT_SURFACES:
        evidence = None
        for relative in surface.home_paths:
            matches = sorted(host.home.glob(relative)) if "*" in relative else [host.home / relative]
            existing = [m for m in matches if m.exists()]
            if existing:
                evidence = f"~/{existing[0].relative_to(host.home).as_posix()}"
                break
        if evidence is None:
            for command in surface.commands:
                located = _on_path(command, host.variables)
                if located:
                    evidence = located
                    break
        if evidence is not None:
            found.append(FoundSurface(surface, evidence))
    return found
