"""The root of maskcls's expected errors, and the one place that words any exception as one line.

The CLI prints :func:`describe` of whatever escapes a command as ``maskcls: error: <path>: <problem>`` and exits 1;
an interrupted command says what it leaves behind (:func:`keep` registers it).
"""

from __future__ import annotations

import os
from pathlib import Path

DEBUG_ENV = "MASKCLS_DEBUG"


class MaskclsError(Exception):
    """A problem with the user's input (a file, a config, a submission), explained in one line."""


_KEPT: dict[str, str] = {}


def keep(path: str | Path, what: str) -> None:
    """Note something a command leaves on disk even when interrupted (e.g. a run folder and how to resume it)."""
    _KEPT[str(path)] = what


def forget(path: str | Path) -> None:
    """Undo :func:`keep` (the folder was removed or finished)."""
    _KEPT.pop(str(path), None)


def kept() -> dict[str, str]:
    """Everything :func:`keep` noted in this process, path → what it is."""
    return dict(_KEPT)


def one_line(text: str) -> str:
    """Collapse a message onto one line and drop repeated ``error:`` prefixes."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    line = "; ".join(parts)
    while line.lower().startswith(("error: ", "maskcls: error: ")):
        line = line.split(": ", 1)[1] if not line.lower().startswith("maskcls: ") else line[len("maskcls: error: "):]
    return line


def describe(exc: BaseException) -> tuple[str, bool]:
    """The one-line wording of an exception and whether it was expected (``False``: a maskcls bug or an
    unforeseen fault, for which the CLI adds how to see the traceback)."""
    if isinstance(exc, MaskclsError):
        return one_line(str(exc)) or type(exc).__name__, True
    if isinstance(exc, OSError) and (exc.filename is not None or exc.strerror):
        where = f"{exc.filename}: " if exc.filename is not None else ""
        extra = f" ({exc.filename2})" if getattr(exc, "filename2", None) else ""
        return f"{where}{exc.strerror or one_line(str(exc))}{extra}", True
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --batch-size, fewer workers or smaller photos)", True
    if isinstance(exc, UnicodeDecodeError):
        return f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})", False
    message = one_line(str(exc))
    return f"{type(exc).__name__}{': ' + message if message else ''}", False


def debug() -> bool:
    """Whether the user asked for full tracebacks (``MASKCLS_DEBUG=1``)."""
    return os.environ.get(DEBUG_ENV, "").strip() not in ("", "0", "false", "no")
