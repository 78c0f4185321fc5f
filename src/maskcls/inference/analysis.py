"""Error analysis of a run's validation predictions, as an HTML page under ``RUN/analysis[-N]/``.

The page holds the headline scores, per-class precision/recall/F1 with support, a report per task, the 18×18
confusion matrix (counts, and shares of each true class), the most confused pairs, the calibration error (ECE) and
NLL before and after temperature scaling, a grid of the photos with the largest losses (true and predicted label,
p(true)), and Grad-CAM overlays of the predicted class for the top losses and for random correct photos.

It reads ``val_predictions.csv`` (a hold-out run) or ``oof.csv`` (a k-fold run, each photo explained by the fold
model that predicted it); both carry the 18 class probabilities ``p0..p17``. An earlier analysis is never
overwritten: each one gets a new folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from maskcls.fileio import unique_dir
from maskcls.inference.calibration import ECE_BINS
from maskcls.labels import NUM_CLASSES, TASKS, AgeBands, class_names, decode, split_tasks, task_names
from maskcls.metrics import confusion_matrix, per_class, score_labels
from maskcls.report import Page, new_figure, plot_confusion, save_figure
from maskcls.runs import RunFolder

@dataclass
class Predictions:
    """Validation (or out-of-fold) predictions of a run, one row a photo.

    Attributes:
        source: the CSV read.
        paths: photo paths.
        y_true: int64 true classes.
        y_pred: int64 predicted classes.
        probs: float32 ``[N, 18]``.
        members: the run folder whose model predicted each photo (a fold of a k-fold run, or the run).
    """

    source: Path
    paths: list[Path]
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    members: list[Path]

    @property
    def losses(self) -> np.ndarray:
        """Cross-entropy of each photo: ``-log p(true)``."""
        return -np.log(np.clip(self.probs[np.arange(len(self.y_true)), self.y_true], 1e-12, None))


def read_predictions(run: str | Path) -> Predictions:
    """``val_predictions.csv`` of a run, or ``oof.csv`` of a k-fold run.

    Raises:
        MaskclsError: if neither exists, or the file lacks the probability columns.
    """
    folder = RunFolder(run)
    table = folder.read_predictions(probs=True)
    members = ([folder.fold(int(k)).path for k in table.folds] if table.folds is not None
               else [folder.path] * len(table.paths))
    return Predictions(table.source, [Path(p) for p in table.paths], table.y_true, table.y_pred, table.probs, members)


def task_report(y_true: np.ndarray, y_pred: np.ndarray, bands: AgeBands) -> dict[str, list[dict]]:
    """Per task, one row per value: precision, recall, F1 and support."""
    true_tasks, pred_tasks = split_tasks(y_true), split_tasks(y_pred)
    report = {}
    for task, n in TASKS.items():
        stats = per_class(confusion_matrix(true_tasks[task], pred_tasks[task], n))
        report[task] = [{task: name, "precision": float(stats["precision"][i]), "recall": float(stats["recall"][i]),
                         "f1": float(stats["f1"][i]), "support": int(stats["support"][i])}
                        for i, name in enumerate(task_names(task, bands))]
    return report


def confused_pairs(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str], top: int = 15) -> list[dict]:
    """The most frequent (true, predicted) mistakes, with the share of the true class and the tasks that differ."""
    cm = confusion_matrix(y_true, y_pred)
    np.fill_diagonal(cm, 0)
    support = np.bincount(y_true, minlength=NUM_CLASSES)
    order = np.argsort(-cm, axis=None, kind="stable")[:top]
    pairs = []
    for flat in order:
        t, p = divmod(int(flat), NUM_CLASSES)
        if cm[t, p] == 0:
            break
        differ = [task for task, a, b in zip(TASKS, decode(t), decode(p)) if a != b]
        pairs.append({"true": f"{t} {names[t]}", "predicted": f"{p} {names[p]}", "count": int(cm[t, p]),
                      "share of true": round(float(cm[t, p] / max(support[t], 1)), 4),
                      "wrong task(s)": ", ".join(differ)})
    return pairs


def plot_grid(tiles: Sequence[tuple[np.ndarray | None, str]], path: Path, columns: int = 4) -> Path:
    """Images with a caption each, in a grid (``None`` draws an empty tile, e.g. for an unreadable photo)."""
    columns = max(1, min(columns, len(tiles)))
    rows = max(1, -(-len(tiles) // columns))
    widest = max((t[0].shape[1] / t[0].shape[0] for t in tiles if t[0] is not None), default=1.0)
    figure = new_figure(columns * 2.6 * widest, rows * 3.0)
    axes = np.atleast_1d(figure.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, (image, caption) in zip(axes, tiles):
        if image is None:
            ax.text(0.5, 0.5, "unreadable", ha="center", va="center", transform=ax.transAxes)
        else:
            ax.imshow(image)
        ax.set_title(caption, fontsize=7)
    return save_figure(figure, path)


def _entry(path: Path, spec) -> np.ndarray | None:
    """The photo as the model saw it, or ``None`` if it cannot be read any more."""
    from maskcls.data.images import ImageReadError
    from maskcls.vision.preprocess import load_image

    try:
        return load_image(path, spec)
    except ImageReadError:
        return None


def _caption(preds: Predictions, i: int, names: Sequence[str]) -> str:
    t, p = preds.y_true[i], preds.y_pred[i]
    path = preds.paths[i]
    return f"{path.parent.name}/{path.name}\ntrue {t} {names[t]}\npred {p} {names[p]}\np(true) {preds.probs[i, t]:.3f}"


class Models:
    """The run's models, each loaded once when first needed (one per fold of a k-fold run)."""

    def __init__(self, device: str = "auto") -> None:
        self.device = device
        self._loaded: dict = {}

    def __call__(self, member: Path):
        from maskcls.inference.predictor import Predictor

        if member not in self._loaded:
            self._loaded[member] = Predictor.from_run(member, self.device)
        return self._loaded[member]


