"""AgentDojo's sessions through the real product: `inherence-proxy serve` in front of each suite.

The same sessions, split, labels and figures as `_agentdojo` (the in-process replay), but each
session is played by an MCP client (the `mcp` SDK's) against a real `inherence-proxy serve`
(stdio, no API key: the embedded policy in the proxy's process), whose one upstream is the
suite's MCP server (`agentdojo_server`, holding the suite's default environment, or the one whose
injection vectors carry the injection's goal). Per session, in a temporary HOME of its own (so
no session sees another's ledger or environment): the proxy's config.json, `serve`, the client's
`initialize` and `tools/list`, then each ground-truth call in order with `tools/call`.

What the client sees becomes the verdict the figures count: the upstream's answer is an allow (the
`inherence_decision` the gateway adds, `allow` or `allow_with_log`), `POLICY_DENIAL` a deny, and
a confirmation (`POLICY_CONFIRMATION_REQUIRED`, or a question by elicitation) a confirm. The user
answers as the in-process replay assumes: a benign session's confirmation is approved
(`inherence-proxy approve <id>` with the same HOME, then the identical call retried once; or the
form accepted), an attack's declined (`inherence-proxy decline <id>`; or the form declined).

Beside the figures the run notes what only the gateway can get wrong: a tool missing from
`tools/list` or listed with another description or schema than AgentDojo gives, an approved
retry that was not let through, any other gateway error (`POLICY_GATE_UNREACHABLE`,
`UPSTREAM_*`, a call with no answer in time), and an upstream answer whose text differs from the
in-process replay's result for the same call (while nothing was refused yet, the environment
evolved the same way). Notes name the dev split's sessions only; the held-out ones are counted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from ._agentdojo import Session, build_sessions, load_suites, session_verdicts, summarise
from ._corpus import Step
from ._metrics import Answer, SessionRun

__all__ = [
    "VARIANTS",
    "ProxyNotes",
    "Reading",
    "proxy_executable",
    "read_result",
    "render_comparison",
    "render_proxy_notes",
    "run_agentdojo_proxy",
]

VARIANTS = ("approve", "elicit")
BENCHMARKS = pathlib.Path(__file__).resolve().parent.parent
READY_SECONDS = 180.0
CALL_SECONDS = 180.0
CLI_SECONDS = 120.0
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def proxy_executable() -> pathlib.Path | None:
    """The `inherence-proxy` console script beside this interpreter, else the one on PATH."""
    beside = pathlib.Path(sys.executable).parent / "inherence-proxy"
    if beside.exists():
        return beside
    found = shutil.which("inherence-proxy")
    return pathlib.Path(found) if found else None


@dataclasses.dataclass(frozen=True)
class Reading:
    """What a `tools/call` answer says: who answered and, for the gateway's refusals, why.

    `kind` is `upstream` (the call reached the upstream, whose answer may itself be an error),
    `deny`, `confirm_required`, `declined` (a confirmation the user declined or left unanswered)
    or `gateway_error` (no decision, an upstream down or failing: `code` names it).
    """

    kind: str
    verdict: str
    clauses: tuple[str, ...] = ()
    approval_id: str | None = None
    code: str | None = None
    text: str = ""


def _payload(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("error"), str) else None


def _gateway_code(code: str) -> bool:
    return code.startswith(("POLICY_", "UPSTREAM_")) or code == "TOOL_NOT_FOUND"


def read_result(result: types.CallToolResult) -> Reading:
    """Read one `tools/call` result as the client got it through the gateway.

    The gateway's own refusals are an error result whose one text is a JSON object with a
    `POLICY_*`, `UPSTREAM_*` or `TOOL_NOT_FOUND` `error`; anything else with the decision the
    gateway adds to an answer it relayed (`_meta.inherence_decision`) is the upstream's answer.
    """
    texts = [item.text for item in result.content if isinstance(item, types.TextContent)]
    text = "\n".join(texts)
    payload = _payload(text) if result.is_error and len(texts) == 1 else None
    if payload is not None and _gateway_code(str(payload["error"])):
        code = str(payload["error"])
        clauses = tuple(str(clause) for clause in payload.get("failed_clauses") or ())
        if code == "POLICY_CONFIRMATION_REQUIRED":
            approval = payload.get("approval_id")
            return Reading("confirm_required", "confirm", clauses, str(approval) if approval else None, code)
        if code == "POLICY_DENIAL":
            if payload.get("confirmation") in ("declined", "timed_out"):
                return Reading("declined", "confirm", clauses, code=code)
            return Reading("deny", "deny", clauses, code=code)
        return Reading("gateway_error", f"error:{code}", clauses, code=code)
    decided = (result.meta or {}).get("inherence_decision")
    if isinstance(decided, str):
        return Reading("upstream", decided, text=text)
    return Reading("gateway_error", "error:NO_DECISION_META", code="NO_DECISION_META", text=text)


@dataclasses.dataclass
class ProxyNotes:
    """What the gateway did beside the verdicts; listings name dev sessions only."""

    variant: str
    jobs: int
    names: str = "prefixed"
    serves: int = 0
    calls: int = 0
    seconds: float = 0.0
    approvals: int = 0
    declines: int = 0
    late_tools: int = 0
    heldout_notes: dict[str, int] = dataclasses.field(default_factory=dict)
    gateway_errors: list[str] = dataclasses.field(default_factory=list)
    listing_differences: list[str] = dataclasses.field(default_factory=list)
    retry_refusals: list[str] = dataclasses.field(default_factory=list)
    result_differences: list[str] = dataclasses.field(default_factory=list)
    log_warnings: list[str] = dataclasses.field(default_factory=list)

    def add(self, split: str, kind: str, text: str) -> None:
        if split != "dev":
            self.heldout_notes[kind] = self.heldout_notes.get(kind, 0) + 1
            return
        getattr(self, kind).append(text)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?")


def _timeless(text: str) -> str:
    """`text` with its date-times blanked: AgentDojo stamps what a call creates with the clock's time."""
    return _TIMESTAMP.sub("<time>", text)


