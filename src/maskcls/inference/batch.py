"""Photos → class probabilities of every ensemble member, each member fed through its own preprocessing.

Members may differ in backbone, input size and crop. Members that share a cache spec (the folds of a k-fold run,
say) share one decode of the photos: for each distinct spec the photos go through the same
:class:`~maskcls.vision.cache.ImageCache` training used (on disk in the run's ``cache.dir`` when the run
caches, so predicting again decodes nothing), then every member of that spec runs over the entries batch by
batch, with its TTA views averaged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.data.images import IMAGE_EXTENSIONS, is_hidden
from maskcls.errors import MaskclsError
from maskcls.inference.contract import Engine, cache_spec, member_cache_dir
from maskcls.inference.tta import Tta, mean_probs
from maskcls.labels import NUM_CLASSES
from maskcls.progress import track


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
                probs[member, start:stop] = mean_probs(engines[member], views)
    bad = sorted(errors)
    probs[:, bad] = np.nan
    return probs, dict(sorted(errors.items()))


def predict_paths(engine: Engine, paths: Sequence[Path], batch_size: int = 64, workers: int = 2,
                  tta: Tta | None = None, no_face: dict[int, str] | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """Probabilities ``[N, 18]`` of one engine for photos, and the unreadable ones (index → message with the path).

    Photos go through the run's image cache settings (:func:`maskcls.inference.contract.cache_spec`) and the
    engine, with the views of ``tta`` averaged. Unreadable photos get a row of NaN so the caller decides what to do
    with them. ``no_face`` gets the photos a ``crop=face`` run found no face in (see :func:`predict_members`).
    """
    probs, errors = predict_members([engine], paths, tta, batch_size, workers, no_face=no_face)
    return probs[0], errors


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
    # Anything named like a photo that is not a folder (broken links and FIFOs included) is listed: the decoder
    # then names what is wrong with it, so nothing is dropped without a word.
    photos = sorted(p for p in target.iterdir()
                    if not is_hidden(p.name) and p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir())
    if not photos:
        raise MaskclsError(f"{target}: no photos here ({', '.join(IMAGE_EXTENSIONS)}) and no info.csv")
    return photos
