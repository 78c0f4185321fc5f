"""A run folder and everything in it, read and written in one place.

``runs/<name>[-N]/`` holds ``config.yaml`` (fully resolved), ``split.json``, ``metrics.csv`` (one row an epoch),
``best.pt`` (the weights ``train.monitor`` chose, with the epoch they come from), ``last.pt`` (everything needed to
resume), ``val_predictions.csv``, ``plots/``, ``report.html`` and ``tb/``. A k-fold parent holds ``config.yaml``,
``split.json`` and ``kfold.json`` (the marker, with the number of folds), then ``fold0/`` … (each a run folder of
its own), ``oof.csv`` and ``oof_metrics.json``. A self-training run (:mod:`maskcls.engine.self_training`) is
round 0's run folder holding ``self_training.json`` (every round, and the ``final`` one) and ``round1/`` …, each a
run folder of its own with the ``pseudo_labels.csv`` it trained on. An export lies in ``export/model.onnx``.

:class:`RunFolder` names every one of these paths and reads and writes them; nothing else spells them out.
Checkpoints hold plain tensors and containers only (loadable with ``weights_only=True``) and are written atomically.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, torch_load, unique_dir, write_text
from maskcls.labels import NUM_CLASSES

if TYPE_CHECKING:
    import numpy as np
    import torch

    from maskcls.config import Config
    from maskcls.data.records import Record
    from maskcls.models.classifier import Classifier

#: The 18 probability columns of a prediction table.
PROB_COLUMNS = [f"p{i}" for i in range(NUM_CLASSES)]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` with ``torch.save`` atomically (temp file beside ``path``, then rename)."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return Path(path)


def load_checkpoint(path: str | Path, mmap: bool = False) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``, on the CPU).

    Args:
        path: the ``.pt`` file.
        mmap: map the tensors instead of reading them (for a look at the small entries only).

    Raises:
        MaskclsError: naming the file if it is missing or not a maskcls checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise MaskclsError(f"{path}: checkpoint not found")
    state = torch_load(path, mmap=mmap)
    if not isinstance(state, dict) or "model" not in state:
        raise MaskclsError(f"{path}: not a maskcls checkpoint (no 'model' weights)")
    return state


@dataclass
class PredictionTable:
    """A prediction table (``val_predictions.csv``, ``oof.csv``): one row a photo.

    Attributes:
        source: the CSV read.
        rows: every row as the file holds it (strings), in order.
        paths: photo paths.
        people: person of each photo (empty strings when the table has none).
        y_true: int64 true classes.
        y_pred: int64 predicted classes.
        probs: float32 ``[N, 18]`` (``None`` when not asked for).
        folds: int64 fold of each photo of an ``oof.csv`` (``None`` otherwise).
    """

    source: Path
    rows: list[dict[str, str]]
    paths: list[str]
    people: list[str]
    y_true: "np.ndarray"
    y_pred: "np.ndarray"
    probs: "np.ndarray | None"
    folds: "np.ndarray | None"


def read_prediction_table(path: str | Path, probs: bool = True, folds: bool = False) -> PredictionTable:
    """Read a prediction table.

    Args:
        path: the CSV.
        probs: require and read the probabilities ``p0..p17``.
        folds: require and read the ``fold`` column (an ``oof.csv``).

    Raises:
        MaskclsError: if the file cannot be read, lacks a column, or holds a value that is not a number.
    """
    import numpy as np

    from maskcls.data.layout import read_csv_rows
    from maskcls.data.records import DataError

    path = Path(path)
    required = (*(("fold",) if folds else ()), "path", "true", "pred", *(PROB_COLUMNS if probs else ()))
    try:
        rows = read_csv_rows(path, required)
        y_true = np.array([int(r["true"]) for r in rows], dtype=np.int64)
        y_pred = np.array([int(r["pred"]) for r in rows], dtype=np.int64)
        table_probs = (np.array([[float(r[c]) for c in PROB_COLUMNS] for r in rows], dtype=np.float32)
                       .reshape(-1, NUM_CLASSES) if probs else None)
        table_folds = np.array([int(r["fold"]) for r in rows], dtype=np.int64) if folds else None
    except DataError as exc:
        hint = " (the per-class probabilities p0..p17 are needed)" if probs and "p0" in str(exc) else ""
        raise MaskclsError(f"{exc}{hint}") from None
    except ValueError as exc:
        raise MaskclsError(f"{path}: a value is not a number ({exc})") from None
    return PredictionTable(path, rows, [r["path"] for r in rows], [r.get("person", "") for r in rows], y_true,
                           y_pred, table_probs, table_folds)


def write_prediction_rows(path: str | Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Write a prediction table from rows (their keys, in order, are the columns)."""
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)


