"""The README's first commands on a machine with Python and pip but no uv: the bootstrap installs uv itself."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BOOTSTRAP = ROOT / "tools" / "bootstrap.py"

pytestmark = pytest.mark.slow


def _machine_without_uv(tmp_path: pathlib.Path) -> dict[str, str]:
    # PATH holds a Python and nothing else, so no uv can be found on it.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    return {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path / "home"),
        "INHERENCE_BOOTSTRAP_DIR": str(tmp_path / "tools"),
        **{key: value for key, value in os.environ.items() if key.startswith(("PIP_", "SSL_", "REQUESTS_CA"))},
    }


@pytest.mark.timeout(300)
def test_the_bootstrap_installs_uv_once_when_it_is_missing(tmp_path: pathlib.Path) -> None:
    env = _machine_without_uv(tmp_path)
    first = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "uv"], env=env, capture_output=True, text=True, timeout=280, check=False
    )
    assert first.returncode == 0, first.stderr
    uv = pathlib.Path(first.stdout.strip())
    assert uv.is_relative_to(tmp_path / "tools")
    assert "installing uv" in first.stderr
    version = subprocess.run([str(uv), "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("uv ")
    again = subprocess.run([sys.executable, str(BOOTSTRAP), "uv"], env=env, capture_output=True, text=True, check=False)
    assert again.returncode == 0
    assert again.stdout.strip() == str(uv)
    assert "installing" not in again.stderr


def test_an_unknown_command_is_refused_with_the_usage(tmp_path: pathlib.Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BOOTSTRAP), "deploy"], env=_machine_without_uv(tmp_path), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert "python3 tools/bootstrap.py check" in done.stderr
    assert not (tmp_path / "tools").exists()
