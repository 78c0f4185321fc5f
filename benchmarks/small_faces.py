"""How many faces RetinaFace finds in small photos, by the size they are enlarged to before detection.

RetinaFace runs at a photo's own resolution, so a face that fills a small crowd crop is below its anchors.
:meth:`maskcls.faces.detect.FaceDetector.detect` detects a photo whose shorter side is under ``min_side``
(``input.face_min_side``, by default :data:`maskcls.faces.detect.MIN_SIDE`) on a copy enlarged to it. This script counts, on the out-of-distribution
suite's small-photo rows (held-out crowd crops at margin 0 and 0.25, by face size; the greyscale video crops),
the photos in which a face is found (at the fallback score 0.3, as ``public`` detects) for each candidate size,
0 being the photo as it is.

    python benchmarks/small_faces.py [--suite data/ood-suite]

Writes the ``small-faces`` section of RESULTS.md / results.json.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIDES = (0, 96, 128, 160, 192)
ROWS = ("crowd_m0", "crowd_m25", "realmask_grey")
FALLBACK = 0.3


def measure(suite: Path, row: str) -> dict[str, dict[str, list[int]]]:
    """Per group of the row (``all`` too), per enlargement side: ``[photos, photos with a face]``."""
    import numpy as np

    from maskcls.data.images import load_rgb
    from maskcls.faces.detect import create_detector

    detector = create_detector("retinaface")
    with open(suite / f"{row}.csv", newline="", encoding="utf-8") as handle:
        entries = list(csv.DictReader(handle))
    photos = [(np.asarray(load_rgb(suite / entry["file"])), entry["group"]) for entry in entries]
    counts: dict[str, dict[str, list[int]]] = {}
    for side in SIDES:
        for photo, group in photos:
            found = bool(detector.detect(photo, FALLBACK, min_side=side))
            for key in ("all", group):
                cell = counts.setdefault(key, {}).setdefault(str(side), [0, 0])
                cell[0] += 1
                cell[1] += found
    return counts


def render(figures: dict) -> str:
    from maskcls.faces.detect import MIN_SIDE

    heads = " | ".join("as it is" if side == 0 else f"{side} px" for side in SIDES)
    lines = ["## Faces in small photos (`benchmarks/small_faces.py`)", "",
             "RetinaFace (threshold 0.9, fallback 0.3) on the suite's small photos, each detected as it is or on a "
             f"copy whose shorter side is enlarged (bicubic) to the size of the column; `{MIN_SIDE} px` is what "
             "`input.face_min_side` defaults to (`maskcls.faces.detect.MIN_SIDE`). Cells: photos with a face found, of the row's photos.", "",
             f"| row | group | photos | {heads} |", "| --- | --- | --- | " + " | ".join("---" for _ in SIDES) + " |"]
    for row, groups in figures.items():
        for group, per in groups.items():
            photos = per[str(SIDES[0])][0]
            cells = " | ".join(f"{per[str(side)][1]:,} ({per[str(side)][1] / photos:.0%})" for side in SIDES)
            lines.append(f"| {row} | {group} | {photos:,} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    from face_fallback import open_suite, publish, suite_parser

    args = suite_parser(__doc__).parse_args()
    suite = open_suite(args, "small_faces")
    if suite is None:
        return
    figures = {row: measure(suite, row) for row in ROWS}
    publish("small-faces", figures, render(figures), args)


if __name__ == "__main__":
    main()
