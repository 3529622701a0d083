"""Outcome reports: what an allowed call returned, and a human's answer, reach the policy off the call's path."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import anyio

from inherence_policy_client import MAX_OUTCOME_TEXT, OutcomeReport, PolicyCallError
from inherence_proxy_core._outcomes import OutcomeReporter


async def eventually(condition) -> None:
    for _ in range(500):
        if condition():
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition never held")


def outcome_requests(policy) -> list[Any]:
    return [r for r in policy.requests if r.url.path == "/api/proxy/outcome"]


async def test_an_allowed_call_is_reported_after_its_answer(kit) -> None:
    upstream = kit.FakeUpstream("files")
    arguments = {"text": "hello", "nested": {"a": [1, None]}}
    async with kit.running([upstream]) as (_, client, policy):
        result = await client.call("files__echo", arguments)
        await client.request("resources/read", {"uri": "memo://files/note"})
        await eventually(lambda: len(policy.outcomes) == 2)
    call, read = policy.outcomes
    assert call.decision_id == result["_meta"]["inherence_receipt_id"]
    assert call.request_id == policy.decisions[0].request_id
    assert call.session_id == policy.decisions[0].session_id
    assert (call.upstream, call.tool_name, call.is_error) == ("files", "files__echo", False)
    assert call.content_text == result["content"][0]["text"]
    assert call.structured_text == '{"arguments":{"text":"hello","nested":{"a":[1,null]}}}'
    assert call.confirmation is None
    assert (read.tool_name, read.content_text) == ("files__resources_read", "note of files")


async def test_the_human_answer_is_reported_before_the_result(kit) -> None:
    upstream = kit.FakeUpstream("pay")
    policy = kit.ScriptedPolicy()
    policy.confirm("pay__*", approval_id="apr_1")
    async with kit.running([upstream], policy, capabilities={"elicitation": {}}) as (_, client, _policy):
        client.on_request = lambda message: {"action": "accept", "content": {"approve": True}}
        result = await client.call("pay__echo", {"text": "x"})
        client.on_request = lambda message: {"action": "decline"}
        await client.call("pay__echo", {"text": "y"})
        await eventually(lambda: len(policy.outcomes) == 3)
    accepted, returned, declined = policy.outcomes
    assert (accepted.confirmation, accepted.approval_id, accepted.content_text) == ("accepted", "apr_1", "")
    assert accepted.decision_id == returned.decision_id == result["_meta"]["inherence_receipt_id"]
    assert returned.confirmation is None
    assert returned.content_text == '{"text": "x"}'
    assert declined.confirmation == "declined"
    assert [c["params"]["arguments"] for c in upstream.tool_calls] == [{"text": "x"}]


async def test_long_results_are_cut_to_the_limit(kit) -> None:
    upstream = kit.FakeUpstream("files")
    async with kit.running([upstream]) as (_, client, policy):
        await client.call("files__echo", {"text": "a" * (MAX_OUTCOME_TEXT + 10)})
        await eventually(lambda: len(policy.outcomes) == 1)
    assert len(policy.outcomes[0].content_text) == MAX_OUTCOME_TEXT
    assert len(policy.outcomes[0].structured_text) == MAX_OUTCOME_TEXT


async def test_a_server_without_the_route_turns_reporting_off(kit) -> None:
    upstream = kit.FakeUpstream("files")
    policy = kit.ScriptedPolicy(outcome_route=False)
    async with kit.running([upstream], policy) as (gateway, client, _policy):
        await client.call("files__echo", {"text": "1"})
        await eventually(lambda: len(outcome_requests(policy)) == 1)
        assert gateway.hub.reporter is not None
        await eventually(lambda: not gateway.hub.reporter.enabled)
        await client.call("files__echo", {"text": "2"})
        await client.call("files__echo", {"text": "3"})
    assert len(outcome_requests(policy)) == 1
    assert len(policy.decisions) == 3


async def test_reporting_can_be_switched_off(kit) -> None:
    upstream = kit.FakeUpstream("files")
    settings = dataclasses.replace(kit.FAST, report_outcomes=False)
    async with kit.running([upstream], settings=settings) as (gateway, client, policy):
        await client.call("files__echo", {"text": "1"})
        assert gateway.hub.reporter is None
    assert outcome_requests(policy) == []


class Sink:
    """A policy service that holds every report until `release` is set, and can fail."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.reports: list[OutcomeReport] = []
        self.release = anyio.Event()
        self.failure = failure
        self.offered = 0

    async def report_outcome(self, report: OutcomeReport) -> bool:
        self.offered += 1
        await self.release.wait()
        if self.failure is not None:
            raise self.failure
        self.reports.append(report)
        return True


def pending(number: int, session: str = "session") -> tuple[str, str, str, str, str, str]:
    return (f"rcpt_{number}", f"req_{number}", session, "files", "files__echo", "tools/call")


def answer(text: str) -> dict[str, Any]:
    return {"result": {"content": [{"type": "text", "text": text}]}}


async def test_a_full_queue_drops_the_oldest_and_counts_them() -> None:
    sink = Sink()
    reporter = OutcomeReporter(sink, max_reports=3)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("first"))
        await eventually(lambda: sink.offered == 1)  # the sender holds the first, waiting on the sink
        for number in range(1, 6):
            reporter.add_result(pending(number), answer(f"call {number}"))
        sink.release.set()
        await reporter.flush(5)
        tasks.cancel_scope.cancel()
    assert reporter.dropped == 2
    assert [r.decision_id for r in sink.reports] == ["rcpt_0", "rcpt_3", "rcpt_4", "rcpt_5"]


