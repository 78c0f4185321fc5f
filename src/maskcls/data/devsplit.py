"""The development hold-out: which photos of the shared public sets no training run may ever see.

The out-of-distribution suite scores runs on these photos, and every importer that feeds training (the public
set, the general preset, real-mask supervision) leaves them out, so the two sides can never overlap. The rule
is a pure function of file names (a SHA-1 bucket), the same on every machine and for every worker count:

- ``utkface``: a photo (one UTKFace chip, the closest to a person the set offers) is held out when its bucket
  falls under :data:`DEV_FRACTION`.
- ``facemask``: whole crowd photos are held out, so no face of a held-out photo is ever trained on.
- ``realmask``: photos are held out per source; the greyscale video crops of ``jamesnogra_face_mask_usage``
  share people across near-identical frames, so they are first grouped into frame runs (images whose 16×16
  greyscale thumbnails correlate above :data:`FRAME_RUN_SIMILARITY`, linked transitively) and whole runs are held
  out. ``parisasuchdev_selfies`` (16 photos of 3 unnamed people) cannot be split by person and is held out whole.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

DEV_FRACTION: dict[str, float] = {"utkface": 0.2, "facemask": 0.25, "realmask": 0.25}
FRAME_RUN_SOURCE = "jamesnogra_face_mask_usage"
FRAME_RUN_SIMILARITY = 0.9
WHOLLY_HELD_OUT = frozenset({"parisasuchdev_selfies"})


def bucket(key: str) -> float:
    """A stable number in [0, 1) for a file name (its SHA-1)."""
    return int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16) / float(16**12)


def is_dev(dataset: str, key: str) -> bool:
    """Whether ``key`` (a path relative to the dataset folder, e.g. ``images/x.jpg``) is held out.

    Args:
        dataset: ``utkface`` or ``facemask`` (``realmask`` needs :func:`realmask_dev_files`).
        key: the file's path as the dataset's CSV writes it; only its name counts.
    """
    if dataset not in ("utkface", "facemask"):
        raise ValueError(f"is_dev: {dataset!r} is decided per file only for utkface and facemask")
    return bucket(f"{dataset}/{Path(key).name}") < DEV_FRACTION[dataset]


def frame_runs(paths: list[Path]) -> list[int]:
    """Group near-identical video frames: a run id per path (single linkage on thumbnail correlation)."""
    import numpy as np
    from PIL import Image

    if not paths:
        return []
    thumbs = []
    for path in paths:
        with Image.open(path) as image:
            thumbs.append(np.asarray(image.convert("L").resize((16, 16), Image.BILINEAR), dtype=np.float32).ravel())
    x = np.stack(thumbs)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    parent = list(range(len(paths)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for start in range(0, len(paths), 512):
        sims = x[start:start + 512] @ x.T
        for a, b in zip(*np.nonzero(sims > FRAME_RUN_SIMILARITY)):
            ra, rb = root(start + int(a)), root(int(b))
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    return [root(i) for i in range(len(paths))]


def realmask_dev_files(root: Path) -> set[str]:
    """The ``file`` values of ``realmask/labels.csv`` that are held out (see the module's rules)."""
    with (root / "labels.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    dev: set[str] = set()
    runs = [r["file"] for r in rows if r["source"] == FRAME_RUN_SOURCE]
    run_ids = frame_runs([root / f for f in runs])
    groups: dict[int, list[str]] = {}
    for file, run in zip(runs, run_ids):
        groups.setdefault(run, []).append(file)
    for members in groups.values():
        if bucket(f"realmask/{Path(min(members)).name}") < DEV_FRACTION["realmask"]:
            dev.update(members)
    for row in rows:
        if row["source"] == FRAME_RUN_SOURCE:
            continue
        if row["source"] in WHOLLY_HELD_OUT or bucket(f"realmask/{Path(row['file']).name}") < DEV_FRACTION["realmask"]:
            dev.add(row["file"])
    return dev
