"""Photo bytes → every face in it with its box and the run's 18-class prediction: the service's work, no HTTP.

Photos are decoded upright as RGB (EXIF rotation applied, transparency flattened) and the faces found by a
detector of :mod:`maskcls.faces.detect`. What the model then sees is cut exactly as training cut it, with the
run's :class:`~maskcls.vision.preprocess.CacheSpec` and :func:`maskcls.vision.preprocess.preprocess`, the function
the training cache cuts with:

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
    from maskcls.inference.contract import Engine
    from maskcls.vision.preprocess import CacheSpec

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

    from maskcls.data.images import quiet_bomb_warnings, to_rgb

    quiet_bomb_warnings()  # the pixel limit below answers 413; Pillow's raw warning would only clutter the log
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
    (:func:`maskcls.vision.preprocess.decode`); the same bytes are decoded the same way here, then cut by
    :func:`maskcls.vision.preprocess.preprocess` (with the picked face guarding a background change, as in training).
    """
    from PIL import Image, ImageOps

    from maskcls.data.images import to_rgb
    from maskcls.vision.preprocess import draft, find_face, needs_face, preprocess

    image = photo.image
    with Image.open(io.BytesIO(photo.data)) as raw:
        stored = raw.size
        draft(raw, spec)
        if raw.size != stored:  # the reduced-scale decode applies
            raw.load()
            image = to_rgb(ImageOps.exif_transpose(raw))
    return preprocess(image, spec, find_face(image, spec) if needs_face(spec) else None)


def face_entries(photo: Photo, faces: list["Face"], spec: "CacheSpec") -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` entries of a ``crop=face`` run, one per face, as training cut its picked face
    (with the background removed or blurred first, guarded by that face, when the run was trained so)."""
    from maskcls.vision.preprocess import face_inputs

    return face_inputs(photo.image, faces, spec)


def classify_photo(photo: Photo, engine: "Engine", detector: "FaceDetector",
                   lock: ContextManager | None = None) -> list[FaceResult]:
    """Every face of a photo with the run's prediction, best detector score first; ``[]`` without a face.

    Args:
        photo: a decoded photo (:func:`decode_photo`).
        engine: the run's inference engine.
        detector: the face detector.
        lock: held around the model call (the service shares one engine between its threads).
    """
    from maskcls.inference.contract import cache_spec

    spec = cache_spec(engine)
    faces = detector.detect(np.asarray(photo.image, dtype=np.uint8), spec.face_fallback, spec.face_min_side,
                             spec.face_retry)
    if not faces:
        return []
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
