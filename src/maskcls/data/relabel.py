"""Non-destructive relabeling: corrections live in a CSV and are applied when data loads.

The CSV has columns ``id,field,value`` (an optional ``note`` column is kept for people) where ``field`` is

- ``gender``: ``male`` or ``female``;
- ``age``: an integer;
- ``swap_incorrect_normal``: ``true`` — the person's ``incorrect_mask`` and ``normal`` photos are swapped;
- ``drop``: ``true`` — leave the person out.

Files on disk are never renamed. The package ships :data:`DEFAULT_RELABELS` with the publicly documented fixes
of the competition data; users turn it off or add their own files after it (later files win).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from maskcls.fileio import atomic_write
from maskcls.data.records import DataError, Problem, Record
from maskcls.labels import Mask, parse_age, parse_gender

DEFAULT_RELABELS = Path(__file__).with_name("known_relabels.csv")
FIELDS = ("gender", "age", "swap_incorrect_normal", "drop")
RELABEL_COLUMNS = ("id", "field", "value")
_TRUE = {"true", "1", "yes", "y"}
_FALSE = {"false", "0", "no", "n"}


@dataclass(frozen=True)
class Correction:
    """One correction: set ``field`` of person ``id`` to ``value`` (already validated)."""

    id: str
    field: str
    value: str
    source: str = ""
    note: str = ""


def _check_value(field: str, value: str) -> str:
    if field == "gender":
        return parse_gender(value).name.lower()
    if field == "age":
        return str(parse_age(value))
    lowered = value.strip().lower()
    if lowered not in _TRUE | _FALSE:
        raise ValueError(f"{field} must be true or false, got {value!r}")
    return "true" if lowered in _TRUE else "false"


def read_corrections(path: str | Path) -> list[Correction]:
    """Read and validate one corrections CSV.

    Raises:
        DataError: naming the file and line of the first invalid row.
    """
    from maskcls.data.layout import read_csv_rows

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: {'a folder, not a relabel CSV' if path.is_dir() else 'relabel file not found'}")
    corrections = []
    for line, row in enumerate(read_csv_rows(path, RELABEL_COLUMNS), start=2):
        field = row["field"].lower()
        if field not in FIELDS:
            raise DataError(f"{path}: line {line}: unknown field {row['field']!r} (expected {', '.join(FIELDS)})")
        if not row["id"]:
            raise DataError(f"{path}: line {line}: empty id")
        try:
            value = _check_value(field, row["value"])
        except ValueError as exc:
            raise DataError(f"{path}: line {line}: {exc}") from None
        corrections.append(Correction(row["id"], field, value, str(path), row.get("note", "")))
    return corrections


def load_corrections(files: Sequence[str | Path] = ("default",)) -> list[Correction]:
    """Read several corrections files in order; ``"default"`` names the shipped file."""
    corrections: list[Correction] = []
    for item in files:
        corrections += read_corrections(DEFAULT_RELABELS if str(item) == "default" else item)
    return corrections


_SWAP = {"incorrect_mask": ("normal", int(Mask.NOT_WEAR)), "normal": ("incorrect_mask", int(Mask.INCORRECT))}


def apply_corrections(records: Iterable[Record], corrections: Sequence[Correction]) -> tuple[list[Record], list[Problem]]:
    """Apply corrections to records; later corrections of the same field win.

    Returns:
        The corrected records (dropped people removed) and one ``info`` problem per applied correction plus a
        ``warning`` for each correction whose id matches no record.
    """
    records = list(records)
    by_id: dict[str, dict[str, Correction]] = {}
    for c in corrections:
        by_id.setdefault(c.id, {})[c.field] = c
    ids = {r.id for r in records}
    notes: list[Problem] = []
    unmatched: dict[str, list[str]] = {}
    for pid, fields in by_id.items():
        if pid not in ids:
            unmatched.setdefault(next(iter(fields.values())).source, []).append(pid)
    for source, pids in unmatched.items():
        # The shipped file names competition ids only; on other data its misses are expected, not suspicious.
        severity = "info" if Path(source) == DEFAULT_RELABELS else "warning"
        notes.append(Problem(severity, "relabel-unmatched", Path(source),
                             f"{len(pids)} correction id(s) match no person: {', '.join(pids)}"))
    out: list[Record] = []
    reported: set[tuple[str, str]] = set()
    for record in records:
        fields = by_id.get(record.id)
        if not fields:
            out.append(record)
            continue
        changed = record
        for field, c in fields.items():
            if field == "drop" and c.value == "true":
                changed = None
                break
            if field == "gender":
                changed = changed.with_(gender=int(parse_gender(c.value)))
            elif field == "age":
                changed = changed.with_(age=int(c.value))
            elif field == "swap_incorrect_normal" and c.value == "true" and changed.stem in _SWAP:
                stem, mask = _SWAP[changed.stem]
                changed = changed.with_(stem=stem, mask=mask)
        for field, c in fields.items():
            key = (record.person, field)
            if key not in reported:
                reported.add(key)
                notes.append(Problem("info", f"relabel-{field}", record.path.parent, f"{field} -> {c.value} ({Path(c.source).name})"))
        if changed is not None:
            out.append(changed)
    return out, notes


def save_correction(path: str | Path, correction: Correction) -> None:
    """Add or replace one correction in a CSV, written atomically (temp file + rename).

    A correction for the same ``id`` and ``field`` replaces the earlier one, so saving twice is harmless. The
    read-modify-write holds an exclusive lock on a sidecar ``.lock`` file, so concurrent saves (threads or
    processes) never lose each other's corrections.
    """
    import csv
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = read_corrections(path) if path.exists() else []
        kept = [c for c in existing if (c.id, c.field) != (correction.id, correction.field)] + [correction]
        with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([*RELABEL_COLUMNS, "note"])
            for c in kept:
                writer.writerow([c.id, c.field, c.value, c.note])