async def test_a_queue_over_its_byte_budget_drops_the_oldest() -> None:
    sink = Sink()
    reporter = OutcomeReporter(sink, max_bytes=3 * 1024)
    for number in range(4):
        reporter.add_result(pending(number), answer("x" * 1000))
    assert reporter.dropped == 2


async def test_failures_are_logged_once_without_the_content_and_serving_goes_on(caplog) -> None:
    sink = Sink(PolicyCallError("server error", endpoint="/api/proxy/outcome", status=500))
    sink.release.set()
    reporter = OutcomeReporter(sink)
    caplog.set_level(logging.DEBUG, logger="inherence_proxy_core")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        for number in range(3):
            reporter.add_result(pending(number), answer("the secret quarterly numbers"))
        await reporter.flush(5)
        tasks.cancel_scope.cancel()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert reporter.failed == 3
    assert reporter.enabled
    assert "quarterly" not in caplog.text


async def test_a_send_waits_for_the_reports_of_its_own_session_and_no_other() -> None:
    # A send is judged by what its session read: the read's report must be in before the send is decided.
    sink = Sink()
    reporter = OutcomeReporter(sink)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("customer list"))
        with anyio.fail_after(1):
            await reporter.settled("another session")
        with anyio.move_on_after(0.2) as still_waiting:
            await reporter.settled("session", deadline=5)
        assert still_waiting.cancel_called
        sink.release.set()
        with anyio.fail_after(5):
            await reporter.settled("session", deadline=5)
        assert [report.decision_id for report in sink.reports] == ["rcpt_0"]
        with anyio.fail_after(1):
            await reporter.settled("session")  # nothing pending: at once
        tasks.cancel_scope.cancel()


async def test_a_send_waits_no_longer_than_its_deadline() -> None:
    sink = Sink()
    reporter = OutcomeReporter(sink)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("held"))
        with anyio.fail_after(5):
            await reporter.settled("session", deadline=0.05)
        assert sink.reports == []
        sink.release.set()
        tasks.cancel_scope.cancel()


class BatchSink(Sink):
    """A sink that also takes batches, as the embedded policy does."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    async def report_outcomes(self, reports: list[OutcomeReport]) -> bool:
        self.batches.append([report.decision_id for report in reports])
        await self.release.wait()
        self.reports.extend(reports)
        return True


async def test_a_sink_that_takes_batches_gets_what_gathered_in_one_call_in_order() -> None:
    sink = BatchSink()
    sink.release.set()
    reporter = OutcomeReporter(sink, gather=60)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        for number in range(5):
            reporter.add_result(pending(number), answer(f"call {number}"))
        await anyio.sleep(0.05)
        assert sink.batches == []  # still gathering
        await reporter.flush(5)  # the flush at exit does not wait for the gathering to end
        tasks.cancel_scope.cancel()
    assert sink.batches == [[f"rcpt_{number}" for number in range(5)]]
    assert sink.offered == 0
    assert reporter.sent == 5


async def test_a_send_waiting_for_its_session_cuts_the_gathering_short() -> None:
    sink = BatchSink()
    sink.release.set()
    reporter = OutcomeReporter(sink, gather=60)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("customer list"))
        with anyio.fail_after(5):
            await reporter.settled("session", deadline=30)
        assert sink.batches == [["rcpt_0"]]
        tasks.cancel_scope.cancel()


async def test_reports_that_arrive_while_a_batch_is_sent_are_gathered_for_the_next() -> None:
    # Busy traffic must cost one hand-over per gathering, not one per report queued behind a batch.
    sink = BatchSink()
    reporter = OutcomeReporter(sink, gather=60)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("first"))
        tasks.start_soon(reporter.settled, "session", 30)  # cuts the first gathering short
        await eventually(lambda: sink.batches == [["rcpt_0"]])  # being sent, held by the sink
        for number in range(1, 4):
            reporter.add_result(pending(number, "later session"), answer("more"))
        sink.release.set()
        await eventually(lambda: len(sink.reports) >= 1)
        await anyio.sleep(0.05)
        assert sink.batches == [["rcpt_0"]]  # the three queued meanwhile are still gathering
        await reporter.flush(5)
        tasks.cancel_scope.cancel()
    assert sink.batches == [["rcpt_0"], ["rcpt_1", "rcpt_2", "rcpt_3"]]


async def test_a_send_waiting_for_its_session_is_not_held_by_a_gathering() -> None:
    sink = BatchSink()
    reporter = OutcomeReporter(sink, gather=60)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(reporter.run)
        reporter.add_result(pending(0), answer("first"))
        tasks.start_soon(reporter.settled, "session", 30)
        await eventually(lambda: sink.batches == [["rcpt_0"]])
        reporter.add_result(pending(1), answer("read while the first was sent"))
        sink.release.set()
        with anyio.fail_after(5):
            await reporter.settled("session", deadline=30)
        assert sink.batches == [["rcpt_0"], ["rcpt_1"]]
        tasks.cancel_scope.cancel()
