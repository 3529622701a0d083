"""Shared helpers: a fake home on a chosen platform, fixture placement and the proxy executable."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from inherence_client_adapters import ConfigLocation, HostEnvironment, ProxyCommand, get_adapter

DATA = Path(__file__).parent / "data"
CLIENTS = DATA / "clients"


@dataclasses.dataclass(frozen=True)
class FixtureCase:
    client: str
    scope: str
    fixture: str
    servers: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.client}-{self.scope}-{self.fixture}"


def load_fixture_cases() -> list[FixtureCase]:
    cases = []
    for line in (DATA / "fixtures.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        client, scope, fixture, servers = (part.strip() for part in line.split("|"))
        names = () if servers == "-" else tuple(item.strip() for item in servers.split(","))
        cases.append(FixtureCase(client, scope, fixture, names))
    return cases


def _kind(suffix: str) -> str:
    return {".jsonc": ".json", ".yml": ".yaml"}.get(suffix, suffix)


@dataclasses.dataclass
class Machine:
    """A fake user's machine under a temporary folder: home, one project, the proxy executable."""

    root: Path

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.project = self.home / "src" / "app"
        self.project.mkdir(parents=True)
        executable = self.root / "bin" / "inherence-proxy"
        executable.parent.mkdir()
        executable.write_text("#!/bin/sh\n")
        executable.chmod(0o755)
        self.proxy = ProxyCommand(executable)
        self.host = HostEnvironment(home=self.home, platform="linux", variables={})

    def place(self, client: str, scope: str, content: bytes, suffix: str) -> ConfigLocation:
        """Write `content` where `client` reads its `scope` config and return that location."""
        adapter = get_adapter(client)
        if scope.endswith("-block"):
            base = self.home if scope == "user-block" else self.project
            folder = base / ".continue" / "mcpServers"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"block{suffix}").write_bytes(content)
        candidates = [
            location
            for location in adapter.candidates(self.host, [self.project])
            if location.scope == scope and _kind(location.path.suffix) == _kind(suffix)
        ]
        location = candidates[0]
        location.path.parent.mkdir(parents=True, exist_ok=True)
        location.path.write_bytes(content)
        return location

    def place_fixture(self, case: FixtureCase, *, crlf: bool = False) -> ConfigLocation:
        content = (CLIENTS / case.fixture).read_bytes()
        if crlf:
            content = content.replace(b"\n", b"\r\n")
        return self.place(case.client, case.scope, content, Path(case.fixture).suffix)


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that takes `case` runs once per line of data/fixtures.txt."""
    if "case" in metafunc.fixturenames:
        cases = load_fixture_cases()
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])
