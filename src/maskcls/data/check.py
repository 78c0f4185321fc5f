"""``maskcls data check``: scan, relabel and decode every photo, and summarise what was found."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from maskcls.data.images import ImageReadError, not_a_photo_file
from maskcls.data.layout import EvalSet, scan_eval, scan_train
from maskcls.data.records import DataError, Dataset, Problem
from maskcls.data.relabel import apply_corrections, load_corrections
from maskcls.labels import DEFAULT_AGE_BANDS, AgeBands, class_names
from maskcls.progress import track


@dataclass(frozen=True)
class ImageInfo:
    """What decoding one photo found: its stored mode, EXIF orientation and size, or an error."""

    path: Path
    mode: str = ""
    orientation: int = 1
    size: tuple[int, int] = (0, 0)
    error: str = ""


def inspect_image(path: Path) -> ImageInfo:
    """Decode a photo fully (as training will) and note its mode and orientation."""
    from PIL import Image

    from maskcls.data.images import load_rgb, quiet_bomb_warnings

    quiet_bomb_warnings()
    try:
        rgb = load_rgb(path)  # first: it names what is wrong with the file
        with Image.open(path) as raw:
            mode, orientation = raw.mode, raw.getexif().get(0x0112, 1)
    except ImageReadError as exc:
        return ImageInfo(path, error=str(exc).removeprefix(f"{path}: "))
    except Exception as exc:  # PIL raises many types on hostile files; all mean "unreadable"
        return ImageInfo(path, error=f"unreadable ({type(exc).__name__}: {exc})")
    return ImageInfo(path, mode, int(orientation), rgb.size)


def inspect_images(paths: Sequence[Path], workers: int = 2) -> list[ImageInfo]:
    """Decode many photos in threads (Pillow releases the GIL while decoding), with a progress bar."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(track(pool.map(inspect_image, paths), "decoding photos", total=len(paths)))


def load_dataset(root: str | Path, relabel: Sequence[str | Path] = ("default",)) -> Dataset:
    """Scan a competition-layout train folder and apply the corrections files (none if ``relabel`` is empty).

    Raises:
        DataError: on fatal layout or relabel-file problems.
    """
    corrections = load_corrections(relabel)  # a bad corrections file fails before the slow scan
    dataset = scan_train(root)
    if corrections:
        dataset.records, notes = apply_corrections(dataset.records, corrections)
        dataset.problems += notes
    return dataset


def left_out_people(dataset: Dataset) -> list[Problem]:
    """The problems that leave a whole person out: a bad ``train.csv`` row, an unreadable or unlabelled
    folder, a folder without one usable photo."""
    whole = ("bad-row", "unknown-folder", "unreadable-folder")
    return [p for p in dataset.problems if (p.severity == "error" and p.kind in whole)
            or (p.kind == "missing-photos" and p.message.startswith("0 of"))]


@dataclass
class CheckReport:
    """The outcome of checking a dataset: the data, every problem and the decoded-image facts."""

    dataset: Dataset
    eval: EvalSet | None = None
    images: list[ImageInfo] = field(default_factory=list)
    bands: AgeBands = DEFAULT_AGE_BANDS

    @property
    def problems(self) -> list[Problem]:
        found = list(self.dataset.problems) + (self.eval.problems if self.eval else [])
        found += [Problem("error", "corrupt-image", i.path, i.error) for i in self.images if i.error]
        return found

    def corrupt(self) -> list[Path]:
        return [i.path for i in self.images if i.error]

    def summary(self) -> dict[str, dict[str, int]]:
        """Tables of counts: overview, photos per stem, per class, per extension and per stored image mode."""
        records = self.dataset.records
        names = class_names(self.bands)
        per_class = Counter(r.label(self.bands) for r in records)
        decoded = [i for i in self.images if not i.error]
        overview = {
            "people": len({r.person for r in records}),
            "ids": len({r.id for r in records}),
            "photos": len(records),
            "ignored dot files": self.dataset.ignored + (self.eval.ignored if self.eval else 0),
        }
        if self.eval is not None:
            overview["eval images"] = len(self.eval.image_ids)
        if self.images:
            overview["photos decoded"] = len(decoded)
            overview["EXIF-rotated"] = sum(i.orientation != 1 for i in decoded)
        return {
            "overview": overview,
            "photos per stem": dict(Counter(r.stem for r in records)),
            "photos per class": {f"{i:2d} {names[i]}": per_class.get(i, 0) for i in range(len(names))},
            "extensions": dict(Counter(r.path.suffix.lower() for r in records).most_common()),
            "image modes (load as RGB)": dict(Counter(i.mode for i in decoded).most_common()),
            "sizes (top 5)": {f"{w}x{h}": n for (w, h), n in Counter(i.size for i in decoded).most_common(5)},
        }


def check(root: str | Path, relabel: Sequence[str | Path] = ("default",), decode: bool = True,
          workers: int = 2, bands: AgeBands = DEFAULT_AGE_BANDS) -> CheckReport:
    """Check a competition folder: scan train (and eval if present), apply corrections, decode every photo."""
    dataset = load_dataset(root, relabel)
    try:
        evalset = scan_eval(root)
    except DataError:
        evalset = None
        if (Path(root) / "eval").exists():
            dataset.problems.append(Problem("warning", "no-eval", Path(root) / "eval", "eval/ has no info.csv; eval not checked"))
    report = CheckReport(dataset, evalset, bands=bands)
    if decode:
        paths = [r.path for r in dataset.records]
        if evalset is not None:
            paths += [p for p in evalset.paths if not_a_photo_file(p) is None]
        report.images = inspect_images(paths, workers)
    return report

