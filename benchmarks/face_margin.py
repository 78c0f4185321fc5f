"""Which ``input.face_margin`` frames faces alike on tight UTKFace chips and on wider real photos.

``crop=face`` cuts the detected face box grown by the margin on each side. Where that region is larger than the
photo it is clamped to the photo (:func:`maskcls.faces.detect.face_crop_box`), so on UTKFace's tight chips (the
box covers most of the chip) a large margin does nothing and training sees faces framed tighter than the same
margin frames a face in a wider photo. This script detects the faces of a sample of non-development photos of
each shared source and reports, per margin, the share of photos whose crop is clamped and the median share of
the crop's width the face takes (the framing the model sees), plus the share of photos without a face.

    python benchmarks/face_margin.py [--per-source 150] [--shared ../shared/data]

Writes the ``face-margin`` section of RESULTS.md / results.json.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

MARGINS = (0.0, 0.05, 0.1, 0.2, 0.4)


def sample_paths(shared: Path, per_source: int, seed: int = 0) -> dict[str, list[Path]]:
    """Non-development photos of UTKFace and realmask, and crowd crops of non-development photos."""
    import csv

    from maskcls.data.devsplit import is_dev, realmask_dev_files

    rng = random.Random(seed)
    out: dict[str, list[Path]] = {}
    utk = [p for p in sorted((shared / "utkface" / "images").iterdir()) if not is_dev("utkface", p.name)]
    out["utkface chips"] = rng.sample(utk, min(per_source, len(utk)))
    real_root = shared / "realmask"
    dev = realmask_dev_files(real_root)
    with open(real_root / "labels.csv", newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"] not in dev]
    colour = [real_root / r["file"] for r in rows if r["source"] != "jamesnogra_face_mask_usage"]
    out["realmask photos (colour sources)"] = rng.sample(colour, min(per_source, len(colour)))
    return out


def measure(paths: list[Path], detector: str) -> dict[str, object]:
    from PIL import Image

    from maskcls.faces.detect import create_detector, face_crop_box, pick_face

    det = create_detector(detector)
    no_face, clamped, share = 0, {m: 0 for m in MARGINS}, {m: [] for m in MARGINS}
    for path in paths:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
        face = pick_face(det.detect(rgb), (rgb.shape[1], rgb.shape[0]), "largest")
        if face is None:
            no_face += 1
            continue
        for m in MARGINS:
            x0, y0, x1, y1 = face_crop_box(face, (rgb.shape[1], rgb.shape[0]), m, 1.0)
            wanted = max(face.width, face.height) * (1 + 2 * m)
            clamped[m] += (x1 - x0) < wanted - 1
            share[m].append(face.width / max(1.0, x1 - x0))
    found = len(paths) - no_face
    return {"photos": len(paths), "no_face": no_face,
            "clamped": {m: clamped[m] / max(1, found) for m in MARGINS},
            "face_width_share": {m: float(np.median(share[m])) if share[m] else None for m in MARGINS}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--per-source", type=int, default=150)
    parser.add_argument("--detector", default="retinaface")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    samples = sample_paths(args.shared, args.per_source)
    figures = {name: measure(paths, args.detector) for name, paths in samples.items()}
    lines = ["## Face margin (`benchmarks/face_margin.py`)", "",
             f"Non-development photos, {args.per_source} a source, {args.detector} detector, square crops. "
             "Clamped: the margin's region does not fit in the photo. Face share: the face box's width over the "
             "crop's (median).", "",
             "| source | photos | no face | " + " | ".join(f"margin {m}: clamped / face share" for m in MARGINS) + " |",
             "| --- | --- | --- | " + " | ".join("---" for _ in MARGINS) + " |"]
    for name, f in figures.items():
        cells = [f"{f['clamped'][m]:.0%} / {f['face_width_share'][m]:.2f}" if f["face_width_share"][m] else "-"
                 for m in MARGINS]
        lines.append(f"| {name} | {f['photos']} | {f['no_face']} | " + " | ".join(cells) + " |")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_record:
        from results_io import record_section

        record_section("face-margin", figures, markdown)


if __name__ == "__main__":
    main()
