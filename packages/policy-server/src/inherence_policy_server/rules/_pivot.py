"""Lateral pivot: cloud metadata services, cluster and container management planes, and /etc.

Hosts are compared after `_hosts.canonical_ip`, so every spelling of an address is the
same address; DNS names that embed an address (169.254.169.254.nip.io, 169-254-169-254.sslip.io)
are read for the address they will resolve to.
"""

from __future__ import annotations

import datetime
import ipaddress
import re

from inherence_policy_server.rules._analysis import CallAnalysis
from inherence_policy_server.rules._api import Call, Finding, SessionLedger
from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._hosts import Endpoint, canonical_ip, host_within
from inherence_policy_server.rules._paths import matches_any_glob

__all__ = ["RULE", "evaluate"]

RULE = "lateral_pivot"

_METADATA_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "169.254.0.0/16",  # link-local: AWS, GCP, Azure, Oracle, DigitalOcean, OpenStack metadata and ECS
        "100.100.100.200/32",  # Alibaba Cloud
        "192.0.0.192/32",  # Oracle Cloud (legacy)
        "fd00:ec2::/64",  # AWS IMDS over IPv6
        "fe80::/10",  # IPv6 link-local
    )
)
_METADATA_NAMES = (
    "metadata.google.internal", "metadata.goog", "metadata", "instance-data", "instance-data.ec2.internal",
    "metadata.azure.internal", "metadata.tencentyun.com", "metadata.platformequinix.com", "kubernetes.default",
    "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
)  # fmt: skip
_REBINDING_DOMAINS = ("nip.io", "sslip.io", "xip.io", "traefik.me", "localtest.me", "lvh.me", "1u.ms", "rbndr.us",
                      "nip.direct", "backname.io", "localh.st")  # fmt: skip
_ALWAYS_REBINDING = ("rbndr.us", "1u.ms")
_MANAGEMENT_PORTS: dict[int, str] = {
    6443: "the Kubernetes API", 10250: "the kubelet API", 10255: "the kubelet read-only API",
    10257: "the controller manager", 10259: "the scheduler", 2379: "etcd", 2380: "etcd peers",
    2375: "the Docker daemon", 2376: "the Docker daemon (TLS)", 4243: "the Docker daemon",
}  # fmt: skip
_SOCKETS = re.compile(
    r"(?:^|/)(?:docker|containerd|crio|podman|dockershim|kubelet|cri-dockerd)\.sock$|/run/containerd/|/var/run/secrets/kubernetes\.io"
)
_EMBEDDED_DOTTED = re.compile(r"(?:^|[.-])(\d{1,3}[.-]\d{1,3}[.-]\d{1,3}[.-]\d{1,3})(?=[.-]|$)")
_EMBEDDED_HEX = re.compile(r"(?:^|[.-])([0-9a-f]{8})(?=[.-])")


def _is_metadata_ip(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address.version == network.version and address in network for network in _METADATA_NETWORKS)


def _embedded_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    for match in _EMBEDDED_DOTTED.finditer(host):
        address = canonical_ip(match.group(1).replace("-", "."))
        if address is not None:
            return address
    if host_within(host, _REBINDING_DOMAINS):
        for match in _EMBEDDED_HEX.finditer(host):
            return canonical_ip("0x" + match.group(1))
    return None


def endpoint_problem(endpoint: Endpoint) -> tuple[str, str] | None:
    """(clause, explanation) when an endpoint reaches metadata, a management plane or a rebinding name."""
    host = endpoint.host
    if endpoint.ip is not None and _is_metadata_ip(endpoint.ip):
        return "metadata_endpoint", f"{endpoint.source} reaches the cloud metadata address {endpoint.ip}"
    if host in _METADATA_NAMES or host.endswith(".metadata.google.internal"):
        return "metadata_endpoint", f"{endpoint.source} names the metadata service {host}"
    if endpoint.ip is None:
        embedded = _embedded_address(host)
        if embedded is not None and (_is_metadata_ip(embedded) or embedded.is_loopback or embedded.is_private):
            return "rebinding_name", f"{host} resolves to the internal address {embedded}"
        if host_within(host, _ALWAYS_REBINDING):
            return "rebinding_name", f"{host} is a DNS rebinding service"
    what = _MANAGEMENT_PORTS.get(endpoint.port) if endpoint.port is not None else None
    if what is not None:
        return "management_port", f"{endpoint.source} reaches {what} on port {endpoint.port}"
    if endpoint.scheme in ("unix", "npipe") or _SOCKETS.search(endpoint.path):
        return "management_socket", f"{endpoint.source} reaches a container or cluster socket"
    return None


def evaluate(
    call: Call, config: RulesConfig, ledger: SessionLedger, now: datetime.datetime, analysis: CallAnalysis | None = None
) -> list[Finding]:
    """Deny calls that reach metadata services, management planes, their sockets, or /etc."""
    del ledger, now
    analysis = analysis or CallAnalysis(call)
    section = config.lateral_pivot
    findings: dict[str, Finding] = {}
    for endpoint in analysis.endpoints:
        if host_within(endpoint.host, section.allowed_hosts):
            continue
        problem = endpoint_problem(endpoint)
        if problem is not None:
            clause, why = problem
            findings.setdefault(clause, Finding(RULE, f"{RULE}.{clause}", f"Lateral pivot: {why}."))
    for path in analysis.paths:
        if _SOCKETS.search(path) and not matches_any_glob(path, section.allowed_paths):
            findings.setdefault(
                "management_socket",
                Finding(RULE, f"{RULE}.management_socket", f"Lateral pivot: {path} is a container or cluster socket."),
            )
        elif (path == "/etc" or path.startswith("/etc/")) and not matches_any_glob(path, section.allowed_paths):
            findings.setdefault(
                "system_config",
                Finding(RULE, f"{RULE}.system_config", f"Lateral pivot: the call touches {path} under /etc."),
            )
    return list(findings.values())
