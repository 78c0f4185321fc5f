"""K-fold training: one run per fold under one parent folder, resumable, with out-of-fold predictions.

``runs/<name>/`` holds the shared ``config.yaml`` and ``split.json``, then ``fold0/`` … ``fold{k-1}/`` (each a
complete run folder), ``oof.csv`` (every person predicted by the model that never saw them) and
``oof_metrics.json``. Running again on the same parent skips finished folds and resumes a killed one.

Folds can also run as separate processes, one a GPU: :func:`prepare_kfold` makes the parent, each process trains
its ``folds`` of it (``maskcls train --resume PARENT --fold K``), and :func:`collect_kfold` joins them (the last
fold to finish does so by itself). Under torchrun every fold is trained by all the processes, one after another.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.config import Config
from maskcls.data.splits import Split, make_split
from maskcls.engine import distributed
from maskcls.devices import resolve_device
from maskcls.engine.run import Log, continue_or_start, train
from maskcls.errors import MaskclsError
from maskcls.fileio import write_text
from maskcls.metrics import score_labels
from maskcls.runs import RunFolder, read_prediction_table, write_prediction_rows


def prepare_kfold(cfg: Config, runs_root: Path = Path("runs")) -> Path:
    """Make the parent folder of a k-fold run (``config.yaml``, ``split.json``, ``kfold.json``) and return it."""
    if cfg.data.root is None and not cfg.data.sources and cfg.split.file is None:
        raise MaskclsError("data.root: set the competition folder (data.root=PATH)")
    parent = RunFolder.create(runs_root / cfg.name)
    try:
        if cfg.split.file is None:
            from maskcls.data.sources import load_sources

            records = [r for part in load_sources(cfg.data, cfg.seed) if part.config.kind == "competition"
                       for r in part.records]
            split = make_split(records, cfg.split.n_splits, cfg.split.seed, bands=cfg.data.bands())
            cfg.split.file = split.save(parent.split_path)
        cfg.split.kind = "kfold"
        n_splits = Split.load(cfg.split.file).n_splits
        parent.write_config(cfg)
        parent.write_kfold(n_splits)  # marks a k-fold parent
    except BaseException:  # a half-made k-fold folder is no run: leave nothing behind
        shutil.rmtree(parent.path, ignore_errors=True)
        raise
    return parent.path


def train_kfold(cfg: Config, runs_root: Path = Path("runs"), parent: Path | None = None, log: Log = print,
                folds: Sequence[int] | None = None) -> Path:
    """Train every fold of a k-fold split (or continue an interrupted k-fold run in ``parent``).

    Args:
        cfg: the configuration (ignored when ``parent`` is given: its ``config.yaml`` is used).
        runs_root: where a new parent folder is made.
        parent: an existing k-fold folder to continue.
        log: where one-line messages go.
        folds: train only these folds (the others may run in other processes); the out-of-fold predictions
            are collected once every fold is finished.

    Raises:
        MaskclsError: for a fold the split does not have.
    """
    main = distributed.is_main()
    distributed.setup(resolve_device(cfg.train.device))
    if parent is None:  # rank 0 makes the folder and split, the others read them
        parent = distributed.broadcast_object(prepare_kfold(cfg, runs_root) if main else None)
    cfg = RunFolder(parent).read_config()
    n_splits = Split.load(cfg.split.file).n_splits
    wanted = range(n_splits) if folds is None else sorted(set(folds))
    missing = [f for f in wanted if not 0 <= f < n_splits]
    if missing:
        raise MaskclsError(f"{parent}: fold {missing[0]} does not exist (the split has {n_splits})")
    log = log if main else (lambda _message: None)
    for fold in wanted:
        folder = RunFolder(parent).fold(fold)

        def start(fold: int = fold, folder: RunFolder = folder) -> None:
            if main and folder.path.is_dir():  # stopped before its first epoch ended: nothing in it to keep
                shutil.rmtree(folder.path)
            log(f"fold {fold}/{n_splits}")
            train(cfg, folder=folder.path, fold=fold, log=log)

        continue_or_start(folder, f"fold {fold}", start, log)
    pending = RunFolder(parent).unfinished_folds(n_splits)
    if pending:
        log(f"folds {', '.join(map(str, pending))} not finished yet: collect with `maskcls kfold-collect {parent}`")
    elif main:
        collect_oof(parent, n_splits, cfg, log)
    distributed.barrier()
    return parent


def collect_kfold(parent: Path, log: Log = print) -> dict:
    """Collect the out-of-fold predictions of a k-fold folder whose folds ran separately.

    Raises:
        MaskclsError: if ``parent`` is not a k-fold folder or a fold is not finished.
    """
    parent = Path(parent)
    if not RunFolder(parent).is_kfold():
        raise MaskclsError(f"{parent}: not a k-fold run folder (no kfold.json)")
    cfg = RunFolder(parent).read_config()
    n_splits = Split.load(cfg.split.file).n_splits
    pending = RunFolder(parent).unfinished_folds(n_splits)
    if pending:
        raise MaskclsError(f"{parent}: fold(s) {', '.join(map(str, pending))} not finished (no report.html)")
    return collect_oof(parent, n_splits, cfg, log)


def collect_oof(parent: Path, n_splits: int, cfg: Config, log: Log = print) -> dict:
    """Join the folds' validation predictions into ``oof.csv`` and score them."""
    run = RunFolder(parent)
    tables = [read_prediction_table(run.fold(fold).val_predictions_path, probs=False) for fold in range(n_splits)]
    write_prediction_rows(run.oof_path, [{"fold": fold, **r} for fold, t in enumerate(tables) for r in t.rows])
    score = score_labels(np.concatenate([t.y_true for t in tables]), np.concatenate([t.y_pred for t in tables]),
                         cfg.data.bands())
    summary = {"macro_f1": score.macro_f1, "accuracy": score.accuracy, "task_f1": score.task_f1, "n": score.n}
    write_text(run.oof_metrics_path, json.dumps(summary, indent=1) + "\n")
    log(f"out-of-fold: macro F1 {score.macro_f1:.4f}  accuracy {score.accuracy:.4f}  "
        + "  ".join(f"{t} {v:.3f}" for t, v in score.task_f1.items()) + f"  ({score.n} photos)")
    return summary
