"""Reading the competition layout into Records and Problems.

Train: ``train/train.csv`` (``id,gender,race,age,path``) and
``train/images/<id>_<gender>_<race>_<age>/{mask1..mask5,incorrect_mask,normal}.<ext>``.
Eval: ``eval/info.csv`` (``ImageID,ans``) and a flat ``eval/images/``.

Scanning reads names and sizes only (it never decodes a photo, see :mod:`maskcls.data.check`), tolerates
everything real archives hold, and reports each oddity as a :class:`Problem` with its path.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from maskcls.data.images import is_hidden, not_a_photo_file
from maskcls.data.records import DataError, Dataset, Problem, Record
from maskcls.labels import STEM_TO_MASK, STEMS, parse_age, parse_gender

TRAIN_COLUMNS = ("id", "gender", "race", "age", "path")
EVAL_COLUMNS = ("ImageID", "ans")
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FolderName:
    """The labels a person folder's name carries: ``<id>_<gender>_<race>_<age>``."""

    id: str
    gender: str
    race: str
    age: str

    @classmethod
    def parse(cls, name: str) -> "FolderName | None":
        """Split a folder name from the right (ids may hold ``-``); ``None`` if it has too few parts."""
        parts = name.split("_")
        if len(parts) < 4 or not all(parts):
            return None
        return cls("_".join(parts[:-3]), *parts[-3:])


