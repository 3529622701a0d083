"""Fixtures of the server tests: a data dir, a PostgreSQL server, a fixed clock, a scripted evaluator, the app."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx2
import pytest

from inherence_policy_server import PolicyApp, SQLiteStorage, create_app
from inherence_policy_server._storage import SQLStorage
from inherence_policy_server.rules import Call, Category, Finding, SessionLedger

from .postgres_server import PostgresServer, find_binaries, running_postgres

START = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.timezone.utc)
# The scripted evaluator reads no config; the server passes this through untouched.
SCRIPTED_CONFIG = object()


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime.datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)


@dataclasses.dataclass(frozen=True)
class ScriptedEvaluation:
    verdict: str
    findings: Sequence[Finding] = ()
    reason: str | None = None
    failed_clauses: Sequence[str] = ()


def scripted_evaluator(call: Call, config: Any, ledger: SessionLedger, now: datetime.datetime) -> ScriptedEvaluation:
    """Deny on the word DENYME, log on LOGME, raise on BOOM; payments go through the ledger."""
    text = json.dumps(call.arguments)
    if "BOOM" in text:
        raise RuntimeError("the evaluator broke")
    if call.category is Category.PRIVATE_DATA_READ and call.session_id:
        ledger.record_sensitive_read(call.session_id, "mail", now)
    if call.category is Category.PAYMENT:
        limits = {"hour_cents": 10_000, "day_cents": 20_000, "week_cents": 50_000, "hour_count": 5}
        amount = call.arguments.get("amount_cents", 0)
        totals = ledger.reserve_transfer("acct", str(call.arguments.get("to", "")), int(amount), now, limits)
        if totals is None:
            finding = Finding("financial_drain", "financial_drain.velocity", "over the velocity limit")
            return ScriptedEvaluation("deny", [finding], finding.reason, [finding.clause])
    if call.category is Category.OUTBOUND_SEND and call.session_id and ledger.sensitive_reads(call.session_id):
        finding = Finding("unauthorized_exfiltration", "unauthorized_exfiltration.after_read", "send after read")
        return ScriptedEvaluation("deny", [finding], finding.reason, [finding.clause])
    if "DENYME" in text:
        finding = Finding("mass_destruction", "mass_destruction.scripted", "scripted deny")
        return ScriptedEvaluation("deny", [finding], finding.reason, [finding.clause])
    if "LOGME" in text:
        finding = Finding("credential_access", "credential_access.scripted", "scripted log")
        return ScriptedEvaluation("allow_with_log", [finding], finding.reason, [finding.clause])
    return ScriptedEvaluation("allow")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def local_app(tmp_path, clock) -> Iterator[PolicyApp]:
    """The app in embedded mode (no key) with the scripted evaluator."""
    app = create_app(
        data_dir=tmp_path / "data", clock=clock, require_key=False, evaluator=scripted_evaluator, config=SCRIPTED_CONFIG
    )
    yield app
    app.close()


@pytest.fixture
async def local_client(local_app) -> AsyncIterator[httpx2.AsyncClient]:
    transport = httpx2.ASGITransport(app=local_app)
    # Keyless calls must be local JSON calls (as the embedded proxy's are).
    headers = {"content-type": "application/json"}
    async with httpx2.AsyncClient(transport=transport, base_url="http://127.0.0.1", headers=headers) as client:
        yield client


BACKENDS = ["sqlite", "postgres"]


def _uses_postgres(item: pytest.Item) -> bool:
    """True for a test on the PostgreSQL server: by its fixtures, or by a "postgres" backend parameter."""
    if {"postgres_server", "postgres_url"} & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "postgres" in callspec.params.values()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # PostgreSQL behaves the same whatever Python runs the client: nox runs these tests on the oldest
    # and newest Python only (the marker's description in the root pyproject.toml).
    for item in items:
        if _uses_postgres(item):
            item.add_marker(pytest.mark.version_independent)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run, started on first use and stopped at the end."""
    binaries = find_binaries()
    if binaries is None:
        pytest.skip(
            "PostgreSQL's server programs (initdb, pg_ctl) are not installed: install Debian's `postgresql`"
            " or set INHERENCE_TEST_PG_BIN to their folder to run the PostgreSQL tests"
        )
    with running_postgres(binaries) as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database of its own for one test, its schema upgraded."""
    from inherence_policy_server._postgres import upgrade_database

    url = postgres_server.create_database()
    upgrade_database(url)
    return url


def open_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Any) -> SQLStorage:
    """A storage of `kind` ("sqlite" or "postgres") holding nothing yet."""
    if kind == "postgres":
        from inherence_policy_server._postgres import PostgresStorage

        return PostgresStorage(request.getfixturevalue("postgres_url"))
    return SQLiteStorage(tmp_path / "data")


@pytest.fixture(params=BACKENDS)
def any_storage(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[SQLStorage]:
    """The storage contract's subject: each backend in turn."""
    opened = open_backend(request.param, request, tmp_path)
    yield opened
    opened.close()
