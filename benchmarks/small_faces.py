"""How many faces RetinaFace finds in small photos, by the size they are enlarged to before detection.

RetinaFace runs at a photo's own resolution, so a face that fills a small crowd crop is below its anchors.
:meth:`maskcls.faces.detect.FaceDetector.detect` detects a photo whose shorter side is under
:data:`maskcls.faces.detect.MIN_SIDE` on a copy enlarged to it. This script counts, on the out-of-distribution
suite's small-photo rows (held-out crowd crops at margin 0 and 0.25, by face size; the greyscale video crops),
the photos in which a face is found (at the fallback score 0.3, as ``public`` detects) for each candidate size,
0 being the photo as it is.

    python benchmarks/small_faces.py [--suite data/ood-suite]

Writes the ``small-faces`` section of RESULTS.md / results.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROJECT = Path(__file__).resolve().parents[1]
SIDES = (0, 96, 128, 160, 192)
ROWS = ("crowd_m0", "crowd_m25", "realmask_grey")
FALLBACK = 0.3


def measure(suite: Path, row: str) -> dict[str, dict[str, list[int]]]:
    """Per group of the row (``all`` too), per enlargement side: ``[photos, photos with a face]``."""
    from face_fallback import _rgb

    from maskcls.faces import detect

    detector = detect.create_detector("retinaface")
    with open(suite / f"{row}.csv", newline="", encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))
    photos = [(_rgb(suite / entry["file"]), entry["group"]) for entry in entries]
    counts: dict[str, dict[str, list[int]]] = {}
    chosen = detect.MIN_SIDE
    try:
        for side in SIDES:
            detect.MIN_SIDE = side
            for photo, group in photos:
                found = bool(detector.detect(photo, FALLBACK))
                for key in ("all", group):
                    cell = counts.setdefault(key, {}).setdefault(str(side), [0, 0])
                    cell[0] += 1
                    cell[1] += found
    finally:
        detect.MIN_SIDE = chosen
    return counts


def render(figures: dict) -> str:
    from maskcls.faces.detect import MIN_SIDE

    heads = " | ".join("as it is" if side == 0 else f"{side} px" for side in SIDES)
    lines = ["## Faces in small photos (`benchmarks/small_faces.py`)", "",
             "RetinaFace (threshold 0.9, fallback 0.3) on the suite's small photos, each detected as it is or on a "
             f"copy whose shorter side is enlarged (bicubic) to the size of the column; `{MIN_SIDE} px` is what "
             "`maskcls.faces.detect.MIN_SIDE` chooses. Cells: photos with a face found, of the row's photos.", "",
             f"| row | group | photos | {heads} |", "| --- | --- | --- | " + " | ".join("---" for _ in SIDES) + " |"]
    for row, groups in figures.items():
        for group, per in groups.items():
            photos = per[str(SIDES[0])][0]
            cells = " | ".join(f"{per[str(side)][1]:,} ({per[str(side)][1] / photos:.0%})" for side in SIDES)
            lines.append(f"| {row} | {group} | {photos:,} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=PROJECT / "data" / "ood-suite")
    parser.add_argument("--shared", type=Path, help="Shared data (default $MASKCLS_SHARED_DATA or ../shared/data).")
    parser.add_argument("--people", type=int, default=1000, help="Held-out UTKFace people in the suite (as ood.py).")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    from maskcls.ood.suite import SuiteOptions, default_shared, ensure_suite

    shared = args.shared or default_shared()
    if not (shared / "facemask").is_dir():
        print(f"small_faces: {shared}/facemask not found: the section needs the shared data", file=sys.stderr)
        return
    suite, _ = ensure_suite(args.suite, SuiteOptions(shared, args.people))
    figures = {row: measure(suite, row) for row in ROWS}
    markdown = render(figures)
    print(markdown)
    if not args.no_record:
        from results_io import record_section

        record_section("small-faces", figures, markdown)


if __name__ == "__main__":
    main()