def train_dir(root: str | Path) -> Path:
    """Locate the train folder: ``ROOT/train`` or ROOT itself when it holds ``train.csv``.

    Raises:
        DataError: if neither holds ``train.csv``.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    for candidate in (root / "train", root):
        if (candidate / "train.csv").is_file():
            return candidate
    raise DataError(f"{root}: no train/train.csv here (expected the competition layout)")


def read_csv_rows(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Read a CSV as strings (``id`` keeps its leading zeros) and check its header.

    Raises:
        DataError: if the file cannot be read or lacks a required column.
    """
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            missing = [c for c in required if c not in header]
            if missing:
                raise DataError(f"{path}: missing column(s) {', '.join(missing)} (header is {','.join(header)})")
            reader.fieldnames = header
            rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
            for line, row in enumerate(rows, start=2):
                if any("\x00" in value for value in row.values()):
                    raise DataError(f"{path}: line {line}: NUL byte (binary data, not a CSV)")
            return rows
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 CSV ({exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path}: malformed CSV ({exc})") from None


@dataclass
class _Person:
    id: str
    gender: int
    race: str
    age: int


def _person_from_row(row: dict[str, str], where: Path, line: int) -> _Person | Problem:
    try:
        gender = int(parse_gender(row["gender"]))
        age = parse_age(row["age"])
    except ValueError as exc:
        return Problem("error", "bad-row", where, f"line {line}: {exc}; person skipped")
    if not row["id"]:
        return Problem("error", "bad-row", where, f"line {line}: empty id; person skipped")
    return _Person(row["id"], gender, row["race"], age)


def _compare(person: _Person, name: FolderName) -> list[str]:
    diffs = []
    if name.id != person.id:
        diffs.append(f"id {name.id} vs {person.id}")
    try:
        if int(parse_gender(name.gender)) != person.gender:
            diffs.append(f"gender {name.gender}")
    except ValueError:
        diffs.append(f"gender {name.gender!r}")
    if name.race != person.race:
        diffs.append(f"race {name.race} vs {person.race}")
    if name.age != str(person.age):
        diffs.append(f"age {name.age} vs {person.age}")
    return diffs


def _scan_photos(folder: Path, person: _Person, source: str, dataset: Dataset) -> None:
    by_stem: dict[str, Path] = {}
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        dataset.problems.append(Problem("error", "unreadable-folder", folder, f"cannot list it ({exc.strerror}); person skipped"))
        return
    for entry in entries:
        if is_hidden(entry.name):
            dataset.ignored += 1
            continue
        if entry.is_symlink() or not entry.is_file():
            reason = not_a_photo_file(entry)
            if reason is not None and reason != "a folder, not a file":
                dataset.problems.append(Problem("error", "unreadable-file", entry, f"{reason}; skipped"))
                continue
        if entry.is_dir():
            dataset.problems.append(Problem("warning", "unexpected-folder", entry, "folder inside a person folder; not read"))
            continue
        suffix = entry.suffix.lower()
        stem = entry.stem.lower()
        if suffix not in PHOTO_EXTENSIONS:
            dataset.problems.append(Problem("error", "bad-extension", entry, f"extension {entry.suffix or '(none)'} is not jpg/jpeg/png; skipped"))
            continue
        if stem not in STEM_TO_MASK:
            dataset.problems.append(Problem("error", "unknown-stem", entry, f"unknown photo name {entry.stem!r} (expected {', '.join(STEMS)}); skipped"))
            continue
        if stem in by_stem:
            dataset.problems.append(Problem("error", "duplicate-stem", entry, f"second {stem} photo in the folder (using {by_stem[stem].name}); skipped"))
            continue
        reason = not_a_photo_file(entry)
        if reason == "zero-byte file":
            dataset.problems.append(Problem("error", "empty-file", entry, "zero-byte file; skipped"))
            continue
        if reason is not None:
            dataset.problems.append(Problem("error", "unreadable-file", entry, f"{reason}; skipped"))
            continue
        by_stem[stem] = entry
    missing = [s for s in STEMS if s not in by_stem]
    if missing:
        dataset.problems.append(Problem("warning", "missing-photos", folder, f"{len(by_stem)} of {len(STEMS)} photos; missing {', '.join(missing)}"))
    for stem in STEMS:
        if stem in by_stem:
            dataset.records.append(
                Record(by_stem[stem], folder.name, person.id, stem, int(STEM_TO_MASK[stem]),
                       person.gender, person.age, person.race, source)
            )


def scan_train(root: str | Path, source: str = "competition") -> Dataset:
    """Read a competition-layout train folder into Records and Problems (no relabeling, no decoding).

    Args:
        root: the competition root (holding ``train/``) or the train folder itself.
        source: the ``source`` written into every Record.

    Raises:
        DataError: if there is no ``train.csv``, it lacks a column, or there is no ``images/`` folder.
    """
    tdir = train_dir(root)
    csv_path = tdir / "train.csv"
    images = tdir / "images"
    if not images.is_dir():
        raise DataError(f"{images}: missing images folder")
    dataset = Dataset(root=tdir)

    rows: dict[str, tuple[int, dict[str, str]]] = {}
    for line, row in enumerate(read_csv_rows(csv_path, TRAIN_COLUMNS), start=2):
        if not row["path"] or Path(row["path"]).name != row["path"] or is_hidden(row["path"]):
            dataset.problems.append(Problem("warning", "bad-path", csv_path, f"line {line}: path {row['path']!r} is not a folder name under images/; row ignored"))
            continue
        if row["path"] in rows:
            dataset.problems.append(Problem("warning", "duplicate-row", csv_path, f"line {line}: path {row['path']} already on line {rows[row['path']][0]}; first kept"))
            continue
        rows[row["path"]] = (line, row)

    seen_folders: set[str] = set()
    folders_by_id: dict[str, list[str]] = defaultdict(list)
    for folder in sorted(images.iterdir()):
        if is_hidden(folder.name):
            dataset.ignored += 1
            continue
        if not folder.is_dir():
            reason = not_a_photo_file(folder)
            if reason is not None and folder.is_symlink():
                dataset.problems.append(Problem("error", "unreadable-folder", folder, f"{reason}; not read"))
            else:
                dataset.problems.append(Problem("warning", "stray-file", folder, "file directly under images/; not read"))
            continue
        seen_folders.add(folder.name)
        name = FolderName.parse(folder.name)
        if folder.name in rows:
            line, row = rows[folder.name]
            person = _person_from_row(row, csv_path, line)
            if isinstance(person, Problem):
                dataset.problems.append(person)
                continue
            if name is None:
                dataset.problems.append(Problem("warning", "name-mismatch", folder, "folder name is not <id>_<gender>_<race>_<age>; labels from train.csv"))
            elif diffs := _compare(person, name):
                dataset.problems.append(Problem("warning", "name-mismatch", folder, f"folder name disagrees with train.csv line {line} ({'; '.join(diffs)}); train.csv used"))
        else:
            person = None
            if name is not None:
                parsed = _person_from_row(
                    {"id": name.id, "gender": name.gender, "race": name.race, "age": name.age}, folder, 0
                )
                person = parsed if isinstance(parsed, _Person) else None
            if person is None:
                dataset.problems.append(Problem("error", "unknown-folder", folder, "not in train.csv and its name carries no labels; skipped"))
                continue
            dataset.problems.append(Problem("warning", "not-in-csv", folder, "not in train.csv; labels read from the folder name"))
        folders_by_id[person.id].append(folder.name)
        _scan_photos(folder, person, source, dataset)

    for path, (line, _row) in rows.items():
        if path not in seen_folders:
            dataset.problems.append(Problem("warning", "missing-folder", images / path, f"train.csv line {line} has no folder; no photos for this person"))
    for pid, folders in folders_by_id.items():
        if len(folders) > 1:
            dataset.problems.append(Problem("warning", "duplicate-id", images / folders[0], f"id {pid} appears in {len(folders)} folders: {', '.join(folders)} (kept apart, split together)"))
    return dataset


@dataclass
class EvalSet:
    """The eval folder: ``info.csv`` rows in order, their image paths and the problems found."""

    info_csv: Path
    image_ids: list[str]
    paths: list[Path]
    problems: list[Problem] = field(default_factory=list)
    ignored: int = 0


def eval_dir(root: str | Path) -> Path:
    """Locate the eval folder: ``ROOT/eval`` or ROOT itself when it holds ``info.csv``."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"{root}: no such folder")
    for candidate in (root / "eval", root):
        if (candidate / "info.csv").is_file():
            return candidate
    raise DataError(f"{root}: no eval/info.csv here")


def scan_eval(root: str | Path) -> EvalSet:
    """Read ``eval/info.csv`` and check that every listed image exists (row order is kept)."""
    edir = eval_dir(root)
    info = edir / "info.csv"
    images = edir / "images"
    rows = read_csv_rows(info, ("ImageID",))
    result = EvalSet(info, [r["ImageID"] for r in rows], [images / r["ImageID"] for r in rows])
    seen: dict[str, int] = {}
    for line, (image_id, path) in enumerate(zip(result.image_ids, result.paths), start=2):
        if image_id in seen:
            result.problems.append(Problem("error", "duplicate-row", info, f"line {line}: ImageID {image_id} already on line {seen[image_id]}"))
        seen.setdefault(image_id, line)
        if Path(image_id).name != image_id or is_hidden(image_id):
            result.problems.append(Problem("error", "bad-image-id", info, f"line {line}: ImageID {image_id!r} is not a plain file name"))
        elif (reason := not_a_photo_file(path)) == "file not found":
            result.problems.append(Problem("error", "missing-image", path, f"listed on info.csv line {line} but not found"))
        elif reason == "zero-byte file":
            result.problems.append(Problem("error", "empty-file", path, "zero-byte file"))
        elif reason is not None:
            result.problems.append(Problem("error", "unreadable-file", path, reason))
    if images.is_dir():
        for entry in sorted(images.iterdir()):
            if is_hidden(entry.name):
                result.ignored += 1
            elif entry.name not in seen:
                result.problems.append(Problem("info", "unlisted-image", entry, "not listed in info.csv; not predicted"))
    else:
        result.problems.append(Problem("error", "missing-folder", images, "missing images folder"))
    return result
