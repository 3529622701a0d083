"""What the commands print: the key as `inh_…last4`, plain tables, colour only on a terminal.

click strips ANSI styles itself when the stream is not a terminal, so `style` is always safe
to call; `is_terminal` decides the things click cannot strip, such as a live progress line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO

import click

__all__ = ["good", "is_terminal", "masked_key", "problem", "render_table", "warn"]


def masked_key(key: str | None) -> str:
    """`inh_…` plus the last four characters: enough to tell keys apart, too little to use one."""
    if not key:
        return "(none: embedded local policy)"
    tail = key[-4:] if len(key) >= 12 else ""
    return f"inh_…{tail}"


def is_terminal(stream: IO[str] | None = None) -> bool:
    target = stream if stream is not None else sys.stdout
    try:
        return target.isatty()
    except (AttributeError, ValueError):
        return False


def good(text: str) -> str:
    return click.style(text, fg="green")


def warn(text: str) -> str:
    return click.style(text, fg="yellow")


def problem(text: str) -> str:
    return click.style(text, fg="red", bold=True)


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned text table; widths measured without the ANSI codes of styled cells."""
    widths = [len(click.unstyle(cell)) for cell in header]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(click.unstyle(cell)))

    def line(cells: Sequence[str]) -> str:
        padded = [cell + " " * (widths[i] - len(click.unstyle(cell))) for i, cell in enumerate(cells)]
        return "  ".join(padded).rstrip()

    out = [line([click.style(cell, bold=True) if cell else cell for cell in header])]
    out.extend(line(row) for row in rows)
    return "\n".join(out)