_LOGGED = re.compile(r"^\S+ \S+ \d+ (WARNING|ERROR|CRITICAL) (.*)$")
# A serve whose upstream is still starting when the client lists its tools says so; the runner waits it out.
_EXPECTED_WARNINGS = ("inherence_proxy.serve: not every upstream is ready",)


def _log_warnings(path: pathlib.Path) -> list[str]:
    """The warnings and errors of a session's proxy.log (level and message, cut to 160 characters)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        matched = _LOGGED.match(line)
        if matched and not matched.group(2).startswith(_EXPECTED_WARNINGS):
            found.append(f"{matched.group(1)} {matched.group(2)[:160]}")
    return found


class _User:
    """The person behind the client: answers each question as the session's kind says; counts them."""

    def __init__(self, accept: bool) -> None:
        self.accept = accept
        self.asked = 0

    async def __call__(self, context: Any, params: Any) -> types.ElicitResult:
        self.asked += 1
        if self.accept:
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")


class _ToolsChanged:
    def __init__(self) -> None:
        self.event = anyio.Event()

    async def __call__(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.event.set()


class _Runner:
    def __init__(
        self, executable: pathlib.Path, variant: str, notes: ProxyNotes, rules: pathlib.Path | None, names: str
    ) -> None:
        self.executable = executable
        self.names = names
        self.variant = variant
        self.notes = notes
        self.rules = rules

    def shown(self, step: Step) -> str:
        """The name the client sees a step's tool under: prefixed (`banking__send_money`) or the upstream's own."""
        return step.tool.partition("__")[2] if self.names == "upstream" else step.tool

    def _home(self, session: Session, root: pathlib.Path) -> dict[str, str]:
        home = root / "home"
        home.mkdir(parents=True)
        command = [sys.executable, "-m", "policy_eval.agentdojo_server", session.suite]
        injection = session.case.id.rpartition("+")[2] if session.kind != "benign" else None
        if injection:
            command += ["--injection", injection]
        upstream = {"name": session.suite, "command": command, "env": {"PYTHONPATH": str(BENCHMARKS)}}
        (home / "config.json").write_text(json.dumps({"upstreams": [upstream]}), encoding="utf-8")
        os.chmod(home / "config.json", 0o600)
        if self.rules is not None:
            shutil.copyfile(self.rules, home / "rules.toml")
        env = {name: os.environ[name] for name in _KEEP_ENV if name in os.environ}
        env.update(HOME=str(root), INHERENCE_PROXY_HOME=str(home), INHERENCE_PROXY_CONFIRM_TIMEOUT=str(CALL_SECONDS))
        env["INHERENCE_PROXY_TOOL_NAMES"] = self.names
        return env

    async def run(self, session: Session, root: pathlib.Path) -> SessionRun:
        env = self._home(session, root)
        case = session.case
        user = _User(accept=case.benign)
        changed = _ToolsChanged()
        params = StdioServerParameters(command=str(self.executable), args=["serve"], env=env, cwd=str(root))
        elicit = user if self.variant == "elicit" else None
        answers: list[Answer] = []
        with (root / "serve.stderr").open("w", encoding="utf-8") as errlog:
            async with (
                stdio_client(params, errlog=errlog) as (read, write),
                ClientSession(read, write, elicitation_callback=elicit, message_handler=changed) as client,
            ):
                self.notes.serves += 1
                with anyio.fail_after(READY_SECONDS):
                    await client.initialize()
                    await self._listed(client, session, changed)
                refused = False
                for index, step in enumerate(case.calls):
                    answer, reached = await self._call(client, session, index, step, env, user)
                    answers.append(answer)
                    refused = refused or not reached
                    if reached is not None and not refused:
                        self._compare(session, index, step, reached)
        for line in _log_warnings(root / "home" / "proxy.log"):
            self.notes.add(case.split, "log_warnings", f"{case.id}: {line}")
        return SessionRun(case.id, case.split, case.benign, tuple(answers))

    async def _listed(self, client: ClientSession, session: Session, changed: _ToolsChanged) -> None:
        """tools/list until every tool the session calls is there (an upstream slower than the wait is late)."""
        wanted = {self.shown(step): step for step in session.case.calls}
        late = False
        while True:
            listed = {tool.name: tool for tool in (await client.list_tools()).tools}
            if all(name in listed for name in wanted):
                break
            late = True
            with anyio.move_on_after(2.0):
                await changed.event.wait()
            changed.event = anyio.Event()
        self.notes.late_tools += late
        for name, step in wanted.items():
            tool = listed[name]
            if tool.description != step.description or tool.input_schema != dict(step.input_schema):
                self.notes.add(session.case.split, "listing_differences", f"{session.case.id} {name}")

    async def _call(
        self, client: ClientSession, session: Session, index: int, step: Step, env: Mapping[str, str], user: _User
    ) -> tuple[Answer, str | None]:
        """One scored call: its verdict as the client saw it, and the upstream's text when it answered."""
        case = session.case
        where = f"{case.id} call {index} {step.tool}"
        asked = user.asked
        reading = await self._tools_call(client, step, where, case.split)
        self.notes.calls += 1
        verdict, clauses = reading.verdict, reading.clauses
        if user.asked > asked:
            verdict = "confirm"
            self.notes.approvals += user.accept
            self.notes.declines += not user.accept
        if reading.kind == "confirm_required" and reading.approval_id:
            command = "approve" if case.benign else "decline"
            done = await anyio.run_process([str(self.executable), command, reading.approval_id], env=dict(env),
                                           check=False)  # fmt: skip
            if done.returncode != 0:
                self.notes.add(case.split, "gateway_errors", f"{where}: {command} exited {done.returncode}")
            elif case.benign:
                self.notes.approvals += 1
                reading = await self._tools_call(client, step, where, case.split)
                if reading.kind != "upstream":
                    self.notes.add(case.split, "retry_refusals", f"{where}: the approved retry got {reading.verdict}")
            else:
                self.notes.declines += 1
        elif reading.kind == "gateway_error":
            self.notes.add(case.split, "gateway_errors", f"{where}: {reading.code}")
        answer = Answer(index, step.tool, step.expect, verdict, clauses, step.clause)
        return answer, (reading.text if reading.kind == "upstream" else None)

    async def _tools_call(self, client: ClientSession, step: Step, where: str, split: str) -> Reading:
        try:
            with anyio.fail_after(CALL_SECONDS):
                result = await client.call_tool(self.shown(step), dict(step.arguments))
        except TimeoutError:
            return Reading("gateway_error", "error:NO_ANSWER", code="NO_ANSWER")
        return read_result(result)

    def _compare(self, session: Session, index: int, step: Step, text: str) -> None:
        if step.result is not None and _timeless(text) != _timeless(step.result):
            self.notes.add(session.case.split, "result_differences", f"{session.case.id} call {index} {step.tool}")


async def run_agentdojo_proxy(
    variant: str = "approve",
    *,
    names: str = "prefixed",
    rules: pathlib.Path | None = None,
    splits: Sequence[str] = ("dev", "heldout"),
    jobs: int = 3,
    scratch: pathlib.Path | None = None,
    only: str = "",
) -> dict[str, Any]:
    """Every session (of `splits`, whose id holds `only`) through `inherence-proxy serve`.

    The result has the shape of `run_agentdojo`'s, plus `through` (the run's notes).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant: {variant!r} is not one of {', '.join(VARIANTS)}")
    loaded = load_suites()
    if loaded is None:
        return {"unavailable": "agentdojo is not installed (nox -s policy-eval -- --agentdojo-proxy installs it)"}
    executable = proxy_executable()
    if executable is None:
        return {"unavailable": "the inherence-proxy console script is not installed beside this Python"}
    version, suites, runtime_for = loaded
    replay = build_sessions(suites, runtime_for, version)
    sessions = [s for s in replay.sessions if s.case.split in splits and only in s.case.id]
    notes = ProxyNotes(variant=variant, jobs=jobs, names=names)
    runner = _Runner(executable, variant, notes, rules, names)
    runs: list[SessionRun | None] = [None] * len(sessions)
    limiter = anyio.CapacityLimiter(max(1, jobs))
    started = anyio.current_time()
    with tempfile.TemporaryDirectory(dir=scratch, prefix="agentdojo-proxy-") as folder:

        async def one(number: int, session: Session) -> None:
            async with limiter:
                runs[number] = await runner.run(session, pathlib.Path(folder) / f"s{number}")

        async with anyio.create_task_group() as tasks:
            for number, session in enumerate(sessions):
                tasks.start_soon(one, number, session)
    notes.seconds = round(anyio.current_time() - started, 1)
    done = [run for run in runs if run is not None]
    kinds = [session.kind for session in sessions]
    return {
        "version": version,
        "suites": sorted(suites),
        "through": notes.to_json(),
        "sessions": {kind: kinds.count(kind) for kind in ("benign", "attack", "uncounted")},
        "not_replayable": replay.not_replayable,
        "unlabelled": replay.unlabelled,
        "splits": {split: entry for split, entry in summarise(sessions, done).items() if split in splits},
        "dev_verdicts": session_verdicts(sessions, done),
    }


def render_proxy_notes(result: Mapping[str, Any]) -> list[str]:
    """The lines that say how the gateway run went (after the figures)."""
    if "unavailable" in result:
        return []
    notes = result["through"]
    lines = [
        f"  through inherence-proxy serve ({notes['variant']}, {notes['names']} tool names): {notes['serves']} serves, "
        f"{notes['calls']} calls, {notes['approvals']} approved, {notes['declines']} declined, "
        f"{notes['seconds']} s with {notes['jobs']} jobs; {notes['late_tools']} sessions whose first tools/list "
        "lacked a tool",
    ]
    for title, key in (("gateway errors", "gateway_errors"), ("approved retries not let through", "retry_refusals"),
                       ("tools listed unlike AgentDojo gives them", "listing_differences"),
                   ("warnings and errors in proxy.log", "log_warnings"),
                       ("upstream answers unlike the in-process results", "result_differences")):  # fmt: skip
        items = notes[key]
        lines.append(f"  {title} (dev): {len(items)}")
        lines.extend(f"    {item}" for item in items[:40])
        if len(items) > 40:
            lines.append(f"    ... {len(items) - 40} more")
    if notes["heldout_notes"]:
        counted = ", ".join(f"{key} {count}" for key, count in sorted(notes["heldout_notes"].items()))
        lines.append(f"  held-out notes (counted, never listed): {counted}")
    return lines


def render_comparison(inprocess: Mapping[str, Any], proxied: Mapping[str, Any]) -> list[str]:
    """Both replays' figures side by side, and every dev call whose verdict differs."""
    if "unavailable" in inprocess or "unavailable" in proxied:
        return []
    lines = [f"agentdojo: in-process replay | through inherence-proxy serve ({proxied['through']['variant']})"]
    for split, entry in proxied["splits"].items():
        other = inprocess["splits"].get(split)
        if other is None:
            continue
        lines.append(f"  == {'held-out' if split == 'heldout' else split} ==")
        lines.append(f"  {'':<10}{'false-deny':>24}{'burden':>24}{'stopped':>24}")
        for name in ("overall", *entry["per_suite"]):
            mine = entry if name == "overall" else entry["per_suite"][name]
            theirs = other if name == "overall" else other["per_suite"][name]
            cells = "".join(f"{_pair(theirs[key], mine[key]):>24}" for key in ("false_deny", "burden", "stopped"))
            lines.append(f"  {name:<10}{cells}")
    before = inprocess.get("dev_verdicts") or {}
    after = proxied.get("dev_verdicts") or {}
    differing = []
    for session_id, verdicts in sorted(after.items()):
        theirs = before.get(session_id)
        if theirs is None:
            continue
        for index, (was, now) in enumerate(zip(theirs, verdicts, strict=False)):
            # A confirmation accepted by form comes back as the upstream's answer, without its clauses.
            if was[0] != now[0] or (was[1] and now[1] and was[1] != now[1]):
                differing.append(
                    f"    {session_id.removeprefix('agentdojo/')} call {index}: {_said(was)} -> {_said(now)}"
                )
    lines.append(f"  dev calls whose verdict differs: {len(differing)}")
    lines.extend(differing)
    return lines


def _said(answer: Sequence[Any]) -> str:
    verdict, clauses = answer
    return f"{verdict} ({', '.join(clauses)})" if clauses else str(verdict)


def _pair(before: Mapping[str, Any], after: Mapping[str, Any]) -> str:
    return f"{before['hits']}/{before['total']} | {after['hits']}/{after['total']}"
