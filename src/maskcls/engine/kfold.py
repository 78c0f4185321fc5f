"""K-fold training: one run per fold under one parent folder, resumable, with out-of-fold predictions.

``runs/<name>/`` holds the shared ``config.yaml`` and ``split.json``, then ``fold0/`` … ``fold{k-1}/`` (each a
complete run folder), ``oof.csv`` (every person predicted by the model that never saw them) and
``oof_metrics.json``. Running again on the same parent skips finished folds and resumes a killed one.

Folds can also run as separate processes, one a GPU: :func:`prepare_kfold` makes the parent, each process trains
its ``folds`` of it (``maskcls train --resume PARENT --fold K``), and :func:`collect_kfold` joins them (the last
fold to finish does so by itself). Under torchrun every fold is trained by all the processes, one after another.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.config import Config, dump_config, load_config
from maskcls.data.splits import Split, make_split
from maskcls.engine import distributed
from maskcls.engine.loop import resolve_device
from maskcls.engine.run import Log, resume, train
from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, unique_dir, write_text
from maskcls.metrics import score_labels


def fold_finished(folder: Path) -> bool:
    """A fold is finished once its summary is written (the last thing a run does)."""
    return (folder / "report.html").is_file()


def prepare_kfold(cfg: Config, runs_root: Path = Path("runs")) -> Path:
    """Make the parent folder of a k-fold run (``config.yaml``, ``split.json``, ``kfold.json``) and return it."""
    parent = unique_dir(runs_root / cfg.name)
    if cfg.split.file is None:
        from maskcls.data.sources import load_sources

        records = [r for part in load_sources(cfg.data, cfg.seed) if part.config.kind == "competition"
                   for r in part.records]
        split = make_split(records, cfg.split.n_splits, cfg.split.seed, bands=cfg.data.bands())
        cfg.split.file = split.save(parent / "split.json")
    cfg.split.kind = "kfold"
    n_splits = Split.load(cfg.split.file).n_splits
    write_text(parent / "config.yaml", dump_config(cfg))
    write_text(parent / "kfold.json", json.dumps({"n_splits": n_splits}) + "\n")  # marks a k-fold parent
    return parent


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
    cfg = load_config(parent / "config.yaml")
    n_splits = Split.load(cfg.split.file).n_splits
    wanted = range(n_splits) if folds is None else sorted(set(folds))
    missing = [f for f in wanted if not 0 <= f < n_splits]
    if missing:
        raise MaskclsError(f"{parent}: fold {missing[0]} does not exist (the split has {n_splits})")
    log = log if main else (lambda _message: None)
    for fold in wanted:
        folder = parent / f"fold{fold}"
        if fold_finished(folder):
            log(f"fold {fold}: finished earlier, skipped")
        elif (folder / "last.pt").is_file():
            log(f"fold {fold}: resuming")
            resume(folder, log)
        else:
            log(f"fold {fold}/{n_splits}")
            train(cfg, folder=folder, fold=fold, log=log)
    pending = unfinished_folds(parent, n_splits)
    if pending:
        log(f"folds {', '.join(map(str, pending))} not finished yet: collect with `maskcls kfold-collect {parent}`")
    elif main:
        collect_oof(parent, n_splits, cfg, log)
    distributed.barrier()
    return parent


def unfinished_folds(parent: Path, n_splits: int) -> list[int]:
    """The folds of a k-fold folder without a finished run."""
    return [fold for fold in range(n_splits) if not fold_finished(parent / f"fold{fold}")]


def collect_kfold(parent: Path, log: Log = print) -> dict:
    """Collect the out-of-fold predictions of a k-fold folder whose folds ran separately.

    Raises:
        MaskclsError: if ``parent`` is not a k-fold folder or a fold is not finished.
    """
    parent = Path(parent)
    if not (parent / "kfold.json").is_file():
        raise MaskclsError(f"{parent}: not a k-fold run folder (no kfold.json)")
    cfg = load_config(parent / "config.yaml")
    n_splits = Split.load(cfg.split.file).n_splits
    pending = unfinished_folds(parent, n_splits)
    if pending:
        raise MaskclsError(f"{parent}: fold(s) {', '.join(map(str, pending))} not finished (no report.html)")
    return collect_oof(parent, n_splits, cfg, log)


def collect_oof(parent: Path, n_splits: int, cfg: Config, log: Log = print) -> dict:
    """Join the folds' validation predictions into ``oof.csv`` and score them."""
    rows: list[dict] = []
    for fold in range(n_splits):
        with open(parent / f"fold{fold}" / "val_predictions.csv", newline="") as handle:
            rows += [{"fold": fold, **r} for r in csv.DictReader(handle)]
    with atomic_write(parent / "oof.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    score = score_labels(np.array([int(r["true"]) for r in rows]), np.array([int(r["pred"]) for r in rows]),
                         cfg.data.bands())
    summary = {"macro_f1": score.macro_f1, "accuracy": score.accuracy, "task_f1": score.task_f1, "n": score.n}
    write_text(parent / "oof_metrics.json", json.dumps(summary, indent=1) + "\n")
    log(f"out-of-fold: macro F1 {score.macro_f1:.4f}  accuracy {score.accuracy:.4f}  "
        + "  ".join(f"{t} {v:.3f}" for t, v in score.task_f1.items()) + f"  ({score.n} photos)")
    return summary
