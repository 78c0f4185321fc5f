"""Progress display for long work: rich bars on a terminal, plain lines in a log.

One mechanism for every long loop (training epochs, cache building, data building, prediction):

- on a terminal (stderr is a TTY, or ``MASKCLS_PROGRESS=1``) a transient rich bar with items/s and time left;
- without a terminal (output redirected to a file or a pipe) one plain line on stderr whenever 10 % more of the
  work is done or 30 s have passed since the last line, whichever comes first, e.g.
  ``epoch 1/4 finetune: 120/800 (15%)  37.2 img/s  loss 1.2345  ETA 0:03:02``; work that ends within the first
  ``MASKCLS_PROGRESS_QUIET`` seconds (default 5) writes nothing, so quick commands keep a clean log;
- nothing at all with ``MASKCLS_PROGRESS=0``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterable, Iterator, TextIO, TypeVar

T = TypeVar("T")

LINE_EVERY_S = 30.0  # a log line at least this often ...
LINE_EVERY_FRACTION = 0.10  # ... and at least at every 10 % of the work
QUIET_ENV = "MASKCLS_PROGRESS_QUIET"  # seconds of work before the first log line (default 5; 0 in tests)


def progress_mode() -> str:
    """``"bar"`` on a terminal, ``"lines"`` without one, ``"off"`` with ``MASKCLS_PROGRESS=0``.

    ``MASKCLS_PROGRESS=1`` forces bars and ``MASKCLS_PROGRESS=lines`` forces plain lines.
    """
    flag = os.environ.get("MASKCLS_PROGRESS")
    if flag is not None:
        if flag in ("0", "false", "no", "off"):
            return "off"
        if flag == "lines":
            return "lines"
        return "bar"
    return "bar" if sys.stderr.isatty() else "lines"


def progress_enabled() -> bool:
    """Whether a rich bar is drawn (a terminal, or ``MASKCLS_PROGRESS=1``)."""
    return progress_mode() == "bar"


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LineReporter:
    """Plain progress lines for logs: at every 10 % of ``total`` and at least every 30 s.

    Args:
        description: what the work is, starting each line.
        total: the number of steps, or None when unknown (then only the 30 s lines).
        unit: what ``items`` counts, for the rate (``img`` gives ``img/s``).
        stream: where lines go (stderr by default).
        clock: seconds, monotonic (a parameter for tests).
        quiet_s: seconds of work before the first line (``MASKCLS_PROGRESS_QUIET``, default 5).
    """

    def __init__(self, description: str, total: int | None, unit: str = "it", stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic, quiet_s: float | None = None) -> None:
        self.description, self.total, self.unit = description, total, unit
        self.stream = stream
        self.clock = clock
        self.quiet_s = float(os.environ.get(QUIET_ENV, 5.0)) if quiet_s is None else quiet_s
        self.started = self.last_time = clock()
        self.steps = self.items = 0
        self.last_fraction = 0.0
        self.fields: dict[str, float] = {}
        self.lines = 0

    def update(self, steps: int = 1, items: int | None = None, **fields: float) -> None:
        """Count ``steps`` steps (and ``items`` items for the rate, default ``steps``); maybe write a line."""
        self.steps += steps
        self.items += steps if items is None else items
        self.fields.update(fields)
        now = self.clock()
        if now - self.started < self.quiet_s:
            return
        fraction = self.steps / self.total if self.total else 0.0
        if now - self.last_time >= LINE_EVERY_S or (self.total and fraction - self.last_fraction >= LINE_EVERY_FRACTION
                                                    - 1e-9) or (self.total and self.steps >= self.total):
            self.write(now)

    def finish(self) -> None:
        """A closing line when lines were written and the last one did not already say the work is done."""
        if self.lines and not (self.total and self.steps >= self.total and self.last_fraction >= 1.0):
            self.write(self.clock())

    def line(self, now: float) -> str:
        """The text of one progress line at time ``now``."""
        elapsed = max(1e-9, now - self.started)
        rate = self.items / elapsed
        if self.total:
            text = f"{self.description}: {self.steps}/{self.total} ({100 * self.steps / self.total:.0f}%)"
        else:
            text = f"{self.description}: {self.steps}"
        text += f"  {rate:.1f} {self.unit}/s"
        text += "".join(f"  {name} {value:.4f}" if isinstance(value, float) else f"  {name} {value}"
                        for name, value in self.fields.items())
        if self.total and self.steps:
            left = (self.total - self.steps) * elapsed / self.steps
            text += f"  ETA {_clock(left)}" if self.steps < self.total else f"  done in {_clock(elapsed)}"
        return text

    def write(self, now: float) -> None:
        stream = self.stream or sys.stderr
        print(self.line(now), file=stream, flush=True)
        self.lines += 1
        self.last_time = now
        if self.total:
            self.last_fraction = self.steps / self.total


@contextlib.contextmanager
def reporter(description: str, total: int | None, unit: str = "it",
             fields: dict[str, float] | None = None) -> Iterator[Callable[..., None]]:
    """Report progress of a loop; yields ``update(steps=1, items=None, **fields)``.

    A rich bar on a terminal (with ``fields`` as columns, e.g. ``{"loss": 0.0}``), plain lines in a log, nothing
    when progress is off. ``items`` counts what the rate is in (images for a training step of a batch).
    """
    mode = progress_mode()
    if mode == "off":
        yield lambda steps=1, items=None, **values: None
        return
    if mode == "lines":
        lines = LineReporter(description, total, unit)
        yield lines.update
        lines.finish()
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    fields = dict(fields or {})
    extra = "  ".join(f"{name} {{task.fields[{name}]:.4f}}" for name in fields)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(f"{extra}  {{task.fields[rate]:.1f}} {unit}/s".strip()), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total, rate=0.0, **fields)
        started, seen = time.perf_counter(), 0

        def update(steps: int = 1, items: int | None = None, **values: float) -> None:
            nonlocal seen
            seen += steps if items is None else items
            progress.update(task, advance=steps, rate=seen / max(1e-9, time.perf_counter() - started), **values)

        yield update


def track(items: Iterable[T], description: str, total: int | None = None, unit: str = "it") -> Iterator[T]:
    """Iterate with progress (a rich bar on a terminal, plain lines in a log; see the module's docstring)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with reporter(description, total, unit) as update:
        for item in items:
            yield item
            update()
