"""Per-rule counts over time as an inline SVG bar chart, drawn on the server.

One row of bars per rule, one bar per hour, all rows on the same scale so rules compare.
"""

from __future__ import annotations

import datetime

from inherence_policy_server.dashboard._layout import h

__all__ = ["hour_buckets", "rule_chart"]

_WIDTH = 720
_ROW = 64
_LABEL = 170
_BAR_GAP = 2


def hour_buckets(now: datetime.datetime, hours: int) -> list[str]:
    """The `YYYY-MM-DDTHH` keys of the last `hours` hours, oldest first (UTC)."""
    end = now.astimezone(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    return [(end - datetime.timedelta(hours=back)).strftime("%Y-%m-%dT%H") for back in range(hours - 1, -1, -1)]


def rule_chart(counts: dict[str, dict[str, int]], buckets: list[str]) -> str:
    """An SVG with a labelled bar row per rule; each bar has a title with its hour and count."""
    if not counts:
        return '<p class="empty">No decision named a rule in this period.</p>'
    rules = sorted(counts)
    peak = max(max(per_hour.values(), default=0) for per_hour in counts.values()) or 1
    bar = (_WIDTH - _LABEL) / max(len(buckets), 1)
    height = _ROW * len(rules) + 24
    parts = [
        f'<svg class="chart" role="img" aria-label="decisions per rule per hour" viewBox="0 0 {_WIDTH} {height}"'
        f' width="{_WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for index, rule in enumerate(rules):
        top = index * _ROW
        total = sum(counts[rule].get(bucket, 0) for bucket in buckets)
        parts.append(f'<text x="0" y="{top + 28}" class="rule">{h(rule)}</text>')
        parts.append(f'<text x="0" y="{top + 46}" class="total">{total} in period</text>')
        parts.append(f'<line x1="{_LABEL}" x2="{_WIDTH}" y1="{top + _ROW - 8}" y2="{top + _ROW - 8}" class="base"/>')
        for position, bucket in enumerate(buckets):
            count = counts[rule].get(bucket, 0)
            if not count:
                continue
            tall = max(2.0, (_ROW - 16) * count / peak)
            x = _LABEL + position * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{top + _ROW - 8 - tall:.1f}" width="{max(bar - _BAR_GAP, 1):.1f}"'
                f' height="{tall:.1f}" class="bar"><title>{h(rule)} {h(bucket)}:00 UTC: {count}</title></rect>'
            )
    axis = _ROW * len(rules) + 16
    parts.append(f'<text x="{_LABEL}" y="{axis}" class="axis">{h(buckets[0])}:00</text>')
    parts.append(f'<text x="{_WIDTH}" y="{axis}" class="axis" text-anchor="end">{h(buckets[-1])}:00 UTC</text>')
    parts.append("</svg>")
    return "".join(parts)
