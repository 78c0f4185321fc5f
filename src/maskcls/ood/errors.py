"""What a predictor got wrong on the suite: every photo's prediction as a CSV, and the largest losses as a page.

A suite figure says how often a predictor is wrong; these say on which photos. Looking at them is how the
project found, for instance, held-out realmask photos labelled "not worn" that show a mask pulled down to the
chin (the competition's "incorrect")::

    maskcls bench ood runs/general --json scores/general.json   # also scores/general.predictions.csv
                                                                 # and scores/general.errors/index.html
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from maskcls.fileio import write_text
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES
from maskcls.ood.score import STATE_NAMES, RowPredictions

#: The task names of the predictions, their label keys (``row_labels``) and the class names.
TASK_LABELS = {"mask": ("mask", STATE_NAMES), "gender": ("gender", GENDER_NAMES),
               "age": ("age_band", DEFAULT_AGE_BANDS.names())}


def losses(row: RowPredictions, task: str) -> np.ndarray:
    """``-log p(true)`` of every photo for ``task`` (NaN where the label is unknown or the task not predicted)."""
    key, _ = TASK_LABELS[task]
    truth = row.labels[key]
    out = np.full(len(truth), np.nan)
    if task not in row.outputs:
        return out
    probs = np.asarray(row.outputs[task], dtype=np.float64)
    known = truth >= 0
    out[known] = -np.log(np.clip(probs[known, truth[known]], 1e-12, 1.0))
    return out


def wrong(row: RowPredictions, task: str) -> np.ndarray:
    """Which photos have a known ``task`` label that the predictor's most probable class is not."""
    truth = row.labels[TASK_LABELS[task][0]]
    if task not in row.outputs:
        return np.zeros(len(truth), dtype=bool)
    return (truth >= 0) & (np.asarray(row.outputs[task]).argmax(1) != truth)


def largest_losses(row: RowPredictions, task: str, top: int) -> list[int]:
    """The photos of the ``top`` largest losses among the wrongly predicted ones, largest first."""
    mistaken = wrong(row, task)
    order = np.argsort(-np.where(mistaken, losses(row, task), -np.inf), kind="stable")
    return [int(i) for i in order if mistaken[i]][:top]


def _no_face(row: RowPredictions) -> np.ndarray:
    """Which photos the predictor found no face in (none, for a predictor that does not say)."""
    return np.asarray(row.outputs.get("no_face", np.zeros(len(row.entries), dtype=bool)), dtype=bool)


def predictions_csv(collected: dict[str, dict[str, RowPredictions]]) -> str:
    """One line per predictor and photo: its labels, predicted class and probabilities of every task."""
    columns = ["predictor", "row", "file", "group", "no_face"]
    for task, (_, names) in TASK_LABELS.items():
        columns += [f"{task}_true", f"{task}_pred"] + [f"p_{task}_{name}" for name in names]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for name, rows in collected.items():
        for row_name, row in rows.items():
            no_face = _no_face(row)
            for i, entry in enumerate(row.entries):
                line = [name, row_name, entry["file"], entry.get("group", ""), int(no_face[i])]
                for task, (key, names) in TASK_LABELS.items():
                    truth = int(row.labels[key][i])
                    line.append(names[truth] if truth >= 0 else "")
                    if task in row.outputs:
                        probs = np.asarray(row.outputs[task][i], dtype=np.float64)
                        line += [names[int(probs.argmax())], *(f"{p:.4f}" for p in probs)]
                    else:
                        line += [""] * (1 + len(names))
                writer.writerow(line)
    return buffer.getvalue()


def write_predictions(path: str | Path, collected: dict[str, dict[str, RowPredictions]]) -> Path:
    """Write :func:`predictions_csv` atomically to ``path``."""
    return write_text(Path(path), predictions_csv(collected))


def _caption(row: RowPredictions, i: int, task: str) -> str:
    key, names = TASK_LABELS[task]
    entry, probs = row.entries[i], np.asarray(row.outputs[task][i])
    truth = int(row.labels[key][i])
    no_face = bool(_no_face(row)[i])
    return (f"{entry.get('group', '')}\n{Path(entry['file']).name[:34]}\n"
            f"true {names[truth]} → {names[int(probs.argmax())]}\np(true) {probs[truth]:.3f}"
            + ("  (no face)" if no_face else ""))


def error_report(folder: str | Path, suite: str | Path, collected: dict[str, dict[str, RowPredictions]],
                 top: int = 12, columns: int = 6) -> Path:
    """``folder/index.html``: for every predictor, row and task, the ``top`` largest losses among the photos it
    got wrong, as a grid of the suite's photos (as stored, before any face cut) and a table.

    Returns:
        The page's path.
    """
    from maskcls.data.images import ImageReadError, load_rgb
    from maskcls.inference.analysis import plot_grid
    from maskcls.report import Page

    folder, suite = Path(folder), Path(suite)
    for stale in folder.glob("[0-9]*-*.png"):  # grids of an earlier report written here
        stale.unlink()
    page = Page("Out-of-distribution suite: the largest losses")
    page.paragraph(f"Suite {suite}. For each row and task, the photos predicted wrongly with the largest "
                   "-log p(true), largest first, shown as the suite stores them (a crop=face run saw its own cut "
                   "of each). Every photo's prediction is in the predictions CSV beside the scores.")
    for p, (name, rows) in enumerate(collected.items()):
        page.heading(name)
        for row_name, row in rows.items():
            for task, (key, _) in TASK_LABELS.items():
                known = int((row.labels[key] >= 0).sum())
                if task not in row.outputs or not known:
                    continue
                page.heading(f"{row_name}: {task}, {int(wrong(row, task).sum())} of {known} photos wrong", level=3)
                picked = largest_losses(row, task, top)
                if not picked:
                    continue
                tiles = []
                for i in picked:
                    try:
                        image = np.asarray(load_rgb(suite / row.entries[i]["file"]), dtype=np.uint8)
                    except ImageReadError:
                        image = None
                    tiles.append((image, _caption(row, i, task)))
                page.image(plot_grid(tiles, folder / f"{p}-{row_name}-{task}.png", columns=columns))
                loss = losses(row, task)
                _, names = TASK_LABELS[task]
                page.table([{"file": row.entries[i]["file"], "group": row.entries[i].get("group", ""),
                             "true": names[int(row.labels[key][i])],
                             "predicted": names[int(np.asarray(row.outputs[task][i]).argmax())],
                             "loss": round(float(loss[i]), 3)} for i in picked])
    return page.save(folder / "index.html")


def error_paths(json_out: Path) -> tuple[Path, Path]:
    """The predictions CSV and the error page's folder beside a scores JSON (``x.json``: ``x.predictions.csv``,
    ``x.errors/``)."""
    stem = json_out.with_suffix("")
    return stem.with_name(stem.name + ".predictions.csv"), stem.with_name(stem.name + ".errors")

