"""What a finished run shows a person: learning curves, the confusion matrix and an HTML summary."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maskcls.config import Config, dump_config
from maskcls.labels import class_names
from maskcls.metrics import confusion_matrix, score_labels
from maskcls.report import Page, new_figure, save_figure
from maskcls.runs import RunFolder, read_prediction_table


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


def write_run_report(run: RunFolder, cfg: Config) -> Path | None:
    """Write ``plots/curves.png``, ``plots/confusion_matrix.png`` and ``report.html`` for a run folder.

    The best epoch shown is the one ``best.pt`` holds (chosen by ``train.monitor``).
    """
    import pandas as pd

    rows = run.metrics_rows()
    if not rows:
        return None
    names = class_names(cfg.data.bands())
    page = Page(f"maskcls run {run.name}")
    best = run.best_row()
    page.heading("Best epoch")
    page.table(pd.DataFrame([best] if best else []))
    if any(r.get("val_in_train") == "1" for r in rows):
        page.paragraph("Some epochs also trained on the validation people (train.train_on_val_epochs): "
                       "their validation scores are not held-out estimates.")
    page.image(plot_curves(rows, run.plots / "curves.png"), "learning curves")
    if run.val_predictions_path.is_file():
        table = read_prediction_table(run.val_predictions_path, probs=False)
        page.image(plot_confusion(table.y_true, table.y_pred, names, run.plots / "confusion_matrix.png"),
                   "confusion matrix")
        score = score_labels(table.y_true, table.y_pred, cfg.data.bands())
        page.heading("Classification report (best epoch)")
        page.table(pd.DataFrame(score.per_class).round(4))
    page.heading("Epochs")
    page.table(pd.DataFrame(rows))
    page.heading("Configuration")
    page.preformatted(dump_config(cfg))
    return page.save(run.report_path)
