"""Outcome reports: what each allowed call returned, and the human's answer to a confirmation.

Off the call's path: the relay adds a report only after the answer was written to the client
(no await in between), to a bounded queue that one background task empties through
`report_outcome`. When the queue is full the oldest report goes and a counter says how many
did. A server without the route (404/405) switches reporting off for the life of the process,
silently; any other failure is logged once, without the content, and never touches serving.
At shutdown the queue is flushed for a bounded time.

A sink that also takes reports in batches (`report_outcomes`, as the embedded policy does) gets
what gathered over `GATHER_SECONDS` in one call, so that a busy session costs one hand-over (and
one database transaction) per batch instead of one per call. Whoever waits for a session's
reports, and the flush at shutdown, cut the gathering short.

A call that can send data somewhere waits (briefly, `SETTLE_SECONDS` at most) until the reports
of its own session are out: the policy judges a send by what the session read, so a send decided
before the result of the read just before it arrived would be judged blind. Nothing else waits,
so a session of reads, or of calls whose reports are out, costs nothing here.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import anyio

from inherence_policy_client import MAX_OUTCOME_TEXT, OutcomeReport

__all__ = ["SENDING_CATEGORIES", "OutcomeReporter", "OutcomeSink", "PendingOutcome"]

logger = logging.getLogger("inherence_proxy_core")

MAX_REPORTS = 256
MAX_BYTES = 16 * 1024 * 1024
FLUSH_SECONDS = 3.0
SETTLE_SECONDS = 2.0
GATHER_SECONDS = 0.05
# The categories of tools whose calls the policy judges by what the session read before them.
SENDING_CATEGORIES = frozenset(
    {"outbound_send", "network_fetch", "payment", "shell_exec", "identity_admin", "unknown", "file_write"}
)

# (decision id, decide request id, session id, upstream, tool name, method): what the relay
# knows of an allowed call when its answer goes out. A plain tuple: one is made per call.
PendingOutcome = tuple[str, str | None, str | None, str, str, str]


class OutcomeSink(Protocol):
    """What reporting needs of a policy service; `inherence_policy_client.PolicyClient` is one."""

    async def report_outcome(self, report: OutcomeReport) -> bool: ...


class BatchOutcomeSink(OutcomeSink, Protocol):
    """A sink that also takes several reports at once (the embedded policy is one)."""

    async def report_outcomes(self, reports: Sequence[OutcomeReport]) -> bool: ...


def _cut(text: str) -> str:
    return text if len(text) <= MAX_OUTCOME_TEXT else text[:MAX_OUTCOME_TEXT]


def _texts(items: Any, key: str | None = None) -> str:
    """The text parts of a content list (or of `key` in each item), joined by newlines and bounded."""
    parts: list[str] = []
    size = 0
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        holder = item.get(key) if key is not None else item
        text = holder.get("text") if isinstance(holder, dict) else None
        if isinstance(text, str):
            parts.append(text)
            size += len(text) + 1
            if size > MAX_OUTCOME_TEXT:
                break
    return _cut("\n".join(parts))


def _result_fields(method: str, answer: dict[str, Any]) -> dict[str, Any]:
    result = answer.get("result")
    if not isinstance(result, dict):
        return {"is_error": True}
    if method == "resources/read":
        return {"content_text": _texts(result.get("contents"))}
    if method == "prompts/get":
        return {"content_text": _texts(result.get("messages"), "content")}
    fields: dict[str, Any] = {"is_error": result.get("isError") is True, "content_text": _texts(result.get("content"))}
    structured = result.get("structuredContent")
    if structured is not None:  # parsed JSON, so it always encodes
        fields["structured_text"] = _cut(json.dumps(structured, separators=(",", ":"), ensure_ascii=False))
    return fields


class OutcomeReporter:
    """A bounded queue of outcome reports and the one task that sends them."""

    def __init__(
        self,
        sink: OutcomeSink,
        *,
        max_reports: int = MAX_REPORTS,
        max_bytes: int = MAX_BYTES,
        gather: float = GATHER_SECONDS,
    ) -> None:
        self._sink = sink
        self._batches = callable(getattr(sink, "report_outcomes", None))
        self._gather = gather
        self._max_reports = max_reports
        self._max_bytes = max_bytes
        self._queue: collections.deque[tuple[dict[str, Any], int]] = collections.deque()
        self._bytes = 0
        self._wakeup = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._hurry = asyncio.Event()  # someone waits for the queue: no more gathering
        # Reports queued or being sent, per session, and the sends waiting for them.
        self._pending: dict[str, int] = {}
        self._settled: dict[str, asyncio.Event] = {}
        self.enabled = True
        self.dropped = 0
        self.sent = 0
        self.failed = 0

    def add_result(self, pending: PendingOutcome, answer: dict[str, Any]) -> None:
        """Queue the report of an allowed call whose `answer` was just sent to the client."""
        if not self.enabled:
            return
        decision_id, request_id, session_id, upstream, tool_name, method = pending
        fields = _result_fields(method, answer)
        fields.update(
            decision_id=decision_id,
            request_id=request_id,
            session_id=session_id,
            upstream=upstream,
            tool_name=tool_name,
        )
        self._add(fields)

    def add_confirmation(
        self,
        *,
        decision_id: str,
        confirmation: str,
        approval_id: str | None,
        request_id: str | None,
        session_id: str | None,
        upstream: str,
        tool_name: str,
    ) -> None:
        """Queue the human's answer to a `confirm`."""
        if not self.enabled:
            return
        self._add(
            {
                "decision_id": decision_id,
                "confirmation": confirmation,
                "approval_id": approval_id,
                "request_id": request_id,
                "session_id": session_id,
                "upstream": upstream,
                "tool_name": tool_name,
            }
        )

    def _count(self, fields: dict[str, Any], change: int) -> None:
        session = fields.get("session_id") or ""
        left = self._pending.get(session, 0) + change
        if left > 0:
            self._pending[session] = left
            return
        self._pending.pop(session, None)
        waiting = self._settled.pop(session, None)
        if waiting is not None:
            waiting.set()

    async def settled(self, session_id: str | None, deadline: float = SETTLE_SECONDS) -> None:
        """Return once no report of `session_id` is queued or being sent, or after `deadline` seconds."""
        session = session_id or ""
        if not self._pending.get(session):
            return
        waiting = self._settled.setdefault(session, asyncio.Event())
        self._hurry.set()
        with anyio.move_on_after(deadline):
            await waiting.wait()

    def _add(self, fields: dict[str, Any]) -> None:
        size = 512 + len(fields.get("content_text", "")) + len(fields.get("structured_text", ""))
        self._queue.append((fields, size))
        self._bytes += size
        self._count(fields, +1)
        while len(self._queue) > self._max_reports or self._bytes > self._max_bytes:
            dropped, gone = self._queue.popleft()
            self._bytes -= gone
            self._count(dropped, -1)
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                logger.warning("outcome reports are queued faster than sent: %d dropped so far", self.dropped)
        self._idle.clear()
        self._wakeup.set()

    async def run(self) -> None:
        """Send queued reports (one at a time, or gathered in batches), for as long as the gateway runs."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue and self.enabled:
                if self._batches:
                    # Also what queued while the last batch was being sent: busy traffic costs one
                    # hand-over per gathering, not one per report.
                    await self._gathered()
                    await self._send_batch()
                    continue
                fields, size = self._queue.popleft()
                self._bytes -= size
                try:
                    await self._send(fields)
                finally:
                    self._count(fields, -1)
            self._idle.set()

    async def _gathered(self) -> None:
        """Return after `gather` seconds, or at once when someone waits for the queue."""
        if not self._hurry.is_set() and not self._settled:
            with anyio.move_on_after(self._gather):
                await self._hurry.wait()
        self._hurry.clear()

    async def _send_batch(self) -> None:
        """Send everything queued in one call of the sink's `report_outcomes`."""
        batch = list(self._queue)
        self._queue.clear()
        self._bytes = 0
        sink: BatchOutcomeSink = self._sink  # type: ignore[assignment]  # checked when made

        def sending() -> Awaitable[bool]:
            return sink.report_outcomes([OutcomeReport(**fields) for fields, _ in batch])

        try:
            await self._deliver(len(batch), sending)
        finally:
            for fields, _ in batch:
                self._count(fields, -1)

    async def _send(self, fields: dict[str, Any]) -> None:
        await self._deliver(1, lambda: self._sink.report_outcome(OutcomeReport(**fields)))

    async def _deliver(self, count: int, sending: Callable[[], Awaitable[bool]]) -> None:
        try:
            taken = await sending()
        except Exception as exc:
            first = self.failed == 0
            self.failed += count
            if first:
                # The type and message of the failure only: never what the call returned.
                logger.warning("an outcome report could not be sent (%s); serving is not affected", _why(exc))
            else:
                logger.debug("an outcome report could not be sent (%s)", type(exc).__name__)
            return
        if taken:
            self.sent += count
            return
        logger.debug("the policy service takes no outcome reports; reporting is off for this process")
        self.enabled = False
        self._queue.clear()
        self._bytes = 0
        self._pending.clear()
        for waiting in self._settled.values():
            waiting.set()
        self._settled.clear()

    async def flush(self, deadline: float = FLUSH_SECONDS) -> None:
        """Wait, at most `deadline` seconds and shielded from cancellation, until the queue is sent."""
        self._hurry.set()
        with anyio.move_on_after(deadline, shield=True):
            await self._idle.wait()
        if self._queue and self.enabled:
            logger.info("%d outcome reports were not sent before the proxy stopped", len(self._queue))
        if self.dropped:
            logger.info("%d outcome reports were dropped because the queue was full", self.dropped)


def _why(exc: Exception) -> str:
    status = getattr(exc, "status", None)
    return f"{type(exc).__name__}, HTTP {status}" if isinstance(status, int) else type(exc).__name__
