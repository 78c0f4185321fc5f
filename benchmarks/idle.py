"""Whether the CPU is idle before a timed run, and how much of the run's CPU time the hypervisor took, read from
``/proc/stat``. The load average lags by a minute: right after another job it still reads high on an idle
machine. The stolen share rules one cause of a slow run in or out (it was 0.1 % in a run that was 1.3× faster
than the same run an hour earlier, so there it was not the cause).
"""

from __future__ import annotations

import time
from pathlib import Path

STAT = Path("/proc/stat")


def _cpu_fields() -> list[int] | None:
    """The jiffies of all cores since boot (user nice system idle iowait irq softirq steal …), None off Linux."""
    try:
        return [int(v) for v in STAT.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None


def _jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, or None off Linux."""
    fields = _cpu_fields()
    if fields is None:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def steal_jiffies() -> tuple[int, int] | None:
    """(stolen, total) jiffies of all cores since boot (stolen: the ``steal`` column), or None off Linux."""
    fields = _cpu_fields()
    return None if fields is None else ((fields[7] if len(fields) > 7 else 0), sum(fields))


def stolen_share(before: tuple[int, int] | None) -> float | None:
    """The share of all cores' time since ``before`` (:func:`steal_jiffies`) that the hypervisor took."""
    after = steal_jiffies()
    if before is None or after is None or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def busy_share(seconds: float = 1.0) -> float | None:
    """The share of all cores' time spent busy over the next ``seconds`` (None where /proc/stat is missing)."""
    first = _jiffies()
    time.sleep(seconds)
    second = _jiffies()
    if first is None or second is None or second[1] <= first[1]:
        return None
    return (second[0] - first[0]) / (second[1] - first[1])


def wait_idle(threshold: float = 0.1, timeout: float = 180.0) -> float | None:
    """Wait (up to ``timeout`` s) until a one-second reading is under ``threshold``; return the last reading."""
    deadline = time.monotonic() + timeout
    share = busy_share()
    while share is not None and share >= threshold and time.monotonic() < deadline:
        share = busy_share()
    return share


def busy_words(busy: float | None) -> str:
    """The :func:`wait_idle` reading in words, for a RESULTS.md line."""
    if busy is None:
        return "idleness not read (no /proc/stat)"
    return f"CPU {busy:.0%} busy the second before the start ({'idle' if busy < 0.1 else 'other work shared it'})"


def stolen_words(stolen: float | None) -> str:
    """The :func:`stolen_share` reading in words."""
    return "stolen time not read" if stolen is None else f"{stolen:.1%} of the CPU time stolen by the hypervisor"
