"""Builders of tiny competition trees for the tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

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


def build_quirk_tree(root: Path) -> dict[str, Path]:
    """A competition tree holding every quirk of real archives; returns the path each quirk sits at."""
    train, images = root / "train", root / "train" / "images"
    at: dict[str, Path] = {}
    write_person(images, "000001_female_Asian_45")
    at["appledouble"] = write_photo(images / "000001_female_Asian_45" / "._mask1.jpg")
    (images / "._000001_female_Asian_45").write_bytes(b"\0\5\26\7")
    write_person(images, "001498-1_male_Asian_20")
    write_person(images, "001498-2_female_Asian_21")
    write_person(images, "003397_female_Asian_20")
    write_person(images, "003397_female_Asian_22")  # the same id in two folders
    mixed = write_person(images, "000002_male_Asian_60", stems=STEMS[:5])
    write_photo(mixed / "incorrect_mask.PNG", fmt="PNG")
    write_photo(mixed / "normal.JPEG", fmt="JPEG")
    at["few"] = write_person(images, "000003_male_Asian_33", stems=STEMS[:5])
    at["not_in_csv"] = write_person(images, "000004_female_Asian_61")
    bad = write_person(images, "000005_male_Asian_25", stems=STEMS[:6])
    at["corrupt"] = bad / "mask1.jpg"
    at["corrupt"].write_bytes(at["corrupt"].read_bytes()[:60])
    at["empty"] = bad / "normal.jpg"
    at["empty"].write_bytes(b"")
    at["unknown_stem"] = write_photo(bad / "mask6.jpg")
    at["duplicate_stem"] = write_photo(bad / "mask2.png", fmt="PNG")
    at["bad_extension"] = bad / "notes.txt"
    at["bad_extension"].write_text("hi")
    at["mismatch"] = write_person(images, "000006_female_Asian_30")
    write_train_csv(train, [
        ("000001", "female", "Asian", 45, "000001_female_Asian_45"),
        ("001498-1", "male", "Asian", 20, "001498-1_male_Asian_20"),
        ("001498-2", "female", "Asian", 21, "001498-2_female_Asian_21"),
        ("003397", "female", "Asian", 20, "003397_female_Asian_20"),
        ("003397", "female", "Asian", 22, "003397_female_Asian_22"),
        ("000002", "male", "Asian", 60, "000002_male_Asian_60"),
        ("000003", "male", "Asian", 33, "000003_male_Asian_33"),
        ("000005", "male", "Asian", 25, "000005_male_Asian_25"),
        ("000006", "female", "Asian", 31, "000006_female_Asian_30"),
        ("000007", "male", "Asian", 50, "000007_male_Asian_50"),
    ])
    at["missing_folder"] = images / "000007_male_Asian_50"
    return at


def subprocess_env(**extra: str) -> dict[str, str]:
    """A bare environment for ``python -m maskcls`` in a subprocess (no progress bars, wide lines); ``PYTHONPATH``
    passes through, so a checkout's ``src/`` put first is the code that runs."""
    import os

    passed = {key: os.environ[key] for key in ("PYTHONPATH",) if key in os.environ}
    return {"PATH": "/usr/bin:/bin", "COLUMNS": "200", "MASKCLS_PROGRESS": "0", **passed, **extra}


def tiny_config(root: Path, *overrides: str):
    """The config of a tiny run on the competition root ``root``: ``test_efficientnet`` at 32 px, one epoch, no
    loggers, the image cache in memory, a quarter of the people validating; ``overrides`` go last."""
    from maskcls.config import load_config

    return load_config(None, [f"data.root={root}", "model.backbone=test_efficientnet", "model.pretrained=false",
                              "model.img_size=32", "train.epochs=1", "train.loggers=[]", "cache.enabled=false",
                              "split.val_fraction=0.25", *overrides])


def train_tiny_run(tmp_path: Path, people: int = 8, overrides: Sequence[str] = ()) -> Path:
    """A run really trained for one epoch on tiny synthetic people (:func:`tiny_config`), in ``tmp_path/runs``; its
    data in ``tmp_path/synthetic``; ``overrides`` are further ``key=value`` settings."""
    from maskcls.data.synthetic import make_synthetic
    from maskcls.engine.run import train

    root = tmp_path / "synthetic"
    make_synthetic(root, people=people, eval_people=0, seed=2, size=(48, 64))
    return train(tiny_config(root, *overrides), tmp_path / "runs", log=lambda _m: None)


def run_cli(capsys, *args) -> tuple[int, str, str]:
    """Run ``maskcls ARGS`` in this process: (exit code, stdout, stderr)."""
    import pytest

    from maskcls.cli import main

    with pytest.raises(SystemExit) as done:
        main([str(a) for a in args])
    captured = capsys.readouterr()
    return done.value.code or 0, captured.out, captured.err
