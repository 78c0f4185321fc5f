"""Whether the CPU is idle before a timed run, read from ``/proc/stat`` (the load average lags by a minute, so
right after another job it still reads high on an idle machine, and it cannot tell what shares the CPU now).
"""

from __future__ import annotations

import time
from pathlib import Path

STAT = Path("/proc/stat")


def _jiffies() -> tuple[int, int] | None:
    """(busy, total) jiffies of all cores since boot, or None off Linux."""
    try:
        fields = [int(v) for v in STAT.read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


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
