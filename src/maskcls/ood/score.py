"""Scoring predictors on the suite: per-row figures, one table per source, the JSON and the markdown report.

F1 conventions (every figure names its row's photos, so they can be compared with other tables):

- ``mask_f1``: the mean F1 over the mask states that row's truth holds (a row of unmasked people has one state,
  so its mask F1 is the F1 of "none"; the crowd rows hold all three); ``per_state`` has each state's F1 where the
  truth holds it.
- ``gender_f1``: mean F1 over male and female, on the photos whose source gives gender.
- ``age_f1``: mean F1 over the age bands the truth holds (< 30, 30–59, ≥ 60), on photos whose source gives age.
- ``age_by_years``: where the source gives ages in years, the share of each span of true ages (:data:`AGE_SPANS`)
  called its own band, and ``age_errors_near_boundary`` the share of the band errors made within
  :data:`NEAR_BOUNDARY` years of a band's lower bound: how much of the age-band F1 a sharper age estimate could win.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.data.images import ImageReadError, load_rgb
from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS, parse_gender
from maskcls.metrics import confusion_matrix, per_class
from maskcls.ood.predictors import TASKS, TaskPredictor
from maskcls.ood.suite import ROWS, SIZE_BUCKETS, read_manifest, read_rows
from maskcls.progress import track

STATE_NAMES = ("worn", "incorrect", "none")
#: Spans of true ages ``[low, high)`` the by-age table reports, narrow beside the band bounds 30 and 60.
AGE_SPANS = ((0, 25), (25, 30), (30, 35), (35, 55), (55, 60), (60, 65), (65, 200))
#: Years either side of a band's lower bound that count as "near" it.
NEAR_BOUNDARY = 5
#: Photos decoded and predicted at a time.
CHUNK = 128


@dataclass(frozen=True)
class RowPredictions:
    """A predictor's outputs on one suite row, with the row's entries and labels in the same order.

    Attributes:
        entries: the row's CSV entries (``file``, ``group`` …).
        labels: ``row_labels`` of the entries (-1 where a source gives no label).
        outputs: the predictor's per-task probabilities (``mask`` ``[N, 3]`` …) and ``no_face`` where it has one.
    """

    entries: list[dict[str, str]]
    labels: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]


def _task_f1(truth: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[float, dict[int, float], float]:
    """Mean F1 over the classes present in ``truth``, each such class's F1, and accuracy."""
    cm = confusion_matrix(truth, predicted, classes)
    f1 = per_class(cm)["f1"]
    present = sorted(set(truth.tolist()))
    return (float(np.mean([f1[c] for c in present])) if present else float("nan"),
            {c: float(f1[c]) for c in present}, float(np.trace(cm) / max(1, cm.sum())))


def figures(labels: dict[str, np.ndarray], predictions: dict[str, np.ndarray]) -> dict:
    """The figures of one group of photos.

    Args:
        labels: ``mask`` ``[N]`` states, ``gender`` ``[N]`` (-1 where unknown), ``age_band`` ``[N]`` (-1 where unknown).
        predictions: the predictor's per-task probabilities for the same photos (tasks may be missing).
    """
    out: dict = {"n": int(len(labels["mask"]))}
    if "no_face" in predictions:
        out["no_face"] = int(np.asarray(predictions["no_face"]).sum())
    if "mask" in predictions:
        f1, per_state, accuracy = _task_f1(labels["mask"], np.asarray(predictions["mask"]).argmax(1), 3)
        out.update(mask_f1=f1, mask_accuracy=accuracy, per_state={STATE_NAMES[k]: v for k, v in per_state.items()})
    for task, key, classes in (("gender", "gender", 2), ("age", "age_band", 3)):
        known = labels[key] >= 0
        if task in predictions and known.any():
            f1, _, accuracy = _task_f1(labels[key][known], np.asarray(predictions[task])[known].argmax(1), classes)
            out[f"{task}_f1"], out[f"{task}_n"] = f1, int(known.sum())
            if task == "age":
                out["age_called_60_plus"] = float((np.asarray(predictions[task])[known].argmax(1) == 2).mean())
    if "age" in predictions and "age_years" in labels and (labels["age_years"] >= 0).any():
        out.update(_by_years(labels["age_years"], labels["age_band"], np.asarray(predictions["age"]).argmax(1)))
    return out


def _span_name(low: int, high: int) -> str:
    return f"<{high}" if low == 0 else (f">={low}" if high >= 200 else f"{low}-{high - 1}")