def gradcam_tiles(preds: Predictions, rows: Sequence[int], names: Sequence[str],
                  models: Models) -> list[tuple[np.ndarray | None, str]]:
    """For each row: the photo beside its Grad-CAM overlay of the predicted class, by the model that predicted it."""
    from maskcls.inference.contract import cache_spec
    from maskcls.inference.gradcam import grad_cam, overlay

    tiles: dict[int, np.ndarray | None] = {}
    for member in dict.fromkeys(preds.members[i] for i in rows):  # one batch per model
        predictor = models(member)
        spec = cache_spec(predictor)
        entries = {i: _entry(preds.paths[i], spec) for i in rows if preds.members[i] == member}
        readable = [i for i, entry in entries.items() if entry is not None]
        tiles.update({i: None for i in entries if i not in readable})
        if not readable:
            continue
        batch = np.stack([entries[i] for i in readable])
        cams, _ = grad_cam(predictor.model, predictor.inputs(batch), [int(preds.y_pred[i]) for i in readable],
                           tuple(predictor.cfg.data.age_thresholds))
        for i, entry, cam in zip(readable, batch, cams):
            tiles[i] = np.concatenate([entry, overlay(entry, cam)], axis=1)
    return [(tiles[i], _caption(preds, i, names)) for i in rows]


def analyze_run(run: str | Path, images: int = 16, gradcam: int = 4, seed: int = 0, device: str = "auto",
                log: Callable[[str], None] = print) -> Path:
    """Write the analysis page of a run and return its folder (``RUN/analysis``, ``analysis-2`` …).

    Args:
        run: a run folder (``val_predictions.csv``) or a k-fold run folder (``oof.csv``).
        images: photos in the grid of top losses (0 for none).
        gradcam: Grad-CAM overlays of this many top losses and this many random correct photos (0 for none).
        seed: picks the random correct photos.
        device: torch device for Grad-CAM.
        log: where progress messages go.

    Raises:
        MaskclsError: if the run has no predictions with class probabilities or no ``config.yaml``.
    """
    run = Path(run)
    preds = read_predictions(run)
    bands = RunFolder(run).read_config().data.bands()
    models = Models(device)
    folder = unique_dir(RunFolder(run).analysis_dir)
    page = Page(f"maskcls analysis of {run.name}")
    page.paragraph(f"{len(preds.y_true):,} photos from {preds.source}"
                   + (" (out of fold: each photo predicted by the fold model that never saw its person)."
                      if preds.source.name == RunFolder.OOF else " (validation people, best epoch)."))
    _add_scores(page, preds, bands, folder)
    _add_calibration(page, preds, log)
    ranked = [int(i) for i in np.argsort(-preds.losses, kind="stable")]
    if images > 0:
        log(f"analysis: grid of the {min(images, len(ranked))} largest losses")
        _add_losses(page, preds, ranked[:images], class_names(bands), folder, models)
    if gradcam > 0:
        wrong = [i for i in ranked if preds.y_true[i] != preds.y_pred[i]][:gradcam] or ranked[:gradcam]
        correct = np.flatnonzero(preds.y_true == preds.y_pred)
        picked = sorted(np.random.default_rng(seed).choice(correct, min(gradcam, len(correct)), replace=False).tolist())
        log(f"analysis: Grad-CAM of {len(wrong)} top losses and {len(picked)} correct photos")
        _add_gradcam(page, preds, wrong, picked, seed, class_names(bands), folder, models)
    page.save(folder / "report.html")
    return folder


