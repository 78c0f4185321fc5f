"""Photo bytes → every face in it with its box and the run's 18-class prediction: the service's work, no HTTP.

Photos are decoded upright as RGB (EXIF rotation applied, transparency flattened) and the faces found by a
detector of :mod:`maskcls.faces.detect`. What the model then sees is cut exactly as training cut it, with the
run's :class:`~maskcls.vision.cache.CacheSpec` and the functions of :mod:`maskcls.vision.cache`:

- a run trained with ``crop=face`` gets one entry per face: the face's crop box
  (:func:`~maskcls.faces.detect.face_crop_box` with the run's margin and input aspect) resized with the run's
  interpolation, as the cache cut the face it picked in each training photo (after removing or blurring the
  background, guarded by that face, for a run trained so);
- a run trained on whole photos (``crop=none`` or ``center``) never saw a face crop, so it gets the whole photo,
  cropped and resized as in training (a JPEG decoded at the same reduced scale), and that one prediction is given
  to every face found. Such a run was trained on photos of one person; a group photo gets one answer for all,
  and each result says so with ``input="photo"``.

A photo without a face gives no result (an empty list), whatever the crop: the service reports faces.
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ContextManager

import numpy as np

from maskcls.errors import MaskclsError

if TYPE_CHECKING:
    from maskcls.faces.detect import Face, FaceDetector
    from maskcls.inference.engine import Engine
    from maskcls.vision.cache import CacheSpec

#: Image formats the service takes (Pillow's name → MIME type).
ACCEPTED_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
#: Largest photo decoded, in pixels (a small compressed file can hold a huge image).
MAX_PIXELS = 40_000_000


class UnsupportedImage(MaskclsError):
    """Not an image, or an image format the service does not take (HTTP 415)."""


class CorruptImage(MaskclsError):
    """An empty body, or an image of an accepted format that cannot be decoded (HTTP 422)."""


class PhotoTooLarge(MaskclsError):
    """An upload over the size cap, or a photo with more than :data:`MAX_PIXELS` pixels (HTTP 413)."""


@dataclass(frozen=True)
class Photo:
    """One decoded upload.

    Attributes:
        data: the file's bytes as sent.
        image: the PIL image, upright RGB at full resolution.
        format: Pillow's format name (``JPEG``, ``PNG`` or ``WEBP``).
    """

    data: bytes
    image: Any
    format: str

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` upright."""
        return self.image.size


@dataclass(frozen=True)
class FaceResult:
    """One face and the run's prediction for it.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels of the upright photo, inside it.
        score: the detector's confidence.
        probs: float32 ``[18]`` class probabilities.
        input: ``face`` (the model saw this face's crop) or ``photo`` (it saw the whole photo: a whole-photo run).
    """

    box: tuple[float, float, float, float]
    score: float
    probs: np.ndarray
    input: str

    @property
    def label(self) -> int:
        """The most probable of the 18 classes."""
        return int(np.argmax(self.probs))


