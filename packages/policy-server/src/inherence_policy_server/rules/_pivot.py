"""Lateral pivot: cloud metadata services, cluster and container management planes, and /etc.

Hosts are compared after `_hosts.canonical_ip`, so every spelling of an address is the
same address; DNS names that embed an address (169.254.169.254.nip.io, 169-254-169-254.sslip.io)
are read for the address they will resolve to.
"""

from __future__ import annotations

import datetime
import ipaddress
import re

from inherence_policy_server.rules._analysis import PATH_KEYS, CallAnalysis
from inherence_policy_server.rules._api import Call, Category, Finding, SessionLedger
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._container_escape import command_escape, spec_escape
from inherence_policy_server.rules._hosts import Endpoint, canonical_ip, host_within, parse_endpoint
from inherence_policy_server.rules._pack_views import MetadataAddresses, pack_views
from inherence_policy_server.rules._paths import matches_any_glob, normalise_path
from inherence_policy_server.rules._pivot_urls import carried_target, file_url_problem, scheme_problem
from inherence_policy_server.rules._shell import ShellCommand

__all__ = ["RULE", "evaluate"]

RULE = "lateral_pivot"

_REBINDING_DOMAINS = ("nip.io", "sslip.io", "xip.io", "traefik.me", "localtest.me", "lvh.me", "1u.ms", "rbndr.us",
                      "nip.direct", "backname.io", "localh.st")  # fmt: skip
_ALWAYS_REBINDING = ("rbndr.us", "1u.ms")
_MANAGEMENT_PORTS: dict[int, str] = {
    6443: "the Kubernetes API", 10250: "the kubelet API", 10255: "the kubelet read-only API",
    10257: "the controller manager", 10259: "the scheduler", 2379: "etcd", 2380: "etcd peers",
    2375: "the Docker daemon", 2376: "the Docker daemon (TLS)", 4243: "the Docker daemon",
    8500: "the Consul agent API", 8501: "the Consul agent API (TLS)", 4646: "the Nomad API",
}  # fmt: skip
_SOCKETS = re.compile(
    r"(?:^|/)(?:docker|containerd|crio|podman|dockershim|kubelet|cri-dockerd)\.sock$|/run/containerd/|/var/run/secrets/kubernetes\.io"
)
# Files under /etc that hold no secret and that tools read to learn the system they run on.
_PUBLIC_ETC = (
    "/etc/resolv.conf", "/etc/hosts", "/etc/passwd", "/etc/group", "/etc/os-release", "/etc/lsb-release",
    "/etc/issue", "/etc/issue.net", "/etc/debian_version", "/etc/redhat-release", "/etc/alpine-release",
    "/etc/system-release", "/etc/centos-release", "/etc/fedora-release", "/etc/nsswitch.conf", "/etc/protocols",
    "/etc/services", "/etc/hostname", "/etc/timezone", "/etc/localtime", "/etc/shells", "/etc/mime.types",
    "/etc/ssl/certs/*", "/etc/ca-certificates.conf", "/etc/apt/sources.list", "/etc/apt/sources.list.d/*",
    "/etc/environment", "/etc/locale.conf", "/etc/machine-info", "/etc/host.conf",
    # How the container runtime, the resolver and the kernel are set up: nothing secret to read.
    "/etc/docker/daemon.json", "/etc/containers/registries.conf", "/etc/containers/policy.json",
    "/etc/systemd/resolved.conf", "/etc/gai.conf", "/etc/sysctl.conf", "/etc/sysctl.d/*", "/etc/fstab",
    "/etc/ld.so.conf", "/etc/ld.so.conf.d/*", "/etc/security/limits.conf", "/etc/chrony/chrony.conf",
    "/etc/ntp.conf", "/etc/timesyncd.conf", "/etc/default/locale", "/etc/default/grub",
)  # fmt: skip
# A web server's or a service's own configuration: nothing secret to read, a person asked before it changes.
# (Who may log in, run as root or start at boot stays `system_config`: sudoers, ssh, pam, cron, systemd.)
_SERVICE_CONFIG = (
    "/etc/nginx/nginx.conf", "/etc/nginx/sites-available/*", "/etc/nginx/sites-enabled/*", "/etc/nginx/conf.d/*",
    "/etc/apache2/apache2.conf", "/etc/apache2/sites-available/*", "/etc/apache2/sites-enabled/*",
    "/etc/apache2/conf-available/*", "/etc/apache2/conf-enabled/*", "/etc/httpd/conf/httpd.conf",
    "/etc/httpd/conf.d/*", "/etc/haproxy/haproxy.cfg", "/etc/caddy/Caddyfile", "/etc/logrotate.d/*",
    "/etc/redis/redis.conf", "/etc/mysql/my.cnf", "/etc/mysql/conf.d/*", "/etc/postgresql/*/main/postgresql.conf",
    "/etc/php/*/fpm/php.ini", "/etc/php/*/fpm/pool.d/*",
)  # fmt: skip
_SECRET_NAMES = re.compile(r"passw|htpasswd|\.key$|\.pem$|secret|credential|token", re.IGNORECASE)
_READING_COMMANDS = frozenset({"cat", "head", "tail", "less", "more", "grep", "egrep", "fgrep", "rg", "wc", "stat",
                               "ls", "file", "diff", "md5sum", "sha1sum", "sha256sum", "getent", "bat", "nl", "sort",
                               "uniq", "cut", "sed", "cmp", "test", "[", "readlink", "realpath", "column", "jq",
                               "awk", "strings", "od", "hexdump", "xxd"})  # fmt: skip
