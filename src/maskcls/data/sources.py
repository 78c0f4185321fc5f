"""Training records from several sources, each with the labels it has (``data.sources`` of the config).

Three kinds of source (:class:`~maskcls.config.SourceConfig`):

- ``competition``: a competition-layout root (every label). Its people are the ones split into training and
  validation; validation never leaves them.
- ``crops``: a folder of labelled face crops, ``labels.csv`` with ``file,mask`` (the mask status as a name or
  code) and optional ``gender`` and ``age`` columns (blank where unknown), as ``maskcls data import-boxes``
  writes it and ``../shared/data/realmask`` ships it. Each crop is its own "person". The mask may be blank too
  (a self-training round's ``pseudo_labels.csv``, read through the source's ``labels``); a row with no label at
  all trains nothing and is left out (an ``info`` problem ``no-label`` names it).
- ``faces``: a UTKFace-style folder (``labels.csv`` with ``file,age,gender,race``, or UTKFace file names): age
  and gender only, the mask status unknown.

Every source leaves out the development hold-out (:mod:`maskcls.data.devsplit`) it belongs to: with
``holdout: auto`` a realmask ``labels.csv`` (it has a ``repo`` column) drops :func:`realmask_dev_files`, crops
cut from the shared crowd photos (``maksssksksss*``) drop :func:`is_dev` ``facemask`` photos, and UTKFace photos
(``<age>_<gender>_<race>_<date>.jpg.chip.jpg``) drop :func:`is_dev` ``utkface`` chips. What each source gave is
summed up by :func:`contributions` (the run folder's ``sources.json``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.data.check import load_dataset
from maskcls.data.devsplit import is_dev, realmask_dev_files
from maskcls.data.layout import read_csv_rows
from maskcls.data.records import DataError, Problem, Record
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, MASK_NAMES, AgeBands, parse_gender, parse_mask

if TYPE_CHECKING:
    from maskcls.config import DataConfig, SourceConfig

#: UTKFace chip names, with the set's own slips (``..._20170116232725357jpg.chip.jpg``, a space before ``.jpg``).
UTKFACE_NAME = re.compile(r"^\d+_\d_\d_\d+.*\.chip\.jpg$")
FACEMASK_PHOTO = re.compile(r"^maksssksksss\d+")


@dataclass
class SourceRecords:
    """The records one source gave, and what it left out."""

    config: "SourceConfig"
    records: list[Record]
    dev_left_out: int = 0
    excluded: int = 0
    holdout: str = "none"
    problems: list[Problem] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.config.label


def load_source(source: "SourceConfig", relabel: Sequence[str] = ("default",), seed: int = 0,
                bands: AgeBands = DEFAULT_AGE_BANDS, allow_excluded: bool = False) -> SourceRecords:
    """The records of one source, development hold-out and ``exclude`` left out, ``limit`` applied.

    Args:
        allow_excluded: a source whose every photo ``exclude`` left out comes back empty instead of failing
            (a face folder whose people all are in the run's own ``build-public`` set).

    Raises:
        DataError: for a missing folder, a malformed ``labels.csv``, or a source left empty.
    """
    root = Path(source.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder (data.sources {source.label})")
    if source.kind == "competition":
        loaded = _competition(source, relabel, seed)
    elif source.kind == "crops":
        loaded = _crops(source, bands)
    else:
        loaded = _faces(source)
    if source.kind != "competition" and source.limit is not None and len(loaded.records) > source.limit:
        keep = np.sort(np.random.default_rng(seed).permutation(len(loaded.records))[: source.limit])
        loaded.records = [loaded.records[i] for i in keep]
    if not loaded.records and not (allow_excluded and loaded.excluded):
        raise DataError(f"{root}: data.sources {source.label} has no photo left to train on")
    return loaded


def _competition(source: "SourceConfig", relabel: Sequence[str], seed: int) -> SourceRecords:
    dataset = load_dataset(source.root, relabel)
    records = dataset.records
    holdout = _holdout(source, [Path(r.path).name for r in records if r.stem == "normal"])
    dev = 0
    if holdout == "utkface":  # a public set built before the hold-out existed: drop people whose photo is held out
        origin = _public_origins(Path(source.root))
        held = {r.person for r in records if r.stem == "normal"
                and is_dev("utkface", origin.get(r.id, Path(r.path).name))}
        dev = sum(r.person in held for r in records)
        records = [r for r in records if r.person not in held]
    if source.limit is not None:
        people = list(dict.fromkeys(r.person for r in records))
        if len(people) > source.limit:
            keep = set(np.random.default_rng(seed).permutation(people)[: source.limit].tolist())
            records = [r for r in records if r.person in keep]
    records = [r.with_(source=source.label) if r.source == "competition" and source.label != "competition" else r
               for r in records]
    return SourceRecords(source, records, dev, 0, holdout, dataset.problems)


def _public_origins(root: Path) -> dict[str, str]:
    """Person id → the file name of the original photo, from a ``build-public`` root's ``train/sources.csv``."""
    sources = root / "train" / "sources.csv"
    if not sources.is_file():
        return {}
    return {row["id"]: Path(row["source"]).name for row in read_csv_rows(sources, ("id", "source"))}


def _holdout(source: "SourceConfig", names: list[str], header: Sequence[str] = ()) -> str:
    """The development hold-out rule this source falls under (``auto`` resolved from its files)."""
    if source.holdout != "auto":
        return source.holdout
    if "repo" in header and "source" in header:
        return "realmask"
    if _mostly(FACEMASK_PHOTO, names):
        return "facemask"
    if source.kind == "competition":
        origins = list(_public_origins(Path(source.root)).values())
        return "utkface" if _mostly(UTKFACE_NAME, origins) else "none"
    return "utkface" if _mostly(UTKFACE_NAME, names) else "none"


def _mostly(pattern: re.Pattern, names: Sequence[str], share: float = 0.9) -> bool:
    """Whether at least ``share`` of ``names`` match: one odd file name must not switch the hold-out off."""
    return bool(names) and sum(bool(pattern.match(n)) for n in names) >= share * len(names)


def _optional(value: str, parse) -> int | None:
    return None if value.strip() == "" else int(parse(value))


AGE_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)\b")
CHILD_AGE = 10


