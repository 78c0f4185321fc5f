"""The model the service loads once: a run folder, a k-fold run (its folds averaged) or an exported ``.onnx`` file,
and what ``/v1/model`` says about it (name, backbone, classes, validation metrics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.runs import RunFolder

if TYPE_CHECKING:
    from maskcls.inference.contract import Engine

#: Columns of a run's ``metrics.csv`` that ``/v1/model`` reports for the best epoch.
METRIC_COLUMNS = ("epoch", "macro_f1", "accuracy", "mask_f1", "gender_f1", "age_f1")


class MeanEngine:
    """The folds of a k-fold run as one engine: the mean of their probabilities (an equal-weight soft vote).

    Attributes:
        name: the k-fold run's name.
        cfg, preprocess: the first fold's (every fold crops and resizes alike).
        members: the fold engines.
    """

    def __init__(self, members: Sequence["Engine"], name: str) -> None:
        from maskcls.inference.contract import cache_spec

        specs = {cache_spec(member) for member in members}
        if len(specs) > 1:
            raise MaskclsError(f"{name}: the folds prepare photos differently ({len(specs)} settings); serve one fold")
        self.members, self.name = list(members), name
        self.cfg, self.preprocess = members[0].cfg, members[0].preprocess

    def probs(self, images: np.ndarray) -> np.ndarray:
        """float32 ``[B, 18]``: the mean of the folds' probabilities."""
        return np.mean([member.probs(images) for member in self.members], axis=0).astype(np.float32)


def load_model(path: str | Path) -> "Engine":
    """The engine of ``path``: an ``.onnx`` export (ONNX Runtime), a run folder, or a k-fold run (PyTorch).

    Raises:
        MaskclsError: naming the path when it is no run, no export, or a k-fold run with unfinished folds.
    """
    from maskcls.inference.loading import load_engine, member_folders

    path = Path(path)
    if path.suffix == ".onnx":
        return load_engine(path, "onnx")
    folders = member_folders(path)
    if len(folders) == 1:
        return load_engine(folders[0], "torch", "cpu")
    return MeanEngine([load_engine(folder, "torch", "cpu") for folder in folders], path.name)


def model_metrics(path: str | Path) -> dict[str, float]:
    """Validation figures of the model at ``path`` (empty when the run recorded none).

    A run folder gives the row of its ``metrics.csv`` of the epoch ``best.pt`` holds (chosen by ``train.monitor``),
    a k-fold run its out-of-fold scores, an export the epoch and macro F1 of the checkpoint it was made from.
    """
    path = Path(path)
    if path.suffix == ".onnx":
        from maskcls.inference.onnx_format import metadata_path

        checkpoint = json.loads(metadata_path(path).read_text(encoding="utf-8")).get("checkpoint", {})
        return {k: float(v) for k, v in checkpoint.items() if k in METRIC_COLUMNS and v is not None}
    run = RunFolder(path)
    if run.oof_metrics_path.is_file():
        summary = json.loads(run.oof_metrics_path.read_text(encoding="utf-8"))
        found = {k: summary[k] for k in ("macro_f1", "accuracy", "n") if k in summary}
        found.update({f"{task}_f1": value for task, value in summary.get("task_f1", {}).items()})
        return {k: float(v) for k, v in found.items()}
    best = run.best_row()
    if not best or not best.get("macro_f1"):
        return {}
    return {k: float(best[k]) for k in METRIC_COLUMNS if best.get(k)}
