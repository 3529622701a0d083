"""Find, back up, rewrite, restore and watch the MCP server configs of MCP clients.

Knows nothing of MCP sessions or policy: it reads and writes client config files. Each client
has one adapter (`get_adapter("cursor")`, `all_adapters()`), all behind one interface:
`candidates`/`detect` list the config files of every scope, `read` returns the servers in a
common model (`ServerEntry`), `wrap` backs a file up and makes the proxy entry its only server,
`restore` puts the pristine backup back byte for byte, and `drift` reports servers that bypass
the proxy. `ConfigWatcher` and `DriftWatcher` notice changes while the proxy runs.
"""

from ._adapter import ClientAdapter
from ._backups import list_backups
from ._dialect import ConfigLocation
from ._errors import (
    BackupError,
    ClientConfigError,
    ClientConfigUsageError,
    ConcurrentChangeError,
    ConfigAccessError,
    ConfigFileError,
    ConfigLockedError,
    ConfigTooLargeError,
    LosslessRewriteError,
    MalformedConfigError,
    NoPristineBackupError,
    PoisonedBackupError,
    RestoreWouldLoseChangesError,
    UnexpectedStructureError,
)
from ._fileio import DEFAULT_MAX_BYTES
from ._model import (
    PROXY_ENTRY_NAME,
    DriftReport,
    HostEnvironment,
    ProxyCommand,
    RestoreResult,
    ServerEntry,
    WrapResult,
)
from ._names import MergedServers, merge_servers
from ._registry import all_adapters, get_adapter
from ._watch import ConfigWatcher, DriftWatcher, FileChange

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MAX_BYTES",
    "PROXY_ENTRY_NAME",
    "BackupError",
    "ClientAdapter",
    "ClientConfigError",
    "ClientConfigUsageError",
    "ConcurrentChangeError",
    "ConfigAccessError",
    "ConfigFileError",
    "ConfigLocation",
    "ConfigLockedError",
    "ConfigTooLargeError",
    "ConfigWatcher",
    "DriftReport",
    "DriftWatcher",
    "FileChange",
    "HostEnvironment",
    "LosslessRewriteError",
    "MalformedConfigError",
    "MergedServers",
    "NoPristineBackupError",
    "PoisonedBackupError",
    "ProxyCommand",
    "RestoreResult",
    "RestoreWouldLoseChangesError",
    "ServerEntry",
    "UnexpectedStructureError",
    "WrapResult",
    "__version__",
    "all_adapters",
    "get_adapter",
    "list_backups",
    "merge_servers",
]
