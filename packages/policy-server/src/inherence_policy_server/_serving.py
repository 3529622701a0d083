"""Serving the app with uvicorn: one process, or several workers sharing one data dir.

Workers are separate processes that uvicorn starts by importing `app_from_environment`; the
parent hands them its settings through environment variables (after checking them itself,
so a bad config fails once, before any worker starts). SQLite in WAL mode lets the workers
share the keys, the velocity ledger and the decision log.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping

from inherence_policy_server._app import PolicyApp, create_app
from inherence_policy_server._config_file import default_rules_config, load_rules_config

__all__ = ["ENV_CONFIG", "ENV_DATA_DIR", "ENV_NO_AUTH", "app_from_environment", "run"]

ENV_DATA_DIR = "INHERENCE_POLICY_SERVER_WORKER_DATA_DIR"
ENV_CONFIG = "INHERENCE_POLICY_SERVER_WORKER_CONFIG"
ENV_NO_AUTH = "INHERENCE_POLICY_SERVER_WORKER_NO_AUTH"


def app_from_environment(environ: Mapping[str, str] | None = None) -> PolicyApp:
    """The app of one worker, from the settings its parent put in the environment."""
    env = os.environ if environ is None else environ
    config_path = env.get(ENV_CONFIG)
    config = load_rules_config(pathlib.Path(config_path)) if config_path else default_rules_config()
    return create_app(data_dir=pathlib.Path(env[ENV_DATA_DIR]), config=config, require_key=env.get(ENV_NO_AUTH) != "1")


def run(
    *,
    host: str,
    port: int,
    data_dir: pathlib.Path,
    config_path: pathlib.Path | None,
    require_key: bool,
    workers: int,
    access_log: bool,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    settings = {"host": host, "port": port, "access_log": access_log, "log_level": "info", "lifespan": "on"}
    if workers == 1:
        config = default_rules_config() if config_path is None else load_rules_config(config_path)
        uvicorn.run(create_app(data_dir=data_dir, config=config, require_key=require_key), **settings)  # type: ignore[arg-type]
        return
    os.environ[ENV_DATA_DIR] = str(data_dir.resolve())
    os.environ[ENV_NO_AUTH] = "0" if require_key else "1"
    if config_path is not None:
        os.environ[ENV_CONFIG] = str(config_path.resolve())
    else:
        os.environ.pop(ENV_CONFIG, None)
    target = f"{__name__}:app_from_environment"
    uvicorn.run(target, factory=True, workers=workers, **settings)  # type: ignore[arg-type]
