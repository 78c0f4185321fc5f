"""Pseudo labels: a run's confident predictions for photos without labels, in the form a ``crops`` source reads.

The photos go through :func:`maskcls.inference.batch.predict_paths` with the run's engine
(:func:`maskcls.inference.loading.load_engine`: its own preprocessing and fitted temperature, as ``maskcls
predict``). Each task's label is the argmax of its marginal and is kept only where that probability is above the
task's threshold (:class:`~maskcls.config.TaskThresholds`), so a photo may keep its mask status and lose its age
band: a partial label, which the objective trains on task by task. Unreadable photos, and photos in which a
``crop=face`` run found no face (it only saw their centre), get no label at all; the table says why.

A ``crops`` source reads ages in years, so a kept band is written as its representative age
(:func:`representative_age`): the middle one of the ages 0–99 that fall in that band under both the evaluation
bands (``data.age_thresholds``) and the training policy (``data.train_old_threshold``), leaving out
``data.train_drop_ages``. That age trains as the predicted band and is never dropped from training (a regressed
age, ``multitask_regression``, trains toward it too).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write
from maskcls.inference.batch import list_photos, predict_paths
from maskcls.inference.ensemble import task_marginals
from maskcls.inference.loading import load_engine
from maskcls.labels import GENDER_NAMES, MASK_NAMES, TASKS

if TYPE_CHECKING:
    from maskcls.config import DataConfig, TaskThresholds

#: The columns of ``pseudo_labels.csv``: the file (inside the folder), each task's kept label or blank (the age
#: in years, with its band's name beside it), each task's predicted probability, and why a photo has no label.
COLUMNS = ("file", "mask", "gender", "age", "age_band", "p_mask", "p_gender", "p_age", "note")
UNREADABLE, NO_FACE = "unreadable", "no face"


def representative_age(band: int, data: "DataConfig") -> int | None:
    """The age in years a pseudo label of age band ``band`` is written as (see the module docstring), or ``None``
    when ``data.train_drop_ages`` leaves no age of that band to train on."""
    bands, policy = data.bands(), data.age_policy()
    ages = [age for age in range(100) if bands.band(age) == band == policy.band(age) and policy.keep(age)]
    return ages[len(ages) // 2] if ages else None


def unlabelled_photos(folder: Path, limit: int | None = None, seed: int = 0) -> list[Path]:
    """The photos of ``folder`` (sorted), or a seeded random ``limit`` of them, in name order.

    Raises:
        MaskclsError: if the folder does not exist or holds no photo.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MaskclsError(f"{folder}: no such folder (self_training.folder)")
    photos = list_photos(folder)
    if limit is not None and len(photos) > limit:
        photos = [photos[i] for i in np.sort(np.random.default_rng(seed).permutation(len(photos))[:limit])]
    return photos


@dataclass
class PseudoLabels:
    """The pseudo labels of some photos of one folder, one row a photo in the order given (see :data:`COLUMNS`)."""

    folder: Path
    rows: list[dict[str, str]]

    def summary(self) -> dict:
        """Photos seen, unreadable and without a face, labels kept per task, photos left without any label."""
        return {"photos": len(self.rows),
                "unreadable": sum(r["note"] == UNREADABLE for r in self.rows),
                "no_face": sum(r["note"] == NO_FACE for r in self.rows),
                "kept": {task: sum(bool(r[task]) for r in self.rows) for task in TASKS},
                "unlabelled": sum(not any(r[task] for task in TASKS) for r in self.rows)}

    def describe(self) -> str:
        """The summary as one line of the training log."""
        s = self.summary()
        kept = ", ".join(f"{task} {n}" for task, n in s["kept"].items())
        return (f"{s['photos']} photos seen ({s['unreadable']} unreadable, {s['no_face']} without a face), labels "
                f"kept: {kept}; {s['unlabelled']} photos with no label left out")

    def write(self, path: Path) -> Path:
        """Write the table as ``pseudo_labels.csv`` (atomically)."""
        with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
            writer.writeheader()
            writer.writerows(self.rows)
        return Path(path)


def pseudo_rows(photos: Sequence[Path], probs: np.ndarray, errors: dict[int, str], no_face: dict[int, str],
                data: "DataConfig", thresholds: "TaskThresholds") -> list[dict[str, str]]:
    """The rows of :class:`PseudoLabels` from 18-class probabilities ``[N, 18]`` of ``photos``.

    Args:
        photos: the photos, all in one folder.
        probs: their probabilities (rows of unreadable photos are ignored).
        errors: index → message of each unreadable photo.
        no_face: index → path of each photo a ``crop=face`` run found no face in.
        data: the data section of the run to be trained (its age bands and training age policy).
        thresholds: per task, the probability a label must be above to be kept.
    """
    marginals = task_marginals(np.asarray(probs, dtype=np.float64))
    band_names = data.bands().names()
    rows = []
    for i, photo in enumerate(photos):
        row = dict.fromkeys(COLUMNS, "")
        row["file"] = Path(photo).name
        rows.append(row)
        if i in errors:
            row["note"] = UNREADABLE
            continue
        best = {task: int(marginals[task][i].argmax()) for task in TASKS}
        confidence = {task: float(marginals[task][i].max()) for task in TASKS}
        row.update({f"p_{task}": f"{p:.4f}" for task, p in confidence.items()})
        if i in no_face:
            row["note"] = NO_FACE
            continue
        kept = {task for task in TASKS if confidence[task] > getattr(thresholds, task)}
        if "mask" in kept:
            row["mask"] = MASK_NAMES[best["mask"]]
        if "gender" in kept:
            row["gender"] = GENDER_NAMES[best["gender"]]
        age = representative_age(best["age"], data) if "age" in kept else None
        if age is not None:
            row["age"], row["age_band"] = str(age), band_names[best["age"]]
    return rows


def label_photos(run: Path, photos: Sequence[Path], data: "DataConfig", thresholds: "TaskThresholds",
                 device: str = "auto") -> PseudoLabels:
    """Pseudo-label ``photos`` (all in one folder) with the best model of ``run``.

    Args:
        run: a run folder.
        photos: the photos, e.g. from :func:`unlabelled_photos`.
        data: the data section of the run to be trained on them.
        thresholds: per task, the probability a label must be above to be kept.
        device: the torch device to predict on.

    Raises:
        MaskclsError: for a folder that is not a run, or photos in more than one folder.
    """
    folders = {Path(p).parent for p in photos}
    if len(folders) != 1:
        raise MaskclsError(f"pseudo labels are for the photos of one folder ({len(folders)} folders given)")
    no_face: dict[int, str] = {}
    probs, errors = predict_paths(load_engine(Path(run), "torch", device), photos, no_face=no_face)
    return PseudoLabels(folders.pop(), pseudo_rows(photos, probs, errors, no_face, data, thresholds))
