"""The two value types every data step speaks: :class:`Record` (one labelled photo) and :class:`Problem`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterable, Literal

from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS, AgeBands, encode

Severity = Literal["error", "warning", "info"]


class DataError(MaskclsError):
    """A fatal data problem; the CLI prints its message as one line and exits 1."""


@dataclass(frozen=True)
class Record:
    """One labelled photo.

    Attributes:
        path: the image file.
        person: the person's folder name, unique within a dataset (e.g. ``001498-1_female_Asian_25``).
        id: the person id as written in ``train.csv`` (a string: ``001498-1`` is not ``001498``).
        stem: the photo's file stem (``mask1`` … ``normal``).
        mask: mask status code (0 wear, 1 incorrect, 2 not wear), or ``None`` where the source has no mask label
            (e.g. a face folder with age and gender only).
        gender: gender code (0 male, 1 female), or ``None`` where unknown (e.g. a crop folder).
        age: age in years, or ``None`` where unknown.
        race: as written in the source.
        source: where the record came from (``competition``, ``utkface``, ``synthetic`` …).
    """

    path: Path
    person: str
    id: str
    stem: str
    mask: int | None
    gender: int | None
    age: int | None
    race: str = ""
    source: str = "competition"

    @property
    def complete(self) -> bool:
        """Whether every label (mask, gender, age) is known, as the 18-class label needs."""
        return self.mask is not None and self.gender is not None and self.age is not None

    def age_band(self, bands: AgeBands = DEFAULT_AGE_BANDS) -> int:
        """The evaluation age band under ``bands``."""
        return int(bands.band(self.age))

    def label(self, bands: AgeBands = DEFAULT_AGE_BANDS) -> int:
        """The 18-class label under ``bands``."""
        return int(encode(self.mask, self.gender, self.age_band(bands)))

    def with_(self, **changes) -> "Record":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_row(self, bands: AgeBands = DEFAULT_AGE_BANDS) -> dict:
        """A flat dict for tables, with ``age_band`` and ``label`` added (``None`` where a label is missing)."""
        row = asdict(self)
        row["path"] = str(self.path)
        row["age_band"] = None if self.age is None else self.age_band(bands)
        row["label"] = self.label(bands) if self.complete else None
        return row


@dataclass(frozen=True)
class Problem:
    """Something wrong or noteworthy in the data, always tied to a path.

    Attributes:
        severity: ``error`` (the file or folder is not used), ``warning`` (used, but suspicious) or ``info``.
        kind: a short machine-readable code such as ``corrupt-image`` or ``unknown-stem``.
        path: the file or folder concerned.
        message: one human-readable line.
    """

    severity: Severity
    kind: str
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.severity}: {self.path}: {self.message}"


@dataclass
class Dataset:
    """A scanned dataset: records, the problems met on the way and counts of ignored files."""

    root: Path
    records: list[Record] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored: int = 0

    def people(self) -> list[str]:
        """Person folder names in first-seen order."""
        return list(dict.fromkeys(r.person for r in self.records))

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def frame(self, bands: AgeBands = DEFAULT_AGE_BANDS):
        """Records as a pandas DataFrame (one row a photo, ``age_band`` and ``label`` added)."""
        import pandas as pd

        columns = [*Record.__dataclass_fields__, "age_band", "label"]
        return pd.DataFrame([r.to_row(bands) for r in self.records], columns=columns)


def summarize_kinds(problems: Iterable[Problem]) -> dict[str, int]:
    """Count problems by kind."""
    counts: dict[str, int] = {}
    for p in problems:
        counts[p.kind] = counts.get(p.kind, 0) + 1
    return counts