def prediction_rows(records: Sequence["Record"], y_true: "np.ndarray", probs: "np.ndarray") -> list[dict[str, Any]]:
    """One row a photo with its truth, prediction and the 18 probabilities."""
    return [{"path": record.path, "person": record.person, "id": record.id, "true": int(truth),
             "pred": int(row.argmax()), **{f"p{i}": f"{p:.6f}" for i, p in enumerate(row)}}
            for record, truth, row in zip(records, y_true, probs)]


class RunFolder:
    """One run folder (or k-fold parent): its paths, and reading and writing what lies there.

    Args:
        path: the folder (it need not exist yet).
    """

    CONFIG = "config.yaml"
    SPLIT = "split.json"
    METRICS = "metrics.csv"
    BEST = "best.pt"
    LAST = "last.pt"
    KFOLD = "kfold.json"
    VAL_PREDICTIONS = "val_predictions.csv"
    OOF = "oof.csv"
    OOF_METRICS = "oof_metrics.json"
    REPORT = "report.html"
    FACE_FALLBACKS = "face_fallbacks.txt"
    SELF_TRAINING = "self_training.json"
    PSEUDO_LABELS = "pseudo_labels.csv"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, path: str | Path) -> "RunFolder":
        """A new folder at ``path``, or at ``path-N`` when that exists (runs never overwrite runs)."""
        return cls(unique_dir(path))

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        """The folder's name (what reports call the run)."""
        return self.path.name

    # ---- paths ------------------------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / self.CONFIG

    @property
    def split_path(self) -> Path:
        return self.path / self.SPLIT

    @property
    def metrics_path(self) -> Path:
        return self.path / self.METRICS

    @property
    def best_path(self) -> Path:
        return self.path / self.BEST

    @property
    def last_path(self) -> Path:
        return self.path / self.LAST

    @property
    def kfold_path(self) -> Path:
        return self.path / self.KFOLD

    @property
    def val_predictions_path(self) -> Path:
        return self.path / self.VAL_PREDICTIONS

    @property
    def oof_path(self) -> Path:
        return self.path / self.OOF

    @property
    def oof_metrics_path(self) -> Path:
        return self.path / self.OOF_METRICS

    @property
    def sources_path(self) -> Path:
        """What each training source contributed (written by the run's setup)."""
        return self.path / "sources.json"

    @property
    def report_path(self) -> Path:
        return self.path / self.REPORT

    @property
    def face_fallbacks_path(self) -> Path:
        return self.path / self.FACE_FALLBACKS

    @property
    def self_training_path(self) -> Path:
        """A self-training run's record of its rounds (what each labelled and kept, its score) and final round."""
        return self.path / self.SELF_TRAINING

    @property
    def pseudo_labels_path(self) -> Path:
        """A self-training round's pseudo labels: one row a photo, each task's label (or blank) and probability."""
        return self.path / self.PSEUDO_LABELS

    @property
    def plots(self) -> Path:
        return self.path / "plots"

    @property
    def tb(self) -> Path:
        """TensorBoard logs."""
        return self.path / "tb"

    @property
    def analysis_dir(self) -> Path:
        """Where ``maskcls analyze`` writes (``analysis``, then ``analysis-2`` …)."""
        return self.path / "analysis"

    def evaluation_dir(self, name: str) -> Path:
        """Where ``maskcls evaluate`` writes the scores on the crop folder ``name`` (``-N`` when it exists)."""
        return self.path / "evaluations" / name

    @property
    def export_path(self) -> Path:
        """Where the run's ONNX model goes by default: ``RUN/export/model.onnx``."""
        return self.path / "export" / "model.onnx"

    # ---- what the folder is -----------------------------------------------------------------------------
    def has_config(self) -> bool:
        return self.config_path.is_file()

    def has_best(self) -> bool:
        return self.best_path.is_file()

    def has_last(self) -> bool:
        return self.last_path.is_file()

    def is_kfold(self) -> bool:
        """A k-fold parent folder: ``kfold.json`` beside ``fold0/`` …"""
        return self.kfold_path.is_file()

    def is_finished(self) -> bool:
        """A run is finished once its summary is written (the last thing a run does)."""
        return self.report_path.is_file()

    def require_run(self) -> "RunFolder":
        """This folder, checked to be one run with ``config.yaml`` and ``best.pt``.

        A k-fold parent is refused with the names of its fold folders, which are runs of their own.

        Raises:
            MaskclsError: naming what is missing.
        """
        if not self.path.is_dir():
            raise MaskclsError(f"{self.path}: no such run folder")
        if self.is_kfold():
            folds = sorted(p.name for p in self.path.glob("fold*") if p.is_dir())
            listed = ", ".join(folds) or "none trained yet"
            raise MaskclsError(f"{self.path}: a k-fold parent, not one run; export one of its folds: {listed}")
        for name in (self.CONFIG, self.BEST):
            if not (self.path / name).is_file():
                raise MaskclsError(f"{self.path}: not a run folder (no {name})")
        return self

    # ---- config and split -------------------------------------------------------------------------------
    def read_config(self) -> "Config":
        """The run's resolved config.

        Raises:
            MaskclsError: if the folder has no ``config.yaml`` (or it does not load).
        """
        from maskcls.config import load_resolved_config

        if not self.has_config():
            raise MaskclsError(f"{self.path}: not a run folder (no {self.CONFIG})")
        return load_resolved_config(self.config_path)

    def write_config(self, cfg: "Config") -> Path:
        from maskcls.config import dump_config

        return write_text(self.config_path, dump_config(cfg))

    def bands(self):
        """The run's evaluation age bands (the default bands when the folder has no config)."""
        from maskcls.labels import AgeBands

        return self.read_config().data.bands() if self.has_config() else AgeBands()

    # ---- checkpoints ------------------------------------------------------------------------------------
    def save_best(self, state: dict[str, Any]) -> Path:
        return save_checkpoint(self.best_path, state)

    def load_best(self, mmap: bool = False) -> dict[str, Any]:
        return load_checkpoint(self.best_path, mmap)

    def save_last(self, state: dict[str, Any]) -> Path:
        return save_checkpoint(self.last_path, state)

    def load_last(self) -> dict[str, Any]:
        return load_checkpoint(self.last_path)

    def load_model(self, device: "str | torch.device" = "cpu") -> tuple["Classifier", "Config"]:
        """The classifier with the best weights (eval mode, on ``device``) and the run's config.

        Raises:
            MaskclsError: for a folder without ``config.yaml`` or ``best.pt``.
        """
        from maskcls.models.classifier import build_classifier

        cfg = self.read_config()
        state = self.load_best()
        model = build_classifier(cfg.model.model_copy(update={"pretrained": False}), tuple(cfg.data.age_thresholds))
        try:
            model.load_state_dict(state["model"])
        except (RuntimeError, TypeError, AttributeError) as exc:  # weights of another model, or no state dict
            first = (str(exc).splitlines() or [""])[0]
            raise MaskclsError(f"{self.best_path}: does not fit the model of its config.yaml ({first})") from None
        return model.to(device).eval(), cfg

    # ---- metrics ----------------------------------------------------------------------------------------
    def metrics_rows(self) -> list[dict[str, str]]:
        """The rows of ``metrics.csv`` (empty when there is none)."""
        if not self.metrics_path.is_file():
            return []
        with open(self.metrics_path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))

    def best_epoch(self) -> int | None:
        """The epoch whose weights ``best.pt`` holds (``None`` before the first epoch).

        Old or foreign checkpoints without an epoch fall back to the first best row of ``metrics.csv`` by the
        run's ``train.monitor``, the rule training chose by.
        """
        if self.has_best():
            epoch = self.load_best(mmap=True).get("epoch")
            if epoch is not None:
                return int(epoch)
        rows = [r for r in self.metrics_rows() if r.get("macro_f1")]
        if not rows:
            return None
        monitor = self.read_config().train.monitor if self.has_config() else "macro_f1"
        return int(max(rows, key=lambda r: float(r.get(monitor) or "-inf"))["epoch"])

    def best_row(self) -> dict[str, str] | None:
        """The ``metrics.csv`` row of the epoch ``best.pt`` holds, or ``None`` when there is none."""
        epoch = self.best_epoch()
        return next((r for r in self.metrics_rows() if r.get("epoch") and int(r["epoch"]) == epoch), None)

    # ---- prediction tables ------------------------------------------------------------------------------
    def write_val_predictions(self, records: Sequence["Record"], y_true: "np.ndarray", probs: "np.ndarray") -> Path:
        """``val_predictions.csv``: one row a validation photo (truth, prediction, the 18 probabilities)."""
        return write_prediction_rows(self.val_predictions_path, prediction_rows(records, y_true, probs))

    def predictions_path(self) -> Path:
        """The run's prediction table: ``val_predictions.csv``, or a k-fold parent's ``oof.csv``."""
        kfold = self.oof_path.is_file() and not self.val_predictions_path.is_file()
        return self.oof_path if kfold else self.val_predictions_path

    def read_predictions(self, probs: bool = True) -> PredictionTable:
        """``val_predictions.csv`` of a run, or ``oof.csv`` of a k-fold run (with its folds).

        Raises:
            MaskclsError: if neither exists, or the file lacks a column.
        """
        path = self.predictions_path()
        if not path.is_file():
            raise MaskclsError(f"{self.path}: no {self.VAL_PREDICTIONS} or {self.OOF} (not a finished run)")
        return read_prediction_table(path, probs, folds=path == self.oof_path)

    # ---- k-fold -----------------------------------------------------------------------------------------
    def write_kfold(self, n_splits: int) -> Path:
        """Mark this folder as a k-fold parent of ``n_splits`` folds."""
        return write_text(self.kfold_path, json.dumps({"n_splits": n_splits}) + "\n")

    def n_splits(self) -> int:
        """The number of folds of a k-fold parent, as ``kfold.json`` records it.

        Raises:
            MaskclsError: if the marker is missing or unreadable.
        """
        try:
            return int(json.loads(self.kfold_path.read_text(encoding="utf-8"))["n_splits"])
        except FileNotFoundError:
            raise MaskclsError(f"{self.path}: not a k-fold run folder (no {self.KFOLD})") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise MaskclsError(f"{self.kfold_path}: unreadable k-fold marker ({exc})") from None

    def fold(self, k: int) -> "RunFolder":
        """The run folder of fold ``k`` of a k-fold parent."""
        return RunFolder(self.path / f"fold{k}")

    def unfinished_folds(self, n_splits: int) -> list[int]:
        """The folds without a finished run."""
        return [k for k in range(n_splits) if not self.fold(k).is_finished()]

    # ---- self-training ----------------------------------------------------------------------------------
    def is_self_training(self) -> bool:
        """A self-training run: its ``config.yaml`` sets ``self_training.folder`` (its rounds' configs do not)."""
        return self.has_config() and self.read_config().self_training.folder is not None

    def round(self, r: int) -> "RunFolder":
        """The run folder of round ``r`` (from 1) of a self-training run."""
        return RunFolder(self.path / f"round{r}")

    def write_self_training(self, summary: dict[str, Any]) -> Path:
        return write_text(self.self_training_path, json.dumps(summary, indent=1) + "\n")

    def read_self_training(self) -> dict[str, Any]:
        """``self_training.json`` (an empty record when the first round has not been labelled yet).

        Raises:
            MaskclsError: if the file is unreadable.
        """
        try:
            return json.loads(self.self_training_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise MaskclsError(f"{self.self_training_path}: unreadable self-training record ({exc})") from None

    def members(self) -> list[Path]:
        """The run folders this one stands for: a k-fold parent gives its folds in order, anything else itself.

        Raises:
            MaskclsError: if the path does not exist or a k-fold run lacks a fold.
        """
        if not self.path.exists():
            raise MaskclsError(f"{self.path}: no such run folder or model file")
        if not self.is_kfold():
            return [self.path]
        folds = [self.fold(k) for k in range(self.n_splits())]
        missing = [str(f.path) for f in folds if not f.has_best()]
        if missing:
            raise MaskclsError(f"{self.path}: k-fold run with unfinished folds (no best.pt in {', '.join(missing)})")
        return [f.path for f in folds]
