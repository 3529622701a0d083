"""Fixtures shared by every integration test: one fake hosted policy server for the session, reset per test."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fake_policy import FakePolicyServer


@dataclass(frozen=True)
class FakePolicy:
    """The fake hosted policy as one test sees it: the running server and a key it accepts."""

    server: FakePolicyServer
    api_key: str

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def __getattr__(self, name: str) -> Any:
        # Scripting and observing go straight to the server: fake_policy.decide(Deny()), fake_policy.requests_to(...)
        return getattr(self.server, name)


@pytest.fixture(scope="session")
def fake_policy_server() -> Iterator[FakePolicyServer]:
    """Started once: a new server per test would cost a thread and a port each time for nothing."""
    with FakePolicyServer() as server:
        yield server


@pytest.fixture
def fake_policy(fake_policy_server: FakePolicyServer) -> Iterator[FakePolicy]:
    """The session's fake server with no scripts, no records, no open connections and a fresh valid key."""
    fake_policy_server.reset()
    yield FakePolicy(server=fake_policy_server, api_key=fake_policy_server.new_key())
    errors = fake_policy_server.errors
    fake_policy_server.reset()
    details = "".join("".join(traceback.format_exception(error)) for error in errors)
    assert not errors, f"the fake policy server failed internally:\n{details}"
