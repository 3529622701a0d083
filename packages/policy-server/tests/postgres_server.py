"""A throwaway PostgreSQL server for the tests: initdb and pg_ctl in a temporary folder, loopback only.

PostgreSQL refuses to run as root, so under root the server runs as `nobody` (the folder is
handed to it). It listens on a free loopback port, with its unix socket inside the folder, and
is stopped (`pg_ctl stop -m immediate`) and its folder removed when the block ends.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any

__all__ = ["PostgresServer", "find_binaries", "running_postgres"]

_UNPRIVILEGED = "nobody"


def find_binaries() -> pathlib.Path | None:
    """The folder holding initdb and pg_ctl: `$INHERENCE_TEST_PG_BIN`, PATH, or Debian's newest; None if absent."""
    candidates: list[str] = []
    if os.environ.get("INHERENCE_TEST_PG_BIN"):
        candidates.append(os.environ["INHERENCE_TEST_PG_BIN"])
    found = shutil.which("initdb")
    if found:
        candidates.append(str(pathlib.Path(found).resolve().parent))
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for folder in candidates:
        path = pathlib.Path(folder)
        if (path / "initdb").is_file() and (path / "pg_ctl").is_file():
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PostgresServer:
    """A running server: `url(database)` for a client, `create_database()` for a fresh empty one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._names = itertools.count(1)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running_postgres(binaries: pathlib.Path) -> Iterator[PostgresServer]:
    """Start a server, yield it, stop it and remove its folder whatever happens."""
    folder = pathlib.Path(tempfile.mkdtemp(prefix="inherence-pg-"))
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam(_UNPRIVILEGED)
        os.chown(folder, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    data = folder / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    common: dict[str, Any] = {"env": env, "cwd": folder, "capture_output": True, "text": True, **run_as}
    port = _free_port()
    started = False
    try:
        _run([binaries / "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"], common)
        options = (
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        started = True
        _run([binaries / "pg_ctl", "-D", data, "-l", folder / "log", "-o", options, "-w", "-t", "60", "start"], common)
        yield PostgresServer(port)
    finally:
        if started:
            subprocess.run(
                [binaries / "pg_ctl", "-D", data, "-m", "immediate", "-w", "-t", "60", "stop"], check=False, **common
            )
        shutil.rmtree(folder, ignore_errors=True)


def _run(command: list[Any], options: dict[str, Any]) -> None:
    done = subprocess.run([str(part) for part in command], check=False, timeout=120, **options)
    if done.returncode != 0:
        raise RuntimeError(f"{pathlib.Path(str(command[0])).name} failed: {done.stderr.strip()[-2000:]}")
