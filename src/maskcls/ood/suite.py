"""Build the out-of-distribution suite into a folder, only from the development hold-out of the shared data.

Only photos that :mod:`maskcls.data.devsplit` holds out (and every training importer leaves out) are used:

============== ==================================================================================================
row            what it holds
============== ==================================================================================================
crowd_m0       face crops of the held-out crowd photos (``facemask``), the squared box, margin 0; ``group`` is the
               face size bucket (longer side < 32, 32–63, ≥ 64 px)
crowd_m25      the same faces at margin 0.25
utk_asis       held-out UTKFace people, unmasked, the chip as it is
utk_reframed   the same people re-framed (:mod:`maskcls.ood.reframe`); ``group`` is the backdrop
utk_masked     the same re-framed people masked by the evaluation renderer (:mod:`maskcls.ood.eval_masks`);
               ``group`` is the placement (worn / under_nose / chin)
realmask       held-out ``realmask`` photos (every source but the greyscale video crops); ``group`` is the source
realmask_grey  held-out frame runs of the greyscale video crops (``jamesnogra_face_mask_usage``), wrongly worn
               masks included
============== ==================================================================================================

Layout: ``manifest.json`` (the recipe it was built from, counts, what was left out and why) and per row
``<row>.csv`` (``file,mask,gender,age,group,face_px``; an empty cell is a label the source does not give) beside
``<row>/`` of photos. The build is deterministic (every random choice comes from the seed and the photo's name),
goes into a temporary folder renamed into place, and :func:`ensure_suite` rebuilds only when the recipe (options,
hold-out rule, suite version, the shared label files' sizes and times) differs from the manifest's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from maskcls.data import devsplit
from maskcls.data.images import ImageReadError, load_rgb
from maskcls.data.importers import square_box
from maskcls.errors import MaskclsError
from maskcls.fileio import write_text
from maskcls.labels import parse_mask
from maskcls.progress import track

SUITE_VERSION = 1
ROWS = ("crowd_m0", "crowd_m25", "utk_asis", "utk_reframed", "utk_masked", "realmask", "realmask_grey")
CROWD_MARGINS = {"crowd_m0": 0.0, "crowd_m25": 0.25}
SIZE_BUCKETS = ("<32", "32-63", ">=64")
COLUMNS = ("file", "mask", "gender", "age", "group", "face_px")
#: Share of masked people per placement (worn, under the nose, on the chin).
PLACEMENT_SHARES = {"worn": 0.5, "under_nose": 0.25, "chin": 0.25}


def default_shared() -> Path:
    """``$MASKCLS_SHARED_DATA``, else ``../shared/data`` beside the project (the repository root)."""
    env = os.environ.get("MASKCLS_SHARED_DATA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[3].parent / "shared" / "data"


def size_bucket(side: float) -> str:
    """The face size bucket of a box's longer side in pixels."""
    return SIZE_BUCKETS[0] if side < 32 else SIZE_BUCKETS[1] if side < 64 else SIZE_BUCKETS[2]


@dataclass(frozen=True)
class SuiteOptions:
    """What a suite is built from.

    Args:
        shared: the shared data folder (``utkface/``, ``facemask/``, ``realmask/``).
        people: held-out UTKFace people to sample (0 or more than there are: all of them).
        seed: every random choice (sampling, framing, masks) derives from it and the photo's name.
        detector: the face detector that finds the chips' boxes and landmarks.
    """

    shared: Path
    people: int = 1000
    seed: int = 0
    detector: str = "retinaface"

    def recipe(self) -> dict:
        """Everything the suite's contents depend on (compared with the manifest's to decide staleness)."""
        stamps = {}
        for name in ("utkface/labels.csv", "facemask/boxes.csv", "realmask/labels.csv"):
            path = self.shared / name
            stamps[name] = f"{path.stat().st_size}:{int(path.stat().st_mtime)}" if path.is_file() else "missing"
        return {"version": SUITE_VERSION, "shared": str(Path(self.shared).resolve()), "people": self.people,
                "seed": self.seed, "detector": self.detector, "sources": stamps,
                "devsplit": {"fraction": devsplit.DEV_FRACTION, "frame_runs": devsplit.FRAME_RUN_SIMILARITY,
                             "whole": sorted(devsplit.WHOLLY_HELD_OUT)}}


