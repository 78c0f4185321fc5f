"""Builders of tiny competition trees for the tests."""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image

from maskcls.labels import STEMS


def write_photo(path: Path, color=(120, 80, 60), size=(12, 16), fmt: str | None = None) -> Path:
    """A tiny solid photo (width × height) saved in the format its suffix implies."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path, format=fmt)
    return path


def write_person(images: Path, folder: str, stems=STEMS, ext: str = ".jpg") -> Path:
    """A person folder with one tiny photo per stem."""
    for i, stem in enumerate(stems):
        write_photo(images / folder / f"{stem}{ext}", color=(20 * i, 100, 150))
    return images / folder


def write_train_csv(train: Path, rows: list[tuple[str, str, str, int, str]]) -> None:
    with open(train / "train.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "gender", "race", "age", "path"])
        writer.writerows(rows)
