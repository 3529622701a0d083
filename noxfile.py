"""Every check a person or CI runs. `nox` runs the default set; `nox -s bench` the benchmarks,
`nox -s policy-eval` the policy's judgement on labelled sessions."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import nox

ROOT = pathlib.Path(__file__).parent
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
CI = bool(os.environ.get("CI"))

# Folder under packages/ -> the sibling folders it needs installed beside it.
PACKAGES: dict[str, tuple[str, ...]] = {
    "policy-client": (),
    "proxy-core": ("policy-client",),
    "client-adapters": (),
    "policy-server": ("policy-client",),
    "proxy-cli": ("policy-client", "proxy-core", "client-adapters", "policy-server"),
}
IMPORT_NAMES = {
    "policy-client": "inherence_policy_client",
    "proxy-core": "inherence_proxy_core",
    "client-adapters": "inherence_client_adapters",
    "policy-server": "inherence_policy_server",
    "proxy-cli": "inherence_proxy",
}

nox.options.default_venv_backend = "uv"
nox.options.download_python = "never"
nox.options.error_on_missing_interpreters = CI
nox.options.sessions = [
    "lint",
    "typecheck",
    "tests",
    "integration",
    "conformance",
    "conformance_clients",
    "wheels",
    "minimums",
]
os.environ["UV_PYTHON_DOWNLOADS"] = "never"
# Installs compile every module to bytecode, as pip does for a user. Otherwise, where bytecode is not
# written (CI sets PYTHONDONTWRITEBYTECODE), every process a test starts (a gateway, a server, an MCP
# upstream) compiles all it imports again: about 2 s more for each start of the policy server.
os.environ.setdefault("UV_COMPILE_BYTECODE", "1")


def _version_key(path: pathlib.Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.parent.parent.name))


def _works(executable: str) -> bool:
    # A pyenv shim is on PATH even when it cannot run that version (pyenv answers "command not found").
    try:
        return subprocess.run([executable, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _expose_interpreters() -> None:
    """Put a working `pythonX.Y` for every supported version first on PATH, taken from pyenv if need be.

    nox and uv look interpreters up by name on PATH. On machines where pyenv installed the versions
    but only one is global, the names on PATH are shims that fail, so link the real executables into
    one folder of our own. Nothing is ever downloaded.
    """
    shim_dir = ROOT / ".nox" / "interpreters"
    pyenv_root = pathlib.Path(os.environ.get("PYENV_ROOT", pathlib.Path.home() / ".pyenv"))
    for version in PYTHONS:
        name = f"python{version}"
        linked = shim_dir / name
        if linked.exists() and _works(str(linked)):
            continue
        found = shutil.which(name)
        if found and "shims" not in pathlib.Path(found).parts and _works(found):
            continue
        candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/{name}"), key=_version_key)
        if candidates:
            shim_dir.mkdir(parents=True, exist_ok=True)
            linked.unlink(missing_ok=True)
            linked.symlink_to(candidates[-1])
    if shim_dir.is_dir():
        os.environ["PATH"] = f"{shim_dir}{os.pathsep}{os.environ['PATH']}"


_expose_interpreters()


def _installed(version: str) -> bool:
    found = shutil.which(f"python{version}")
    return found is not None and _works(found)


# Sessions run on the supported versions this machine has. One that is missing is said loudly at
# every run instead of failing every session of it; typecheck, minimums and integration run on the
# oldest version present.
INSTALLED = [version for version in PYTHONS if _installed(version)] or PYTHONS
MISSING = [version for version in PYTHONS if version not in INSTALLED]
OLDEST = INSTALLED[0]
NEWEST = INSTALLED[-1]
if MISSING:
    print(
        f"WARNING: this machine has no Python {', '.join(MISSING)}: its sessions are left out of this run, "
        f"and the oldest-version checks run on {OLDEST}",
        file=sys.stderr,
    )


def _install_packages(session: nox.Session, *folders: str, extra: tuple[str, ...] = ()) -> None:
    """Install our packages from their folders with `--no-sources`, so their version ranges are checked."""
    paths = [str(ROOT / "packages" / folder) for folder in folders]
    session.install("--no-sources", *extra, *paths)


PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")

# Suites whose tests spend their time in processes of their own (servers, gateways, PostgreSQL) and use
# only free ports and temporary folders: pytest-xdist runs them on two workers (so does `minimums`, the
# sum of every package's tests). `-- -n 0` runs them in one process.
PARALLEL = {"policy-server"}


def _workers(dist: str) -> list[str]:
    """pytest-xdist's options for two workers sharing tests out by `dist` (none on a single core)."""
    workers = min(2, os.cpu_count() or 1)
    return ["-n", str(workers), "--dist", dist] if workers > 1 else []