def _rng(seed: int, *keys: str) -> np.random.Generator:
    digest = hashlib.sha256("\0".join([str(seed), *keys]).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _write_rows(folder: Path, row: str, rows: list[dict]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for item in rows:
        writer.writerow({k: item.get(k, "") for k in COLUMNS})
    write_text(folder / f"{row}.csv", buffer.getvalue())


def read_rows(suite: Path, row: str) -> list[dict[str, str]]:
    """The rows of one suite row's CSV (paths relative to the suite)."""
    path = Path(suite) / f"{row}.csv"
    if not path.is_file():
        raise MaskclsError(f"{path}: not found (the suite has no row {row!r}; rebuild it)")
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise MaskclsError(f"{path}: not found (the shared data folder lacks it)")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in columns if rows and c not in rows[0]]
    if missing:
        raise MaskclsError(f"{path}: missing columns {', '.join(missing)}")
    return rows


def _crowd(shared: Path, out: Path, notes: dict) -> dict[str, int]:
    """The crowd rows: every box of every held-out photo, at both margins."""
    boxes = _read_csv(shared / "facemask" / "boxes.csv", ("image", "box", "mask", "x0", "y0", "x1", "y1"))
    by_image: dict[str, list[dict[str, str]]] = {}
    for row in boxes:
        if devsplit.is_dev("facemask", row["image"]):
            by_image.setdefault(row["image"], []).append(row)
    rows: dict[str, list[dict]] = {name: [] for name in CROWD_MARGINS}
    for name in CROWD_MARGINS:
        (out / name).mkdir()
    skipped = 0
    for image_name, entries in track(sorted(by_image.items()), "suite: crowd crops"):
        try:
            photo = load_rgb(shared / "facemask" / image_name)
        except ImageReadError as exc:
            notes.setdefault("unreadable", []).append(str(exc))
            skipped += len(entries)
            continue
        for entry in entries:
            box = tuple(float(entry[k]) for k in ("x0", "y0", "x1", "y1"))
            if not (box[0] < box[2] and box[1] < box[3]) or box[2] <= 0 or box[3] <= 0 \
                    or box[0] >= photo.width or box[1] >= photo.height:
                skipped += 1
                continue
            side = max(box[2] - box[0], box[3] - box[1])
            stem = f"{Path(image_name).stem}_{entry['box']}"
            for name, margin in CROWD_MARGINS.items():
                file = f"{name}/{stem}.png"
                photo.crop(square_box(box, margin, photo.width, photo.height)).save(out / file)
                rows[name].append({"file": file, "mask": int(parse_mask(entry["mask"])),
                                   "group": size_bucket(side), "face_px": round(side, 1)})
    for name, items in rows.items():
        _write_rows(out, name, items)
    notes["crowd"] = {"photos": len(by_image), "boxes_skipped": skipped}
    return {name: len(items) for name, items in rows.items()}


def _placement(rng: np.random.Generator) -> str:
    names = list(PLACEMENT_SHARES)
    return names[int(rng.choice(len(names), p=list(PLACEMENT_SHARES.values())))]


def _utkface(options: SuiteOptions, out: Path, notes: dict) -> dict[str, int]:
    """The three UTKFace rows: the same sampled held-out people as they are, re-framed, and masked."""
    from maskcls.faces.detect import create_detector
    from maskcls.ood.eval_masks import PLACEMENT_STATE, render_eval_mask
    from maskcls.ood.reframe import draw_framing, reframe

    root = options.shared / "utkface"
    faces = [r for r in _read_csv(root / "labels.csv", ("file", "age", "gender"))
             if devsplit.is_dev("utkface", r["file"])]
    faces.sort(key=lambda r: r["file"])
    rng = _rng(options.seed, "utkface-sample")
    if 0 < options.people < len(faces):
        faces = [faces[i] for i in sorted(rng.choice(len(faces), options.people, replace=False))]
    detector = create_detector(options.detector)
    rows: dict[str, list[dict]] = {"utk_asis": [], "utk_reframed": [], "utk_masked": []}
    for name in rows:
        (out / name).mkdir()
    no_face, unreadable = [], []
    for face_row in track(faces, "suite: UTKFace people"):
        source = root / face_row["file"]
        try:
            chip = np.asarray(load_rgb(source), dtype=np.uint8)
        except ImageReadError as exc:
            unreadable.append(str(exc))
            continue
        found = detector.detect(chip)
        if not found or found[0].landmarks is None:
            no_face.append(face_row["file"])
            continue
        face = found[0]
        stem = Path(face_row["file"]).name.split(".")[0]
        labels = {"gender": face_row["gender"], "age": int(face_row["age"])}
        shutil.copyfile(source, out / "utk_asis" / f"{stem}.jpg")
        rows["utk_asis"].append({"file": f"utk_asis/{stem}.jpg", "mask": 2, **labels, "group": "chip",
                                 "face_px": round(face.width, 1)})
        person = _rng(options.seed, "utkface", stem)
        framing = draw_framing(person)
        data, box = reframe(chip, face.box, framing)
        (out / "utk_reframed" / f"{stem}.jpg").write_bytes(data)
        rows["utk_reframed"].append({"file": f"utk_reframed/{stem}.jpg", "mask": 2, **labels,
                                     "group": framing.backdrop, "face_px": round(box[2] - box[0], 1)})
        placement = _placement(person)
        masked = render_eval_mask(chip, face.landmarks, placement, person)
        data, box = reframe(masked, face.box, framing, surround=chip)
        (out / "utk_masked" / f"{stem}.jpg").write_bytes(data)
        rows["utk_masked"].append({"file": f"utk_masked/{stem}.jpg", "mask": PLACEMENT_STATE[placement], **labels,
                                   "group": placement, "face_px": round(box[2] - box[0], 1)})
    for name, items in rows.items():
        _write_rows(out, name, items)
    notes["utkface"] = {"held_out": sum(1 for r in _read_csv(root / "labels.csv", ("file",))
                                        if devsplit.is_dev("utkface", r["file"])),
                        "sampled": len(faces), "no_face": no_face, "unreadable": unreadable}
    return {name: len(items) for name, items in rows.items()}


def _realmask(shared: Path, out: Path, notes: dict) -> dict[str, int]:
    """The two realmask rows: held-out photos by source, and the greyscale video crops apart."""
    root = shared / "realmask"
    labels = _read_csv(root / "labels.csv", ("file", "mask", "source"))
    dev = devsplit.realmask_dev_files(root)
    rows: dict[str, list[dict]] = {"realmask": [], "realmask_grey": []}
    for name in rows:
        (out / name).mkdir()
    missing = []
    for row in track([r for r in labels if r["file"] in dev], "suite: realmask photos"):
        source = root / row["file"]
        if not source.is_file():
            missing.append(row["file"])
            continue
        name = "realmask_grey" if row["source"] == devsplit.FRAME_RUN_SOURCE else "realmask"
        file = f"{name}/{Path(row['file']).name}"
        shutil.copyfile(source, out / file)
        gender = row.get("gender") or ""
        rows[name].append({"file": file, "mask": int(parse_mask(row["mask"])), "gender": gender,
                           "age": row.get("age") or "", "group": row["source"]})
    for name, items in rows.items():
        _write_rows(out, name, items)
    notes["realmask"] = {"held_out": len(dev), "missing": missing}
    return {name: len(items) for name, items in rows.items()}


def read_manifest(suite: Path) -> dict | None:
    """The suite's manifest, or ``None`` where there is none (or it is unreadable)."""
    try:
        return json.loads((Path(suite) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ensure_suite(dst: str | Path, options: SuiteOptions, force: bool = False) -> tuple[Path, bool]:
    """The suite at ``dst``, built (or rebuilt) unless its manifest has this recipe already.

    Returns:
        ``(dst, built)``: ``built`` is False when an up-to-date suite was reused.

    Raises:
        MaskclsError: if the shared data is missing, or ``dst`` is a non-empty folder that is not a suite.
    """
    dst = Path(dst)
    shared = Path(options.shared)
    for part in ("utkface", "facemask", "realmask"):
        if not (shared / part).is_dir():
            raise MaskclsError(f"{shared / part}: not found (the suite is built from the shared data; "
                               "point --shared or MASKCLS_SHARED_DATA at it)")
    recipe = options.recipe()
    manifest = read_manifest(dst)
    if manifest is not None and manifest.get("recipe") == recipe and not force:
        return dst, False
    if dst.exists() and manifest is None and (not dst.is_dir() or any(dst.iterdir())):
        raise MaskclsError(f"{dst}: exists and is not an evaluation suite (no manifest.json); choose another folder")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.partial-"))
    try:
        start = time.perf_counter()
        notes: dict = {}
        counts = {**_crowd(shared, tmp, notes), **_utkface(options, tmp, notes), **_realmask(shared, tmp, notes)}
        manifest = {"recipe": recipe, "options": {**asdict(options), "shared": str(shared)}, "rows": counts,
                    "notes": notes, "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "build_seconds": round(time.perf_counter() - start, 1)}
        write_text(tmp / "manifest.json", json.dumps(manifest, indent=1))
        if dst.exists():
            old = Path(tempfile.mkdtemp(dir=dst.parent, prefix=f".{dst.name}.old-"))
            os.replace(dst, old / dst.name)
            shutil.rmtree(old, ignore_errors=True)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst, True
