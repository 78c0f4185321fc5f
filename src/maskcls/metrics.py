"""The competition's metric: macro F1 over all 18 classes (``zero_division=0``), plus accuracy and per-task F1.

A class absent from both the truth and the predictions has precision = recall = F1 = 0 and still counts in
the mean, exactly as ``sklearn.metrics.f1_score(..., labels=range(18), average="macro", zero_division=0)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS, NUM_CLASSES, TASKS, AgeBands, class_names, split_tasks


def confusion_matrix(y_true, y_pred, n_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts ``cm[true, pred]`` of an ``n_classes``-way problem.

    Raises:
        ValueError: on lengths that differ or labels outside ``0..n_classes-1``.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions")
    for name, y in (("true", y_true), ("predicted", y_pred)):
        if y.size and (y.min() < 0 or y.max() >= n_classes):
            raise ValueError(f"{name} labels must be in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support of every class from a confusion matrix (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        denom = precision + recall
        f1 = np.where(denom > 0, 2 * precision * recall / denom, 0.0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def macro_f1(y_true, y_pred, n_classes: int = NUM_CLASSES) -> float:
    """Mean F1 over all ``n_classes`` classes, absent classes counting as 0."""
    return float(per_class(confusion_matrix(y_true, y_pred, n_classes))["f1"].mean())


@dataclass
class Score:
    """Everything ``maskcls score`` reports.

    Attributes:
        macro_f1: the official metric.
        accuracy: share of exact 18-class matches.
        task_f1: macro F1 of ``mask`` (3), ``gender`` (2) and ``age`` (3) after decoding.
        task_accuracy: accuracy of each task.
        per_class: one dict per class: name, precision, recall, f1, support, predicted.
        n: number of images scored.
    """

    macro_f1: float
    accuracy: float
    task_f1: dict[str, float]
    task_accuracy: dict[str, float]
    per_class: list[dict] = field(default_factory=list)
    n: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def score_labels(y_true, y_pred, bands: AgeBands = DEFAULT_AGE_BANDS) -> Score:
    """Score 18-class predictions: the official macro F1, accuracy, per-task F1 and a per-class table."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    cm = confusion_matrix(y_true, y_pred)
    stats = per_class(cm)
    names = class_names(bands)
    table = [
        {"class": i, "name": names[i], "precision": float(stats["precision"][i]), "recall": float(stats["recall"][i]),
         "f1": float(stats["f1"][i]), "support": int(stats["support"][i]), "predicted": int(cm[:, i].sum())}
        for i in range(NUM_CLASSES)
    ]
    true_tasks, pred_tasks = split_tasks(y_true), split_tasks(y_pred)
    task_f1 = {t: macro_f1(true_tasks[t], pred_tasks[t], n) for t, n in TASKS.items()}
    task_acc = {t: float(np.mean(true_tasks[t] == pred_tasks[t])) if len(y_true) else 0.0 for t in TASKS}
    accuracy = float(np.mean(y_true == y_pred)) if len(y_true) else 0.0
    return Score(float(stats["f1"].mean()), accuracy, task_f1, task_acc, table, int(len(y_true)))


class SubmissionError(MaskclsError):
    """A submission that cannot be scored; the message names the file and the first problem."""


def read_answers(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read an ``ImageID,ans`` CSV (ground truth or submission).

    Raises:
        SubmissionError: if the file is missing, lacks a column, or an ``ans`` is not an integer in 0–17.
    """
    from maskcls.data.layout import read_csv_rows
    from maskcls.data.records import DataError

    path = Path(path)
    if not path.is_file():
        raise SubmissionError(f"{path}: file not found")
    try:
        rows = read_csv_rows(path, ("ImageID", "ans"))
    except DataError as exc:
        raise SubmissionError(str(exc)) from None
    answers = np.empty(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        try:
            answers[i] = int(row["ans"])
        except ValueError:
            raise SubmissionError(f"{path}: line {i + 2}: ans {row['ans']!r} is not an integer") from None
        if not 0 <= answers[i] < NUM_CLASSES:
            raise SubmissionError(f"{path}: line {i + 2}: ans {answers[i]} is outside 0..{NUM_CLASSES - 1}")
    return [r["ImageID"] for r in rows], answers


def score_files(ground_truth: str | Path, submission: str | Path, bands: AgeBands = DEFAULT_AGE_BANDS) -> Score:
    """Score a submission CSV against a ground-truth CSV, both ``ImageID,ans``.

    Raises:
        SubmissionError: if the row counts or the ImageIDs (in order) differ, naming the first mismatch.
    """
    gt_ids, gt = read_answers(ground_truth)
    sub_ids, sub = read_answers(submission)
    if len(gt_ids) != len(sub_ids):
        raise SubmissionError(f"{submission}: {len(sub_ids)} rows but the ground truth {ground_truth} has {len(gt_ids)}")
    for line, (a, b) in enumerate(zip(gt_ids, sub_ids), start=2):
        if a != b:
            raise SubmissionError(f"{submission}: line {line}: ImageID {b} where the ground truth has {a}")
    return score_labels(gt, sub, bands)
