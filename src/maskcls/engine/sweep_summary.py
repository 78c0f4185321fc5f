"""What a sweep shows a person: ``summary.csv``, ``summary.md`` (trials by macro F1) and ``trials.png``.

All three are rewritten atomically after every trial, so they are complete whenever a sweep is interrupted.
A trial's ``macro_f1`` is the best validation macro F1 it reached (for a pruned trial, before it was stopped).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

from maskcls.fileio import atomic_write, write_text
from maskcls.report import new_figure, save_figure

_STYLE = {"complete": ("o", "tab:blue"), "pruned": ("x", "tab:orange"), "fail": ("s", "tab:red"),
          "running": ("^", "tab:gray")}


def summary_rows(study, keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row a trial (waiting ones left out): number, state, best macro F1, epochs, seconds, parameters."""
    from optuna.trial import TrialState

    rows = []
    for trial in study.get_trials(deepcopy=False):
        if trial.state == TrialState.WAITING:
            continue
        reached = list(trial.intermediate_values.values())
        f1 = trial.value if trial.state == TrialState.COMPLETE else (max(reached) if reached else None)
        seconds = trial.duration.total_seconds() if trial.duration is not None else None
        rows.append({"trial": trial.number, "state": trial.state.name.lower(),
                     "macro_f1": None if f1 is None else round(float(f1), 5),
                     "best_epoch": trial.user_attrs.get("best_epoch"), "epochs": len(reached),
                     "seconds": None if seconds is None else round(seconds, 1),
                     "retry_of": trial.user_attrs.get("retry_of"),
                     **{key: trial.params.get(key) for key in keys}, "folder": trial.user_attrs.get("folder")})
    return rows


def write_sweep_summary(study, folder: Path, keys: Sequence[str], wanted: int) -> Path:
    """Write ``summary.csv``, ``summary.md`` and ``trials.png`` in ``folder``; return the Markdown file."""
    rows = summary_rows(study, keys)
    columns = ["trial", "state", "macro_f1", "best_epoch", "epochs", "seconds", "retry_of", *keys, "folder"]
    with atomic_write(folder / "summary.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    plot_trials(rows, keys, folder / "trials.png")
    return write_text(folder / "summary.md", summary_markdown(study.study_name, rows, keys, wanted))


def summary_markdown(name: str, rows: list[dict[str, Any]], keys: Sequence[str], wanted: int) -> str:
    """The trials as a Markdown table, best first, with a line on the best trial and the sweep's progress."""
    counts = {state: sum(r["state"] == state for r in rows) for state in ("complete", "pruned", "fail", "running")}
    lines = [f"# Sweep {name}", "",
             f"{counts['complete'] + counts['pruned']} of {wanted} trials done ({counts['complete']} complete, "
             f"{counts['pruned']} pruned); {counts['fail']} failed, {counts['running']} running.", ""]
    complete = [r for r in rows if r["state"] == "complete" and r["macro_f1"] is not None]
    if complete:
        best = min(complete, key=_rank)
        shown = ", ".join(f"`{k}={_cell(best[k])}`" for k in keys)
        lines += [f"Best: trial {best['trial']}, validation macro F1 **{best['macro_f1']:.4f}** "
                  f"(epoch {best['best_epoch']}), run folder `{best['folder']}`: {shown}.", ""]
    header = ["trial", "state", "macro F1", "best epoch", "epochs", "seconds", *keys]
    lines += ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    ordered = sorted(rows, key=lambda r: (r["macro_f1"] is None, _rank(r)))
    for row in ordered:
        f1 = None if row["macro_f1"] is None else f"{row['macro_f1']:.4f}"
        cells = [row["trial"], row["state"], f1, row["best_epoch"], row["epochs"], row["seconds"],
                 *(row[k] for k in keys)]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _rank(row: dict[str, Any]) -> tuple:
    """Better trials first: higher macro F1, then reached in fewer epochs, then earlier."""
    return (-(row["macro_f1"] or 0.0), row["best_epoch"] or 0, row["trial"])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def plot_trials(rows: list[dict[str, Any]], keys: Sequence[str], path: Path) -> Path:
    """Macro F1 by trial (and the best so far), then one panel a parameter: its value against macro F1."""
    scored = [r for r in rows if r["macro_f1"] is not None]
    panels = 1 + len(keys)
    cols = min(4, panels)
    figure = new_figure(3.6 * cols, 3.0 * math.ceil(panels / cols))
    axes = figure.subplots(math.ceil(panels / cols), cols, squeeze=False).ravel()
    first = axes[0]
    for state, (marker, color) in _STYLE.items():
        points = [r for r in scored if r["state"] == state]
        if points:
            first.scatter([r["trial"] for r in points], [r["macro_f1"] for r in points], marker=marker, color=color,
                          label=state)
    done = sorted((r for r in scored if r["state"] == "complete"), key=lambda r: r["trial"])
    if done:
        running, best = [], -1.0
        for r in done:
            best = max(best, r["macro_f1"])
            running.append(best)
        first.step([r["trial"] for r in done], running, where="post", color="tab:green", label="best so far")
    first.set_xlabel("trial")
    first.set_ylabel("validation macro F1")
    first.set_title("trials")
    if scored:
        first.legend(fontsize=7)
    for axis, key in zip(axes[1:], keys):
        _param_panel(axis, key, scored)
    for axis in axes[panels:]:
        axis.set_visible(False)
    figure.tight_layout()
    return save_figure(figure, path)


def _param_panel(axis, key: str, rows: list[dict[str, Any]]) -> None:
    values = [r[key] for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values if v is not None)
    if numeric:
        xs = values
        positive = [v for v in values if v is not None]
        if positive and min(positive) > 0 and max(positive) / min(positive) > 50:
            axis.set_xscale("log")
    else:
        labels = sorted({str(v) for v in values})
        xs = [labels.index(str(v)) for v in values]
        axis.set_xticks(range(len(labels)), labels, rotation=20, fontsize=7)
    for state, (marker, color) in _STYLE.items():
        points = [(x, r["macro_f1"]) for x, r in zip(xs, rows) if r["state"] == state and x is not None]
        if points:
            axis.scatter(*zip(*points), marker=marker, color=color)
    axis.set_title(key, fontsize=9)
    axis.set_ylabel("macro F1", fontsize=8)
