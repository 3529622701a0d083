"""Ways out of a container onto its host: entering PID 1's namespaces, debugging a node,
starting a privileged or host-sharing container, chrooting into a mounted host root, and
pod specs that ask for the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["command_escape", "spec_escape"]

_RUNTIMES = frozenset({"docker", "podman", "nerdctl", "ctr", "crictl"})
_KUBECTL_STARTING = frozenset({"run", "debug", "create", "apply"})
_MAX_OVERRIDES = 64 * 1024
_HOST_DISK = re.compile(r"^/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|mapper/|disk/by-|dm-)")
_STARTING = frozenset({"run", "create", "exec"})
_HOST_NAMESPACES = re.compile(r"^--(?:pid|ipc|uts|userns|cgroupns)(?:=|$)")
_HOST_SOURCES = re.compile(
    r"^(?:/|/proc|/sys|/dev|/etc|/root|/boot|/var/run|/run|/var/lib/(?:kubelet|docker|containerd)|/run/containerd)/?$"
    r"|^(?:/var)?/run/(?:docker|containerd/containerd|crio/crio|podman/podman|k3s/containerd/containerd)\.sock$"
)
_CAPABILITIES = re.compile(r"\b(?:all|sys_admin|sys_ptrace|sys_module|dac_read_search|sys_rawio)\b", re.IGNORECASE)
_UNCONFINED = re.compile(r"(?:apparmor|seccomp)[=:]unconfined|label[=:]disable", re.IGNORECASE)
_HOST_ROOTS = re.compile(r"^/(?:host|hostfs|host-root|rootfs|host_root|node|mnt/host)/?$|^/proc/(?:1|self|\d+)/root/?$")


def command_escape(command: ShellCommand) -> str | None:
    """Why a command reaches the host from inside a container, or None."""
    argv = command.argv
    text = " ".join(argv)[:160]
    if command.name == "nsenter" and _targets_pid_one(argv[1:]):
        return f"`{text}` enters the namespaces of the host's first process"
    if command.name == "kubectl" and "debug" in argv[1:3] and any(word.startswith("node/") for word in argv):
        return f"`{text}` opens a shell on a cluster node with its root file system mounted"
    if command.name == "kubectl" and "debug" in argv[1:3] and any("sysadmin" in word for word in argv):
        return f"`{text}` starts a privileged debugging container"
    if command.name == "kubectl" and set(argv[1:3]) & _KUBECTL_STARTING:
        why = _overrides_escape(argv[1:])
        if why is not None:
            return f"`{text}` starts a pod with {why}"
    if command.name in ("mount", "debugfs") and any(_HOST_DISK.match(word) for word in argv[1:]):
        disk = next(word for word in argv[1:] if _HOST_DISK.match(word))
        return f"`{text}` opens the disk {disk}, the host's file system seen from a container"
    if command.name in ("chroot", "pivot_root") and len(argv) > 1:
        target = next((word for word in argv[1:] if not word.startswith("-")), "")
        if _HOST_ROOTS.match(target):
            return f"`{text}` changes into the host's root file system"
    if command.name in _RUNTIMES and set(_after_global_options(argv[1:])[:2]) & _STARTING:
        why = _runtime_option(list(argv[1:]))
        if why is not None:
            return f"`{text}` starts a container with {why}"
    return None


# A runtime's options before its subcommand that take a value: `docker -H unix:///var/run/docker.sock run ...`.
_GLOBAL_WITH_VALUE = frozenset({"-H", "--host", "-c", "--context", "--config", "-l", "--log-level", "--url",
                                "--connection", "--namespace", "-n", "--address", "-a", "--tlscacert", "--tlscert",
                                "--tlskey"})  # fmt: skip


def _after_global_options(words: tuple[str, ...]) -> tuple[str, ...]:
    index = 0
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in _GLOBAL_WITH_VALUE else 1
    return words[index:]


def _overrides_escape(words: tuple[str, ...]) -> str | None:
    """What a pod spec given inline (`kubectl run --overrides '{json}'`) shares with the host, or None."""
    for index, word in enumerate(words):
        option, equals, inline = word.partition("=")
        if option != "--overrides":
            continue
        text = inline if equals else (words[index + 1] if index + 1 < len(words) else "")
        if len(text) > _MAX_OVERRIDES:
            return "an inline spec too large to read"
        try:
            spec = json.loads(text)
        except ValueError:
            return "an inline spec that cannot be read"
        found = spec_escape(spec)
        if found is not None:
            return found
    return None


def _targets_pid_one(words: tuple[str, ...]) -> bool:
    for index, word in enumerate(words):
        value = None
        if word in ("-t", "--target") and index + 1 < len(words):
            value = words[index + 1]
        elif word.startswith("--target="):
            value = word.split("=", 1)[1]
        elif word.startswith("-t") and not word.startswith("--") and len(word) > 2:
            value = word[2:]
        if value == "1":
            return True
    return False


def _runtime_option(words: list[str]) -> str | None:
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        option, _, inline = word.partition("=")
        value = inline if "=" in word else following
        if option == "--privileged" and inline.casefold() not in ("false", "0"):
            return "full privileges"
        if _HOST_NAMESPACES.match(word) and value == "host":
            return f"the host's {option[2:]} namespace"
        if option in ("-v", "--volume") and _HOST_SOURCES.match(value.split(":", 1)[0] or "/"):
            return f"the host's {value.split(':', 1)[0] or '/'} mounted"
        if option == "--mount" and re.search(r"(?:source|src)=(/[^,]*)", value):
            source = re.search(r"(?:source|src)=(/[^,]*)", value)
            if source is not None and _HOST_SOURCES.match(source.group(1)):
                return f"the host's {source.group(1)} mounted"
        if option == "--cap-add" and _CAPABILITIES.search(value):
            return f"the capability {value}"
        if option == "--security-opt" and _UNCONFINED.search(value):
            return f"its confinement off ({value})"
    return None


def spec_escape(node: Any, depth: int = 0) -> str | None:
    """Why a pod or container spec in a tool's arguments shares the host, or None."""
    if depth > 12:
        return None
    if isinstance(node, Mapping):
        for key, value in node.items():
            name = str(key).casefold()
            if name in ("privileged", "hostpid", "hostipc") and value is True:
                return f"a spec with {key}: true"
            if name == "hostpath" and isinstance(value, Mapping) and _HOST_SOURCES.match(str(value.get("path", ""))):
                return f"a spec mounting the host's {value.get('path')}"
            found = spec_escape(value, depth + 1) if isinstance(value, (Mapping, list)) else None
            if found is not None:
                return found
    elif isinstance(node, list):
        for item in node[:64]:
            found = spec_escape(item, depth + 1)
            if found is not None:
                return found
    return None
