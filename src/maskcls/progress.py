"""Progress display for long work (rich), quiet when asked or when output is not a terminal."""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")


def progress_enabled() -> bool:
    """Progress bars show on a terminal unless ``MASKCLS_PROGRESS=0``; ``MASKCLS_PROGRESS=1`` forces them."""
    flag = os.environ.get("MASKCLS_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """Iterate with a rich progress bar on stderr (items/s and time left) when progress is enabled."""
    if not progress_enabled():
        yield from items
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)


@contextmanager
def progress_bar(description: str, total: int, fields: str = "", stderr: bool = True,
                 **values: float) -> Iterator[Callable[..., None]]:
    """A rich progress bar advanced by hand, with live values after the count, when progress is enabled.

    Args:
        description: the text before the bar.
        total: the steps.
        fields: a format of the values shown after the count, e.g. ``"loss {loss:.4f}  {rate:.0f} img/s"``;
            ``rate`` is always there: items a second since the bar started.
        stderr: draw on stderr (as :func:`track` does), else on stdout.
        values: the fields' first values.

    Yields:
        ``advance(items=1, **values)``: one step done (of ``items`` items), with the fields' new values; a no-op
        when progress is disabled.
    """
    if not progress_enabled():
        yield lambda items=1, **_values: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    template = re.sub(r"\{(\w+)", r"{task.fields[\1]", fields)
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TextColumn(template), TimeRemainingColumn())
    console = Console(stderr=True) if stderr else None
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total, rate=0.0, **values)
        started, seen = time.perf_counter(), 0

        def advance(items: int = 1, **new: float) -> None:
            nonlocal seen
            seen += items
            bar.update(task, advance=1, rate=seen / max(1e-9, time.perf_counter() - started), **new)

        yield advance
