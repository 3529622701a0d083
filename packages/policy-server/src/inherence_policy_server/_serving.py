"""Serving the app with uvicorn: one process, or several workers sharing one data dir.

Workers are separate processes that uvicorn starts by importing `app_from_environment`; the
parent hands them its settings through environment variables (after checking them itself,
so a bad config fails once, before any worker starts). SQLite in WAL mode lets the workers
share the keys, the velocity ledger and the decision log; with a database URL, PostgreSQL does
(and then servers on other machines share them too). Every served process follows the rule
changes made on any dashboard sharing its storage (`_live_rules`), so each worker may serve the
dashboard: its logins are kept in the storage too.
"""

from __future__ import annotations

import datetime
import gc
import os
import pathlib
import sys
from collections.abc import Mapping

from inherence_policy_server._app import DashboardOptions, PolicyApp, create_app
from inherence_policy_server._rules import default_rules_config, load_rules_config

__all__ = [
    "ENV_ADMIN_TOKEN",
    "ENV_CONFIG",
    "ENV_DASHBOARD_REMOTE",
    "ENV_DATABASE_URL",
    "ENV_DATA_DIR",
    "ENV_KEEP_DAYS",
    "ENV_NO_AUTH",
    "ENV_SINGLE_ACCEPT",
    "app_from_environment",
    "run",
    "worker_app",
]

ENV_DATA_DIR = "INHERENCE_POLICY_SERVER_WORKER_DATA_DIR"
ENV_CONFIG = "INHERENCE_POLICY_SERVER_WORKER_CONFIG"
ENV_DATABASE_URL = "INHERENCE_POLICY_SERVER_WORKER_DATABASE_URL"
ENV_NO_AUTH = "INHERENCE_POLICY_SERVER_WORKER_NO_AUTH"
# Set when the workers serve the dashboard: its admin token, and "1" when it answers remote clients.
ENV_ADMIN_TOKEN = "INHERENCE_POLICY_SERVER_WORKER_ADMIN_TOKEN"
ENV_DASHBOARD_REMOTE = "INHERENCE_POLICY_SERVER_WORKER_DASHBOARD_REMOTE"
ENV_KEEP_DAYS = "INHERENCE_POLICY_SERVER_WORKER_KEEP_DECISIONS_DAYS"
# libuv's switch (read by the workers' event loops): accept one connection per turn, not all pending.
ENV_SINGLE_ACCEPT = "UV_TCP_SINGLE_ACCEPT"


# A served process is ours alone: switching threads every 0.5 ms instead of 5 ms keeps the
# decision log's writer thread from holding a request up for long.
_SWITCH_INTERVAL = 0.0005


def _tune_process() -> None:
    sys.setswitchinterval(_SWITCH_INTERVAL)
    # Objects alive at start-up (modules, tables, config) never need the collector again.
    gc.freeze()


def app_from_environment(environ: Mapping[str, str] | None = None) -> PolicyApp:
    """The app of one worker, from the settings its parent put in the environment."""
    env = os.environ if environ is None else environ
    config_path = env.get(ENV_CONFIG)
    config = load_rules_config(pathlib.Path(config_path)) if config_path else default_rules_config()
    data_dir = env.get(ENV_DATA_DIR)
    token = env.get(ENV_ADMIN_TOKEN)
    dashboard = None
    if token:
        dashboard = DashboardOptions(
            admin_token=token,
            config_path=pathlib.Path(config_path) if config_path else None,
            allow_remote=env.get(ENV_DASHBOARD_REMOTE) == "1",
        )
    return create_app(
        data_dir=pathlib.Path(data_dir) if data_dir else None,
        database_url=env.get(ENV_DATABASE_URL) or None,
        config=config,
        require_key=env.get(ENV_NO_AUTH) != "1",
        dashboard=dashboard,
        follow_rules=True,
        decision_log_retention=_retention(float(env.get(ENV_KEEP_DAYS) or 0)),
    )


def _retention(days: float) -> datetime.timedelta | None:
    return datetime.timedelta(days=days) if days > 0 else None


def worker_app() -> PolicyApp:
    """What uvicorn calls in each worker process."""
    app = app_from_environment()
    _tune_process()
    return app


def run(
    *,
    host: str,
    port: int,
    data_dir: pathlib.Path | None,
    config_path: pathlib.Path | None,
    require_key: bool,
    workers: int,
    access_log: bool,
    dashboard: DashboardOptions | None = None,
    database_url: str | None = None,
    keep_decisions_days: float = 0,
) -> None:
    """Serve until interrupted, in one process or `workers` processes (each with the dashboard, if asked)."""
    import uvicorn

    settings = {"host": host, "port": port, "access_log": access_log, "log_level": "info", "lifespan": "on"}
    if workers == 1:
        config = default_rules_config() if config_path is None else load_rules_config(config_path)
        app = create_app(
            data_dir=data_dir,
            database_url=database_url,
            config=config,
            require_key=require_key,
            dashboard=dashboard,
            follow_rules=True,
            decision_log_retention=_retention(keep_decisions_days),
        )
        _tune_process()
        uvicorn.run(app, **settings)  # type: ignore[arg-type]
        return
    os.environ[ENV_DATA_DIR] = str(data_dir.resolve()) if data_dir is not None else ""
    os.environ[ENV_DATABASE_URL] = database_url or ""
    os.environ[ENV_NO_AUTH] = "0" if require_key else "1"
    os.environ[ENV_KEEP_DAYS] = str(keep_decisions_days)
    os.environ[ENV_ADMIN_TOKEN] = dashboard.admin_token if dashboard is not None else ""
    os.environ[ENV_DASHBOARD_REMOTE] = "1" if dashboard is not None and dashboard.allow_remote else "0"
    if config_path is not None:
        os.environ[ENV_CONFIG] = str(config_path.resolve())
    else:
        os.environ.pop(ENV_CONFIG, None)
    # The workers share one listening socket. libuv (under uvloop) accepts every pending connection at
    # once by default, so one worker would take most of a burst of keep-alive connections (proxies hold
    # theirs for hours) and do most of the work; one at a time, they spread across the workers.
    os.environ.setdefault(ENV_SINGLE_ACCEPT, "1")
    target = f"{__name__}:worker_app"
    uvicorn.run(target, factory=True, workers=workers, **settings)  # type: ignore[arg-type]
