"""Face detection over a photo or a folder of photos: annotated copies, a CSV of every face, and a tally.

This is what ``maskcls faces`` runs. Photos are read upright as RGB (EXIF rotation applied, like training
reads them), detected over a process pool (:mod:`maskcls.parallel`, every core by default) and drawn with their boxes,
scores and landmarks. A photo that cannot be read is a result with an error, never an exception.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from maskcls.data.images import ImageReadError, load_rgb
from maskcls.errors import MaskclsError
from maskcls.faces.detect import Face, FaceDetector
from maskcls.fileio import atomic_write

#: Photo extensions a folder is scanned for (any case).
PHOTO_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp")
#: Landmark column names of ``faces.csv``; left and right are as seen in the image.
LANDMARK_NAMES = ("eye_left", "eye_right", "nose", "mouth_left", "mouth_right")
_BOX_COLOR = (255, 40, 40)
_LANDMARK_COLORS = ((255, 0, 0), (255, 220, 0), (255, 0, 255), (0, 200, 0), (0, 120, 255))


@dataclass
class PhotoScan:
    """The photos to detect in and the macOS ``._*`` AppleDouble files left out of them."""

    photos: list[Path]
    appledouble: list[Path] = field(default_factory=list)


@dataclass
class PhotoFaces:
    """The faces of one photo.

    Attributes:
        path: the photo.
        faces: its faces, best score first (empty when none was found or it could not be read).
        error: why the photo could not be read, naming it; ``None`` when it was read.
        seconds: time spent in the detector.
        annotated: the annotated copy, when one was written.
    """

    path: Path
    faces: list[Face] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0
    annotated: Path | None = None


def find_photos(source: str | Path, exclude: Path | None = None) -> PhotoScan:
    """One photo, or every jpg/jpeg/png/webp under a folder (recursively, sorted).

    Args:
        source: a photo or a folder.
        exclude: a folder whose files are never taken (the output folder, when it sits inside ``source``).

    Raises:
        MaskclsError: if ``source`` does not exist or a folder holds no photo.
    """
    source = Path(source)
    if source.is_file():
        return PhotoScan([source])
    if not source.is_dir():
        raise MaskclsError(f"{source}: no such photo or folder")
    skip = exclude.resolve() if exclude is not None else None
    scan = PhotoScan([])
    for path in sorted(source.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in PHOTO_EXTENSIONS:
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        (scan.appledouble if path.name.startswith("._") else scan.photos).append(path)
    if not scan.photos:
        raise MaskclsError(f"{source}: no photos ({', '.join(e[1:] for e in PHOTO_EXTENSIONS)}) in this folder")
    return scan


def detect_photos(paths: Sequence[Path], detector: str, out: Path | None = None, root: Path | None = None,
                  workers: int | None = None, threshold: float | None = None,
                  description: str = "detecting faces") -> Iterator[PhotoFaces]:
    """Detect faces photo by photo (results in order) over a process pool, optionally writing annotated copies.

    Args:
        paths: the photos.
        detector: the face detector's name (loaded once in each worker).
        out: folder for annotated copies (``None``: none are written).
        root: the scanned folder; copies keep their path below it (default: the photo's name alone).
        workers: processes (None: every core; 1: this process).
        threshold: the detector's lowest score kept (None: its default).
        description: the progress bar's text.
    """
    from maskcls.parallel import pool_map

    yield from pool_map(_photo_worker, (detector, threshold, out, root), list(paths), workers, description)


def _photo_worker(name: str, threshold: float | None, out: Path | None, root: Path | None):
    """The per-photo work of :func:`detect_photos`, with the detector made once (in each pool worker)."""
    from maskcls.faces.detect import create_detector

    detector: FaceDetector = create_detector(name, threshold)

    def work(path: Path) -> PhotoFaces:
        try:
            image = load_rgb(path)
        except ImageReadError as exc:
            return PhotoFaces(path, error=str(exc))
        started = time.perf_counter()
        faces = detector.detect(np.asarray(image))
        result = PhotoFaces(path, faces, seconds=time.perf_counter() - started)
        if out is not None:
            relative = path.relative_to(root) if root is not None else Path(path.name)
            result.annotated = save_annotated(draw_faces(image, faces), out / relative)
        return result

    return work


def draw_faces(image, faces: Sequence[Face]):
    """A copy of a PIL image with each face's box, index and score, and its five landmarks."""
    from PIL import ImageDraw, ImageFont

    canvas = image.copy()
    draw = ImageDraw.Draw(canvas)
    line = max(1, round(min(canvas.size) / 200))
    font = ImageFont.load_default(size=max(10, round(min(canvas.size) / 25)))
    for index, face in enumerate(faces):
        draw.rectangle(face.box, outline=_BOX_COLOR, width=line)
        label = f"{index}: {face.score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        label_width, label_height = right - left + 2 * line, bottom + 2 * line
        x0, y0 = face.box[0], face.box[1]
        y0 = y0 - label_height if y0 >= label_height else y0  # above the box, or inside it at the top edge
        draw.rectangle((x0, y0, x0 + label_width, y0 + label_height), fill=_BOX_COLOR)
        draw.text((x0 + line, y0 + line), label, fill=(255, 255, 255), font=font)
        if face.landmarks is not None:
            radius = line + 1
            for (x, y), color in zip(face.landmarks.tolist(), _LANDMARK_COLORS):
                draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    return canvas


def save_annotated(image, path: Path) -> Path:
    """Save an annotated photo atomically in the format its suffix names (PNG for an unknown suffix)."""
    from PIL import Image

    image_format = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    with atomic_write(path, "wb") as handle:
        image.save(handle, format=image_format, **({"quality": 90} if image_format == "JPEG" else {}))
    return path


def write_faces_csv(path: Path, results: Sequence[PhotoFaces]) -> Path:
    """``faces.csv``: a row per face (a photo without a face, or unreadable, gets one row with no box).

    Columns: ``path, faces`` (faces in the photo), ``face`` (index, best score first), ``x0, y0, x1, y1, score``,
    ``<landmark>_x, <landmark>_y`` for each of :data:`LANDMARK_NAMES` (empty without landmarks), ``error``.
    """
    header = ["path", "faces", "face", "x0", "y0", "x1", "y1", "score",
              *[f"{name}_{axis}" for name in LANDMARK_NAMES for axis in "xy"], "error"]
    blank = [""] * (len(header) - 4)
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for result in results:
            if result.error is not None:
                writer.writerow([result.path, "", "", *blank, result.error])
            elif not result.faces:
                writer.writerow([result.path, 0, "", *blank, ""])
            for index, face in enumerate(result.faces):
                points = ([f"{v:.1f}" for v in face.landmarks.ravel()] if face.landmarks is not None
                          else [""] * 2 * len(LANDMARK_NAMES))
                writer.writerow([result.path, len(result.faces), index, *[f"{v:.1f}" for v in face.box],
                                 f"{face.score:.4f}", *points, ""])
    return path
