"""Fixtures of the dashboard tests: a server with the real rules, a config file, an admin client."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Iterator

import httpx2
import pytest

from inherence_policy_server import DashboardOptions, PolicyApp, create_app, load_rules_config

from .support import ADMIN_TOKEN, CONFIG_TEXT, StepClock


@pytest.fixture
def config_path(tmp_path) -> pathlib.Path:
    path = tmp_path / "rules.toml"
    path.write_text(CONFIG_TEXT, encoding="utf-8")
    path.chmod(0o640)
    return path


@pytest.fixture
def board_app(tmp_path, config_path) -> Iterator[PolicyApp]:
    app = create_app(
        data_dir=tmp_path / "data",
        config=load_rules_config(config_path),
        clock=StepClock(),
        dashboard=DashboardOptions(admin_token=ADMIN_TOKEN, config_path=config_path),
    )
    yield app
    app.close()


@pytest.fixture
async def client(board_app) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=board_app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1:8787") as client:
        yield client
