"""Public benign traces: the function calls of BFCL (`bfcl-eval`) and τ²-bench (`inspect-evals`).

Only the data files the installed packages ship are read (their code is never imported, so
they may be installed without their dependencies). Every entry becomes one benign session:
its calls with their real arguments, the tool's name, description and schema from the entry
(BFCL) or from the task's tool module (τ²-bench, read as source, not run).

* BFCL: the categories whose answers are single calls (`simple_*`, `multiple`, `parallel*`,
  `live_*` but `live_irrelevance`/`live_relevance`); the first accepted value of each
  argument is used, and an argument whose accepted values start with "" (may be left out)
  is left out. Multi-turn, memory and web-search entries are not replayed.
* τ²-bench: each task's `evaluation_criteria.actions`, in order.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
import pathlib
from collections.abc import Iterator
from typing import Any

from ._corpus import Step

__all__ = ["bfcl_sessions", "locate", "tau2_sessions"]

_BFCL_SKIP = ("irrelevance", "relevance", "multi_turn", "memory", "web_search", "format_sensitivity")
_TAU2_TOOLS = {"airline": "airline", "retail": "retail", "telecom": "telecom", "banking_knowledge": "banking"}


def locate(package: str) -> pathlib.Path | None:
    """The folder of an installed package, without importing it; None when it is not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(next(iter(spec.submodule_search_locations)))


def _json_lines(path: pathlib.Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _first_values(accepted: dict[str, Any]) -> dict[str, Any]:
    """The first accepted value of each argument; a nested object's fields are lists of options too."""
    arguments = {}
    for name, options in accepted.items():
        if isinstance(options, list) and options and options[0] != "":
            value = options[0]
            arguments[name] = _first_values(value) if isinstance(value, dict) else value
    return arguments


def bfcl_sessions(root: pathlib.Path) -> list[tuple[str, list[Step]]]:
    """One session per BFCL entry with single-call answers."""
    data = root / "data"
    sessions = []
    for question in sorted(data.glob("BFCL_v*_*.json")):
        if any(part in question.name for part in _BFCL_SKIP):
            continue
        answers_path = data / "possible_answer" / question.name
        if not answers_path.is_file():
            continue
        answers = {entry["id"]: entry["ground_truth"] for entry in _json_lines(answers_path)}
        for entry in _json_lines(question):
            functions = {function["name"]: function for function in entry.get("function", [])}
            steps = []
            for call in answers.get(entry["id"], []):
                for name, accepted in call.items():
                    function = functions.get(name, {})
                    steps.append(
                        Step(
                            tool=f"bfcl__{name}",
                            arguments=_first_values(accepted),
                            expect="allow",
                            description=str(function.get("description", "")),
                            input_schema=function.get("parameters") or {},
                        )
                    )
            if steps:
                sessions.append((f"bfcl/{entry['id']}", steps))
    return sessions


def _doc_and_schema(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, dict[str, Any]]:
    doc = (ast.get_docstring(function) or "").split("\n\n")[0].strip()
    names = [arg.arg for arg in function.args.args if arg.arg != "self"]
    return doc, {"type": "object", "properties": {name: {"type": "string"} for name in names}}


def _tool_docs(*sources: pathlib.Path) -> dict[str, tuple[str, dict[str, Any]]]:
    """Tool name -> (description, schema), read from source without running it.

    Two shapes: `@tool def name(): async def execute(args): "doc"` (preferred), and a plain
    method `def name(self, args): "doc"` of a tools class.
    """
    wrapped: dict[str, tuple[str, dict[str, Any]]] = {}
    methods: dict[str, tuple[str, dict[str, Any]]] = {}
    for source in sources:
        if not source.is_file():
            continue
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or node.name.startswith("_"):
                continue
            execute = [item for item in node.body if isinstance(item, ast.AsyncFunctionDef) and item.name == "execute"]
            if execute:
                wrapped[node.name] = _doc_and_schema(execute[0])
            elif ast.get_docstring(node):
                methods.setdefault(node.name, _doc_and_schema(node))
    return {**methods, **wrapped}


def _load_json(path: pathlib.Path) -> Any:
    raw = path.read_bytes()
    return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)


def tau2_sessions(root: pathlib.Path) -> list[tuple[str, list[Step]]]:
    """One session per τ²-bench task that has expected actions."""
    tau2 = root / "tau2"
    common = _tool_docs(tau2 / "common" / "tools.py")
    sessions = []
    for domain_dir in sorted((tau2 / "data" / "domains").iterdir()):
        candidates = (domain_dir / "tasks.json", domain_dir / "tasks_small.json")
        tasks_file = next((path for path in candidates if path.is_file()), None)
        if tasks_file is None or domain_dir.name not in _TAU2_TOOLS:
            continue
        folder = tau2 / _TAU2_TOOLS[domain_dir.name]
        docs = {**common, **_tool_docs(*sorted(folder.glob("*AgentTools.py")), folder / "tools.py")}
        for task in _load_json(tasks_file):
            actions = (task.get("evaluation_criteria") or {}).get("actions") or []
            steps = []
            for action in actions:
                if action.get("requestor", "assistant") != "assistant":
                    continue
                description, schema = docs.get(action["name"], ("", {}))
                arguments = action.get("arguments") or {}
                steps.append(Step(f"{domain_dir.name}__{action['name']}", arguments, "allow", description, schema))
            if steps:
                sessions.append((f"tau2/{domain_dir.name}/{task['id']}", steps))
    return sessions