def parse_age(value: str, bands: AgeBands) -> int | None:
    """An age in years from a crop folder's ``age``: a number; a range such as ``0-18 (source bin)`` whose ends
    lie in one age band (its midpoint, else unknown); ``child`` (10); anything else, or blank, unknown."""
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    match = AGE_RANGE.match(text)
    if match and ";" not in text:
        low, high = int(match[1]), max(int(match[1]), int(match[2]) - 1)  # "18-55": 18 up to 54
        return (low + high) // 2 if bands.band(low) == bands.band(high) else None
    return CHILD_AGE if text == "child" else None


def _crops(source: "SourceConfig", bands: AgeBands) -> SourceRecords:
    root = Path(source.root)
    labels = Path(source.labels) if source.labels is not None else root / "labels.csv"
    if not labels.is_file():
        raise DataError(f"{labels}: a crops source needs its labels file (file,mask[,gender,age])")
    rows = read_csv_rows(labels, ("file", "mask"))
    header = list(rows[0]) if rows else []
    photo_of = [row.get("source") or Path(row["file"]).name for row in rows]
    holdout = _holdout(source, [Path(p).name for p in photo_of], header)
    dev_files: set[str] = realmask_dev_files(root) if holdout == "realmask" else set()
    out = SourceRecords(source, [], holdout=holdout)
    for line, (row, photo) in enumerate(zip(rows, photo_of), start=2):
        if (holdout == "realmask" and row["file"] in dev_files) or (
                holdout in ("facemask", "utkface") and is_dev(holdout, photo)):
            out.dev_left_out += 1
            continue
        relative = Path(row["file"])
        if relative.is_absolute() or ".." in relative.parts:
            raise DataError(f"{labels}: line {line}: file {row['file']!r} must be a path inside {root}")
        try:
            mask = _optional(row["mask"], parse_mask)
            gender = _optional(row.get("gender", ""), parse_gender)
            age = parse_age(row.get("age", ""), bands)
        except ValueError as exc:
            raise DataError(f"{labels}: line {line}: {exc}") from None
        path = root / relative
        if mask is None and gender is None and age is None:
            out.problems.append(Problem("info", "no-label", path, f"{labels.name} line {line}: no label; left out"))
            continue
        if not path.is_file():
            out.problems.append(Problem("error", "missing-image", path,
                                        f"listed on {labels.name} line {line}; skipped"))
            continue
        key = relative.as_posix()
        out.records.append(Record(path, f"{source.label}/{key}", f"{source.label}:{key}", "crop", mask, gender, age,
                                  source=source.label))
    return out


