"""Fill person folders with synthesized mask photos (MaskTheFace-style, drawn here, nothing downloaded).

Every person folder under ``<root>/train/images`` that holds a ``normal`` photo gets the photos it lacks:
``mask1``..``mask5`` as five masks of varied kinds worn correctly (nose bridge to chin), and
``incorrect_mask`` as a mask with the nose exposed or pulled down to the chin. The face and its 5 landmarks
come from the detector on the ``normal`` photo; the mask follows them (scale, roll and yaw). With
``landmarks="mesh"`` the mask follows the face's 468-point mesh instead (nose bridge, jaw, the visible cheek of a
turned face; the optional mediapipe extra), and falls back to the 5 landmarks for a face the mesh misses.

Existing photos are never overwritten. Each generated file is listed in ``<root>/train/synth_manifest.csv``
(path, kind, placement, seed, detector, face score) and carries a JPEG comment starting with
:data:`SIGNATURE`, so synthesized photos stay recognisable later. People without a detectable face are
listed as problems with their path, never skipped silently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from maskcls.data.images import ImageReadError, is_hidden, is_image_name, load_rgb
from maskcls.data.layout import read_csv_rows
from maskcls.data.records import DataError, Problem
from maskcls.fileio import atomic_write, sync_disk
from maskcls.parallel import pool_map

MANIFEST = "synth_manifest.csv"
MANIFEST_COLUMNS = ("path", "person", "stem", "kind", "placement", "seed", "detector", "face_score", "created")
SIGNATURE = "maskcls synth-masks"
WORN_STEMS = ("mask1", "mask2", "mask3", "mask4", "mask5")
INCORRECT_STEM = "incorrect_mask"
#: What places the masks: the detector's 5 landmarks, or the 468-point face mesh.
LANDMARK_SOURCES = ("five", "mesh")
#: Kinds every person's five worn masks include before the rest are drawn at random.
BASE_KINDS = ("surgical", "cloth", "kf94")


@dataclass
class SynthResult:
    """What a synthesis run wrote and every person it could not complete (each with its path).

    ``mesh_fallbacks`` counts the people drawn from the 5 landmarks because the face mesh found no face
    (``landmarks="mesh"`` only).
    """

    root: Path
    people: int = 0
    complete: int = 0
    written: int = 0
    already_complete: int = 0
    mesh_fallbacks: int = 0
    problems: list[Problem] = field(default_factory=list)
    manifest: Path | None = None

    @property
    def failed(self) -> list[Problem]:
        """The people left without all six masked photos."""
        return [p for p in self.problems if p.severity == "error"]


@dataclass(frozen=True)
class _Plan:
    stem: str
    kind: str
    placement: str


def _train_folder(root: str | Path) -> Path:
    """``root/train`` of a competition root, or ``root`` itself when it is the ``train`` folder."""
    root = Path(root)
    return root if (root / "images").is_dir() and not (root / "train").is_dir() else root / "train"


def _person_seed(seed: int, folder: str) -> int:
    digest = hashlib.sha256(f"{seed}:{folder}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def plan_person(rng: np.random.Generator, nose_share: float = 0.65) -> list[_Plan]:
    """The kind and placement of each of a person's six masked photos.

    The five worn masks include :data:`BASE_KINDS` and two more drawn by :func:`faces.masks.sample_kind`, in a
    random order; the incorrect one exposes the nose with probability ``nose_share``, else sits on the chin.
    """
    from maskcls.faces.masks import sample_kind

    kinds = list(BASE_KINDS) + [sample_kind(rng) for _ in range(len(WORN_STEMS) - len(BASE_KINDS))]
    rng.shuffle(kinds)
    plans = [_Plan(stem, kind, "correct") for stem, kind in zip(WORN_STEMS, kinds)]
    placement = "nose_exposed" if rng.random() < nose_share else "chin"
    plans.append(_Plan(INCORRECT_STEM, sample_kind(rng), placement))
    return plans


def _stems_present(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for entry in folder.iterdir():
        if entry.is_file() and not is_hidden(entry.name) and is_image_name(entry.name):
            found.setdefault(entry.stem, entry)
    return found


def _save_jpeg(path: Path, image: np.ndarray, comment: str) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=94, comment=comment.encode())
    # Not flushed one by one (a full build spent about 60 CPU-s in those fsyncs): synth_masks syncs once at the end.
    with atomic_write(path, "wb", durable=False) as handle:
        handle.write(buffer.getvalue())


def synth_masks(
    root: str | Path,
    detector: str = "retinaface",
    seed: int = 0,
    workers: int | None = None,
    nose_share: float = 0.65,
    landmarks: str = "five",
) -> SynthResult:
    """Add the missing masked photos to every person folder with a ``normal`` photo.

    Args:
        root: competition root (holding ``train/images``) or its ``train`` folder.
        detector: face detector name (see :data:`maskcls.faces.detect.DETECTORS`); it must give landmarks.
        seed: the same seed gives the same masks for the same folder names.
        workers: processes, each loading the detector once (None: every core); the output is the same for any
            count.
        nose_share: share of ``incorrect_mask`` photos with the nose exposed (the rest: mask on the chin).
        landmarks: ``five`` places masks from the detector's landmarks, ``mesh`` from the face mesh (5 landmarks
            where the mesh finds no face, counted in ``mesh_fallbacks``).

    Raises:
        DataError: if there is no ``train/images`` folder.
        MaskclsError: for an unknown ``landmarks``, or ``mesh`` without mediapipe installed.
    """
    from maskcls.errors import MaskclsError

    if landmarks not in LANDMARK_SOURCES:
        raise MaskclsError(f"unknown landmark source {landmarks!r} (choices: {', '.join(LANDMARK_SOURCES)})")
    if landmarks == "mesh":
        from maskcls.faces.mediapipe_support import require_mediapipe

        require_mediapipe("synth-masks --landmarks mesh")
    train = _train_folder(root)
    images = train / "images"
    if not images.is_dir():
        raise DataError(f"{images}: no such folder")
    result = SynthResult(Path(root))
    folders = sorted(p for p in images.iterdir() if p.is_dir() and not is_hidden(p.name))
    created = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    setup = (detector, seed, nose_share, landmarks, created)
    rows: list[list[str]] = []
    try:
        for new_rows, problems, complete, missed in pool_map(_person_worker, setup, folders, workers,
                                                             "drawing masks"):
            rows.extend(new_rows)
            result.problems.extend(problems)
            result.mesh_fallbacks += int(missed)
            if complete is not None:
                result.people += 1
                result.complete += int(complete)
                result.already_complete += int(complete and not new_rows)
    finally:  # an interrupted run still records what it wrote, on disk before the manifest that lists it
        sync_disk()
        result.manifest = _append_manifest(train / MANIFEST, rows)
    result.written = len(rows)
    return result


def _person_worker(detector: str, seed: int, nose_share: float, landmarks: str,
                   created: str) -> Callable[[Path], tuple[list[list[str]], list[Problem], bool | None, bool]]:
    """The per-person work of :func:`synth_masks`, with the detector loaded once (in each pool worker)."""
    from maskcls.faces.detect import create_detector, pick_face

    face_detector = create_detector(detector)

    def work(folder: Path) -> tuple[list[list[str]], list[Problem], bool | None, bool]:
        """New manifest rows, problems, whether the folder now has all six (None: no normal photo), and whether
        the face mesh missed the face."""
        present = _stems_present(folder)
        normal = present.get("normal")
        if normal is None:
            problem = Problem("warning", "no-normal", folder, "no normal photo to draw masks on; skipped")
            return [], [problem], None, False
        rng = np.random.default_rng(_person_seed(seed, folder.name))
        plans = [plan for plan in plan_person(rng, nose_share) if plan.stem not in present]
        if not plans:
            return [], [], True, False
        try:
            image = load_rgb(normal)
        except ImageReadError as exc:
            return [], [Problem("error", "corrupt-image", normal, f"{exc}; no masks drawn")], False, False
        pixels = np.asarray(image, dtype=np.uint8)
        face = pick_face(face_detector.detect(pixels), (image.width, image.height), "largest")
        if face is None or face.landmarks is None:
            problem = Problem("error", "no-face", normal, "no face with landmarks found; no masks drawn")
            return [], [problem], False, False
        mesh = None
        if landmarks == "mesh":
            from maskcls.faces.mesh import face_mesh

            mesh = face_mesh(pixels, face.box)
        rows = _draw(folder, pixels, face, plans, rng, seed, detector, created, mesh)
        return rows, [], True, landmarks == "mesh" and mesh is None

    return work


def _draw(folder: Path, pixels: np.ndarray, face, plans: list[_Plan], rng: np.random.Generator, seed: int,
          detector: str, created: str, mesh: np.ndarray | None = None) -> list[list[str]]:
    from maskcls.faces.masks import render_mask

    rows = []
    for plan in plans:
        masked = render_mask(pixels, face.landmarks, plan.kind, plan.placement, rng, mesh=mesh)
        target = folder / f"{plan.stem}.jpg"
        comment = f"{SIGNATURE} kind={plan.kind} placement={plan.placement} seed={seed}"
        if mesh is not None:
            comment += " landmarks=mesh"
        _save_jpeg(target, masked, comment)
        rows.append([f"{folder.name}/{target.name}", folder.name, plan.stem, plan.kind, plan.placement, str(seed),
                     detector, f"{face.score:.4f}", created])
    return rows


def read_manifest(root: str | Path) -> list[dict[str, str]]:
    """The manifest rows of a root (empty when nothing was synthesized there)."""
    path = _train_folder(root) / MANIFEST
    return read_csv_rows(path, MANIFEST_COLUMNS) if path.is_file() else []


def _append_manifest(path: Path, rows: list[list[str]]) -> Path | None:
    if not rows:
        return path if path.is_file() else None
    old = [[row[c] for c in MANIFEST_COLUMNS] for row in read_csv_rows(path, MANIFEST_COLUMNS)] if path.is_file() else []
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MANIFEST_COLUMNS)
        writer.writerows(old + sorted(rows))
    return path


def is_synthesized(path: str | Path) -> bool:
    """Whether a photo was written by :func:`synth_masks` (its JPEG comment carries :data:`SIGNATURE`)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            comment = image.info.get("comment", b"")
    except OSError:
        return False
    return SIGNATURE.encode() in (comment if isinstance(comment, bytes) else str(comment).encode())


