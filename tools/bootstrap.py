"""The README's two commands on a machine that has Python 3.10+ and pip and nothing else of ours.

    python3 tools/bootstrap.py demo     # install what is needed, then run the product's demo
    python3 tools/bootstrap.py check    # install what is needed, then run every check (nox)

Both need uv. When no `uv` is on PATH, one is installed with pip into `.tools/uv` inside the
clone (a virtual environment of its own, so a system Python that refuses `pip install`, as
Debian's does, is never touched); later runs reuse it. Arguments after the command go to it:
`python3 tools/bootstrap.py check -s lint`. Nothing here downloads an interpreter.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import venv

ROOT = pathlib.Path(__file__).resolve().parent.parent
UV_REQUIREMENT = "uv>=0.9"
COMMANDS = {
    "demo": ["run", "--package", "inherence-proxy", "inherence-proxy", "demo"],
    "check": ["tool", "run", "nox"],
    "uv": [],
}


def tools_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("INHERENCE_BOOTSTRAP_DIR") or ROOT / ".tools")


def _venv_bin(folder: pathlib.Path) -> pathlib.Path:
    return folder / ("Scripts" if os.name == "nt" else "bin")


def find_uv() -> str | None:
    """The uv on PATH, else the one a previous run installed."""
    found = shutil.which("uv")
    if found:
        return found
    installed = _venv_bin(tools_dir() / "uv") / ("uv.exe" if os.name == "nt" else "uv")
    return str(installed) if installed.exists() else None


def install_uv() -> str:
    """Install uv with pip into a virtual environment under the tools folder; its path."""
    folder = tools_dir() / "uv"
    print(f"uv is not installed: installing {UV_REQUIREMENT} into {folder} with pip", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(folder)
    python = _venv_bin(folder) / ("python.exe" if os.name == "nt" else "python")
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", UV_REQUIREMENT], check=True
    )
    found = find_uv()
    if found is None:
        raise SystemExit(f"pip installed {UV_REQUIREMENT} but no uv executable appeared in {folder}")
    return found


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if sys.version_info < (3, 10):  # noqa: UP036 - said plainly to whoever runs it with an older Python
        print(f"Python 3.10 or newer is needed; this is {sys.version.split()[0]}", file=sys.stderr)
        return 2
    uv = find_uv() or install_uv()
    if command == "uv":
        print(uv)
        return 0
    environ = dict(os.environ, UV_PYTHON_DOWNLOADS="never")
    # The uv found or installed here is the one nox's sessions must use too.
    environ["PATH"] = os.pathsep.join([str(pathlib.Path(uv).parent), environ.get("PATH", "")])
    return subprocess.run([uv, *COMMANDS[command], *rest], cwd=ROOT, env=environ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
