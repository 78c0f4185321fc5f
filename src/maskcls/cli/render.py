"""Printing results for people: rich tables of counts and lists of problems."""

from __future__ import annotations

from typing import Iterable, Mapping

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}


def counts_table(title: str, counts: Mapping[str, object], key: str = "", value: str = "count") -> Table:
    """A two-column table of ``name → count``."""
    table = Table(title=title, title_justify="left", show_header=bool(key))
    table.add_column(key)
    table.add_column(value, justify="right")
    for name, count in counts.items():
        table.add_row(str(name), f"{count:,}" if isinstance(count, int) else str(count))
    return table


def frame_table(title: str, frame) -> Table:
    """A rich table of a small pandas DataFrame."""
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:,}" if isinstance(v, int) else str(v) for v in row))
    return table


def print_problems(problems: Iterable, per_kind: int | None = 20) -> None:
    """Print problems, errors first, each as ``severity kind path: message``.

    Args:
        problems: the problems to print.
        per_kind: print at most this many of each kind, then how many more there are (``None``: all).
    """
    order = {"error": 0, "warning": 1, "info": 2}
    problems = sorted(problems, key=lambda p: (order[p.severity], p.kind, str(p.path)))
    shown: dict[str, int] = {}
    for p in problems:
        shown[p.kind] = shown.get(p.kind, 0) + 1
        if per_kind is None or shown[p.kind] <= per_kind:
            console.print(f"[{_STYLE[p.severity]}]{p.severity:7s}[/] {p.kind:18s} {p.path}: {p.message}",
                          highlight=False, soft_wrap=True)
    for kind, count in shown.items():
        if per_kind is not None and count > per_kind:
            console.print(f"… and {count - per_kind:,} more {kind} (use --all or --problems-csv to see every one)")
