"""A decoded photo (and optionally a face in it) → the model's input entry: the one cut training and serving share.

:class:`CacheSpec` says how: the input size and interpolation of the backbone, the crop (``none``, ``center`` or
``face``), the face settings and the background treatment. :func:`preprocess` makes the uint8 ``[H, W, 3]`` entry
from a decoded photo; the training cache (:mod:`maskcls.vision.cache`), ``predict``, the ONNX engine (which takes the
same entries) and the service (:mod:`maskcls.serve.classify`) all get their input from it. :func:`decode` opens a
photo upright as RGB (a JPEG at a reduced scale when that still covers the input), and :func:`load_image` is the
two together for a file, exactly as the cache stores it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Sequence

import numpy as np

from maskcls.data.images import (ImageReadError, check_pixels, load_rgb, not_a_photo_file, quiet_bomb_warnings,
                                 to_rgb)
from maskcls.faces.align import ALIGNMENTS
from maskcls.faces.detect import (DETECTORS, FACE_FRAMES, MIN_SIDE, PICK_POLICIES, RETRY_SCALE, check_retry,
                                  create_detector, face_crop_box, pick_face)
from maskcls.faces.segment import BACKGROUNDS, SEGMENTATION_TAG

if TYPE_CHECKING:
    from maskcls.config import InputConfig
    from maskcls.faces.detect import Face
    from maskcls.models.backbones import Preprocess

#: Bumped whenever the preprocessing changes, so old caches are not reused.
FORMAT_VERSION = 1
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
#: How a photo is cut before the resize (see :class:`CacheSpec`).
CROPS = ("none", "center", "face")
_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)


@dataclass(frozen=True)
class CacheSpec:
    """How photos are turned into cache entries.

    Args:
        size: target ``(height, width)`` in pixels.
        interpolation: PIL resampling filter: ``nearest``, ``bilinear``, ``bicubic``, ``lanczos``, ``box`` or
            ``hamming``.
        crop: ``none`` resizes the whole photo (the aspect ratio may change); ``center`` first crops the
            largest centred region with the target aspect ratio; ``face`` detects the faces of the photo and
            crops around one of them (see :func:`~maskcls.faces.detect.face_crop_box`), or centre-crops a photo
            without a face.
        face_margin: context around the face for ``crop=face``, as a fraction of its size on each side.
        face_detector: the detector for ``crop=face`` (``retinaface``, ``mtcnn``, ``haar`` or ``retinaface+mtcnn`` (MTCNN only where RetinaFace finds no face)).
        face_pick: which face of several for ``crop=face``: ``largest`` or ``central``.
        face_frame: for ``crop=face``, what the margin grows: the detector's ``box`` or the square its five
            ``landmarks`` place (:func:`~maskcls.faces.detect.landmark_square`).
        face_fallback: for ``crop=face``, a photo without a face at the detector's threshold is cut around its
            best face scoring at least this (``None``: it is centre-cropped); see
            :meth:`~maskcls.faces.detect.FaceDetector.detect`.
        face_min_side: for ``crop=face``, a photo whose shorter side is under this is detected on a copy enlarged
            to it (0: never; :data:`~maskcls.faces.detect.MIN_SIDE` by default).
        face_retry: for ``crop=face``, a photo in which no face was found is detected again on a copy this many
            times as large (0: never; :data:`~maskcls.faces.detect.RETRY_SCALE` by default).
        background: ``keep``, or ``remove``/``blur`` the background of the whole photo (see
            :func:`~maskcls.faces.segment.replace_background`) before it is cropped; a photo in which no person is
            found keeps its background.
        alignment: ``none``, or ``dlib5``: the cropped region becomes a chip aligned on its 5 landmarks (see
            :func:`~maskcls.faces.align.align_chip`) instead of being resized; from the backbone's preprocessing.
    """

    size: tuple[int, int]
    interpolation: str = "bicubic"
    crop: str = "none"
    face_margin: float = 0.4
    face_detector: str = "retinaface"
    face_pick: str = "largest"
    face_frame: str = "box"
    face_fallback: float | None = None
    face_min_side: int = MIN_SIDE
    face_retry: float = RETRY_SCALE
    background: str = "keep"
    alignment: str = "none"

    def __post_init__(self) -> None:
        height, width = self.size
        if height < 1 or width < 1:
            raise ValueError(f"cache size must be positive, got {self.size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r} (expected one of {INTERPOLATIONS})")
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r} (expected one of {CROPS})")
        if self.face_margin < 0:
            raise ValueError(f"face margin must be >= 0, got {self.face_margin}")
        if self.face_detector not in DETECTORS:
            raise ValueError(f"unknown face detector {self.face_detector!r} (expected one of {tuple(DETECTORS)})")
        if self.face_pick not in PICK_POLICIES:
            raise ValueError(f"unknown face pick {self.face_pick!r} (expected one of {PICK_POLICIES})")
        if self.face_frame not in FACE_FRAMES:
            raise ValueError(f"unknown face frame {self.face_frame!r} (expected one of {FACE_FRAMES})")
        if self.face_fallback is not None and not 0.0 <= self.face_fallback <= 1.0:
            raise ValueError(f"face fallback score must be in [0, 1], got {self.face_fallback}")
        if self.face_min_side < 0:
            raise ValueError(f"face min side must be >= 0, got {self.face_min_side}")
        check_retry(self.face_retry)
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r} (expected one of {BACKGROUNDS})")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {self.alignment!r} (expected one of {ALIGNMENTS})")
        if self.alignment != "none" and height != width:
            raise ValueError(f"{self.alignment} alignment makes square chips, not {height}x{width}")

    @classmethod
    def from_config(cls, input_cfg: "InputConfig", preprocess: "Preprocess") -> "CacheSpec":
        """The spec of a run: size and interpolation from the backbone's preprocessing, crop settings from
        the ``train`` section (shared by training and prediction, so both crop alike)."""
        return cls(size=tuple(preprocess.size), interpolation=preprocess.interpolation, crop=input_cfg.crop,
                   face_margin=input_cfg.face_margin, face_detector=input_cfg.face_detector,
                   face_pick=input_cfg.face_pick, face_frame=input_cfg.face_frame,
                   face_fallback=input_cfg.face_fallback, face_min_side=input_cfg.face_min_side,
                   face_retry=input_cfg.face_retry,
                   background=input_cfg.background,
                   alignment=getattr(preprocess, "alignment", "none"))

    def key(self) -> str:
        """A stable string of every setting (and the format version).

        The face settings are part of it only for ``crop=face`` (always with ``face_min_side``, since enlarging
        small photos changed the faces found in them, so no face cache of before it is reused), and the background (with the segmentation's version and the detector that guards it) only when it is not kept,
        so the keys of other settings never change.
        """
        height, width = self.size
        key = f"v{FORMAT_VERSION}:size={height}x{width}:interpolation={self.interpolation}:crop={self.crop}"
        if self.crop == "face":
            key += f":face={self.face_detector},{self.face_pick},margin={float(self.face_margin)!r},min_side={self.face_min_side}"
            if self.face_frame != "box":
                key += f",frame={self.face_frame}"
            if self.face_fallback is not None:
                key += f",fallback={float(self.face_fallback)!r}"
            if self.face_retry:
                key += f",retry={float(self.face_retry)!r}"
        if self.background != "keep":
            key += f":background={self.background},{SEGMENTATION_TAG},guard={self.face_detector}"
        if self.alignment != "none":
            key += f":align={self.alignment}"
        return key

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape ``(H, W, 3)`` of one entry."""
        return (*self.size, 3)


def decode(source: str | Path | IO[bytes], spec: CacheSpec | None = None):
    """Open a photo upright as RGB (PIL); with ``spec``, a JPEG decodes at a reduced scale that keeps its input size.

    Anything the fast path cannot read from a file goes through :func:`~maskcls.data.images.load_rgb`, which names
    the problem.

    Raises:
        ImageReadError: if the photo cannot be read.
    """
    from PIL import Image, ImageOps

    quiet_bomb_warnings()
    is_file = isinstance(source, (str, Path))
    if is_file and not_a_photo_file(source) is not None:  # links, FIFOs (which would block), empty files: named
        return load_rgb(Path(source))
    try:
        with Image.open(source) as image:
            check_pixels(source if is_file else getattr(source, "name", "upload"), image.size)
            if spec is not None:
                draft(image, spec)
            image.load()
            return to_rgb(ImageOps.exif_transpose(image))
    except ImageReadError:
        raise
    except Exception:  # noqa: BLE001 - whatever the fast path trips on, the careful one names
        if not is_file:
            raise
        return load_rgb(Path(source))


def draft(image, spec: CacheSpec) -> None:
    """Ask the JPEG decoder of an opened, not yet loaded image for a 1/2, 1/4 or 1/8 scale when that still covers
    the target (and its crop).

    Not for ``crop=face``: the face may be a small part of the photo, and its region, not the photo, must keep
    at least the target size.
    """
    if image.format != "JPEG" or spec.crop == "face" or spec.alignment != "none":
        return
    height, width = spec.size
    if image.getexif().get(_EXIF_ORIENTATION, 1) in _ROTATED_ORIENTATIONS:
        height, width = width, height  # the target in the orientation the pixels are stored in
    stored_width, stored_height = image.size
    # Both crops need the scaled photo to cover the target on its tighter side.
    scale = max(width / stored_width, height / stored_height)
    if scale <= 0.5:
        image.draft("RGB", (math.ceil(stored_width * scale), math.ceil(stored_height * scale)))


def needs_face(spec: CacheSpec) -> bool:
    """Whether preprocessing uses a face of the photo: for ``crop=face``, and to guard a background change."""
    return spec.crop == "face" or spec.background != "keep"


def find_face(image, spec: CacheSpec) -> "Face | None":
    """The picked face of a decoded photo (``spec``'s detector and policy), or ``None`` when it has none.

    The face is found in the photo as it is (detectors are trained on backdrops), with the spec's fallback score.
    """
    faces = create_detector(spec.face_detector).detect(np.asarray(image, dtype=np.uint8), spec.face_fallback,
                                                       spec.face_min_side, spec.face_retry)
    return pick_face(faces, image.size, spec.face_pick)


def preprocess(image, spec: CacheSpec, face: "Face | None" = None) -> np.ndarray:
    """The model's input entry, uint8 ``[H, W, 3]`` at ``spec.size``, of a decoded photo (PIL, upright RGB).

    Args:
        image: the photo (see :func:`decode`).
        spec: how to cut it.
        face: the face to cut around for ``crop=face`` (``None``: the photo has none, so it is centre-cropped), and
            to guard a background change with (see :func:`with_background`). Use :func:`find_face` for the face
            training would pick.
    """
    height, width = spec.size
    if spec.crop == "face" and face is not None:
        box = face_crop_box(face, image.size, spec.face_margin, width / height, spec.face_frame)
    else:
        box = crop_box(image.size, spec)
    image = with_background(image, spec, face)
    if spec.alignment != "none":
        from maskcls.faces.align import align_chip

        return align_chip(np.asarray(image.crop(tuple(round(v) for v in box)), dtype=np.uint8), height)
    resized = image.resize((width, height), resampling(spec.interpolation), box=box)
    return np.asarray(resized, dtype=np.uint8)


def face_inputs(image, faces: Sequence["Face"], spec: CacheSpec) -> np.ndarray:
    """uint8 ``[N, H, W, 3]`` inputs of a decoded photo (PIL, upright RGB), one per face, each cut as training cuts
    its picked face (for the service and the gate, which classify every face of a photo)."""
    height, width = spec.size
    entries = np.empty((len(faces), height, width, 3), dtype=np.uint8)
    for index, face in enumerate(faces):
        entries[index] = preprocess(image, spec, face)
    return entries


def load_image(path: str | Path, spec: CacheSpec) -> np.ndarray:
    """Decode one photo and crop/resize it as ``spec`` says: the exact entry the cache stores.

    Raises:
        ImageReadError: if the photo cannot be read.
    """
    return load_image_info(path, spec)[0]


def load_image_info(path: str | Path, spec: CacheSpec) -> tuple[np.ndarray, bool]:
    """Like :func:`load_image`, and whether ``crop=face`` found no face and fell back to the centre crop.

    Raises:
        ImageReadError: if the photo cannot be read.
    """
    image = decode(Path(path), spec)
    face = find_face(image, spec) if needs_face(spec) else None
    return preprocess(image, spec, face), spec.crop == "face" and face is None


def with_background(image, spec: CacheSpec, face: "Face | None" = None):
    """A decoded photo (PIL, RGB) with its background kept, removed or blurred as ``spec`` says.

    ``face`` (the picked face, if any) guards it: a photo whose segmentation leaves that face out keeps its
    background (see :func:`~maskcls.faces.segment.replace_background`).

    Raises:
        MaskclsError: for ``remove``/``blur`` when mediapipe is not installed.
    """
    if spec.background == "keep":
        return image
    from PIL import Image

    from maskcls.faces.segment import replace_background

    pixels = np.asarray(image, dtype=np.uint8)
    return Image.fromarray(replace_background(pixels, spec.background, face_box=face and face.box)[0])


def crop_box(size: tuple[int, int], spec: CacheSpec) -> tuple[float, float, float, float]:
    """The region of an image of ``size`` (width, height) to resize from for ``crop=none|center`` (and a ``face``
    crop without a face: the centre)."""
    width, height = size
    if spec.crop == "none":
        return (0.0, 0.0, float(width), float(height))
    target_height, target_width = spec.size
    if width * target_height > height * target_width:  # wider than the target: trim the sides
        crop_width = height * target_width / target_height
        return ((width - crop_width) / 2, 0.0, (width + crop_width) / 2, float(height))
    crop_height = width * target_height / target_width
    return (0.0, (height - crop_height) / 2, float(width), (height + crop_height) / 2)


def resampling(name: str):
    """PIL's resampling filter of an interpolation name (``bicubic`` → ``Image.Resampling.BICUBIC``)."""
    from PIL import Image

    return Image.Resampling[name.upper()]