_SEARCH_COMMANDS = frozenset({"grep", "egrep", "fgrep", "rg", "ag", "ack", "findstr", "select-string", "git-grep"})
_EMBEDDED_DOTTED = re.compile(r"(?:^|[.-])(\d{1,3}[.-]\d{1,3}[.-]\d{1,3}[.-]\d{1,3})(?=[.-]|$)")
_EMBEDDED_HEX = re.compile(r"(?:^|[.-])([0-9a-f]{8})(?=[.-])")


def _embedded_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for match in _EMBEDDED_DOTTED.finditer(host):
        address = canonical_ip(match.group(1).replace("-", "."))
        if address is not None:
            return address
    if host_within(host, _REBINDING_DOMAINS):
        for match in _EMBEDDED_HEX.finditer(host):
            return canonical_ip("0x" + match.group(1))
    return None


def endpoint_problem(endpoint: Endpoint, metadata: MetadataAddresses) -> tuple[str, str] | None:
    """(clause, explanation) when an endpoint reaches metadata, a management plane or a rebinding name.

    `metadata` is the `metadata_addresses` pack of the rules config.
    """
    host = endpoint.host
    clause = metadata.address_clause(endpoint.ip) if endpoint.ip is not None else None
    if clause is not None:
        return _short(clause), f"{endpoint.source} reaches the cloud metadata address {endpoint.ip}"
    clause = metadata.name_clause(host)
    if clause is not None:
        return _short(clause), f"{endpoint.source} names the metadata service {host}"
    if endpoint.ip is None:
        embedded = _embedded_address(host)
        if embedded is not None and (
            metadata.address_clause(embedded) is not None or embedded.is_loopback or embedded.is_private
        ):
            return "rebinding_name", f"{host} resolves to the internal address {embedded}"
        if host_within(host, _ALWAYS_REBINDING):
            return "rebinding_name", f"{host} is a DNS rebinding service"
    what = _MANAGEMENT_PORTS.get(endpoint.port) if endpoint.port is not None else None
    if what is not None:
        return "management_port", f"{endpoint.source} reaches {what} on port {endpoint.port}"
    if endpoint.scheme in ("unix", "npipe") or _SOCKETS.search(endpoint.path):
        return "management_socket", f"{endpoint.source} reaches a container or cluster socket"
    return None


def _short(clause: str) -> str:
    return clause.partition(".")[2]