def _group_requirements(*names: str) -> tuple[str, ...]:
    """The requirement strings of the root pyproject's dependency groups, includes resolved."""
    return nox.project.dependency_groups(PYPROJECT, *names)


@nox.session(python="3.13")
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting, read-only."""
    session.install(*_group_requirements("lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=OLDEST)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on every package's src/ (for Python 3.10, as configured), on the oldest Python present."""
    _install_packages(session, *PACKAGES)
    session.install(*_group_requirements("typing"))
    session.run("mypy", *(str(ROOT / "packages" / folder / "src") for folder in PACKAGES))


@nox.session(python=INSTALLED)
@nox.parametrize("package", list(PACKAGES))
def tests(session: nox.Session, package: str) -> None:
    """One package's unit tests, installed from its folder with --no-sources beside the siblings it needs."""
    _install_packages(session, *PACKAGES[package], package)
    session.install(*_group_requirements("test"))
    options: list[str] = []
    if package in PARALLEL:
        # Whole files go to one worker, so a module's fixture (a live server) is started once.
        options += _workers("loadfile")
    if session.python not in (OLDEST, NEWEST):
        # Said in the log, as pytest's summary does not count deselected tests when xdist runs them.
        session.log(f"tests marked version_independent run on Python {OLDEST} and {NEWEST} only, not here")
        options += ["-m", "not version_independent"]
    session.run("pytest", str(ROOT / "packages" / package / "tests"), *options, *session.posargs)


@nox.session(python=sorted({OLDEST, NEWEST}))
def integration(session: nox.Session) -> None:
    """Cross-package tests with real processes and real loopback servers."""
    _install_packages(session, *PACKAGES)
    session.install(*_group_requirements("integration"))
    if (ROOT / "tests-integration" / "package.json").exists():
        session.run("npm", "ci", "--prefix", "tests-integration", external=True)
    # Tests are shared out one by one (an idle worker takes the other's): the files differ widely in length.
    session.run("pytest", str(ROOT / "tests-integration"), *_workers("worksteal"), *session.posargs)


@nox.session(python="3.12")
def conformance(session: nox.Session) -> None:
    """The official MCP conformance suite's server scenarios, both eras, directly and through the gateway."""
    _install_packages(session, *PACKAGES)
    folder = ROOT / "tests-integration" / "conformance" / "next"
    # The suite and the Node 22 it runs on come from the committed lock; Node is run by path, never from PATH.
    session.run("npm", "ci", "--prefix", str(folder), "--no-audit", "--no-fund", external=True)
    session.run("python", str(folder.parent / "run_conformance.py"), *session.posargs)


@nox.session(python="3.12")
def conformance_clients(session: nox.Session) -> None:
    """The suite's client scenarios, auth included: the SDK's client directly, then through the proxy."""
    _install_packages(session, *PACKAGES)
    folder = ROOT / "tests-integration" / "conformance"
    session.run("npm", "ci", "--prefix", str(folder), "--no-audit", "--no-fund", external=True)
    session.run("python", str(folder / "run_client_conformance.py"), *session.posargs)


