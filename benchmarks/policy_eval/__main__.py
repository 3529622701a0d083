"""`python -m policy_eval [--json] [--public] [--agentdojo] [--agentdojo-proxy] [--split dev|heldout]`.

Run by `nox -s policy-eval`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import pathlib
import sys
from typing import Any

from ._agentdojo import render_agentdojo, run_agentdojo
from ._agentdojo_proxy import VARIANTS, render_comparison, render_proxy_notes, run_agentdojo_proxy
from ._corpus import DATA_DIR, SPLITS, Case, CorpusError, load_corpus
from ._metrics import compute
from ._public import bfcl_sessions, locate, tau2_sessions
from ._report import render_text
from ._runner import Harness


async def _public(config: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    sources = (("bfcl-eval", "bfcl_eval", bfcl_sessions), ("inspect-evals tau2", "inspect_evals", tau2_sessions))
    for name, package, read in sources:
        root = locate(package)
        if root is None:
            found[name] = {"unavailable": f"{package} is not installed (nox -s policy-eval -- --public installs it)"}
            continue
        sessions = read(root)
        if not sessions:
            found[name] = {"unavailable": f"the installed {package} ships no function-call data this harness reads"}
            continue
        cases = [Case(session_id, "public", "public", True, tuple(steps)) for session_id, steps in sessions]
        runs = await Harness(config=config).run(cases)
        figures = compute(runs, "public")
        found[name] = {
            "calls": sum(len(steps) for _, steps in sessions),
            "false_deny": figures.false_deny.to_json(),
            "burden": figures.burden.to_json(),
            "false_denies": figures.false_denies,
        }
    return found


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    config = None
    if args.config is not None:
        from inherence_policy_server import load_rules_config

        config = load_rules_config(args.config)
    splits = SPLITS if args.split == "all" else (args.split,)
    cases = load_corpus(args.data, splits)
    harness = Harness(config=config)
    runs = await harness.run(cases)
    notes = harness.notes
    route = {"absent": "unavailable (the server answered 404: no /api/proxy/outcome route yet)",
             "present": f"available ({notes.outcomes_accepted} of {notes.outcomes_sent} reports accepted)",
             "not tried": "not tried (no call with a result was let through)"}[notes.outcome_route]  # fmt: skip
    return {
        "notes": {
            "decisions": notes.decisions,
            "decide_p50_ms": notes.decide_p50_ms() or 0.0,
            "confirmable_on_wire": notes.confirmable_on_wire,
            "outcome_reporting": route,
            "history_refused": notes.history_refused,
        },
        "splits": [compute(runs, split) for split in splits],
        "public": await _public(config) if args.public else None,
        "agentdojo": await run_agentdojo(config) if args.public or args.agentdojo else None,
        "agentdojo_proxy": await _through_proxy(args, splits) if args.agentdojo_proxy else None,
    }


async def _through_proxy(args: argparse.Namespace, splits: tuple[str, ...]) -> dict[str, Any]:
    variants = VARIANTS if args.confirm_by == "both" else (args.confirm_by,)
    return {
        variant: await run_agentdojo_proxy(
            variant, rules=args.config, splits=splits, jobs=args.jobs, names=args.tool_names
        )
        for variant in variants
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="policy_eval", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--public", action="store_true", help="also replay public benign traces (BFCL, tau2-bench)")
    parser.add_argument(
        "--agentdojo", action="store_true", help="also replay AgentDojo's sessions (implied by --public)"
    )
    parser.add_argument(
        "--agentdojo-proxy",
        action="store_true",
        help="replay AgentDojo's sessions through a real `inherence-proxy serve` per session (of --split)",
    )
    parser.add_argument(
        "--confirm-by",
        choices=[*VARIANTS, "both"],
        default="approve",
        help="how the user answers a confirmation through the proxy: `inherence-proxy approve/decline`, or a form",
    )
    parser.add_argument(
        "--tool-names",
        choices=["prefixed", "upstream"],
        default="prefixed",
        help="the names the proxy shows its client (its `tool_names` setting; the policy sees prefixed names)",
    )
    parser.add_argument("--jobs", type=int, default=3, help="sessions through the proxy at once (default 3)")
    parser.add_argument("--split", choices=[*SPLITS, "all"], default="all")
    parser.add_argument("--data", type=pathlib.Path, default=DATA_DIR, help="corpus folder (default: the bundled one)")
    parser.add_argument("--config", type=pathlib.Path, default=None, help="a rules.toml to evaluate")
    args = parser.parse_args(argv)
    # The SQL parser the rules use warns on syntax it falls back on; the report says what matters.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    try:
        result = asyncio.run(_main(args))
    except CorpusError as exc:
        print(f"policy-eval: {exc}", file=sys.stderr)
        return 2
    if args.json:
        body = {**result, "splits": {figures.split: figures.to_json() for figures in result["splits"]}}
        print(json.dumps(body, indent=2, sort_keys=True))
    else:
        print(render_text(result["splits"], result["notes"], result["public"]))
        if result["agentdojo"] is not None:
            print()
            print("\n".join(render_agentdojo(result["agentdojo"])))
        for variant, proxied in (result["agentdojo_proxy"] or {}).items():
            print()
            print(f"agentdojo through inherence-proxy serve, confirmations answered by {variant}:")
            print("\n".join([*render_agentdojo(proxied), *render_proxy_notes(proxied)]))
            if result["agentdojo"] is not None:
                print()
                print("\n".join(render_comparison(result["agentdojo"], proxied)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