def _excluded_names(roots: Sequence[Path]) -> set[str]:
    """File names of the original photos of every person of these ``build-public`` roots (train and eval)."""
    names: set[str] = set()
    for root in roots:
        root = Path(root)
        found = False
        for csv_path, column in ((root / "train" / "sources.csv", "source"), (root / "eval_sources.csv", "source")):
            if csv_path.is_file():
                found = True
                names.update(Path(row[column]).name for row in read_csv_rows(csv_path, (column,)))
        if not found:
            raise DataError(f"{root}: exclude needs a build-public root (train/sources.csv, eval_sources.csv)")
    return names


def _faces(source: "SourceConfig") -> SourceRecords:
    from maskcls.data.importers import read_utkface

    problems: list[Problem] = []
    faces = read_utkface(Path(source.root), problems)
    holdout = _holdout(source, [f.path.name for f in faces])
    excluded = _excluded_names(source.exclude)
    out = SourceRecords(source, [], holdout=holdout, problems=problems)
    for face in faces:
        if holdout in ("utkface", "facemask") and is_dev(holdout, face.path.name):
            out.dev_left_out += 1
            continue
        if face.path.name in excluded:
            out.excluded += 1
            continue
        key = face.path.name
        out.records.append(Record(face.path, f"{source.label}/{key}", f"{source.label}:{key}", "face", None,
                                  int(face.gender), int(face.age), face.race, source.label))
    return out


def load_sources(data: "DataConfig", seed: int = 0) -> list[SourceRecords]:
    """Every source of ``data`` (``root`` first), loaded. A ``faces`` source also leaves out every person of the
    competition sources made by ``build-public`` (their ``train/sources.csv`` and ``eval_sources.csv``).

    Raises:
        DataError: as :func:`load_source`, or when no competition source gives validation people.
    """
    sources = data.all_sources()
    if not any(s.kind == "competition" for s in sources):
        raise DataError("data.sources: validation needs a competition source (data.root=PATH or kind: competition)")
    # A face folder never trains on a person of the run's own public set: its validation and eval people stay unseen.
    public_roots = [s.root for s in sources if s.kind == "competition" and (
        (Path(s.root) / "train" / "sources.csv").is_file() or (Path(s.root) / "eval_sources.csv").is_file())]
    loaded = []
    for source in sources:
        added = [r for r in public_roots if r not in source.exclude] if source.kind == "faces" else []
        if added:
            source = source.model_copy(update={"exclude": [*source.exclude, *added]})
        # A public set of every UTKFace person leaves a face folder of the same people nothing to add: it stays,
        # empty, so that the run says so, rather than failing a preset that names the folder.
        loaded.append(load_source(source, data.relabel, seed, data.bands(), allow_excluded=bool(added)))
    people: dict[str, str] = {}
    for part in loaded:
        if part.config.kind != "competition":
            continue
        for person in {r.person for r in part.records}:
            if people.setdefault(person, part.name) != part.name:
                raise DataError(f"{part.config.root}: person {person} is also in source {people[person]}")
    return loaded


def contributions(parts: Sequence[SourceRecords], source_of: np.ndarray, train_idx: np.ndarray,
                  val_idx: np.ndarray, records: Sequence[Record], bands: AgeBands = DEFAULT_AGE_BANDS) -> dict:
    """What each source gave the run: photos in training and validation, and counts per label (``missing``
    where the source has no such label), in training."""
    in_train = np.zeros(len(records), dtype=bool)
    in_train[train_idx] = True
    in_val = np.zeros(len(records), dtype=bool)
    in_val[val_idx] = True
    out = []
    for number, part in enumerate(parts):
        mine = source_of == number
        train = [records[i] for i in np.flatnonzero(mine & in_train)]
        out.append({
            "name": part.name, "kind": part.config.kind, "root": str(part.config.root),
            "weight": part.config.weight, "limit": part.config.limit, "holdout": part.holdout,
            "dev_left_out": part.dev_left_out, "excluded": part.excluded,
            "photos": int(mine.sum()), "train_photos": len(train), "val_photos": int((mine & in_val).sum()),
            "train_labels": {
                "mask": _count([None if r.mask is None else MASK_NAMES[r.mask] for r in train]),
                "gender": _count([None if r.gender is None else GENDER_NAMES[r.gender] for r in train]),
                "age": _count([None if r.age is None else bands.names()[r.age_band(bands)] for r in train]),
            },
        })
    return {"sources": out}


def _count(values: list[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        key = "missing" if value is None else value
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
