"""What a finished run shows a person: learning curves, the confusion matrix and an HTML summary."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from maskcls.config import Config, dump_config
from maskcls.labels import class_names
from maskcls.metrics import confusion_matrix, score_labels
from maskcls.report import Page, new_figure, save_figure


def plot_curves(rows: list[dict], path: Path) -> Path:
    """Losses and F1 scores per epoch."""
    epochs = [int(r["epoch"]) for r in rows]
    figure = new_figure(11, 4)
    left, right = figure.subplots(1, 2)
    for key, label in (("train_loss", "train loss"), ("val_loss", "validation loss")):
        left.plot(epochs, [float(r[key]) for r in rows], marker="o", label=label)
    left.set_xlabel("epoch")
    left.set_title("loss")
    left.legend()
    for key in ("macro_f1", "mask_f1", "gender_f1", "age_f1"):
        right.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key.replace("_", " "))
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.set_title("validation F1")
    right.legend()
    return save_figure(figure, path)


def plot_confusion(y_true: np.ndarray, y_pred: np.ndarray, names: list[str], path: Path,
                   title: str = "validation confusion matrix (best epoch; colour = share of the true class)") -> Path:
    """Row-normalised confusion matrix with counts, one row and column per name (18 for the classes)."""
    n = len(names)
    cm = confusion_matrix(y_true, y_pred, n)
    rates = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    figure = new_figure(11, 10) if n > 6 else new_figure(5, 4.5)
    axes = figure.subplots()
    axes.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ticks = np.arange(n)
    axes.set_xticks(ticks, [f"{i} {n}" for i, n in enumerate(names)], rotation=90, fontsize=7)
    axes.set_yticks(ticks, [f"{i} {n}" for i, n in enumerate(names)], fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for i, j in zip(*np.nonzero(cm)):
        axes.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=6,
                  color="white" if rates[i, j] > 0.5 else "black")
    axes.set_title(title, fontsize=10 if n > 6 else 8)
    return save_figure(figure, path)


def read_predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """True and predicted labels from a ``val_predictions.csv``."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([int(r["true"]) for r in rows]), np.array([int(r["pred"]) for r in rows])


def write_summary(folder: Path, cfg: Config) -> Path | None:
    """Write ``plots/curves.png``, ``plots/confusion_matrix.png`` and ``report.html`` for a run folder."""
    import pandas as pd

    with open(folder / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    names = class_names(cfg.data.bands())
    page = Page(f"maskcls run {folder.name}")
    best = max(rows, key=lambda r: float(r["macro_f1"]))
    page.heading("Best epoch")
    page.table(pd.DataFrame([best]))
    if any(r.get("val_in_train") == "1" for r in rows):
        page.paragraph("Some epochs also trained on the validation people (train.train_on_val_epochs): "
                       "their validation scores are not held-out estimates.")
    page.image(plot_curves(rows, folder / "plots" / "curves.png"), "learning curves")
    sources = folder / "sources.json"
    if sources.is_file():
        import json

        page.heading("Training sources (photos; training counts per label, missing = the source has no such label)")
        entries = json.loads(sources.read_text(encoding="utf-8"))["sources"]
        page.table(pd.DataFrame([{
            "source": e["name"], "kind": e["kind"], "weight": e["weight"], "training": e["train_photos"],
            "validation": e["val_photos"], "hold-out left out": e["dev_left_out"], "excluded": e["excluded"],
            **{f"{task}: {k}": v for task, counts in e["train_labels"].items() for k, v in counts.items()},
        } for e in entries]).fillna(0))
    predictions = folder / "val_predictions.csv"
    if predictions.is_file():
        y_true, y_pred = read_predictions(predictions)
        page.image(plot_confusion(y_true, y_pred, names, folder / "plots" / "confusion_matrix.png"),
                   "confusion matrix")
        score = score_labels(y_true, y_pred, cfg.data.bands())
        page.heading("Classification report (best epoch)")
        page.table(pd.DataFrame(score.per_class).round(4))
    page.heading("Epochs")
    page.table(pd.DataFrame(rows))
    page.heading("Configuration")
    page.preformatted(dump_config(cfg))
    return page.save(folder / "report.html")
