"""Serving a dashboard on its own: what `inherence-proxy dashboard` runs over the embedded policy's data dir.

The listening socket is bound before anything is announced, so the URL handed to `on_ready`
(to print, or to open in a browser) already answers.
"""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Callable

from inherence_policy_server._errors import ServerUsageError
from inherence_policy_server._rules import default_rules_config, load_rules_config

__all__ = ["serve_dashboard"]


def serve_dashboard(
    *,
    data_dir: pathlib.Path,
    config_path: pathlib.Path | None,
    admin_token: str,
    on_ready: Callable[[str], None],
    host: str = "127.0.0.1",
    port: int = 0,
) -> None:
    """Serve the dashboard (and the Policy API, keys required) until interrupted.

    `config_path` need not exist: the first rule change creates it. `ConfigError` for a bad
    config file, `ServerUsageError` when the address cannot be listened on.
    """
    import uvicorn

    from inherence_policy_server._app import DashboardOptions, create_app

    config = load_rules_config(config_path) if config_path is not None and config_path.exists() else None
    listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError as exc:
        listener.close()
        raise ServerUsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    options = DashboardOptions(admin_token=admin_token, config_path=config_path)
    app = create_app(data_dir=data_dir, config=config or default_rules_config(), dashboard=options)
    bound_port = listener.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    try:
        on_ready(f"http://{shown_host}:{bound_port}/")
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        server.run(sockets=[listener])
    finally:
        listener.close()
