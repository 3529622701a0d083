"""FakePolicyServer: a real loopback HTTP/1.1 server that speaks hosted Inherence's protocol and fails on demand.

It runs on its own thread with its own event loop, so sync code, benchmarks and async tests on
any loop can use it alike; every public method is thread-safe and none touches the caller's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType

from ._behaviours import Behaviour, Exchange, Hangup, Outcome, Response, Withhold, json_response
from ._hosted import UNAUTHENTICATED, Hosted
from ._http import BadRequest, bodiless, encode_head, read_body, read_head
from ._records import ENDPOINT_PREFIX, Headers, RecordedRequest, endpoint_of, parse_json

START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0
KEY_PREFIX = "inh_test_"


def endpoint_path(endpoint: str) -> str:
    """`decide` -> `/api/proxy/decide`; a path starting with `/` is kept as it is."""
    return endpoint if endpoint.startswith("/") else ENDPOINT_PREFIX + endpoint


@dataclass
class _Connection:
    number: int
    writer: asyncio.StreamWriter
    task: asyncio.Task[None]


class FakePolicyServer:
    """Hosted Inherence on 127.0.0.1, scriptable per endpoint, recording every request.

    ```
    with FakePolicyServer(api_keys=["inh_test_abc"]) as server:
        server.decide(Deny("shell*"))
        server.on("classify", Sequence(CloseConnection(), Hosted()))
        ...
        assert server.requests_to("decide")[0].json["tool_name"] == "shell_run"
    ```
    """

    def __init__(self, *, api_keys: Iterable[str] = (), host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._initial_keys = frozenset(api_keys)
        self._state = threading.Condition()
        self._keys: set[str] = set(self._initial_keys)
        self._auth_failure_status = 401
        self._scripts: dict[str, Behaviour] = {}
        self._records: list[RecordedRequest] = []
        self._errors: list[BaseException] = []
        self._connection_count = 0
        self._receipt_numbers = itertools.count(1)
        self._receipt_prefix = f"fake_rcpt_{secrets.token_hex(4)}"
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._open: dict[int, _Connection] = {}
        self._port: int | None = None
        self._startup_error: BaseException | None = None

    # Lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakePolicyServer:
        """Bind, start serving on a background thread, and return once connections are accepted."""
        if self._thread is not None:
            raise RuntimeError("FakePolicyServer is already started")
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="fake-policy-server", daemon=True)
        self._thread.start()
        if not ready.wait(START_TIMEOUT):
            raise RuntimeError(f"FakePolicyServer did not start within {START_TIMEOUT} s")
        if self._startup_error is not None:
            self._thread.join(STOP_TIMEOUT)
            self._thread = None
            raise RuntimeError("FakePolicyServer could not start") from self._startup_error
        return self

    def stop(self) -> None:
        """Close every connection (releasing stalls), the listening socket and the loop; join the thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            raise RuntimeError(f"FakePolicyServer did not stop within {STOP_TIMEOUT} s")
        self._thread = None

    def __enter__(self) -> FakePolicyServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget everything a test did: close open connections, clear records, scripts and counters.

        The keys go back to those given to the constructor and bad keys to 401. Receipt ids keep
        counting, so they stay unique for the server's whole life.
        """
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._drop_connections(), self._loop).result(STOP_TIMEOUT)
        with self._state:
            self._records.clear()
            self._errors.clear()
            self._scripts.clear()
            self._keys = set(self._initial_keys)
            self._auth_failure_status = 401
            self._connection_count = 0

    # Addresses ---------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakePolicyServer is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>`, the hosted endpoint to give a client."""
        return f"http://{self._host}:{self.port}"

    def url(self, endpoint: str) -> str:
        """The full URL of an endpoint, by short name (`decide`) or path."""
        return self.base_url + endpoint_path(endpoint)

    # Keys --------------------------------------------------------------------------------------

    @property
    def api_keys(self) -> frozenset[str]:
        with self._state:
            return frozenset(self._keys)

    def add_key(self, key: str) -> None:
        with self._state:
            self._keys.add(key)

    def new_key(self) -> str:
        """Make up a fresh valid key shaped like a real one (`inh_test_<hex>`) and accept it from now on."""
        key = KEY_PREFIX + secrets.token_hex(12)
        self.add_key(key)
        return key

    def revoke_key(self, key: str) -> None:
        with self._state:
            self._keys.discard(key)

    def reject_bad_keys_with(self, status: int) -> None:
        """Answer a missing or unknown key with this status (401 by default; hosted may also say 403)."""
        with self._state:
            self._auth_failure_status = status

    # Scripting ---------------------------------------------------------------------------------

    def on(self, endpoint: str, behaviour: Behaviour) -> None:
        """Answer requests to `endpoint` (short name or path) with `behaviour` until changed or reset."""
        if not isinstance(behaviour, Behaviour):
            # Outcomes (Response, Hangup, Withhold) look like behaviours but are what a behaviour returns;
            # refuse them here rather than fail later on the server thread.
            raise TypeError(f"expected a Behaviour such as Allow() or CloseConnection(), got {behaviour!r}")
        with self._state:
            self._scripts[endpoint_path(endpoint)] = behaviour

    def decide(self, behaviour: Behaviour) -> None:
        """Script the decide endpoint; the same as `on("decide", behaviour)`."""
        self.on("decide", behaviour)

    # Observations ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received since the last reset, in arrival order (a copy)."""
        with self._state:
            return list(self._records)

    def requests_to(self, endpoint: str) -> list[RecordedRequest]:
        """The requests to one endpoint, by short name (`decide`) or path."""
        path = endpoint_path(endpoint)
        with self._state:
            return [record for record in self._records if record.path == path]

    @property
    def connection_count(self) -> int:
        """TCP connections accepted since the last reset; one for many requests proves keep-alive."""
        with self._state:
            return self._connection_count

    @property
    def open_connection_count(self) -> int:
        """Connections currently open on the server side."""
        with self._state:
            return len(self._open)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected failures inside the server (a bug in the fake or in a custom behaviour)."""
        with self._state:
            return list(self._errors)

    def wait_for_requests(
        self, endpoint: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Block until `count` requests (to `endpoint`, or to any) arrived; for sync callers only.

        From an async test use `await wait_for_requests_async(...)`: blocking there would also
        block the loop that is supposed to send the request.
        """
        with self._state:
            if not self._state.wait_for(lambda: len(self._matching(endpoint)) >= count, timeout):
                raise TimeoutError(f"{count} request(s) to {endpoint or 'any endpoint'} did not arrive in {timeout} s")
            return self._matching(endpoint)

    async def wait_for_requests_async(
        self, endpoint: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> list[RecordedRequest]:
        """Like `wait_for_requests`, polling with asyncio.sleep so the caller's loop keeps running."""
        deadline = time.monotonic() + timeout
        while True:
            with self._state:
                found = self._matching(endpoint)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{count} request(s) to {endpoint or 'any endpoint'} did not arrive in {timeout} s")
            await asyncio.sleep(0.005)

    def _matching(self, endpoint: str | None) -> list[RecordedRequest]:
        if endpoint is None:
            return list(self._records)
        path = endpoint_path(endpoint)
        return [record for record in self._records if record.path == path]

    # The server thread -------------------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve(ready))
        except BaseException as error:
            self._startup_error = error
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                ready.set()

    async def _serve(self, ready: threading.Event) -> None:
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(self._on_connection, self._host, self._requested_port)
        try:
            self._port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stopping.wait()
        finally:
            server.close()
            await self._drop_connections()
            await server.wait_closed()

    async def _drop_connections(self) -> None:
        with self._state:
            tasks = [connection.task for connection in self._open.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        with self._state:
            self._connection_count += 1
            connection = _Connection(number=self._connection_count, writer=writer, task=task)
            self._open[id(connection)] = connection
        try:
            await self._converse(connection, reader, writer)
        except (asyncio.CancelledError, ConnectionError):
            pass  # reset()/stop() or the client went away: both are normal here
        except Exception as error:
            with self._state:
                self._errors.append(error)
        finally:
            with self._state:
                self._open.pop(id(connection), None)
            writer.close()
            with contextlib.suppress(ConnectionError, OSError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _converse(
        self, connection: _Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        while True:
            try:
                head = await read_head(reader)
                if head is None:
                    return
                body = await read_body(reader, head)
            except BadRequest as error:
                await self._send(writer, json_response({"error": str(error)}, error.status), keep_alive=False)
                return
            record = self._record(head.method, head.target, Headers(head.headers), body, connection.number)
            outcome = await self._outcome(record)
            if isinstance(outcome, Hangup):
                if outcome.abrupt:
                    writer.transport.abort()
                return
            if isinstance(outcome, Withhold):
                head_bytes = encode_head(
                    outcome.status,
                    [("Content-Type", "application/json"), ("Content-Length", str(outcome.declared_length))],
                )
                writer.write(head_bytes)
                await writer.drain()
                await reader.read()  # until the client hangs up, or reset()/stop() cancels us
                return
            keep_alive = head.keep_alive and not outcome.close
            await self._send(writer, outcome, keep_alive=keep_alive)
            if not keep_alive:
                return

    def _record(self, method: str, target: str, headers: Headers, body: bytes, connection: int) -> RecordedRequest:
        with self._state:
            record = RecordedRequest(
                index=len(self._records),
                method=method,
                target=target,
                headers=headers,
                body=body,
                connection=connection,
                received_at=time.monotonic(),
                json=parse_json(body),
            )
            self._records.append(record)
            self._state.notify_all()
            return record

    def _new_receipt_id(self) -> str:
        with self._state:
            return f"{self._receipt_prefix}_{next(self._receipt_numbers)}"

    async def _outcome(self, record: RecordedRequest) -> Outcome:
        with self._state:
            behaviour = self._scripts.get(record.path)
            key_ok = record.path in UNAUTHENTICATED or record.api_key in self._keys
            auth_failure_status = self._auth_failure_status
        if not key_ok:
            return json_response(
                {"error": "invalid api key", "endpoint": endpoint_of(record.path)}, auth_failure_status
            )
        fallback = Hosted()
        exchange = Exchange(request=record, fallback=fallback, new_receipt_id=self._new_receipt_id)
        try:
            return await (behaviour or fallback).answer(exchange)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            with self._state:
                self._errors.append(error)
            return json_response({"error": f"fake policy behaviour failed: {error!r}"}, 500)

    async def _send(self, writer: asyncio.StreamWriter, response: Response, *, keep_alive: bool) -> None:
        headers: list[tuple[str, str]] = [("Server", "fake-policy")]
        body = b"" if bodiless(response.status) else response.body
        if not bodiless(response.status):
            if response.content_type is not None:
                headers.append(("Content-Type", response.content_type))
            headers.append(("Content-Length", str(len(body))))
        if not keep_alive:
            headers.append(("Connection", "close"))
        headers.extend(response.headers)
        writer.write(encode_head(response.status, headers) + body)
        await writer.drain()
