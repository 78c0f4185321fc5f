"""Score a trained run on a labelled folder of face crops, such as the real crowd crops of ``data import-boxes``.

The folder holds ``labels.csv`` with a ``file`` column (relative to the folder) and a ``mask`` column (0 wear,
1 incorrect, 2 not wear, or their names). Only mask status is scored: crowd photos carry no age or gender.
The run predicts the 18 classes; the mask status is the argmax of the 3-way mask marginal.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from maskcls.data.layout import read_csv_rows
from maskcls.errors import MaskclsError
from maskcls.fileio import unique_dir, write_text
from maskcls.labels import MASK_NAMES, parse_mask
from maskcls.metrics import confusion_matrix, per_class
from maskcls.runs import RunFolder


@dataclass
class MaskScore:
    """Mask-status results on a crop folder.

    Attributes:
        macro_f1: mean F1 over the three states (a state absent from truth and predictions counts 0).
        accuracy: share of crops whose state is right.
        per_state: precision/recall/F1/support of each state, by name.
        confusion: ``[true][pred]`` counts.
        count: crops scored; ``skipped`` lists the unreadable ones with their message.
        no_face: crops in which a ``crop=face`` run found no face (centre-cropped, scored all the same).
    """

    macro_f1: float
    accuracy: float
    per_state: dict[str, dict[str, float]]
    confusion: list[list[int]]
    count: int
    skipped: list[str]
    no_face: list[str] = field(default_factory=list)


@dataclass
class CropPredictions:
    """Each crop's path, true state and ``[3]`` mask probabilities (NaN for an unreadable crop)."""

    folder: Path
    paths: list[Path]
    truth: np.ndarray
    masks: np.ndarray


def mask_marginal(probs: np.ndarray) -> np.ndarray:
    """``[N, 3]`` mask-status probabilities from ``[N, 18]`` class probabilities (class = mask*6 + ...)."""
    return probs.reshape(len(probs), 3, 6).sum(axis=2)


def read_crop_labels(folder: Path) -> tuple[list[Path], np.ndarray]:
    """The crops and their mask states from ``folder/labels.csv``; paths may not leave the folder."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise MaskclsError(f"{labels}: not found (expected file,mask columns, e.g. from `maskcls data import-boxes`)")
    paths, states = [], []
    for line, row in enumerate(read_csv_rows(labels, ("file", "mask")), start=2):
        relative = Path(row["file"])
        if relative.is_absolute() or ".." in relative.parts:
            raise MaskclsError(f"{labels}: line {line}: file {row['file']!r} must be a path inside {folder}")
        try:
            states.append(int(parse_mask(row["mask"])))
        except ValueError as exc:
            raise MaskclsError(f"{labels}: line {line}: {exc}") from None
        paths.append(folder / relative)
    if not paths:
        raise MaskclsError(f"{labels}: no rows")
    return paths, np.array(states, dtype=np.int64)


def score_masks(truth: np.ndarray, predicted: np.ndarray) -> tuple[float, float, dict, list[list[int]]]:
    """Macro F1, accuracy, per-state metrics and confusion of mask states."""
    cm = confusion_matrix(truth, predicted, 3)
    stats = per_class(cm)
    per_state = {MASK_NAMES[i]: {k: float(stats[k][i]) for k in ("precision", "recall", "f1", "support")}
                 for i in range(3)}
    accuracy = float(np.trace(cm) / max(1, cm.sum()))
    return float(stats["f1"].mean()), accuracy, per_state, cm.tolist()


def evaluate_crops(run: str | Path, folder: str | Path, batch_size: int = 64) -> tuple[MaskScore, CropPredictions]:
    """Predict every crop of ``folder`` with ``run`` and score mask status.

    Returns:
        the score and the predictions (unreadable crops have NaN probabilities and are not scored).
    """
    from maskcls.inference.batch import predict_paths
    from maskcls.inference.predictor import Predictor

    folder = Path(folder)
    paths, truth = read_crop_labels(folder)
    no_face: dict[int, str] = {}
    probs, errors = predict_paths(Predictor.from_run(run), paths, batch_size=batch_size, no_face=no_face)
    masks = mask_marginal(probs)
    keep = np.array([i not in errors for i in range(len(paths))], dtype=bool)
    if not keep.any():
        raise MaskclsError(f"{folder}: no crop could be read")
    f1, accuracy, per_state, cm = score_masks(truth[keep], masks[keep].argmax(axis=1))
    score = MaskScore(f1, accuracy, per_state, cm, int(keep.sum()), [errors[i] for i in sorted(errors)],
                      [no_face[i] for i in sorted(no_face) if i not in errors])
    return score, CropPredictions(folder, paths, truth, masks)


def save_evaluation(run: str | Path, score: MaskScore, predictions: CropPredictions) -> Path:
    """Write ``score.json``, ``predictions.csv`` and ``confusion.png`` under ``RUN/evaluations/<folder name>``."""
    from maskcls.report import plot_confusion

    folder, truth, masks = predictions.folder, predictions.truth, predictions.masks
    out = unique_dir(RunFolder(run).evaluation_dir(folder.resolve().name))
    write_text(out / "score.json", json.dumps({"folder": str(folder), **asdict(score)}, indent=1))
    lines = ["file,mask,pred," + ",".join(f"p_{n}" for n in MASK_NAMES)]
    for path, state, row in zip(predictions.paths, truth, masks):
        pred = "" if np.isnan(row).any() else str(int(row.argmax()))
        lines.append(f"{path.relative_to(folder)},{state},{pred}," + ",".join(f"{v:.5f}" for v in row))
    write_text(out / "predictions.csv", "\n".join(lines) + "\n")
    keep = ~np.isnan(masks).any(axis=1)
    cm = confusion_matrix(truth[keep], masks[keep].argmax(axis=1), len(MASK_NAMES))
    plot_confusion(cm, list(MASK_NAMES), out / "confusion.png",
                   f"mask status on {folder.name} (colour = share of the true state)")
    return out
