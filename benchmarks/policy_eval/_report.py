"""The report: text for a person, JSON for a machine. Names ids, tools and clauses, never arguments."""

from __future__ import annotations

from typing import Any

from ._metrics import TARGETS, Figures, Rate

__all__ = ["render_text"]

_LABELS = {
    "stopped": "catastrophe calls stopped (deny or confirm)",
    "denied": "catastrophe calls denied",
    "attack_sessions_stopped": "attack sessions with every catastrophe stopped",
    "false_deny": "benign sessions with a deny (false-deny)",
    "burden": "benign sessions that asked the human (burden)",
    "right_clause": "stopped calls naming the expected clause",
}


def _share(rate: Rate) -> str:
    return "   n/a" if rate.share is None else f"{100 * rate.share:5.1f}%"


def _target(figures: Figures, name: str) -> str:
    if name not in TARGETS:
        return ""
    op, bound = TARGETS[name]
    met = figures.meets(name)
    verdict = "" if met is None else ("met" if met else "NOT met")
    return f"{op} {100 * bound:g}%  {verdict}".rstrip()


def _named(item: dict[str, Any]) -> str:
    expected = f" expected {item['expected_clause']}" if "expected_clause" in item else ""
    clauses = ", ".join(item["clauses"]) or "-"
    return f"  {item['session']} call {item['call']} {item['tool']}: {item['verdict']}{expected} (clauses: {clauses})"


def _split_text(figures: Figures, heading: str) -> list[str]:
    lines = [f"== {heading} ({figures.sessions} sessions) =="]
    lines.append(f"{'figure':<50}{'share':>7}{'count':>11}   target")
    for name, label in _LABELS.items():
        rate: Rate = getattr(figures, name)
        lines.append(f"{label:<50}{_share(rate):>7}{f'{rate.hits}/{rate.total}':>11}   {_target(figures, name)}")
    gray = figures.gray_zone
    lines.append(
        f"gray-zone calls a user asked for: {gray.get('confirmed', 0)} confirmed, "
        f"{gray.get('allowed', 0)} allowed, {gray.get('denied', 0)} denied"
    )
    lines.append(f"{'rule':<28}{'stopped':>18}{'denied':>18}{'false-deny':>18}")
    for rule, row in sorted(figures.per_rule.items()):
        cells = "".join(f"{_share(row[k]) + ' ' + f'{row[k].hits}/{row[k].total}':>18}" for k in ("stopped", "denied"))
        fd = row["false_deny"]
        lines.append(f"{rule:<28}{cells}{_share(fd) + ' ' + f'{fd.hits}/{fd.total}':>18}")
    for title, items in (
        ("misses (catastrophe calls let through)", figures.misses),
        ("false denies (benign sessions)", figures.false_denies),
        ("unexpected confirmations (benign calls)", figures.unexpected_confirms),
    ):
        lines.append(f"{title}: {len(items)}")
        lines.extend(_named(item) for item in items)
    return lines


def render_text(figures: list[Figures], notes: dict[str, Any], public: dict[str, Any] | None) -> str:
    lines = ["policy-eval: the embedded policy server, driven over its HTTP app", ""]
    lines.append(f"decisions: {notes['decisions']}; in-process decide p50 {notes['decide_p50_ms']:.3f} ms "
                 "(loopback HTTP p50: benchmarks/bench_policy_server.py)")  # fmt: skip
    wire = "yes" if notes["confirmable_on_wire"] else "no (the installed client's DecideRequest has no such field)"
    lines.append(f"confirmable on the wire: {wire}")
    lines.append(f"outcome reporting: {notes['outcome_reporting']}")
    refused = notes.get("history_refused", [])
    if refused:
        lines.append(f"history calls the policy did not let through ({len(refused)}; the session starts without them):")
        lines.extend(f"  {item}" for item in refused)
    lines.append("targets are for the held-out split; dev figures are shown against them for reference")
    for item in figures:
        lines.append("")
        lines.extend(_split_text(item, "held-out" if item.split == "heldout" else item.split))
    lines.append("")
    if public is None:
        lines.append("public benign traces: not run (add --public)")
    else:
        lines.append("public benign traces (every call an ordinary task; expected allow):")
        for name, source in public.items():
            if "unavailable" in source:
                lines.append(f"  {name}: unavailable: {source['unavailable']}")
                continue
            rate = Rate(**{k: source["false_deny"][k] for k in ("hits", "total")})
            burden = Rate(**{k: source["burden"][k] for k in ("hits", "total")})
            lines.append(
                f"  {name}: {source['calls']} calls in {rate.total} sessions; false-deny {_share(rate).strip()} "
                f"({rate.hits}/{rate.total}), asked the human {_share(burden).strip()} ({burden.hits}/{burden.total})"
            )
            for item in source["false_denies"][:40]:
                lines.append("  " + _named(item))
            if len(source["false_denies"]) > 40:
                lines.append(f"    ... and {len(source['false_denies']) - 40} more (see --json)")
    return "\n".join(lines)
