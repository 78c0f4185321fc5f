"""How many faces ``input.face_fallback`` recovers, and whether they are in the right place.

RetinaFace keeps faces scoring 0.9 or more. Many masked, blurred or greyscale faces score less, and a
``crop=face`` run then centre-crops the whole photo. With a fallback score, a photo without a face at 0.9 is cut
around its best face at the fallback instead (:meth:`maskcls.faces.detect.FaceDetector.detect`). On the
out-of-distribution suite (photos of the development hold-out, :mod:`maskcls.ood.suite`) this script reports, per
row and per setting, the share of photos in which a face is found and, for the re-framed masked UTKFace photos,
the share whose face lies where the same person's unmasked re-framed photo has it (IoU ≥ 0.4 with the box found
there at 0.9; both photos share the framing).

    python benchmarks/face_fallback.py [--suite data/ood-suite] [--limit 600]

Writes the ``face-fallback`` section of RESULTS.md / results.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROJECT = Path(__file__).resolve().parents[1]
SETTINGS = (None, 0.5, 0.3, 0.2)
LOWEST = min(s for s in SETTINGS if s is not None)
ROWS = ("utk_masked", "utk_reframed", "realmask", "realmask_grey", "crowd_m0")


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def measure(suite: Path, row: str, limit: int) -> dict[str, dict]:
    """Per group of the row (``all`` too), per setting: photos, found share and (utk_masked) right-place share."""
    from maskcls.data.images import load_rgb
    from maskcls.faces.detect import create_detector, pick_face

    detector = create_detector("retinaface")
    with open(suite / f"{row}.csv", newline="", encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))[:limit]
    counts: dict[str, dict[str, list[int]]] = {}
    for entry in entries:
        photo = np.asarray(load_rgb(suite / entry["file"]))
        size = (photo.shape[1], photo.shape[0])
        reference = None
        if row == "utk_masked":
            unmasked = np.asarray(load_rgb(suite / entry["file"].replace("utk_masked/", "utk_reframed/", 1)))
            reference = pick_face(detector.detect(unmasked), (unmasked.shape[1], unmasked.shape[0]))
        # One detection at the lowest fallback gives every setting: the sure faces, or the best weak one, which a
        # setting keeps when it scores at least that setting's fallback.
        found = detector.detect(photo, LOWEST)
        sure = [f for f in found if f.score >= detector.score_threshold]
        for group in ("all", entry["group"]):
            per = counts.setdefault(group, {str(s): [0, 0, 0] for s in SETTINGS})
            for setting in SETTINGS:
                kept = sure or [f for f in found if setting is not None and f.score >= setting]
                face = pick_face(kept, size)
                cell = per[str(setting)]
                cell[0] += 1
                cell[1] += face is not None
                cell[2] += bool(face is not None and reference is not None and _iou(face.box, reference.box) >= 0.4)
    return {group: {setting: {"photos": n, "found": found / n, **({"right_place": right / n} if row == "utk_masked"
                                                                  else {})}
                    for setting, (n, found, right) in per.items()}
            for group, per in counts.items()}


def render(figures: dict, limit: int) -> str:
    heads = " | ".join("no fallback" if s is None else f"fallback {s}" for s in SETTINGS)
    lines = ["## Face fallback (`benchmarks/face_fallback.py`)", "",
             f"RetinaFace at its threshold 0.9, alone and with `input.face_fallback` (the best face at that score "
             f"when none reaches 0.9), on the out-of-distribution suite (first {limit:,} photos of each row). "
             "Cells: photos with a face found; for the re-framed masked UTKFace photos also, after the slash, those "
             "whose face is where the same person's unmasked re-framed photo has it (IoU ≥ 0.4).", "",
             f"| row | group | photos | {heads} |", "| --- | --- | --- | " + " | ".join("---" for _ in SETTINGS) + " |"]
    for row, groups in figures.items():
        for group, per in groups.items():
            cells = []
            for setting in SETTINGS:
                cell = per[str(setting)]
                text = f"{cell['found']:.1%}"
                if "right_place" in cell:
                    text += f" / {cell['right_place']:.1%}"
                cells.append(text)
            photos = per[str(SETTINGS[0])]["photos"]
            lines.append(f"| {row} | {group} | {photos:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def suite_parser(doc: str) -> argparse.ArgumentParser:
    """The options of a benchmark that scans the out-of-distribution suite (this one, ``small_faces.py``)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=PROJECT / "data" / "ood-suite")
    parser.add_argument("--shared", type=Path, help="Shared data (default $MASKCLS_SHARED_DATA or ../shared/data).")
    parser.add_argument("--people", type=int, default=1000, help="Held-out UTKFace people in the suite (as ood.py).")
    parser.add_argument("--no-record", action="store_true", help="print only")
    return parser


def open_suite(args: argparse.Namespace, script: str) -> Path | None:
    """The suite folder (built when missing), or ``None`` with a line on stderr when the shared data is absent."""
    from maskcls.ood.suite import SuiteOptions, default_shared, ensure_suite

    shared = args.shared or default_shared()
    missing = [name for name in ("utkface", "facemask", "realmask") if not (shared / name).is_dir()]
    if missing:
        print(f"{script}: {shared}/{missing[0]} not found: the section needs the shared data", file=sys.stderr)
        return None
    return ensure_suite(args.suite, SuiteOptions(shared, args.people))[0]


def publish(section: str, figures: dict, markdown: str, args: argparse.Namespace) -> None:
    """Print the section and, unless ``--no-record``, write it into RESULTS.md and results.json."""
    print(markdown)
    if not args.no_record:
        from results_io import record_section

        record_section(section, figures, markdown)


def main() -> None:
    parser = suite_parser(__doc__)
    parser.add_argument("--limit", type=int, default=600, help="Photos of each row.")
    args = parser.parse_args()
    suite = open_suite(args, "face_fallback")
    if suite is None:
        return
    figures = {row: measure(suite, row, args.limit) for row in ROWS}
    publish("face-fallback", figures, render(figures, args.limit), args)


if __name__ == "__main__":
    main()
