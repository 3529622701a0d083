"""The MCP gateway engine of inherence-proxy.

One MCP server towards the client, one MCP client towards each upstream, and a policy
decision from `inherence_policy_client` before any tool call reaches an upstream.
"""

__version__ = "0.1.0"

from inherence_proxy_core._catalog import Catalog, NameCollision, ToolRoute
from inherence_proxy_core._channel import Channel, LineChannel, Malformed, SdkChannel
from inherence_proxy_core._classifications import CachedClassification, ClassificationCache, RugPull
from inherence_proxy_core._config import GatewaySettings, UpstreamConfig
from inherence_proxy_core._errors import (
    GatewayError,
    GatewayUsageError,
    UpstreamClosed,
    UpstreamError,
    UpstreamStartError,
)
from inherence_proxy_core._fingerprint import tool_fingerprint
from inherence_proxy_core._gate import Policy
from inherence_proxy_core._gateway import Gateway, GatewayStatus, UpstreamStatus
from inherence_proxy_core._http_front import HttpFront, serve_http
from inherence_proxy_core._http_listen import ListenLimits
from inherence_proxy_core._lock import ClientLock, lock_holder
from inherence_proxy_core._loop import event_loop_options
from inherence_proxy_core._names import exposed_name, exposed_names
from inherence_proxy_core._oauth import LoginError, login_reason, login_upstream, wants_oauth
from inherence_proxy_core._oauth_store import TokenStore, UpstreamTokens
from inherence_proxy_core._proc_errors import (
    ClientLockError,
    ClientLockHeld,
    ProcessError,
    ProcessUsageError,
    RegistryError,
    UpstreamCommandNotFound,
    UpstreamSpawnError,
)
from inherence_proxy_core._proc_files import DEFAULT_CLIENT
from inherence_proxy_core._proc_registry import ProcessRegistry
from inherence_proxy_core._process import UpstreamProcess, spawn_upstream, terminate_all
from inherence_proxy_core._reap import ReapAction, ReapKind, reap

__all__ = [
    "DEFAULT_CLIENT",
    "CachedClassification",
    "Catalog",
    "Channel",
    "ClassificationCache",
    "ClientLock",
    "ClientLockError",
    "ClientLockHeld",
    "Gateway",
    "GatewayError",
    "GatewaySettings",
    "GatewayStatus",
    "GatewayUsageError",
    "HttpFront",
    "LineChannel",
    "ListenLimits",
    "LoginError",
    "Malformed",
    "NameCollision",
    "Policy",
    "ProcessError",
    "ProcessRegistry",
    "ProcessUsageError",
    "ReapAction",
    "ReapKind",
    "RegistryError",
    "RugPull",
    "SdkChannel",
    "TokenStore",
    "ToolRoute",
    "UpstreamClosed",
    "UpstreamCommandNotFound",
    "UpstreamConfig",
    "UpstreamError",
    "UpstreamProcess",
    "UpstreamSpawnError",
    "UpstreamStartError",
    "UpstreamStatus",
    "UpstreamTokens",
    "__version__",
    "event_loop_options",
    "exposed_name",
    "exposed_names",
    "lock_holder",
    "login_reason",
    "login_upstream",
    "reap",
    "serve_http",
    "spawn_upstream",
    "terminate_all",
    "tool_fingerprint",
    "wants_oauth",
]
