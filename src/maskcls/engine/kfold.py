"""K-fold training: one run per fold under one parent folder, resumable, with out-of-fold predictions.

``runs/<name>/`` holds the shared ``config.yaml`` and ``split.json``, then ``fold0/`` … ``fold{k-1}/`` (each a
complete run folder), ``oof.csv`` (every person predicted by the model that never saw them) and
``oof_metrics.json``. Running again on the same parent skips finished folds and resumes a killed one.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from maskcls.config import Config, dump_config, load_config
from maskcls.data.check import load_dataset
from maskcls.data.splits import Split, make_split
from maskcls.engine.run import Log, resume, train
from maskcls.fileio import atomic_write, unique_dir, write_text
from maskcls.metrics import score_labels


def fold_finished(folder: Path) -> bool:
    """A fold is finished once its summary is written (the last thing a run does)."""
    return (folder / "report.html").is_file()


def train_kfold(cfg: Config, runs_root: Path = Path("runs"), parent: Path | None = None, log: Log = print) -> Path:
    """Train every fold of a k-fold split (or continue an interrupted k-fold run in ``parent``)."""
    if parent is None:
        parent = unique_dir(runs_root / cfg.name)
        if cfg.split.file is None:
            records = load_dataset(cfg.data.root, cfg.data.relabel).records
            split = make_split(records, cfg.split.n_splits, cfg.split.seed, bands=cfg.data.bands())
            cfg.split.file = split.save(parent / "split.json")
        cfg.split.kind = "kfold"
        n_splits = Split.load(cfg.split.file).n_splits
        write_text(parent / "config.yaml", dump_config(cfg))
        write_text(parent / "kfold.json", json.dumps({"n_splits": n_splits}) + "\n")  # marks a k-fold parent
    else:
        cfg = load_config(parent / "config.yaml")
        n_splits = Split.load(cfg.split.file).n_splits
    for fold in range(n_splits):
        folder = parent / f"fold{fold}"
        if fold_finished(folder):
            log(f"fold {fold}: finished earlier, skipped")
        elif (folder / "last.pt").is_file():
            log(f"fold {fold}: resuming")
            resume(folder, log)
        else:
            log(f"fold {fold}/{n_splits}")
            train(cfg, folder=folder, fold=fold, log=log)
    collect_oof(parent, n_splits, cfg, log)
    return parent


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
