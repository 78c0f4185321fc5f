"""A preprocessed-image cache, so that epochs after the first never decode a JPEG again.

Every photo is decoded once and made into its model input by :func:`maskcls.vision.preprocess.preprocess`
(optionally freed of its background, cropped and resized to one fixed size), then stored in a uint8 array
``[N, H, W, 3]``. On disk the array is a raw file ``<cache_dir>/<key>.u8`` that is
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

import bisect
import hashlib
import json
import math
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.data.images import ImageReadError
from maskcls.fileio import atomic_write
from maskcls.progress import track
from maskcls.vision.preprocess import FORMAT_VERSION, CacheSpec, load_image, load_image_info

if TYPE_CHECKING:
    from maskcls.config import CacheConfig

__all__ = ["CacheSpec", "CacheStack", "ImageCache", "cache_key", "default_cache_dir", "load_image", "load_image_info"]


def default_cache_dir() -> Path:
    """The cache folder: ``$MASKCLS_CACHE`` if set, else ``~/.cache/maskcls``."""
    return Path(os.environ.get("MASKCLS_CACHE") or Path.home() / ".cache" / "maskcls").expanduser()


def cache_folder(cache_cfg: "CacheConfig") -> Path | None:
    """Where a run's image and feature caches live; ``None`` keeps them in memory (``cache.enabled=false``)."""
    return (cache_cfg.dir or default_cache_dir()) if cache_cfg.enabled else None


def cache_key(paths: Sequence[Path], spec: CacheSpec) -> str:
    """A sha256 hex digest of the settings and of each file's resolved path, size and mtime (in order).

    A missing file hashes as missing, so the key is still defined and the build records the error.
    """
    digest = hashlib.sha256(spec.key().encode())
    for path in paths:
        try:
            resolved = Path(path).resolve()
            stat = resolved.stat()
            stamp = f"{stat.st_size}:{stat.st_mtime_ns}"
        except (OSError, RuntimeError):  # missing, a broken or looping link: the build records the error
            resolved, stamp = Path(path).absolute(), "missing"
        digest.update(f"\n{resolved}\0{stamp}".encode("utf-8", "surrogateescape"))  # any file name's bytes
    return digest.hexdigest()


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
        cls, paths: Sequence[Path], spec: CacheSpec, cache_dir: Path | None, workers: int | None = None
    ) -> "ImageCache":
        """Reuse the complete cache of these photos and settings in ``cache_dir``, or build it.

        Args:
            paths: the photos, in the order entries are indexed.
            spec: crop and resize settings.
            cache_dir: folder of the ``<key>.u8`` and ``<key>.json`` files; ``None`` keeps the array in
                memory and builds it every time.
            workers: decoding threads, or processes for face crops and backgrounds (None: every core).
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


class CacheStack:
    """Several image caches read as one, entry ``i`` of the stack being entry ``i`` of their photos in order.

    A run trains on several sources (a competition root beside crop folders shared by every run): each source
    gets its own cache, keyed by its own photos, so a new competition root rebuilds only its own entries and the
    shared folders' are reused from any earlier run with the same input settings.

    Attributes:
        parts: the caches, in order.
        names: what each part holds (for the log).
        spec, key, errors, fallbacks, reused: as for :class:`ImageCache`, over the whole stack (``key`` is a
            sha256 of the parts' keys; indices are the stack's).
    """

    def __init__(self, parts: Sequence[ImageCache], names: Sequence[str]) -> None:
        if not parts or len(parts) != len(names):
            raise ValueError(f"a cache stack needs one name per cache, got {len(parts)} caches, {len(names)} names")
        self.parts, self.names = list(parts), list(names)
        self.spec = self.parts[0].spec
        self._starts = [0]
        for part in self.parts:
            self._starts.append(self._starts[-1] + len(part))
        self.key = hashlib.sha256("\n".join(part.key for part in self.parts).encode()).hexdigest()
        self.errors = {start + index: message for start, part in zip(self._starts, self.parts)
                       for index, message in part.errors.items()}
        self.fallbacks = [start + index for start, part in zip(self._starts, self.parts) for index in part.fallbacks]
        self.reused = all(part.reused for part in self.parts)

    @classmethod
    def open(cls, groups: Sequence[tuple[str, Sequence[Path]]], spec: CacheSpec, cache_dir: Path | None,
             workers: int | None = None) -> "CacheStack":
        """Reuse or build one :class:`ImageCache` per ``(name, photos)`` group (see :meth:`ImageCache.open`).

        Each part that detects faces starts its own worker pool (about 3 s on 2 cores with RetinaFace loaded).
        """
        return cls([ImageCache.open(paths, spec, cache_dir, workers) for _, paths in groups],
                   [name for name, _ in groups])

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index: int) -> np.ndarray:
        if not 0 <= index < len(self):
            raise IndexError(f"cache entry {index} out of range (0-{len(self) - 1})")
        part = bisect.bisect_right(self._starts, index) - 1
        return self.parts[part][index - self._starts[part]]

    def describe(self) -> str:
        """Each part's name, photo count and whether it was reused, e.g. ``public 18894 built, realmask 3510 reused``."""
        return ", ".join(f"{name} {len(part)} {'reused' if part.reused else 'built'}"
                         for name, part in zip(self.names, self.parts))


def _fill(array: np.ndarray, paths: list[Path], spec: CacheSpec,
          workers: int | None) -> tuple[dict[int, str], list[int]]:
    """Decode every photo into ``array``; return the errors by index and the face fallbacks.

    Settings that run a detector or a segmenter (``crop=face``, a background not kept) use a process pool with
    the models loaded once per worker (:mod:`maskcls.parallel`); plain resizes use threads (Pillow releases the
    GIL while decoding and resizing).
    """
    from maskcls.parallel import pool_map, worker_count

    if spec.crop == "face" or spec.background != "keep":
        stream = pool_map(_entry_worker, (spec,), paths, workers, "caching images", chunksize=4)
        results = []
        for index, (entry, result) in enumerate(stream):
            array[index] = 0 if entry is None else entry
            results.append(result)
    else:
        def work(index: int) -> str | bool:
            try:
                array[index], fell_back = load_image_info(paths[index], spec)
            except ImageReadError as exc:
                array[index] = 0
                return str(exc)
            return fell_back

        with ThreadPoolExecutor(max_workers=worker_count(workers)) as pool:
            results = list(track(pool.map(work, range(len(paths))), "caching images", total=len(paths)))
    errors = {index: result for index, result in enumerate(results) if isinstance(result, str)}
    return errors, [index for index, result in enumerate(results) if result is True]


def _entry_worker(spec: CacheSpec):
    """Per-photo work for a process pool: (the entry or None, the error message or whether it fell back)."""
    from maskcls.faces.detect import create_detector

    create_detector(spec.face_detector)  # loaded once per worker

    def work(path: Path) -> tuple[np.ndarray | None, str | bool]:
        try:
            return load_image_info(path, spec)
        except ImageReadError as exc:
            return None, str(exc)

    return work


def _build_file(
    data_path: Path, paths: list[Path], spec: CacheSpec, shape: tuple[int, ...], workers: int | None
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
