"""Turning public data into maskcls layouts.

- :func:`import_utkface`: UTKFace-style faces (``<age>_<gender>_<race>_*.jpg`` or a ``labels.csv``) become
  the competition train layout, one person per photo, the photo as ``normal.<ext>``.
- :func:`import_boxes`: photos with face boxes become labelled face crops for mask status.

Both build into a hidden temp folder and rename it into place at the end, so an interrupted import never
leaves a half-written dataset, and neither overwrites an existing one.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from maskcls.data.images import ImageReadError, is_hidden, is_image_name, load_rgb
from maskcls.data.layout import read_csv_rows
from maskcls.data.records import DataError, Problem
from maskcls.labels import GENDER_NAMES, MASK_NAMES, parse_age, parse_gender, parse_mask
from maskcls.progress import track

UTKFACE_RACES = ("White", "Black", "Asian", "Indian", "Others")


@dataclass
class ImportResult:
    """What an import wrote and what it refused, every refusal with its path."""

    out: Path
    written: int = 0
    problems: list[Problem] = field(default_factory=list)
    left_out: int = 0


@dataclass(frozen=True)
class UtkFace:
    """One UTKFace photo and the labels its name (or ``labels.csv``) gives."""

    path: Path
    age: int
    gender: int
    race: str


def _race_name(value: str) -> str:
    text = value.strip()
    if text.isdigit() and int(text) < len(UTKFACE_RACES):
        return UTKFACE_RACES[int(text)]
    for name in UTKFACE_RACES:
        if text.lower() == name.lower():
            return name
    raise ValueError(f"unknown race {value!r}")


def _face(path: Path, age: str, gender: str, race: str) -> UtkFace:
    age_value = parse_age(age, low=1)
    return UtkFace(path, age_value, int(parse_gender(gender)), _race_name(race))


def read_utkface(src: Path, problems: list[Problem]) -> list[UtkFace]:
    """Every valid face under ``src`` (see :func:`import_utkface`); each refusal goes to ``problems``."""
    faces: list[UtkFace] = []
    labels = src / "labels.csv"
    if labels.is_file():
        for line, row in enumerate(read_csv_rows(labels, ("file", "age", "gender", "race")), start=2):
            path = src / row["file"]
            try:
                if Path(row["file"]).is_absolute() or ".." in Path(row["file"]).parts:
                    raise ValueError(f"file {row['file']!r} must be a path inside {src}")
                face = _face(path, row["age"], row["gender"], row["race"])
            except ValueError as exc:
                problems.append(Problem("error", "malformed", labels, f"line {line}: {exc}; skipped"))
                continue
            if not path.is_file():
                problems.append(Problem("error", "missing-image", path, f"listed on {labels.name} line {line} but not found; skipped"))
                continue
            faces.append(face)
        return faces
    for path in sorted(src.iterdir()):
        if is_hidden(path.name) or not path.is_file():
            continue
        if not is_image_name(path.name):
            problems.append(Problem("warning", "not-an-image", path, "not an image file name; skipped"))
            continue
        parts = path.name.split("_")
        try:
            if len(parts) < 4:
                raise ValueError("name is not <age>_<gender>_<race>_<rest>")
            faces.append(_face(path, *parts[:3]))
        except ValueError as exc:
            problems.append(Problem("error", "malformed", path, f"{exc}; skipped (labels are never guessed)"))
    return faces


def _prepare(dst: Path, final: Path) -> Path:
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise DataError(f"{final}: already exists; choose another destination (imports never overwrite)")
    dst.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=dst, prefix=f".{final.name}.partial-"))


def _finish(tmp: Path, final: Path) -> None:
    if final.is_dir():
        final.rmdir()
    tmp.rename(final)


def _suffix(path: Path) -> str:
    return path.suffix.lower() or ".jpg"


def import_utkface(src: str | Path, dst: str | Path, link: bool = False, limit: int | None = None,
                   faces: list[UtkFace] | None = None) -> ImportResult:
    """Import UTKFace-style faces as the competition train layout under ``dst/train``.

    Args:
        src: a folder of ``<age>_<gender 0 male/1 female>_<race>_*.jpg`` files, or a folder with ``labels.csv``
            (``file,age,gender,race``; ``file`` relative to ``src``).
        dst: the new competition root; ``dst/train`` must not exist yet.
        link: hard-link photos instead of copying them (falls back to a copy across file systems).
        limit: import only the first ``limit`` valid faces (sorted by file name), for quick experiments.
        faces: import exactly these faces (from :func:`read_utkface` on ``src``) instead of every valid one.

    Raises:
        DataError: if ``src`` is missing or holds no valid face, or ``dst/train`` exists.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise DataError(f"{src}: no such folder")
    result = ImportResult(dst / "train")
    if faces is None:
        faces = read_utkface(src, result.problems)
    faces = sorted(faces, key=lambda f: f.path.name)[:limit]
    if not faces:
        raise DataError(f"{src}: no valid UTKFace-style face found ({len(result.problems)} problems)")
    tmp = _prepare(dst, result.out)
    try:
        (tmp / "images").mkdir()
        rows, sources = [], []
        for number, face in enumerate(track(faces, "importing faces"), start=1):
            pid = f"utk{number:06d}"  # never a competition id, so its known corrections cannot apply
            folder = f"{pid}_{GENDER_NAMES[face.gender]}_{face.race}_{face.age}"
            (tmp / "images" / folder).mkdir()
            target = tmp / "images" / folder / f"normal{_suffix(face.path)}"
            _place(face.path, target, link)
            rows.append([pid, GENDER_NAMES[face.gender], face.race, face.age, folder])
            sources.append([pid, str(face.path)])
        _write_csv(tmp / "train.csv", ["id", "gender", "race", "age", "path"], rows)
        _write_csv(tmp / "sources.csv", ["id", "source"], sources)
        _finish(tmp, result.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.written = len(faces)
    return result


def _place(source: Path, target: Path, link: bool) -> None:
    if link:
        try:
            target.hardlink_to(source)
            return
        except OSError:
            pass
    shutil.copyfile(source, target)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def square_box(box: tuple[float, float, float, float], margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """A square around ``box`` grown by ``margin`` × its longer side on every side, kept inside the image.

    The square is shifted (not shrunk) to stay inside the image where it fits, and clipped where it cannot.
    """
    x0, y0, x1, y1 = box
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    side = min(side, width, height)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = min(max(cx - side / 2, 0), width - side)
    top = min(max(cy - side / 2, 0), height - side)
    return round(left), round(top), round(left + side), round(top + side)


def _resolve_photo(photos: Path, name: str) -> Path | None:
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        return None
    for candidate in (photos / relative, photos / relative.name):
        if candidate.is_file():
            return candidate
    return None


def import_boxes(photos: str | Path, boxes_csv: str | Path, dst: str | Path, margin: float = 0.2,
                 min_size: int = 0, split: str = "all") -> ImportResult:
    """Cut labelled face crops out of photos with boxes: ``dst/images/*.jpg`` and ``dst/labels.csv``.

    Args:
        photos: folder of the photos; a box's ``image`` is looked up as given, then by its file name.
        boxes_csv: ``image,box,mask,x0,y0,x1,y1`` with ``mask`` one of mask / incorrect / normal.
        dst: the new folder; must not exist or be empty.
        margin: grows each (squared) box by this fraction of its side on every side.
        min_size: boxes whose longer side is below this many pixels are listed and skipped.
        split: ``all`` photos, only the ``train`` photos or only the ``dev`` photos of the development hold-out
            of the shared crowd set (:func:`maskcls.data.devsplit.is_dev` ``facemask``, by whole photo); the
            photos left out are counted in ``left_out``.

    Raises:
        DataError: if the inputs are missing or no crop could be made.
    """
    from maskcls.data.devsplit import is_dev

    if split not in ("all", "train", "dev"):
        raise DataError(f"split {split!r}: expected all, train or dev")
    photos, boxes_csv, dst = Path(photos), Path(boxes_csv), Path(dst)
    if not photos.is_dir():
        raise DataError(f"{photos}: no such folder")
    rows = read_csv_rows(boxes_csv, ("image", "box", "mask", "x0", "y0", "x1", "y1"))
    result = ImportResult(dst)
    by_image: dict[str, list[tuple[int, dict[str, str]]]] = {}
    for line, row in enumerate(rows, start=2):
        by_image.setdefault(row["image"], []).append((line, row))
    tmp = _prepare(dst.parent, dst)
    try:
        (tmp / "images").mkdir()
        out_rows = []
        for image_name, entries in track(list(by_image.items()), "cropping faces"):
            if split != "all" and is_dev("facemask", image_name) != (split == "dev"):
                result.left_out += 1
                continue
            source = _resolve_photo(photos, image_name)
            if source is None:
                result.problems.append(Problem("error", "missing-image", photos / image_name, f"{len(entries)} box(es) skipped: photo not found"))
                continue
            try:
                image = load_rgb(source)
            except ImageReadError as exc:
                result.problems.append(Problem("error", "corrupt-image", source, f"{exc}; {len(entries)} box(es) skipped"))
                continue
            for line, row in entries:
                try:
                    mask = parse_mask(row["mask"])
                    box = tuple(float(row[k]) for k in ("x0", "y0", "x1", "y1"))
                    if not (box[0] < box[2] and box[1] < box[3]):
                        raise ValueError(f"empty box {box}")
                    if box[2] <= 0 or box[3] <= 0 or box[0] >= image.width or box[1] >= image.height:
                        raise ValueError(f"box {box} lies outside the {image.width}x{image.height} photo")
                except ValueError as exc:
                    result.problems.append(Problem("error", "bad-box", boxes_csv, f"line {line}: {exc}; skipped"))
                    continue
                if max(box[2] - box[0], box[3] - box[1]) < min_size:
                    result.problems.append(Problem("warning", "small-box", boxes_csv, f"line {line}: face smaller than {min_size} px; skipped"))
                    continue
                crop_box = square_box(box, margin, image.width, image.height)
                name = f"{source.stem}_{row['box'] or line}.jpg"
                image.crop(crop_box).save(tmp / "images" / name, quality=95)
                out_rows.append([f"images/{name}", int(mask), MASK_NAMES[mask], source.name, row["box"], *crop_box])
        if not out_rows:
            raise DataError(f"{boxes_csv}: no face crop could be made ({len(result.problems)} problems)")
        _write_csv(tmp / "labels.csv", ["file", "mask", "mask_name", "source", "box", "x0", "y0", "x1", "y1"], out_rows)
        _finish(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result.written = len(out_rows)
    return result
