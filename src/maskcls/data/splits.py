"""Person-level splits: a stratified hold-out or StratifiedGroupKFold, saved to a split file runs reuse.

Photos of one person are near-duplicates, so a random image-level split leaks people into validation and
inflates every score. Here the group is the person id (folders that share an id are split together) and the
strata are gender × age band. The split file maps every group to a fold and records how it was made.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.data.records import DataError, Record
from maskcls.fileio import write_text
from maskcls.labels import DEFAULT_AGE_BANDS, AgeBands

if TYPE_CHECKING:
    import pandas as pd

SPLIT_FORMAT = "maskcls-split/1"


def stratum(record: Record, bands: AgeBands = DEFAULT_AGE_BANDS) -> int:
    """The stratification class of a record: gender × age band (0–5)."""
    return record.gender * 3 + record.age_band(bands)


def fingerprint(groups: Sequence[str]) -> str:
    """A short hash of the set of groups, to notice a split file made for other data."""
    return hashlib.sha256("\n".join(sorted(set(groups))).encode()).hexdigest()[:16]


@dataclass
class Split:
    """Fold assignment of every person group.

    Attributes:
        kind: ``kfold`` (every fold is validation once) or ``holdout`` (fold ``val_fold`` is validation).
        n_splits: number of folds.
        seed: the seed used.
        folds: group id → fold index.
        val_fold: the validation fold of a hold-out split.
        age_thresholds: the age bands used for stratification.
        fingerprint: hash of the groups, see :func:`fingerprint`.
    """

    kind: str
    n_splits: int
    seed: int
    folds: dict[str, int]
    val_fold: int = 0
    age_thresholds: tuple[int, int] = DEFAULT_AGE_BANDS.thresholds
    fingerprint: str = ""
    format: str = field(default=SPLIT_FORMAT)

    def fold_of(self, record: Record) -> int:
        """The fold of a record's person.

        Raises:
            DataError: if the person is not in the split (the data changed since it was made).
        """
        try:
            return self.folds[record.id]
        except KeyError:
            raise DataError(f"person {record.id} ({record.path.parent}) is not in the split file; make a new split") from None

    def indices(self, records: Sequence[Record], fold: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Train and validation indices of ``records`` for ``fold`` (default: ``val_fold``)."""
        fold = self.val_fold if fold is None else fold
        assigned = np.array([self.fold_of(r) for r in records])
        return np.flatnonzero(assigned != fold), np.flatnonzero(assigned == fold)

    def save(self, path: str | Path) -> Path:
        """Write the split as JSON atomically."""
        return write_text(path, json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        """Read a split file.

        Raises:
            DataError: if it is missing, not JSON or not a maskcls split.
        """
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"{path}: split file not found") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: not a JSON split file ({exc})") from None
        if not isinstance(raw, dict) or raw.get("format") != SPLIT_FORMAT:
            raise DataError(f"{path}: not a {SPLIT_FORMAT} file")
        raw["age_thresholds"] = tuple(raw["age_thresholds"])
        return cls(**raw)

    def check_matches(self, records: Sequence[Record]) -> None:
        """Raise DataError if the records' people differ from those the split was made for."""
        groups = [r.id for r in records]
        missing = sorted(set(groups) - set(self.folds))
        if missing:
            raise DataError(f"{len(missing)} people are not in the split file (first: {missing[0]}); make a new split")


def make_split(records: Sequence[Record], n_splits: int = 5, seed: int = 42, kind: str = "kfold",
               bands: AgeBands = DEFAULT_AGE_BANDS) -> Split:
    """Assign every person group to one of ``n_splits`` folds with StratifiedGroupKFold.

    Args:
        records: the photos; the group is ``Record.id``, the stratum gender × age band.
        n_splits: number of folds (a hold-out split of fraction f uses ``round(1/f)``).
        seed: shuffling seed; the same seed and records give the same split.
        kind: ``kfold`` or ``holdout`` (fold 0 is validation).
        bands: age bands for the strata.

    Raises:
        DataError: if there are fewer groups than folds.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    if kind not in ("kfold", "holdout"):
        raise DataError(f"split kind {kind!r}: expected kfold or holdout")
    groups = np.array([r.id for r in records])
    unique = np.unique(groups)
    if n_splits < 2:
        raise DataError(f"{n_splits} fold(s): a split needs at least 2 folds (one to validate, one to train)")
    if len(unique) < n_splits:
        raise DataError(f"cannot make {n_splits} folds from {len(unique)} people (each fold needs at least one)")
    strata = np.array([stratum(r, bands) for r in records])
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    folds: dict[str, int] = {}
    for fold, (_, val) in enumerate(splitter.split(np.zeros(len(records)), strata, groups)):
        for group in np.unique(groups[val]):
            folds[str(group)] = fold
    return Split(kind, n_splits, seed, dict(sorted(folds.items())), 0, bands.thresholds, fingerprint(groups.tolist()))


def make_holdout(records: Sequence[Record], val_fraction: float = 0.2, seed: int = 42,
                 bands: AgeBands = DEFAULT_AGE_BANDS) -> Split:
    """A person-level stratified hold-out split: about ``val_fraction`` of the people in validation."""
    if not 0.0 < val_fraction <= 0.5:
        raise DataError(f"validation share {val_fraction}: expected more than 0 and at most 0.5 of the people")
    return make_split(records, max(2, round(1 / val_fraction)), seed, "holdout", bands)


def fold_balance(records: Sequence[Record], split: Split, bands: AgeBands = DEFAULT_AGE_BANDS) -> "pd.DataFrame":
    """Per-fold people, photos and share (%) of each gender × age stratum, with the whole as the last row."""
    import pandas as pd

    from maskcls.labels import GENDER_NAMES

    names = [f"{g[0].upper()}{b}" for g in GENDER_NAMES for b in bands.names()]
    frame = pd.DataFrame({"fold": [split.fold_of(r) for r in records], "stratum": [stratum(r, bands) for r in records],
                          "id": [r.id for r in records]})
    rows = []
    for fold, part in [*frame.groupby("fold"), ("all", frame)]:
        shares = part["stratum"].value_counts(normalize=True).reindex(range(6), fill_value=0.0) * 100
        rows.append({"fold": fold, "people": part["id"].nunique(), "photos": len(part),
                     **{n: round(float(s), 1) for n, s in zip(names, shares)}})
    return pd.DataFrame(rows)