def decode_photo(data: bytes, name: str = "upload") -> Photo:
    """Decode an uploaded JPEG, PNG or WebP upright as RGB.

    Raises:
        CorruptImage: for an empty body or an image that cannot be decoded (truncated, damaged).
        UnsupportedImage: for bytes that are no image, or an image of another format.
        PhotoTooLarge: for an image of more than :data:`MAX_PIXELS` pixels.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    from maskcls.data.images import to_rgb

    expected = "expected JPEG, PNG or WebP"
    if not data:
        raise CorruptImage(f"{name}: empty body ({expected})")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedImage(f"{name}: not an image ({expected})") from None
    except Image.DecompressionBombError as exc:
        raise PhotoTooLarge(f"{name}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow's plugins raise many types on hostile headers
        raise CorruptImage(f"{name}: unreadable image header ({type(exc).__name__}: {exc})") from None
    with image:
        if image.format not in ACCEPTED_FORMATS:
            raise UnsupportedImage(f"{name}: {image.format} images are not accepted ({expected})")
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise PhotoTooLarge(f"{name}: {width} x {height} pixels is over the limit of {MAX_PIXELS:,}")
        try:
            image.load()
            upright = to_rgb(ImageOps.exif_transpose(image))
        except Exception as exc:  # noqa: BLE001 - truncated and damaged files raise OSError, ValueError, …
            raise CorruptImage(f"{name}: corrupt {image.format} image ({exc})") from None
    return Photo(data, upright, image.format)


def photo_entry(photo: Photo, spec: "CacheSpec") -> np.ndarray:
    """The whole photo as a uint8 ``[H, W, 3]`` entry of a ``crop=none|center`` run, as training made it.

    Training decodes a JPEG at a reduced scale when that still covers the input
    (:func:`maskcls.vision.cache.load_image`); the same bytes are decoded the same way here.
    """
    from PIL import Image, ImageOps

    from maskcls.data.images import to_rgb
    from maskcls.vision.cache import _crop_box, _draft, _resampling

    image = photo.image
    with Image.open(io.BytesIO(photo.data)) as raw:
        stored = raw.size
        _draft(raw, spec)
        if raw.size != stored:  # the reduced-scale decode applies
            raw.load()
            image = to_rgb(ImageOps.exif_transpose(raw))
    if _background(spec) != "keep":  # guarded, as in training, by the picked face of the image it changes
        from maskcls.faces.detect import create_detector, pick_face

        faces = create_detector(spec.face_detector).detect(np.asarray(image, dtype=np.uint8))
        image = _with_background(image, spec, pick_face(faces, image.size, spec.face_pick))
    height, width = spec.size
    if _alignment(spec) != "none":
        return _aligned(image, _crop_box(image.size, spec), height)
    resized = image.resize((width, height), _resampling(spec.interpolation), box=_crop_box(image.size, spec))
    return np.asarray(resized, dtype=np.uint8)


def face_entries(photo: Photo, faces: list["Face"], spec: "CacheSpec") -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` entries of a ``crop=face`` run, one per face, as training cut its picked face
    (with the background removed or blurred first, guarded by that face, when the run was trained so)."""
    from maskcls.faces.detect import face_crop_box
    from maskcls.vision.cache import _resampling

    height, width = spec.size
    resampling = _resampling(spec.interpolation)
    entries = np.empty((len(faces), height, width, 3), dtype=np.uint8)
    for index, face in enumerate(faces):
        box = face_crop_box(face, photo.size, spec.face_margin, width / height)
        image = photo.image if _background(spec) == "keep" else _with_background(photo.image, spec, face)
        if _alignment(spec) != "none":
            entries[index] = _aligned(image, box, height)
        else:
            entries[index] = np.asarray(image.resize((width, height), resampling, box=box), dtype=np.uint8)
    return entries


def _alignment(spec: "CacheSpec") -> str:
    """The spec's face alignment (``none`` for specs that have none)."""
    return getattr(spec, "alignment", "none")


def _aligned(image, box, size: int) -> np.ndarray:
    """The landmark-aligned chip of a region, as :func:`maskcls.vision.cache.load_image` makes it."""
    from maskcls.faces.align import align_chip

    return align_chip(np.asarray(image.crop(tuple(round(v) for v in box)), dtype=np.uint8), size)


def _background(spec: "CacheSpec") -> str:
    """The spec's background treatment (``keep`` for specs that have none)."""
    return getattr(spec, "background", "keep")


def _with_background(image, spec: "CacheSpec", face: "Face | None"):
    """The photo with its background removed or blurred as training did it (:func:`maskcls.vision.cache
    .with_background`), guarded by ``face``."""
    from maskcls.vision.cache import with_background

    return with_background(image, spec, face)


def classify_photo(photo: Photo, engine: "Engine", detector: "FaceDetector",
                   lock: ContextManager | None = None) -> list[FaceResult]:
    """Every face of a photo with the run's prediction, best detector score first; ``[]`` without a face.

    Args:
        photo: a decoded photo (:func:`decode_photo`).
        engine: the run's inference engine.
        detector: the face detector.
        lock: held around the model call (the service shares one engine between its threads).
    """
    from maskcls.inference.engine import cache_spec

    faces = detector.detect(np.asarray(photo.image, dtype=np.uint8))
    if not faces:
        return []
    spec = cache_spec(engine)
    per_face = spec.crop == "face"
    entries = face_entries(photo, faces, spec) if per_face else photo_entry(photo, spec)[None]
    with lock or contextlib.nullcontext():
        probs = engine.probs(entries)
    if not per_face:
        probs = np.repeat(probs, len(faces), axis=0)
    width, height = photo.size
    return [FaceResult(_inside(face.box, width, height), face.score, row, "face" if per_face else "photo")
            for face, row in zip(faces, probs)]


def classify_bytes(data: bytes, engine: "Engine", detector: "FaceDetector", lock: ContextManager | None = None,
                   name: str = "upload") -> tuple[Photo, list[FaceResult]]:
    """:func:`decode_photo` then :func:`classify_photo`.

    Raises:
        UnsupportedImage, CorruptImage, PhotoTooLarge: as :func:`decode_photo`.
    """
    photo = decode_photo(data, name)
    return photo, classify_photo(photo, engine, detector, lock)


def _inside(box: tuple[float, float, float, float], width: int, height: int) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = box
    return (min(max(x0, 0.0), width), min(max(y0, 0.0), height), min(max(x1, 0.0), width), min(max(y1, 0.0), height))
