"""What ``maskcls predict`` runs on: a competition eval folder (→ a submission), or a photo or folder of photos.

Unreadable eval images (missing, empty, corrupt) stop the prediction with one error naming every one of them.
With ``skip_bad`` each gets a fallback prediction instead, so the submission still has exactly the rows of
``info.csv`` in its order: the **prior of the readable rows**, i.e. the mean of the ensemble's class probabilities
over every photo that could be read (its argmax is the row's ``ans``). It is written as that row's
probabilities too, and every such photo is listed in ``<stem>_skipped.txt``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, write_text
from maskcls.inference.batch import list_photos, predict_members
from maskcls.inference.contract import Engine
from maskcls.inference.ensemble import Ensemble, task_marginals
from maskcls.inference.shards import Shard, meta_path, write_shard_meta
from maskcls.inference.submission import check_free, write_submission
from maskcls.inference.tta import Tta
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, MASK_NAMES, AgeBands, class_name, decode

#: Eval problems that concern one image: predicted with a fallback under ``skip_bad``, not fatal.
IMAGE_PROBLEMS = ("missing-image", "empty-file", "unreadable-file")


@dataclass
class Prediction:
    """Ensembled predictions of photos, in input order.

    Attributes:
        names: ImageIDs of an eval folder, or photo paths.
        labels: int64 ``[N]`` classes (fallback rows included for an eval folder).
        probs: float32 ``[N, 18]``.
        skipped: index → message naming the photo, for each unreadable one.
        out: the file written, if any.
        no_face: index → path of each photo in which a ``crop=face`` run found no face (centre-cropped, as in
            training); an eval folder lists them in ``<stem>_no_face.txt``.
    """

    names: list[str]
    labels: np.ndarray
    probs: np.ndarray
    skipped: dict[int, str] = field(default_factory=dict)
    out: Path | None = None
    no_face: dict[int, str] = field(default_factory=dict)


def is_eval_root(target: str | Path) -> bool:
    """Whether ``target`` is a competition root or eval folder (holds ``info.csv`` or ``eval/info.csv``)."""
    target = Path(target)
    return (target / "info.csv").is_file() or (target / "eval" / "info.csv").is_file()


def _unreadable(where: str | Path, skipped: dict[int, str]) -> MaskclsError:
    listed = "; ".join(skipped.values())
    return MaskclsError(f"{where}: {len(skipped)} unreadable image(s): {listed} (--skip-bad predicts a fallback for "
                        "each and lists them)")


def _predict(engines: Sequence[Engine], groups: Sequence[int], paths: Sequence[Path], ensemble: Ensemble,
             tta: Tta | None, batch_size: int, workers: int, skip_bad: bool,
             where: str | Path, messages: dict[Path, str] | None = None, no_face: dict[int, str] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[int, str]]:
    """``(readable indices, labels, probabilities of the readable rows, index → message of the others)``.

    ``messages`` may give a better message for some paths than the decoder's; ``no_face`` is filled with the
    photos a ``crop=face`` member found no face in.
    """
    if not len(paths):
        raise MaskclsError(f"{where}: no images to predict (it lists none)")
    probs, skipped = predict_members(engines, paths, tta, batch_size, workers, stop_on_error=not skip_bad,
                                     no_face=no_face)
    skipped = {i: (messages or {}).get(Path(paths[i]), message) for i, message in skipped.items()}
    if skipped and not skip_bad:
        raise _unreadable(where, skipped)
    readable = np.array([i for i in range(len(paths)) if i not in skipped], dtype=np.int64)
    if not len(readable):
        raise MaskclsError(f"{where}: none of the {len(paths)} image(s) could be read")
    labels, combined = ensemble.combine(probs[:, readable], groups)
    return readable, labels, combined, skipped


def predict_eval(engines: Sequence[Engine], groups: Sequence[int], eval_root: str | Path, out: str | Path,
                 ensemble: Ensemble | None = None, tta: Tta | None = None, batch_size: int = 64,
                 skip_bad: bool = False, force: bool = False, workers: int = 2, shard: Shard | None = None
                 ) -> Prediction:
    """Predict every row of ``info.csv`` and write the submission (row order and count kept) and its side files.

    Args:
        engines: ensemble members (see :func:`maskcls.inference.loading.load_members`).
        groups: the run of each member, for run-level weights.
        eval_root: a competition root or its eval folder.
        out: the submission CSV; ``<stem>_probs.npy``, ``<stem>_probs.csv`` (and ``<stem>_skipped.txt``) go beside it.
        ensemble: how members combine (soft vote, equal weights by default).
        tta: test-time views.
        batch_size: photos per engine call.
        skip_bad: give unreadable images the fallback prediction instead of failing.
        force: replace earlier outputs instead of refusing.
        workers: decoding threads.
        shard: predict only this shard's rows and record it beside ``out`` (see :mod:`maskcls.inference.shards`).

    Raises:
        MaskclsError: for a broken ``info.csv``, unreadable images (without ``skip_bad``) or existing outputs.
    """
    from maskcls.data.layout import scan_eval

    out = Path(out)
    evalset = scan_eval(eval_root)
    fatal = [p for p in evalset.problems if p.severity == "error" and p.kind not in IMAGE_PROBLEMS]
    if fatal:
        raise MaskclsError(f"{fatal[0].path}: {fatal[0].message} ({len(fatal)} eval problem(s))")
    check_free(out, force)
    if shard is not None and meta_path(out).exists() and not force:
        raise MaskclsError(f"{meta_path(out)}: already exists (choose another --out, or --force to replace it)")
    start, stop = shard.rows(len(evalset.paths)) if shard is not None else (0, len(evalset.paths))
    image_ids, paths = evalset.image_ids[start:stop], evalset.paths[start:stop]
    if not paths:
        raise MaskclsError(f"{evalset.info_csv}: shard {shard} of {len(evalset.paths)} rows is empty" if shard
                           else f"{evalset.info_csv}: no images to predict (it lists none)")
    # The scan's message names the info.csv line of a missing image; the decoder's only the path.
    scanned = {p.path: f"{p.path}: {p.message}" for p in evalset.problems if p.kind in IMAGE_PROBLEMS}
    no_face: dict[int, str] = {}
    readable, labels, combined, skipped = _predict(engines, groups, paths, ensemble or Ensemble(), tta,
                                                   batch_size, workers, skip_bad, evalset.info_csv, scanned, no_face)
    prior = combined.mean(0)  # the fallback of unreadable rows: the prior of the readable ones
    probs = np.tile(prior, (len(paths), 1)).astype(np.float32)
    answers = np.full(len(paths), int(prior.argmax()), dtype=np.int64)
    probs[readable], answers[readable] = combined, labels
    write_submission(out, image_ids, answers, probs, list(skipped.values()))
    if shard is not None:
        write_shard_meta(out, shard, evalset.image_ids, evalset.info_csv)
    no_face = {i: p for i, p in sorted(no_face.items()) if i not in skipped}
    listing = out.with_name(out.stem + "_no_face.txt")
    if no_face:
        write_text(listing, "".join(f"{image_ids[i]}\t{p}\n" for i, p in no_face.items()))
    else:
        listing.unlink(missing_ok=True)
    return Prediction(image_ids, answers, probs, skipped, out, no_face)


def predict_photos(engines: Sequence[Engine], groups: Sequence[int], target: str | Path,
                   ensemble: Ensemble | None = None, tta: Tta | None = None, batch_size: int = 64,
                   skip_bad: bool = False, workers: int = 2) -> Prediction:
    """Predict a photo or the photos of a folder; unreadable photos are left out with ``skip_bad``.

    Raises:
        MaskclsError: for a path without photos, or unreadable photos (without ``skip_bad``).
    """
    paths = list_photos(target)
    no_face: dict[int, str] = {}
    readable, labels, combined, skipped = _predict(engines, groups, paths, ensemble or Ensemble(), tta, batch_size,
                                                   workers, skip_bad, target, no_face=no_face)
    return Prediction([str(paths[i]) for i in readable], labels, combined, skipped,
                      no_face={i: p for i, p in no_face.items() if i not in skipped})


def photo_rows(prediction: Prediction, bands: AgeBands = DEFAULT_AGE_BANDS) -> list[dict[str, object]]:
    """One dict a photo: path, class and name, then each task's most probable value and its probability."""
    tasks = task_marginals(prediction.probs)
    rows = []
    for i, (name, label) in enumerate(zip(prediction.names, prediction.labels)):
        mask, gender, age = decode(int(label))
        rows.append({"path": name, "class": int(label), "name": class_name(int(label), bands),
                     "p_class": float(prediction.probs[i, label]),
                     "mask": MASK_NAMES[mask], "p_mask": float(tasks["mask"][i, mask]),
                     "gender": GENDER_NAMES[gender], "p_gender": float(tasks["gender"][i, gender]),
                     "age": bands.names()[age], "p_age": float(tasks["age"][i, age])})
    return rows


def write_photo_csv(path: str | Path, prediction: Prediction, bands: AgeBands = DEFAULT_AGE_BANDS,
                    force: bool = False) -> Path:
    """The rows of :func:`photo_rows` plus ``p0..p17``, as CSV (refusing to overwrite unless ``force``)."""
    path = Path(path)
    if path.exists() and not force:
        raise MaskclsError(f"{path}: already exists (choose another --out, or --force to replace it)")
    rows = photo_rows(prediction, bands)
    columns = [*(rows[0] if rows else {"path": ""}), *[f"p{i}" for i in range(prediction.probs.shape[1])]]
    with atomic_write(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:  # names as bytes
        writer = csv.writer(handle)
        writer.writerow(columns)
        for row, probs in zip(rows, prediction.probs):
            writer.writerow([*(f"{v:.6f}" if isinstance(v, float) else v for v in row.values()),
                             *[f"{p:.6f}" for p in probs]])
    return path