def _by_years(years: np.ndarray, truth: np.ndarray, called: np.ndarray) -> dict:
    """``age_by_years`` and ``age_errors_near_boundary`` (see the module's docstring) of the photos with an age
    (``truth``: their bands, as :func:`row_labels` gives them)."""
    known = years >= 0
    years, truth, called = years[known], truth[known], called[known]
    spans = {}
    for low, high in AGE_SPANS:
        inside = (years >= low) & (years < high)
        if inside.any():
            spans[_span_name(low, high)] = {"n": int(inside.sum()), "right": float((called[inside] == truth[inside]).mean())}
    wrong = called != truth
    near = np.zeros(len(years), dtype=bool)
    for bound in DEFAULT_AGE_BANDS.thresholds:  # 25-34 and 55-64 for the bounds 30 and 60
        near |= (years >= bound - NEAR_BOUNDARY) & (years < bound + NEAR_BOUNDARY)
    return {"age_by_years": spans,
            "age_errors_near_boundary": float((wrong & near).sum() / wrong.sum()) if wrong.any() else None}


def row_labels(rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    """The label arrays of a row's CSV entries (``-1`` for a label the source does not give; an age given as a
    range, such as realmask's ``18-55 (source bin)``, spans bands and is not scored)."""
    mask = np.array([int(r["mask"]) for r in rows], dtype=np.int64)
    gender = np.array([int(parse_gender(r["gender"])) if r.get("gender") else -1 for r in rows], dtype=np.int64)
    years = np.array([int(r["age"]) if (r.get("age") or "").isdigit() else -1 for r in rows], dtype=np.int64)
    age = np.where(years >= 0, DEFAULT_AGE_BANDS.bands(np.maximum(years, 0)), -1).astype(np.int64)
    return {"mask": mask, "gender": gender, "age_band": age, "age_years": years}


def predict_row(predictor: TaskPredictor, suite: Path, rows: list[dict[str, str]], row: str) -> dict[str, np.ndarray]:
    """The predictor's outputs for every photo of a row, in order, :data:`CHUNK` photos a call (``predict_files``
    where the predictor has it, else ``predict`` on the decoded photos)."""
    outputs: dict[str, list[np.ndarray]] = {}
    by_file = getattr(predictor, "predict_files", None)
    for start in track(range(0, len(rows), CHUNK), f"{predictor.name}: {row}"):
        paths = [suite / entry["file"] for entry in rows[start:start + CHUNK]]
        try:
            if by_file is not None:
                images = paths
                result = by_file(paths)
            else:
                images = [np.asarray(load_rgb(path), dtype=np.uint8) for path in paths]
                result = predictor.predict(images)
        except ImageReadError as exc:
            raise MaskclsError(f"{exc} (the suite is damaged; rebuild it with --rebuild)") from None
        for key, value in result.items():
            value = np.asarray(value)
            if len(value) != len(images):
                raise MaskclsError(f"{predictor.name}: predict gave {len(value)} rows of {key!r} "
                                   f"for {len(images)} photos")
            if key in TASKS and (value.ndim != 2 or value.shape[1] != TASKS[key]):
                raise MaskclsError(f"{predictor.name}: {key!r} must be [N, {TASKS[key]}], got {list(value.shape)}")
            outputs.setdefault(key, []).append(value)
    return {key: np.concatenate(parts) for key, parts in outputs.items()}


def _groups(row: str, rows: list[dict[str, str]]) -> dict[str, np.ndarray]:
    groups = {"all": np.ones(len(rows), dtype=bool)}
    names = np.array([r["group"] for r in rows])
    order = list(SIZE_BUCKETS) if row.startswith("crowd") else sorted(set(names.tolist()))
    for name in order:
        groups[name] = names == name
    if row.startswith("crowd"):
        groups[">=32"] = names != SIZE_BUCKETS[0]
    return groups


#: Rows whose photos are the people of ``utk_asis`` framed or masked otherwise (the same file names).
PAIRED_ROWS = ("utk_reframed", "utk_masked")


def _as_they_are(asis: tuple[dict[str, int], dict[str, np.ndarray], dict[str, np.ndarray]],
                 entries: list[dict[str, str]], keep: np.ndarray) -> dict | None:
    """Gender and age-band F1 of the predictor on the same people's ``utk_asis`` photos, for one group of a
    paired row: a group's drop against them is the change of framing or mask alone, not of the people drawn.

    ``asis`` is ``utk_asis`` as scored: each file name's position, its labels and the predictor's outputs."""
    position, labels, outputs = asis
    found = [position.get(Path(e["file"]).name) for e, k in zip(entries, keep) if k]
    if not found or any(i is None for i in found):
        return None
    index = np.asarray(found)
    same = figures({k: v[index] for k, v in labels.items()},
                   {k: v[index] for k, v in outputs.items() if k in ("gender", "age")})
    return {key: same[key] for key in ("gender_f1", "age_f1") if key in same}


def score_suite(suite: str | Path, predictors: Sequence[TaskPredictor], rows: Sequence[str] = ROWS,
                collect: dict[str, dict[str, RowPredictions]] | None = None) -> dict:
    """Figures of every predictor on every row of the suite, overall and per group.

    Each group of a paired row (:data:`PAIRED_ROWS`) also holds ``as_they_are``: the predictor's gender and age-band
    F1 on the same people's ``utk_asis`` photos (when that row is scored too).

    Args:
        collect: when given, filled with every predictor's :class:`RowPredictions` of every row
            (``collect[predictor][row]``), for :mod:`maskcls.ood.errors`.

    Returns:
        ``{"suite": ..., "manifest": {...}, "predictors": {name: {row: {group: figures}}}}``.
    """
    suite = Path(suite)
    manifest = read_manifest(suite)
    if manifest is None:
        raise MaskclsError(f"{suite}: not an evaluation suite (no manifest.json); build it with `maskcls bench ood`")
    results: dict = {"suite": str(suite), "manifest": {k: manifest[k] for k in ("options", "rows", "built")},
                     "predictors": {}, "seconds": {}}
    names = [p.name for p in predictors]
    if len(set(names)) != len(names):
        raise MaskclsError(f"two predictors share a name ({', '.join(names)}); their figures would mix")
    for predictor in predictors:
        start = time.perf_counter()
        per_row: dict = {}
        asis = None
        for row in rows:
            entries = read_rows(suite, row)
            if not entries:
                continue
            labels = row_labels(entries)
            outputs = predict_row(predictor, suite, entries, row)
            if collect is not None:
                collect.setdefault(predictor.name, {})[row] = RowPredictions(entries, labels, outputs)
            groups = {group: keep for group, keep in _groups(row, entries).items() if keep.any()}
            per_row[row] = {group: figures({k: v[keep] for k, v in labels.items()},
                                           {k: v[keep] for k, v in outputs.items()})
                            for group, keep in groups.items()}
            if row == "utk_asis":
                asis = ({Path(e["file"]).name: i for i, e in enumerate(entries)}, labels, outputs)
            elif row in PAIRED_ROWS and asis is not None:
                for group, keep in groups.items():
                    same = _as_they_are(asis, entries, keep)
                    if same:
                        per_row[row][group]["as_they_are"] = same
        results["predictors"][predictor.name] = per_row
        results["seconds"][predictor.name] = round(time.perf_counter() - start, 1)
    return results


# --- tables ------------------------------------------------------------------------------------------------------

def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "—"
    return f"{value:.3f}" if isinstance(value, float) else f"{value:,}"


def tables(results: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """One table per source: ``(title, columns, rows)`` of formatted cells (every predictor's rows in each)."""
    out = []
    crowd_cols = ["predictor", "margin", "face size", "n", "mask F1", "worn F1", "incorrect F1", "none F1", "accuracy"]
    crowd = []
    utk_cols = ["predictor", "photos", "n", "mask F1", "mask accuracy", "gender F1", "age-band F1",
                "the same people as they are: gender / age F1", "called ≥60", "no face"]
    utk = []
    real_cols = ["predictor", "source", "n", "worn F1", "incorrect F1", "not-worn F1", "mask F1", "no face"]
    real = []
    utk_names = {"utk_asis": "unmasked, as they are", "utk_reframed": "unmasked, re-framed",
                 "utk_masked": "re-framed, masked (evaluation renderer)"}
    for name, per_row in results["predictors"].items():
        for row, margin in (("crowd_m0", "0"), ("crowd_m25", "0.25")):
            for group, fig in per_row.get(row, {}).items():
                states = fig.get("per_state", {})
                crowd.append([name, margin, group, _fmt(fig["n"]), _fmt(fig.get("mask_f1")),
                              *(_fmt(states.get(s)) for s in STATE_NAMES), _fmt(fig.get("mask_accuracy"))])
        for row, title in utk_names.items():
            for group, fig in per_row.get(row, {}).items():
                label = title if group == "all" else f"  {group}"
                same = fig.get("as_they_are") or {}
                paired = (f"{_fmt(same.get('gender_f1'))} / {_fmt(same.get('age_f1'))}" if same else "—")
                utk.append([name, label, _fmt(fig["n"]), _fmt(fig.get("mask_f1")), _fmt(fig.get("mask_accuracy")),
                            _fmt(fig.get("gender_f1")), _fmt(fig.get("age_f1")), paired,
                            _fmt(fig.get("age_called_60_plus")), _fmt(fig.get("no_face"))])
        for row in ("realmask", "realmask_grey"):
            for group, fig in per_row.get(row, {}).items():
                if row == "realmask_grey" and group != "all":
                    continue
                label = {"realmask": "all held-out web/stock photos", "realmask_grey":
                         "greyscale video crops (jamesnogra, by frame run)"}[row] if group == "all" else f"  {group}"
                states = fig.get("per_state", {})
                real.append([name, label, _fmt(fig["n"]), *(_fmt(states.get(s)) for s in STATE_NAMES),
                             _fmt(fig.get("mask_f1")), _fmt(fig.get("no_face"))])
    out.append(("real crowd crops (held-out facemask photos)", crowd_cols, crowd))
    out.append(("held-out UTKFace people", utk_cols, utk))
    out.append(("held-out realmask photos", real_cols, real))
    out.append(_age_table(results, utk_names))
    return [t for t in out if t[2]]


def _age_table(results: dict, titles: dict[str, str]) -> tuple[str, list[str], list[list[str]]]:
    """Held-out UTKFace people's age-band calls by true age (predictors scored before it was kept have none)."""
    spans = [_span_name(low, high) for low, high in AGE_SPANS]
    columns = ["predictor", "photos", *(f"{span}: called right" for span in spans),
               f"errors within {NEAR_BOUNDARY} years of 30 or 60"]
    rows = []
    for name, per_row in results["predictors"].items():
        for row, title in titles.items():
            fig = per_row.get(row, {}).get("all", {})
            if "age_by_years" not in fig:
                continue
            by = fig["age_by_years"]
            rows.append([name, title, *(_fmt(by[s]["right"]) if s in by else "—" for s in spans),
                         _fmt(fig.get("age_errors_near_boundary"))])
    return ("held-out UTKFace people: age-band calls by true age", columns, rows)


def markdown(results: dict, heading: str = "##") -> str:
    """The report: what the suite holds, then one markdown table per source."""
    manifest = results["manifest"]
    counts = ", ".join(f"{row} {n:,}" for row, n in manifest["rows"].items())
    lines = [f"Suite `{Path(results['suite']).name}` built {manifest['built']} (seed {manifest['options']['seed']}): "
             f"{counts} photos. Mask F1 is the mean F1 over the states the row's truth holds; "
             "gender and age-band F1 are macro over the classes present. \"no face\": photos in which a `crop=face` "
             "run found no face (centre-cropped, as the run itself would).", ""]
    for title, columns, rows in tables(results):
        lines += [f"{heading} {title}", "", "| " + " | ".join(columns) + " |",
                  "| " + " | ".join("---" for _ in columns) + " |"]
        lines += ["| " + " | ".join(cell.replace("|", "/") for cell in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def headline(results: dict) -> dict[str, dict[str, float | None]]:
    """The acceptance figures of each predictor (None where n/a)."""
    out = {}
    for name, per_row in results["predictors"].items():
        get = lambda row, group="all", key="mask_f1": per_row.get(row, {}).get(group, {}).get(key)  # noqa: E731
        crowd = per_row.get("crowd_m25", {}).get(">=32", {})
        real = per_row.get("realmask", {}).get("all", {}).get("per_state", {})
        out[name] = {"crowd_m25_ge32_mask_f1": crowd.get("mask_f1"),
                     "crowd_m25_ge32_incorrect_f1": crowd.get("per_state", {}).get("incorrect"),
                     "utk_asis_gender_f1": get("utk_asis", key="gender_f1"),
                     "utk_asis_age_f1": get("utk_asis", key="age_f1"),
                     "utk_reframed_gender_f1": get("utk_reframed", key="gender_f1"),
                     "utk_reframed_age_f1": get("utk_reframed", key="age_f1"),
                     "utk_masked_mask_f1": get("utk_masked"), "realmask_worn_f1": real.get("worn"),
                     "realmask_none_f1": real.get("none"), "realmask_grey_mask_f1": get("realmask_grey")}
    return out
