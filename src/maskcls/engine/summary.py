"""What a finished run shows a person: learning curves, the confusion matrix and an HTML summary."""

from __future__ import annotations

import json
from pathlib import Path

from maskcls.config import Config, dump_config
from maskcls.labels import class_names
from maskcls.metrics import confusion_matrix, score_labels
from maskcls.report import Page, new_figure, plot_confusion, save_figure
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
    if run.sources_path.is_file():
        page.heading("Training sources (photos; training counts per label, missing = the source has no such label)")
        entries = json.loads(run.sources_path.read_text(encoding="utf-8"))["sources"]
        page.table(pd.DataFrame([{
            "source": e["name"], "kind": e["kind"], "weight": e["weight"], "training": e["train_photos"],
            "validation": e["val_photos"], "hold-out left out": e["dev_left_out"], "excluded": e["excluded"],
            **{f"{task}: {k}": v for task, counts in e["train_labels"].items() for k, v in counts.items()},
        } for e in entries]).fillna(0))
    if run.val_predictions_path.is_file():
        table = read_prediction_table(run.val_predictions_path, probs=False)
        cm = confusion_matrix(table.y_true, table.y_pred, len(names))
        page.image(plot_confusion(cm, names, run.plots / "confusion_matrix.png",
                                  "validation confusion matrix (best epoch; colour = share of the true class)"),
                   "confusion matrix")
        score = score_labels(table.y_true, table.y_pred, cfg.data.bands())
        page.heading("Classification report (best epoch)")
        page.table(pd.DataFrame(score.per_class).round(4))
    page.heading("Epochs")
    page.table(pd.DataFrame(rows))
    page.heading("Configuration")
    page.preformatted(dump_config(cfg))
    return page.save(run.report_path)