def _add_calibration(page: Page, preds: Predictions, log: Callable[[str], None]) -> None:
    """ECE and NLL of the predictions before and after temperature scaling: with each member's stored
    temperature (``calibration.json``), or one fitted here when none is stored."""
    from maskcls.inference.calibration import ece, fit_temperature, nll, read_calibration, scale

    stored = {member: read_calibration(member) for member in dict.fromkeys(preds.members)}
    if all(stored.values()):
        temperatures = {member: float(found["temperature"]) for member, found in stored.items()}
        how = "the stored temperature (calibration.json) of " + ", ".join(
            f"{member.name} T={t:.3f}" for member, t in temperatures.items())
        after = np.empty_like(preds.probs)
        for member, t in temperatures.items():
            rows = np.array([m == member for m in preds.members])
            after[rows] = scale(preds.probs[rows], t)
    else:
        t = fit_temperature(preds.probs, preds.y_true)
        how = f"a temperature fitted here, T={t:.3f} (not stored: maskcls calibrate RUN stores it for predict, serve " \
              "and watch)"
        after = scale(preds.probs, t)
    before_ece, after_ece = ece(preds.probs, preds.y_true), ece(after, preds.y_true)
    page.heading("Calibration")
    page.paragraph(f"Expected calibration error of the top class ({ECE_BINS} bins) and mean negative log-likelihood, "
                   f"before and after temperature scaling with {how}. The temperature was fitted on these same "
                   "predictions, so the figure after it is an optimistic one.")
    page.table([{"": "before", "ECE": round(before_ece, 4), "NLL": round(nll(preds.probs, preds.y_true), 4)},
                {"": "after", "ECE": round(after_ece, 4), "NLL": round(nll(after, preds.y_true), 4)}])
    log(f"analysis: ECE {before_ece:.4f} before, {after_ece:.4f} after temperature scaling")


def _add_scores(page: Page, preds: Predictions, bands: AgeBands, folder: Path) -> None:
    """Headline scores, per-class and per-task tables, both confusion matrices and the most confused pairs."""
    import pandas as pd

    names = class_names(bands)
    score = score_labels(preds.y_true, preds.y_pred, bands)
    page.heading("Scores")
    page.table([{"macro F1 (18 classes)": round(score.macro_f1, 4), "accuracy": round(score.accuracy, 4),
                 **{f"{t} F1": round(v, 4) for t, v in score.task_f1.items()}, "photos": score.n}])
    page.heading("Per class")
    columns = ["class", "name", "precision", "recall", "f1", "support", "predicted"]
    page.table(pd.DataFrame(score.per_class)[columns].round(4))
    page.heading("Per task")
    for task, rows in task_report(preds.y_true, preds.y_pred, bands).items():
        page.paragraph(f"{task}: macro F1 {score.task_f1[task]:.4f}, accuracy {score.task_accuracy[task]:.4f}")
        page.table(pd.DataFrame(rows).round(4))
    cm = confusion_matrix(preds.y_true, preds.y_pred)
    page.heading("Confusion matrix")
    page.image(plot_confusion(cm, names, folder / "confusion_counts.png", "photo counts", normalise=False,
                              colorbar=True), "counts (rows: true class)")
    page.image(plot_confusion(cm, names, folder / "confusion_normalised.png", "share of each true class",
                              shares_in_cells=True, colorbar=True), "share of each true class")
    page.heading("Most confused pairs")
    pairs = confused_pairs(preds.y_true, preds.y_pred, names)
    if pairs:
        page.table(pairs)
    else:
        page.paragraph("No mistakes.")


def _add_losses(page: Page, preds: Predictions, top: Sequence[int], names: Sequence[str], folder: Path,
                models: Models) -> None:
    """The grid of the largest losses and their table."""
    from maskcls.inference.contract import cache_spec

    tiles = [(_entry(preds.paths[i], cache_spec(models(preds.members[i]))), _caption(preds, i, names)) for i in top]
    page.heading("Largest losses")
    page.image(plot_grid(tiles, folder / "top_losses.png"), "the photos as the model saw them, by -log p(true)")
    page.table([{"path": str(preds.paths[i]), "true": names[preds.y_true[i]], "predicted": names[preds.y_pred[i]],
                 "p(true)": round(float(preds.probs[i, preds.y_true[i]]), 4), "loss": round(float(preds.losses[i]), 4)}
                for i in top])


def _add_gradcam(page: Page, preds: Predictions, wrong: Sequence[int], correct: Sequence[int], seed: int,
                 names: Sequence[str], folder: Path, models: Models) -> None:
    """Grad-CAM overlays of the top losses and of random correct photos."""
    page.heading("Grad-CAM")
    page.paragraph("Each photo beside the Grad-CAM map of its predicted class (gradients × activations of the "
                   "backbone's last feature map, ReLU, upsampled): red regions drove the prediction.")
    page.image(plot_grid(gradcam_tiles(preds, wrong, names, models), folder / "gradcam_losses.png", 2), "top losses")
    if correct:
        page.image(plot_grid(gradcam_tiles(preds, correct, names, models), folder / "gradcam_correct.png", 2),
                   f"random correct photos (seed {seed})")