def write_preview(root: str | Path, out_dir: str | Path, count: int = 50, seed: int = 0, thumb: int = 128) -> Path:
    """A PNG of ``count`` random synthesized photos, each beside its original, captioned with kind/placement.

    Returns the PNG's path (``out_dir/synth_preview.png``, or ``-2``, ``-3`` … so nothing is overwritten).

    Raises:
        DataError: if the root has no manifest.
    """
    from PIL import Image, ImageDraw

    train = _train_folder(root)
    rows = read_manifest(root)
    if not rows:
        raise DataError(f"{train / MANIFEST}: no synthesized photos to preview")
    rng = np.random.default_rng(seed)
    picked = [rows[i] for i in rng.choice(len(rows), size=min(count, len(rows)), replace=False)]
    per_row, caption = 5, 16
    cell_w, cell_h = 2 * thumb + 8, thumb + caption + 8
    rows_needed = -(-len(picked) // per_row)
    sheet = Image.new("RGB", (per_row * cell_w, rows_needed * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(picked):
        folder = train / "images" / row["person"]
        normal = _stems_present(folder).get("normal")
        x, y = (i % per_row) * cell_w, (i // per_row) * cell_h
        for j, path in enumerate((normal, train / "images" / row["path"])):
            try:
                tile = load_rgb(path) if path is not None else None
            except ImageReadError:
                tile = None
            if tile is not None:
                tile.thumbnail((thumb, thumb))
                sheet.paste(tile, (x + j * thumb, y))
        draw.text((x + 2, y + thumb + 2), f"{row['stem']}: {row['kind']} {row['placement']}", fill=(0, 0, 0))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "synth_preview.png"
    number = 2
    while target.exists():
        target = out_dir / f"synth_preview-{number}.png"
        number += 1
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    with atomic_write(target, "wb") as handle:
        handle.write(buffer.getvalue())
    return target
