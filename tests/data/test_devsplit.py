"""The development hold-out rule is stable, near its fraction, and keeps frame runs together."""

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from maskcls.data import devsplit


def test_bucket_is_stable_and_fraction_holds() -> None:
    assert devsplit.bucket("utkface/a.jpg") == devsplit.bucket("utkface/a.jpg")
    held = sum(devsplit.is_dev("utkface", f"images/{i}.jpg") for i in range(4000))
    assert abs(held / 4000 - devsplit.DEV_FRACTION["utkface"]) < 0.03
    assert devsplit.is_dev("facemask", "images/x.jpg") == devsplit.is_dev("facemask", "other/x.jpg")


def test_frame_runs_keep_near_identical_frames_together(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base_a, base_b = rng.integers(0, 255, (64, 64)), rng.integers(0, 255, (64, 64))
    rows = []
    for i in range(6):
        base = base_a if i < 3 else base_b
        frame = np.clip(base + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
        name = f"images/{devsplit.FRAME_RUN_SOURCE}_{i}.jpg"
        (tmp_path / "images").mkdir(exist_ok=True)
        Image.fromarray(frame).save(tmp_path / name)
        rows.append({"file": name, "mask": "mask", "source": devsplit.FRAME_RUN_SOURCE})
    runs = devsplit.frame_runs([tmp_path / r["file"] for r in rows])
    assert runs[0] == runs[1] == runs[2] != runs[3] == runs[4] == runs[5]
    with (tmp_path / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "mask", "source"])
        writer.writeheader()
        writer.writerows(rows)
    dev = devsplit.realmask_dev_files(tmp_path)
    for group in (rows[:3], rows[3:]):
        assert len({r["file"] in dev for r in group}) == 1
