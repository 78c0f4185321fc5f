"""Photos → class probabilities of every ensemble member, each member fed through its own preprocessing.

Members may differ in backbone, input size and crop. Members that share a cache spec (the folds of a k-fold run,
say) share one decode of the photos: for each distinct spec the photos go through the same
:class:`~maskcls.vision.cache.ImageCache` training used (on disk in the run's ``train.cache_dir`` when the run
caches, so predicting again decodes nothing), then every member of that spec runs over the entries batch by
batch, with its TTA views averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.data.images import IMAGE_EXTENSIONS, is_hidden
from maskcls.errors import MaskclsError
from maskcls.inference.engine import Engine, cache_spec
from maskcls.inference.tta import Tta
from maskcls.labels import NUM_CLASSES
from maskcls.progress import track


def member_cache_dir(engine: Engine) -> Path | None:
    """Where the engine's run keeps its image cache (``None``: in memory, as with ``train.cache=false``)."""
    from maskcls.vision.cache import default_cache_dir

    train = engine.cfg.train
    return (train.cache_dir or default_cache_dir()) if train.cache else None


def predict_members(
    engines: Sequence[Engine],
    paths: Sequence[Path],
    tta: Tta | None = None,
    batch_size: int = 64,
    workers: int = 2,
    stop_on_error: bool = False,
    no_face: dict[int, str] | None = None,
) -> tuple[np.ndarray, dict[int, str]]:
    """Class probabilities of every member for every photo.

    Args:
        engines: the members.
        paths: the photos, in output order.
        tta: views averaged per photo (none by default).
        batch_size: photos per engine call (each call sees ``batch_size`` entries of one view).
        workers: decoding threads.
        stop_on_error: return as soon as the photos are decoded if any is unreadable, without running a model
            (the caller only wants the full list of bad photos).
        no_face: when given, filled with index → path of every photo in which a ``crop=face`` member found no
            face (it was centre-cropped instead, as in training): the caller reports them.

    Returns:
        ``(probs, errors)``: float32 ``[M, N, 18]`` with NaN rows for unreadable photos, and index → message
        (naming the path) of each unreadable photo.
    """
    from maskcls.vision.cache import ImageCache

    tta = tta or Tta()
    paths = [Path(p) for p in paths]
    probs = np.full((len(engines), len(paths), NUM_CLASSES), np.nan, dtype=np.float32)
    errors: dict[int, str] = {}
    by_spec: dict[object, list[int]] = {}
    for index, engine in enumerate(engines):
        by_spec.setdefault((cache_spec(engine), member_cache_dir(engine)), []).append(index)
    for (spec, cache_dir), members in by_spec.items():
        cache = ImageCache.open(paths, spec, cache_dir, workers=workers)
        errors.update(cache.errors)
        if no_face is not None and spec.crop == "face":
            no_face.update({int(i): str(paths[i]) for i in cache.fallbacks})
        if errors and stop_on_error:
            return probs, dict(sorted(errors.items()))
        names = ", ".join(engines[m].name for m in members)
        for start in track(range(0, len(paths), batch_size), f"predicting ({names})"):
            stop = min(start + batch_size, len(paths))
            views = tta.views(np.ascontiguousarray(cache.array[start:stop]), spec.interpolation)
            for member in members:
                total = np.zeros((stop - start, NUM_CLASSES), dtype=np.float64)
                for view in views:
                    total += engines[member].probs(view)
                probs[member, start:stop] = total / len(views)
    bad = sorted(errors)
    probs[:, bad] = np.nan
    return probs, dict(sorted(errors.items()))


def list_photos(target: str | Path) -> list[Path]:
    """A photo, or the photos of a folder (not its subfolders; hidden files left out), sorted by name.

    Raises:
        MaskclsError: if the path does not exist or the folder holds no photo.
    """
    target = Path(target)
    if target.is_file():
        return [target]
    if not target.is_dir():
        raise MaskclsError(f"{target}: no such photo or folder")
    photos = sorted(p for p in target.iterdir()
                    if p.is_file() and not is_hidden(p.name) and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not photos:
        raise MaskclsError(f"{target}: no photos here ({', '.join(IMAGE_EXTENSIONS)}) and no info.csv")
    return photos