@nox.session(python="3.12")
def wheels(session: nox.Session) -> None:
    """Build every package with --no-sources, install only the wheels in a fresh venv, run the CLI."""
    dist = ROOT / ".nox" / "wheelhouse"
    shutil.rmtree(dist, ignore_errors=True)
    for folder in PACKAGES:
        session.run("uv", "build", "--no-sources", "--wheel", "--out-dir", str(dist), str(ROOT / "packages" / folder))
    built = sorted(str(path) for path in dist.glob("*.whl"))
    if len(built) != len(PACKAGES):
        session.error(f"expected {len(PACKAGES)} wheels, built {len(built)}: {built}")
    session.install("--no-sources", *built)
    session.run("inherence-proxy", "--version")
    session.run("inherence-proxy", "version")
    imports = "; ".join(f"import {name}" for name in IMPORT_NAMES.values())
    session.run("python", "-c", imports)


@nox.session(python=OLDEST)
def minimums(session: nox.Session) -> None:
    """Every package's tests against the lowest versions its direct dependencies allow."""
    _install_packages(session, *PACKAGES, extra=("--resolution", "lowest-direct"))
    session.install(*_group_requirements("test"))
    tests = (str(ROOT / "packages" / folder / "tests") for folder in PACKAGES)
    session.run("pytest", *tests, *_workers("loadfile"), *session.posargs)


@nox.session(python="3.12", default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks: medians and ratios measured side by side in one run; never asserted.

    `nox -s bench` runs every script with its defaults; `nox -s bench -- bench_proxy --rounds 2` runs one
    script with options of its own (each script takes different ones).
    """
    scripts = {path.stem: path for path in sorted((ROOT / "benchmarks").glob("bench_*.py"))}
    chosen = list(scripts.values())
    options: list[str] = []
    if session.posargs:
        name = pathlib.Path(session.posargs[0]).stem
        if name not in scripts:
            session.error(f"`nox -s bench -- <script> [options]`: <script> is one of {', '.join(scripts)}")
        chosen, options = [scripts[name]], list(session.posargs[1:])
    _install_packages(session, *PACKAGES)
    session.install(*_group_requirements("test"))
    if (ROOT / "tests-integration" / "package.json").exists():
        session.run("npm", "ci", "--prefix", "tests-integration", external=True)
    for script in chosen:
        session.run("python", str(script), *options)


# Public benign traces for `policy-eval -- --public`: only their data files are read, so no dependencies.
PUBLIC_TRACES = ("bfcl-eval>=2026.3,<2027", "inspect-evals>=0.28,<0.29")
# AgentDojo's suites for `-- --agentdojo`, `--agentdojo-proxy` (and `--public`): its task, environment and
# runtime modules run (never its agent pipeline or LLM SDKs), so it is installed without dependencies beside
# the few they import.
AGENTDOJO = "agentdojo>=0.1.35,<0.2"
AGENTDOJO_RUNTIME = ("pydantic[email]>=2.7", "docstring-parser>=0.15", "pyyaml>=6.0", "deepdiff>=8.6")


@nox.session(name="policy-eval", python="3.12", default=False)
def policy_eval(session: nox.Session) -> None:
    """The policy's judgement on labelled agent sessions (dev and held-out); `-- --json`, `--public`, `--agentdojo`.

    `-- --agentdojo-proxy` plays AgentDojo's sessions through a real `inherence-proxy serve` each.
    """
    _install_packages(session, *PACKAGES)
    session.install(*_group_requirements("test"))
    if "--public" in session.posargs:
        session.install("--no-deps", *PUBLIC_TRACES)
    if {"--public", "--agentdojo", "--agentdojo-proxy"} & set(session.posargs):
        session.install("--no-deps", AGENTDOJO)
        session.install(*AGENTDOJO_RUNTIME)
    env = {"PYTHONPATH": str(ROOT / "benchmarks")}
    session.run("pytest", "-q", str(ROOT / "benchmarks" / "policy_eval" / "tests"), env=env)
    session.run("python", "-m", "policy_eval", *session.posargs, env=env)


@nox.session(python="3.12", default=False)
def schema(session: nox.Session) -> None:
    """Regenerate the committed OpenAPI document of the Policy API from the wire models."""
    _install_packages(session, "policy-client")
    session.run("python", "-c", "from inherence_policy_client._schema import write_openapi_document as w; w()")
