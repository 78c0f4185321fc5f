"""A gallery PNG to look at the preprocessing and the mask synthesis side by side, one photo a row.

Columns: the original photo, its background removed and blurred (:mod:`maskcls.faces.segment`), the face crop a
``crop=face`` run would train on, and masks drawn on the face from the 5 landmarks and from the 468-point face
mesh (:mod:`maskcls.faces.masks`), worn correctly and incorrectly. Both mask columns of a row use the same kind,
placement and seed, so they differ only in where the mask sits. Needs the optional mediapipe extra.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maskcls.data.images import ImageReadError, is_hidden, is_image_name, load_rgb
from maskcls.data.records import DataError
from maskcls.fileio import atomic_write
from maskcls.progress import track

COLUMNS = ("original", "background removed", "background blurred", "face crop", "5 landmarks",
           "face mesh", "5 landmarks, incorrect", "face mesh, incorrect")
#: Context around the face in the face-crop and mask columns, as in ``input.face_margin``'s default.
FACE_MARGIN = 0.4


@dataclass
class GalleryResult:
    """The PNG written and what went missing in it, each with the photo's path."""

    path: Path
    photos: list[Path] = field(default_factory=list)
    no_face: list[Path] = field(default_factory=list)
    no_mesh: list[Path] = field(default_factory=list)
    no_person: list[Path] = field(default_factory=list)  # segmentation missed the person or the face: kept


def gallery_photos(source: str | Path) -> list[Path]:
    """The photos a gallery draws from: every person's ``normal`` photo of a competition root (or of its
    ``train`` folder), else every image under the folder.

    Raises:
        DataError: for a missing folder, or one without photos.
    """
    source = Path(source)
    if not source.is_dir():
        raise DataError(f"{source}: no such folder")
    images = next((p for p in (source / "train" / "images", source / "images") if p.is_dir()), None)
    if images is not None and any((images / d.name).is_dir() for d in images.iterdir()):
        photos = sorted(p for p in images.glob("*/normal.*") if is_image_name(p.name) and not is_hidden(p.parent.name))
    else:
        photos = sorted(p for p in source.rglob("*") if p.is_file() and is_image_name(p.name)
                        and not any(is_hidden(part) for part in p.relative_to(source).parts))
    if not photos:
        raise DataError(f"{source}: no photos found (expected train/images/<person>/normal.* or image files)")
    return photos


def write_gallery(source: str | Path, out: str | Path, count: int = 30, seed: int = 0, thumb: int = 128,
                  detector: str = "retinaface") -> GalleryResult:
    """Draw ``count`` random photos of ``source`` as gallery rows into the PNG ``out``.

    Raises:
        DataError: for a missing or empty source, or an ``out`` that already exists (it is never overwritten).
        MaskclsError: when mediapipe is not installed.
    """
    from maskcls.faces.detect import create_detector
    from maskcls.faces.mediapipe_support import require_mediapipe

    out = Path(out)
    if out.exists():
        raise DataError(f"{out}: already exists; choose another --out")
    if count < 1:
        raise DataError(f"--n {count}: expected at least one photo")
    require_mediapipe("data gallery")
    photos = gallery_photos(source)
    rng = np.random.default_rng(seed)
    picked = [photos[i] for i in sorted(rng.choice(len(photos), size=min(count, len(photos)), replace=False))]
    result = GalleryResult(out, picked)
    face_detector = create_detector(detector)
    rows = [_row(path, index, seed, thumb, face_detector, result)
            for index, path in track(list(enumerate(picked)), "drawing the gallery")]
    _save_png(out, _sheet(rows, thumb))
    return result


def _row(path: Path, index: int, seed: int, thumb: int, detector, result: GalleryResult) -> list:
    """The tiles of one photo (``None`` for a tile that cannot be drawn, with its reason)."""
    from maskcls.faces.detect import face_crop_box, pick_face
    from maskcls.faces.masks import render_mask, sample_kind
    from maskcls.faces.mesh import face_mesh
    from maskcls.faces.segment import apply_background, covers, person_mask

    try:
        image = load_rgb(path)
    except ImageReadError as exc:
        return [(None, str(exc).split(":")[-1].strip())] + [(None, "")] * (len(COLUMNS) - 1)
    pixels = np.asarray(image, dtype=np.uint8)
    face = pick_face(detector.detect(pixels), (image.width, image.height), "largest")
    mask = person_mask(pixels)
    if covers(mask, face and face.box):
        backgrounds = [(apply_background(pixels, mask, mode), "") for mode in ("remove", "blur")]
    else:  # as replace_background keeps it
        result.no_person.append(path)
        backgrounds = [(pixels, "no person: kept")] * 2
    tiles = [(pixels, path.parent.name if path.stem == "normal" else path.name), *backgrounds]
    if face is None or face.landmarks is None:
        result.no_face.append(path)
        return tiles + [(None, "no face")] * (len(COLUMNS) - len(tiles))
    x0, y0, x1, y1 = (round(v) for v in face_crop_box(face, (image.width, image.height), FACE_MARGIN, 1.0))
    crop = lambda array: array[y0:y1, x0:x1]  # noqa: E731
    tiles.append((crop(pixels), f"face {face.score:.2f}"))
    mesh = face_mesh(pixels, face.box)
    if mesh is None:
        result.no_mesh.append(path)
    kind_rng = np.random.default_rng([seed, index])
    incorrect = "nose_exposed" if index % 2 == 0 else "chin"
    for placement, kind in (("correct", sample_kind(kind_rng)), (incorrect, sample_kind(kind_rng))):
        for use_mesh in (False, True):
            if use_mesh and mesh is None:
                tiles.append((None, "no mesh"))
                continue
            drawn = render_mask(pixels, face.landmarks, kind, placement, np.random.default_rng([seed, index, 1]),
                                mesh=mesh if use_mesh else None)
            tiles.append((crop(drawn), f"{kind} {placement}"))
    return tiles


def _sheet(rows: list[list], thumb: int):
    """The grid: a header of column names, then one row per photo, each tile fitted into a square cell."""
    from PIL import Image, ImageDraw

    caption, pad, header = 12, 4, 16
    cell_w, cell_h = thumb + pad, thumb + caption + pad
    sheet = Image.new("RGB", (len(COLUMNS) * cell_w, header + len(rows) * cell_h), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for column, name in enumerate(COLUMNS):
        draw.text((column * cell_w + 2, 2), name, fill=(0, 0, 0))
    for r, tiles in enumerate(rows):
        y = header + r * cell_h
        for column, (array, text) in enumerate(tiles):
            x = column * cell_w
            if array is not None:
                tile = Image.fromarray(array)
                tile.thumbnail((thumb, thumb))
                sheet.paste(tile, (x + (thumb - tile.width) // 2, y + (thumb - tile.height) // 2))
            else:
                draw.rectangle((x, y, x + thumb - 1, y + thumb - 1), fill=(235, 235, 235))
            draw.text((x + 2, y + thumb + 1), text[:22], fill=(0, 0, 0) if array is not None else (170, 0, 0))
    return sheet


def _save_png(path: Path, sheet) -> None:
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG")
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
