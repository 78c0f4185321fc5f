"""A quick held-out check of runs on the development hold-out of ../shared (photos no run trains on).

Not the out-of-distribution suite (``maskcls bench ood``): a few minutes' look at the same kinds of photos, built
from the development photos of :mod:`maskcls.data.devsplit` only:

- crowd face crops of the held-out crowd photos (margin 0.25), all sizes and faces of at least 32 px;
- held-out realmask photos: the colour sources, and the greyscale video crops apart;
- held-out UTKFace chips as they are, and re-framed: set into a frame 2.2 times as wide whose border is the
  chip's own edge extended and blurred, JPEG-recompressed (the face then fills about 40 % of the width).

    python benchmarks/dev_check.py RUN [RUN ...] [--work data/devcheck] [--utk 300] [--section NAME]

Prints mask macro F1 (and per-state F1) on the mask sets, gender and age-band macro F1 on the UTKFace sets, and
writes them to the ``NAME`` section of RESULTS.md / results.json when ``--section`` is given.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
SHARED = Path(os.environ.get("MASKCLS_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def _labels(folder: Path, rows: list[tuple[str, int]]) -> Path:
    with open(folder / "labels.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "mask"])
        writer.writerows(rows)
    return folder


def build(shared: Path, work: Path, utk: int) -> dict[str, Path]:
    """The check's folders under ``work`` (built once; an existing folder is reused)."""
    from PIL import Image, ImageFilter

    from maskcls.data.devsplit import is_dev, realmask_dev_files
    from maskcls.data.importers import import_boxes
    from maskcls.labels import parse_mask

    work.mkdir(parents=True, exist_ok=True)
    sets: dict[str, Path] = {}
    for name, min_size in (("crowd crops (dev photos, all sizes)", 0), ("crowd crops (dev photos, >= 32 px)", 32)):
        folder = work / f"crowd-dev-{min_size}"
        if not folder.is_dir():
            import_boxes(shared / "facemask" / "images", shared / "facemask" / "boxes.csv", folder, margin=0.25,
                         min_size=min_size, split="dev")
        sets[name] = folder
    real = shared / "realmask"
    dev = realmask_dev_files(real)
    with open(real / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"] in dev]
    for name, keep in (("realmask dev (colour sources)", lambda r: r["source"] != "jamesnogra_face_mask_usage"),
                       ("realmask dev (greyscale video crops)", lambda r: r["source"] == "jamesnogra_face_mask_usage")):
        folder = work / ("realmask-dev-colour" if "colour" in name else "realmask-dev-grey")
        if not folder.is_dir():
            (folder / "images").mkdir(parents=True)
            picked = [r for r in rows if keep(r)]
            for r in picked:
                (folder / r["file"]).symlink_to((real / r["file"]).resolve())
            _labels(folder, [(r["file"], int(parse_mask(r["mask"]))) for r in picked])
        sets[name] = folder
    chips = sorted(p for p in (shared / "utkface" / "images").iterdir() if is_dev("utkface", p.name))
    chips = random.Random(0).sample(chips, min(utk, len(chips)))
    for name, reframe in (("UTKFace dev chips", False), ("UTKFace dev chips, re-framed", True)):
        folder = work / ("utk-dev-reframed" if reframe else "utk-dev")
        if not folder.is_dir():
            folder.mkdir()
            for chip in chips:
                with Image.open(chip) as image:
                    image = image.convert("RGB")
                if reframe:
                    pixels = np.asarray(image)
                    pad = int(pixels.shape[1] * 0.6)
                    wide = np.pad(pixels, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
                    frame = Image.fromarray(wide).filter(ImageFilter.GaussianBlur(8))
                    frame.paste(image, (pad, pad))
                    image = frame.resize((256, 256), Image.BILINEAR)
                image.save(folder / chip.name, quality=75 if reframe else 95)
        sets[name] = folder
    return sets


def _utk_truth(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    ages = np.array([int(p.name.split("_")[0]) for p in paths])
    genders = np.array([int(p.name.split("_")[1]) for p in paths])
    return genders, ages


def score_run(run: Path, sets: dict[str, Path]) -> dict[str, dict]:
    from maskcls.inference.ensemble import task_marginals
    from maskcls.inference.evaluate import read_crop_labels, score_masks
    from maskcls.inference.predictor import Predictor
    from maskcls.metrics import macro_f1

    predictor = Predictor.from_run(run)
    bands = predictor.cfg.data.bands()
    out: dict[str, dict] = {}
    for name, folder in sets.items():
        no_face: dict[int, str] = {}
        if name.startswith("UTKFace"):
            paths = sorted(folder.iterdir())
            probs, errors = predictor.predict_paths(paths, no_face=no_face)
            tasks = task_marginals(probs)
            genders, ages = _utk_truth(paths)
            out[name] = {"n": len(paths), "no_face": len(no_face),
                         "gender_f1": macro_f1(genders, tasks["gender"].argmax(1), 2),
                         "age_f1": macro_f1(bands.bands(ages), tasks["age"].argmax(1), 3)}
        else:
            paths, truth = read_crop_labels(folder)
            probs, errors = predictor.predict_paths(paths, no_face=no_face)
            masks = task_marginals(probs)["mask"]
            f1, accuracy, per_state, _ = score_masks(truth, masks.argmax(1))
            out[name] = {"n": len(paths), "no_face": len(no_face), "mask_f1": f1, "accuracy": accuracy,
                         **{f"{state}_f1": v["f1"] for state, v in per_state.items()}}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--work", type=Path, default=Path("data/devcheck"))
    parser.add_argument("--utk", type=int, default=300)
    parser.add_argument("--section", help="record the figures under this section name")
    args = parser.parse_args()
    sets = build(args.shared, args.work, args.utk)
    figures = {str(run): score_run(run, sets) for run in args.runs}
    lines = ["## Development hold-out check (`benchmarks/dev_check.py`)", "",
             "| set | n | " + " | ".join(f"{Path(r).name}" for r in figures) + " |",
             "| --- | --- | " + " | ".join("---" for _ in figures) + " |"]
    for name in sets:
        first = next(iter(figures.values()))[name]
        cells = []
        for result in figures.values():
            f = result[name]
            if "mask_f1" in f:
                cells.append(f"mask {f['mask_f1']:.3f} (worn {f['wear_f1']:.2f}, incorrect {f['incorrect_f1']:.2f}, "
                             f"none {f['not wear_f1']:.2f}); no face {f['no_face']}")
            else:
                cells.append(f"gender {f['gender_f1']:.3f}, age {f['age_f1']:.3f}; no face {f['no_face']}")
        lines.append(f"| {name} | {first['n']} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines)
    print(markdown)
    if args.section:
        from results_io import record_section

        record_section(args.section, figures, markdown)


if __name__ == "__main__":
    main()