def _metadata_only(endpoint: Endpoint, metadata: MetadataAddresses) -> tuple[str, str] | None:
    problem = endpoint_problem(endpoint, metadata)
    return problem if problem is not None and problem[0] in ("metadata_endpoint", "rebinding_name") else None


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny calls that reach metadata services, management planes, their sockets, the host, or /etc."""
    del ledger, now
    analysis = analysis or CallAnalysis(call)
    section = config.lateral_pivot
    findings: dict[str, Finding] = {}

    def add(clause: str, why: str) -> None:
        findings.setdefault(clause, Finding(RULE, f"{RULE}.{clause}", f"Lateral pivot: {why}."))

    inert = _searched_words(analysis)
    metadata = pack_views(config.packs).metadata_addresses
    for endpoint in analysis.endpoints:
        if host_within(endpoint.host, section.allowed_hosts) or endpoint.source in inert:
            continue
        problem = endpoint_problem(endpoint, metadata)
        if problem is not None:
            add(*problem)
            continue
        scheme = scheme_problem(endpoint)
        if scheme is not None:
            add("internal_scheme", scheme)
        carried = carried_target(endpoint, lambda target: _metadata_only(target, metadata))
        if carried is not None:
            add("metadata_redirect", f"{endpoint.source[:120]} hands on the metadata target {carried[:80]}")
    for text in [value.raw for value in analysis.values(payload=False)] + analysis.shell_words:
        problem_text = file_url_problem(text) if text not in inert else None
        if problem_text is not None:
            add("file_scheme", problem_text)
            break
    for command in analysis.shell.commands:
        escape = command_escape(command)
        if escape is not None:
            add("container_escape", escape)
        for target in _pinned_targets(command):
            pinned = parse_endpoint(target, source=target)
            problem = _metadata_only(pinned, metadata) if pinned is not None else None
            if problem is not None:
                add(problem[0], f"`{' '.join(command.argv)[:120]}` sends its request to {target[:60]}")
    shell = _reverse_shell(analysis)
    if shell is not None:
        add("reverse_shell", shell)
    spec = spec_escape(call.arguments)
    if spec is not None and call.category is not Category.READ_ONLY:
        add("container_escape", f"the call asks for {spec}")
    read_only = _read_only_paths(analysis)
    for path in analysis.paths:
        if _SOCKETS.search(path) and not matches_any_glob(path, section.allowed_paths):
            add("management_socket", f"{path} is a container or cluster socket")
        elif (
            (path == "/etc" or path.startswith("/etc/"))
            and not matches_any_glob(path, section.allowed_paths)
            and not (path in read_only and matches_any_glob(path, _PUBLIC_ETC + _SERVICE_CONFIG))
        ):
            if matches_any_glob(path, _SERVICE_CONFIG) and not _SECRET_NAMES.search(path):
                add("service_config", f"the call changes the service configuration {path}")
            else:
                add("system_config", f"the call touches {path} under /etc")
    return list(findings.values())


_NETCATS = frozenset({"nc", "ncat", "netcat", "nc.traditional", "nc.openbsd", "pwncat"})
_SHELLS = frozenset({"sh", "bash", "zsh", "dash", "ash", "ksh", "fish", "cmd", "cmd.exe", "powershell", "pwsh"})
_DEV_NET = re.compile(r"/dev/(?:tcp|udp)/[^/\s]+/\d+")
_INTERACTIVE = re.compile(r"(?:[0-2]?>&\s*[0-2]?|<>|\s-i\b|\bexec\s+\d)")
_SOCAT_RUN = re.compile(r"^(?:exec|system):", re.IGNORECASE)
_SOCAT_NET = re.compile(r"^(?:tcp|tcp4|tcp6|udp|ssl|openssl|sctp)[46]?(?:-connect|-listen)?:", re.IGNORECASE)


def _reverse_shell(analysis: CallAnalysis) -> str | None:
    """A shell handed to a network connection: whoever is at the other end runs commands on this machine."""
    commands = analysis.shell.commands
    for command in commands:
        words = [word.casefold() for word in command.argv[1:]]
        if command.name in _NETCATS and ({"-e", "-c", "--exec", "--sh-exec", "--lua-exec"} & set(words)):
            return f"`{' '.join(command.argv)[:120]}` hands a program to a network connection"
        if (
            command.name == "socat"
            and any(_SOCAT_RUN.match(w) for w in words)
            and any(_SOCAT_NET.match(w) for w in words)
        ):
            return f"`{' '.join(command.argv)[:120]}` connects a program to the network"
    for value in analysis.values(payload=False):
        if "/dev/" in value.raw and _DEV_NET.search(value.raw) and _INTERACTIVE.search(value.raw):
            return "a shell's input and output are redirected to a network connection (/dev/tcp)"
    # Inline code that opens a connection and starts an interactive shell (`socket` + `dup2` + `/bin/sh -i`).
    connects = any(c.name in _NETCATS and "-z" not in c.argv and len(c.argv) >= 2 for c in commands)
    spawns = any(c.name.rsplit("/", 1)[-1] in _SHELLS and (len(c.argv) == 1 or "-i" in c.argv[1:]) for c in commands)
    if connects and spawns:
        return "the code connects to a remote host and starts an interactive shell"
    return None


def _pinned_targets(command: ShellCommand) -> list[str]:
    """Where `curl --resolve name:port:addr` or `--connect-to ::host:port` really connects, whatever the URL says."""
    if command.name != "curl":
        return []
    targets: list[str] = []
    words = list(command.argv[1:])
    for index, word in enumerate(words):
        option, equals, inline = word.partition("=")
        if option not in ("--resolve", "--connect-to"):
            continue
        value = inline if equals else (words[index + 1] if index + 1 < len(words) else "")
        if option == "--resolve":
            fields = value.split(":", 2)
            if len(fields) == 3:
                targets.extend(address.strip("[]") for address in fields[2].split(","))
        else:
            parts = value.split(":")
            if len(parts) >= 3 and parts[2]:
                targets.append(parts[2].strip("[]"))
    return targets


def _searched_words(analysis: CallAnalysis) -> frozenset[str]:
    """Words that are only patterns or operands of a text search (`grep -rn 169.254.169.254 src/`)."""
    searched: set[str] = set()
    used: set[str] = set()
    for command in analysis.shell.commands:
        searching = command.name in _SEARCH_COMMANDS or (command.name == "git" and command.argv[1:2] == ("grep",))
        target = searched if searching else used
        for word in command.argv[1:]:
            target.add(word)
            if word.startswith("-") and "=" in word:
                target.add(word.split("=", 1)[1])
    return frozenset(searched - used)


_CONTAINER_RUNNERS = frozenset({"docker", "podman", "nerdctl"})


def _read_only_paths(analysis: CallAnalysis) -> set[str]:
    """Paths the call only reads: a read tool's paths, operands of reading commands, `<` inputs."""
    read: set[str] = set()
    written: set[str] = set()
    reading_tool = analysis.category in (Category.FILE_READ, Category.READ_ONLY)
    for value in analysis.values(payload=False):
        if value.key in PATH_KEYS and not value.is_key:
            (read if reading_tool else written).add(normalise_path(value.raw))
    for command in analysis.shell.commands:
        if command.name in _CONTAINER_RUNNERS and command.argv[1:2] in (("run",), ("exec",)):
            # `docker run --rm alpine cat /etc/resolv.conf`: what a reading command in the container names is read.
            inner = next((n for n, word in enumerate(command.argv[2:], 2) if word in _READING_COMMANDS), None)
            if inner is not None:
                read.update(normalise_path(word) for word in command.argv[inner + 1 :])
            continue
        reading = command.name in _READING_COMMANDS and not (
            command.name == "sed" and any(word.startswith(("-i", "--in-place")) for word in command.argv)
        )
        for word in command.argv[1:]:
            (read if reading else written).add(normalise_path(word))
        for operator, target in command.redirects:
            (read if operator == "<" else written).add(normalise_path(target))
    return read - written
