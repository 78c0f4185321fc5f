"""A preprocessed-image cache, so that epochs after the first never decode a JPEG again.

Every photo is decoded once, cropped and resized to one fixed size and stored in a uint8 array
``[N, H, W, 3]``. On disk the array is a raw file ``<cache_dir>/<key>.u8`` that is memory-mapped, with a
``<key>.json`` sidecar (settings, count, shape, unreadable photos, creation time). The key is a sha256 of
the settings and of every source file's resolved path, size and modification time, so changing a setting
or touching a photo gives a new key and a fresh build.

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
from typing import Sequence

import numpy as np

from maskcls.data.images import ImageReadError, load_rgb, to_rgb
from maskcls.fileio import atomic_write
from maskcls.progress import track

#: Bumped whenever the preprocessing changes, so old caches are not reused.
FORMAT_VERSION = 1
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
CROPS = ("none", "center")
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
            largest centred region with the target aspect ratio.
    """

    size: tuple[int, int]
    interpolation: str = "bicubic"
    crop: str = "none"

    def __post_init__(self) -> None:
        height, width = self.size
        if height < 1 or width < 1:
            raise ValueError(f"cache size must be positive, got {self.size}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"unknown interpolation {self.interpolation!r} (expected one of {INTERPOLATIONS})")
        if self.crop not in CROPS:
            raise ValueError(f"unknown crop {self.crop!r} (expected one of {CROPS})")

    def key(self) -> str:
        """A stable string of every setting (and the format version)."""
        height, width = self.size
        return f"v{FORMAT_VERSION}:size={height}x{width}:interpolation={self.interpolation}:crop={self.crop}"

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
    image = _decode(Path(path), spec)
    height, width = spec.size
    resized = image.resize((width, height), _resampling(spec.interpolation), box=_crop_box(image.size, spec))
    return np.asarray(resized, dtype=np.uint8)


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
    """Ask the JPEG decoder for a 1/2, 1/4 or 1/8 scale when that still covers the target (and its crop)."""
    if image.format != "JPEG":
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
    """The region of an image of ``size`` (width, height) to resize from."""
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
    """

    def __init__(
        self,
        array: np.ndarray,
        spec: CacheSpec,
        key: str,
        errors: dict[int, str],
        path: Path | None = None,
        reused: bool = False,
    ) -> None:
        self._array = array
        self.spec = spec
        self.key = key
        self.errors = errors
        self.path = path
        self.reused = reused

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
            return cls(array, spec, key, _fill(array, paths, spec, workers))
        cache_dir = Path(cache_dir)
        data_path, meta_path = cache_dir / f"{key}.u8", cache_dir / f"{key}.json"
        errors = _read_sidecar(meta_path, data_path, key, shape)
        reused = errors is not None
        if errors is None:
            errors = _build_file(data_path, paths, spec, shape, workers)
            _write_sidecar(meta_path, key, spec, shape, errors)
        return cls(_map(data_path, shape), spec, key, errors, data_path, reused)

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


def _fill(array: np.ndarray, paths: list[Path], spec: CacheSpec, workers: int) -> dict[int, str]:
    """Decode every photo into ``array`` with a thread pool; return the errors by index."""

    def work(index: int) -> str | None:
        try:
            array[index] = load_image(paths[index], spec)
        except ImageReadError as exc:
            array[index] = 0
            return str(exc)
        return None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        results = list(track(pool.map(work, range(len(paths))), "caching images", total=len(paths)))
    return {index: message for index, message in enumerate(results) if message is not None}


def _build_file(
    data_path: Path, paths: list[Path], spec: CacheSpec, shape: tuple[int, ...], workers: int
) -> dict[int, str]:
    """Build the array into a temp file beside ``data_path`` and rename it into place."""
    data_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=data_path.parent, prefix=f".{data_path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        array = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=shape)
        errors = _fill(array, paths, spec, workers)
        array.flush()
        del array
        os.replace(tmp, data_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return errors


def _map(data_path: Path, shape: tuple[int, ...]) -> np.memmap:
    return np.memmap(data_path, dtype=np.uint8, mode="r", shape=shape)


def _write_sidecar(
    meta_path: Path, key: str, spec: CacheSpec, shape: tuple[int, ...], errors: dict[int, str]
) -> None:
    meta = {
        "version": FORMAT_VERSION,
        "key": key,
        "spec": asdict(spec),
        "count": shape[0],
        "shape": list(shape),
        "errors": [{"index": index, "message": message} for index, message in sorted(errors.items())],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_write(meta_path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1)


def _read_sidecar(meta_path: Path, data_path: Path, key: str, shape: tuple[int, ...]) -> dict[int, str] | None:
    """The errors of a complete cache with this key and shape, or ``None`` if there is none to reuse."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        complete = data_path.stat().st_size == math.prod(shape)
        if not complete or meta["key"] != key or meta["shape"] != list(shape):
            return None
        return {int(item["index"]): str(item["message"]) for item in meta["errors"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None
