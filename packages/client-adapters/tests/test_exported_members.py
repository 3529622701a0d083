import inherence_client_adapters


def test_public_names_are_pinned_and_sorted() -> None:
    assert inherence_client_adapters.__all__ == [
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
    for name in inherence_client_adapters.__all__:
        assert hasattr(inherence_client_adapters, name), name


def test_caller_mistakes_and_file_failures_share_one_root() -> None:
    errors = inherence_client_adapters
    assert issubclass(errors.ClientConfigUsageError, ValueError)
    assert not issubclass(errors.ConfigFileError, ValueError)
    for name in ("MalformedConfigError", "PoisonedBackupError", "ConcurrentChangeError", "ClientConfigUsageError"):
        assert issubclass(getattr(errors, name), errors.ClientConfigError)
