"""A preprocessed-image cache, so that epochs after the first never decode a JPEG again.

Every photo is decoded once, optionally freed of its background, cropped and resized to one fixed size and
stored in a uint8 array ``[N, H, W, 3]``. On disk the array is a raw file ``<cache_dir>/<key>.u8`` that is
memory-mapped, with a ``<key>.json`` sidecar (settings, count, shape, unreadable photos, photos without a face
for ``crop=face``, creation time). The key is a sha256 of the settings and of every source file's resolved path,
size and modification time, so changing a setting or touching a photo gives a new key and a fresh build.

The array is built into a temp file and renamed into place, and the sidecar is written last (atomically):
a build that was interrupted leaves no sidecar and is never reused.

Cleanup: caches with other keys are never deleted here, so ``cache_dir`` grows by one array per distinct
photo set and setting (N × H × W × 3 bytes, about 150 KB a photo at 224 × 224). Delete the folder, or its
files, whenever no run is using it; the next run rebuilds what it needs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.data.images import ImageReadError, load_rgb, to_rgb
from maskcls.faces.align import ALIGNMENTS
from maskcls.faces.detect import DETECTORS, PICK_POLICIES, create_detector, face_crop_box, pick_face
from maskcls.faces.segment import BACKGROUNDS, SEGMENTATION_TAG
from maskcls.fileio import atomic_write
from maskcls.progress import track

if TYPE_CHECKING:
    from maskcls.config import TrainConfig
    from maskcls.faces.detect import Face
    from maskcls.models.backbones import Preprocess

#: Bumped whenever the preprocessing changes, so old caches are not reused.
FORMAT_VERSION = 1
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
CROPS = ("none", "center", "face")
_EXIF_ORIENTATION = 0x0112
_ROTATED_ORIENTATIONS = (5, 6, 7, 8)


def default_cache_dir() -> Path:
    """The cache folder: ``$MASKCLS_CACHE`` if set, else ``~/.cache/maskcls``."""
    return Path(os.environ.get("MASKCLS_CACHE") or Path.home() / ".cache" / "maskcls").expanduser()


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
        face_detector: the detector for ``crop=face`` (``retinaface``, ``mtcnn`` or ``haar``).
        face_pick: which face of several for ``crop=face``: ``largest`` or ``central``.
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
        if self.background not in BACKGROUNDS:
            raise ValueError(f"unknown background {self.background!r} (expected one of {BACKGROUNDS})")
        if self.alignment not in ALIGNMENTS:
            raise ValueError(f"unknown alignment {self.alignment!r} (expected one of {ALIGNMENTS})")
        if self.alignment != "none" and height != width:
            raise ValueError(f"{self.alignment} alignment makes square chips, not {height}x{width}")

    @classmethod
    def from_config(cls, train_cfg: "TrainConfig", preprocess: "Preprocess") -> "CacheSpec":
        """The spec of a run: size and interpolation from the backbone's preprocessing, crop settings from
        the ``train`` section (shared by training and prediction, so both crop alike)."""
        return cls(size=tuple(preprocess.size), interpolation=preprocess.interpolation, crop=train_cfg.crop,
                   face_margin=train_cfg.face_margin, face_detector=train_cfg.face_detector,
                   face_pick=train_cfg.face_pick, background=train_cfg.background,
                   alignment=getattr(preprocess, "alignment", "none"))

    def key(self) -> str:
        """A stable string of every setting (and the format version).

        The face settings are part of it only for ``crop=face``, and the background (with the segmentation's
        version and the detector that guards it) only when it is not kept, so the keys of earlier settings never
        change.
        """
        height, width = self.size
        key = f"v{FORMAT_VERSION}:size={height}x{width}:interpolation={self.interpolation}:crop={self.crop}"
        if self.crop == "face":
            key += f":face={self.face_detector},{self.face_pick},margin={float(self.face_margin)!r}"
        if self.background != "keep":
            key += f":background={self.background},{SEGMENTATION_TAG},guard={self.face_detector}"
        if self.alignment != "none":
            key += f":align={self.alignment}"
        return key

    @property
    def shape(self) -> tuple[int, int, int]:
        """The shape ``(H, W, 3)`` of one entry."""
        return (*self.size, 3)


def cache_key(paths: Sequence[Path], spec: CacheSpec) -> str:
    """A sha256 hex digest of the settings and of each file's resolved path, size and mtime (in order).

    A missing file hashes as missing, so the key is still defined and the build records the error.
    """
    digest = hashlib.sha256(spec.key().encode())
    for path in paths:
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        except FileNotFoundError:
            stamp = "missing"
        digest.update(f"\n{resolved}\0{stamp}".encode())
    return digest.hexdigest()


def load_image(path: str | Path, spec: CacheSpec) -> np.ndarray:
    """Decode one photo and crop/resize it as ``spec`` says: the exact entry the cache stores.

    Use this for single photos outside a cache (e.g. at prediction time) so they match training input.

    Raises:
        ImageReadError: if the photo cannot be read.
    """
    return load_image_info(path, spec)[0]


def load_image_info(path: str | Path, spec: CacheSpec) -> tuple[np.ndarray, bool]:
    """Like :func:`load_image`, and whether ``crop=face`` found no face and fell back to the centre crop.

    Raises:
        ImageReadError: if the photo cannot be read.
    """
    image = _decode(Path(path), spec)
    height, width = spec.size
    box, fell_back = _crop_box(image.size, spec), False
    # The face is found in the photo as it is (detectors are trained on backdrops); it also guards the background.
    face = _face(image, spec) if spec.crop == "face" or spec.background != "keep" else None
    if spec.crop == "face":
        box, fell_back = (box, True) if face is None else (face_crop_box(face, image.size, spec.face_margin,
                                                                          width / height), False)
    image = with_background(image, spec, face)
    if spec.alignment != "none":
        from maskcls.faces.align import align_chip

        region = np.asarray(image.crop(tuple(round(v) for v in box)), dtype=np.uint8)
        return align_chip(region, height), fell_back
    resized = image.resize((width, height), _resampling(spec.interpolation), box=box)
    return np.asarray(resized, dtype=np.uint8), fell_back


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


def _face(image, spec: CacheSpec) -> "Face | None":
    """The picked face of a decoded photo (``spec``'s detector and policy), or ``None`` when it has none."""
    faces = create_detector(spec.face_detector).detect(np.asarray(image, dtype=np.uint8))
    return pick_face(faces, image.size, spec.face_pick)


def _decode(path: Path, spec: CacheSpec):
    """Open a photo upright as RGB; a JPEG decodes at a reduced scale that keeps at least the target size.

    Anything the fast path cannot read goes through :func:`load_rgb`, which names the problem.
    """
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            _draft(image, spec)
            image.load()
            return to_rgb(ImageOps.exif_transpose(image))
    except (OSError, SyntaxError, ValueError):
        return load_rgb(path)


def _draft(image, spec: CacheSpec) -> None:
    """Ask the JPEG decoder for a 1/2, 1/4 or 1/8 scale when that still covers the target (and its crop).

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


def _crop_box(size: tuple[int, int], spec: CacheSpec) -> tuple[float, float, float, float]:
    """The region of an image of ``size`` (width, height) to resize from (``face`` falls back to the centre)."""
    width, height = size
    if spec.crop == "none":
        return (0.0, 0.0, float(width), float(height))
    target_height, target_width = spec.size
    if width * target_height > height * target_width:  # wider than the target: trim the sides
        crop_width = height * target_width / target_height
        return ((width - crop_width) / 2, 0.0, (width + crop_width) / 2, float(height))
    crop_height = width * target_height / target_width
    return (0.0, (height - crop_height) / 2, float(width), (height + crop_height) / 2)


def _resampling(name: str):
    from PIL import Image

    return Image.Resampling[name.upper()]


class ImageCache:
    """Preprocessed photos as one uint8 array ``[N, H, W, 3]``, memory-mapped from disk or held in memory.

    Build or reuse one with :meth:`open`. Entries of unreadable photos are zeros and listed in
    :attr:`errors`, so the caller can report and skip them.

    Attributes:
        spec: the settings the entries were made with.
        key: the cache key (see :func:`cache_key`).
        errors: index → message (naming the path) of each photo that could not be read.
        path: the ``.u8`` file, or ``None`` for an in-memory cache.
        reused: whether :meth:`open` found a complete cache and decoded nothing.
        fallbacks: indices of readable photos in which ``crop=face`` found no face (centre-cropped instead),
            ascending; always empty for other crops.
    """

    def __init__(
        self,
        array: np.ndarray,
        spec: CacheSpec,
        key: str,
        errors: dict[int, str],
        path: Path | None = None,
        reused: bool = False,
        fallbacks: list[int] | None = None,
    ) -> None:
        self._array = array
        self.spec = spec
        self.key = key
        self.errors = errors
        self.path = path
        self.reused = reused
        self.fallbacks = list(fallbacks or [])

    @classmethod
    def open(
        cls, paths: Sequence[Path], spec: CacheSpec, cache_dir: Path | None, workers: int = 2
    ) -> "ImageCache":
        """Reuse the complete cache of these photos and settings in ``cache_dir``, or build it.

        Args:
            paths: the photos, in the order entries are indexed.
            spec: crop and resize settings.
            cache_dir: folder of the ``<key>.u8`` and ``<key>.json`` files; ``None`` keeps the array in
                memory and builds it every time.
            workers: decoding threads (Pillow releases the GIL while decoding and resizing).
        """
        paths = [Path(p) for p in paths]
        key = cache_key(paths, spec)
        shape = (len(paths), *spec.shape)
        if cache_dir is None or not paths:  # (a zero-length file cannot be memory-mapped)
            array = np.zeros(shape, dtype=np.uint8)
            errors, fallbacks = _fill(array, paths, spec, workers)
            return cls(array, spec, key, errors, fallbacks=fallbacks)
        cache_dir = Path(cache_dir)
        data_path, meta_path = cache_dir / f"{key}.u8", cache_dir / f"{key}.json"
        found = _read_sidecar(meta_path, data_path, key, shape)
        reused = found is not None
        if found is None:
            found = _build_file(data_path, paths, spec, shape, workers)
            _write_sidecar(meta_path, key, spec, shape, *found)
        errors, fallbacks = found
        return cls(_map(data_path, shape), spec, key, errors, data_path, reused, fallbacks)

    @property
    def array(self) -> np.ndarray:
        """The whole ``[N, H, W, 3]`` uint8 array (read-only when memory-mapped)."""
        return self._array

    def __len__(self) -> int:
        return len(self._array)

    def __getitem__(self, index: int) -> np.ndarray:
        """Entry ``index`` as an ``[H, W, 3]`` uint8 view (copy it before changing it)."""
        return self._array[index]

    def __getstate__(self) -> dict:
        """Pickle a memory-mapped cache by its path, so spawned data-loader workers map it rather than copy it."""
        state = dict(self.__dict__)
        if self.path is not None:
            state["_array"] = self._array.shape  # mapped again from ``path`` by __setstate__
        return state

    def __setstate__(self, state: dict) -> None:
        if state["path"] is not None:
            state["_array"] = _map(state["path"], state["_array"])
        self.__dict__.update(state)


def _fill(array: np.ndarray, paths: list[Path], spec: CacheSpec, workers: int) -> tuple[dict[int, str], list[int]]:
    """Decode every photo into ``array`` with a thread pool; return the errors by index and the face fallbacks."""

    def work(index: int) -> str | bool:
        try:
            array[index], fell_back = load_image_info(paths[index], spec)
        except ImageReadError as exc:
            array[index] = 0
            return str(exc)
        return fell_back

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(track(pool.map(work, range(len(paths))), "caching images", total=len(paths)))
    errors = {index: result for index, result in enumerate(results) if isinstance(result, str)}
    return errors, [index for index, result in enumerate(results) if result is True]


def _build_file(
    data_path: Path, paths: list[Path], spec: CacheSpec, shape: tuple[int, ...], workers: int
) -> tuple[dict[int, str], list[int]]:
    """Build the array into a temp file beside ``data_path`` and rename it into place."""
    data_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_path.parent, prefix=f".{data_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        array = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
        found = _fill(array, paths, spec, workers)
        array.flush()
        del array
        os.replace(tmp, data_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return found


def _map(data_path: Path, shape: tuple[int, ...]) -> np.memmap:
    return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape)


def _write_sidecar(
    meta_path: Path, key: str, spec: CacheSpec, shape: tuple[int, ...], errors: dict[int, str], fallbacks: list[int]
) -> None:
    meta = {
        "version": FORMAT_VERSION,
        "key": key,
        "spec": asdict(spec),
        "count": shape[0],
        "shape": list(shape),
        "errors": [{"index": index, "message": message} for index, message in sorted(errors.items())],
        "fallbacks": sorted(fallbacks),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_write(meta_path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)


def _read_sidecar(
    meta_path: Path, data_path: Path, key: str, shape: tuple[int, ...]
) -> tuple[dict[int, str], list[int]] | None:
    """The errors and face fallbacks of a complete cache with this key and shape, or ``None`` if there is none."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        complete = data_path.stat().st_size == math.prod(shape)
        if not complete or meta["key"] != key or meta["shape"] != list(shape):
            return None
        errors = {int(item["index"]): str(item["message"]) for item in meta["errors"]}
        return errors, [int(index) for index in meta.get("fallbacks", [])]  # sidecars before crop=face had none
    except (OSError, ValueError, KeyError, TypeError):
        return None
