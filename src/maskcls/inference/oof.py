"""Out-of-fold evaluation of k-fold runs, and ensemble weights searched on their out-of-fold probabilities.

A k-fold run's ``oof.csv`` (written by :func:`maskcls.engine.kfold.collect_oof`) predicts every photo with the
fold model that never saw its person, with the 18 class probabilities ``p0..p17``. Combining several runs' OOF
rows photo by photo keeps that property, so the ensemble's OOF macro F1 is a fair estimate too. Weights chosen on
those same rows are optimistic, so :func:`search_report` also gives a cross-validated figure: weights searched on
the other folds' rows, applied to each fold in turn (folds group people, so no person is on both sides).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.inference.ensemble import soft_vote
from maskcls.labels import AgeBands
from maskcls.metrics import Score, macro_f1, score_labels

@dataclass
class Oof:
    """Out-of-fold predictions of one k-fold run, one row a photo.

    Attributes:
        name: the run folder's name.
        folder: the run folder.
        paths: photo paths (the row keys).
        people: person of each photo.
        folds: fold of each photo.
        y_true: int64 true classes.
        y_pred: int64 predicted classes as the run recorded them.
        probs: float32 ``[N, 18]``.
        bands: the run's age bands.
    """

    name: str
    folder: Path
    paths: list[str]
    people: list[str]
    folds: np.ndarray
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    bands: AgeBands

    def score(self) -> Score:
        """The official metric of the recorded predictions."""
        return score_labels(self.y_true, self.y_pred, self.bands)

    def take(self, order: Sequence[int]) -> "Oof":
        """The rows in another order."""
        index = np.asarray(order, dtype=np.int64)
        return Oof(self.name, self.folder, [self.paths[i] for i in index], [self.people[i] for i in index],
                   self.folds[index], self.y_true[index], self.y_pred[index], self.probs[index], self.bands)


def load_oof(run: str | Path) -> Oof:
    """Read ``RUN/oof.csv`` of a k-fold run.

    Raises:
        MaskclsError: if the run has no ``oof.csv``, or it lacks columns or holds a value that is not a number.
    """
    from maskcls.runs import RunFolder, read_prediction_table

    run = RunFolder(run)
    if not run.oof_path.is_file():
        raise MaskclsError(f"{run.path}: no oof.csv (not a finished k-fold run; train one with `maskcls train --kfold`)")
    table = read_prediction_table(run.oof_path, probs=True, folds=True)
    return Oof(run.name, run.path, table.paths, table.people, table.folds, table.y_true, table.y_pred, table.probs,
               run.bands())


def align(runs: Sequence[Oof]) -> list[Oof]:
    """The runs' rows in the first run's order, matched by photo path.

    Raises:
        MaskclsError: if the runs cover different photos or disagree on a photo's true class.
    """
    first = runs[0]
    position = {path: i for i, path in enumerate(first.paths)}
    aligned = [first]
    for run in runs[1:]:
        missing = set(first.paths) ^ set(run.paths)
        if missing or len(run.paths) != len(first.paths):
            example = sorted(missing)[0] if missing else "a repeated path"
            raise MaskclsError(f"{run.folder / 'oof.csv'}: covers other photos than {first.folder / 'oof.csv'} "
                               f"({len(missing)} differ, e.g. {example}); ensembles need the same data")
        order = np.empty(len(first.paths), dtype=np.int64)
        for i, path in enumerate(run.paths):
            order[position[path]] = i
        moved = run.take(order)
        if not np.array_equal(moved.y_true, first.y_true):
            bad = int(np.argmax(moved.y_true != first.y_true))
            raise MaskclsError(f"{run.folder / 'oof.csv'}: {first.paths[bad]} has true class {moved.y_true[bad]} but "
                               f"{first.y_true[bad]} in {first.folder / 'oof.csv'} (other labels or relabeling)")
        aligned.append(moved)
    return aligned


def ensemble_f1(probs: np.ndarray, y_true: np.ndarray, weights: Sequence[float]) -> float:
    """Macro F1 of the soft vote of member probabilities ``[M, N, 18]`` with these weights."""
    return macro_f1(y_true, soft_vote(probs, weights).argmax(1))


def simplex_grid(n: int, step: float) -> list[tuple[float, ...]]:
    """Every weight vector of ``n`` members on a grid of ``step`` that sums to 1."""
    units = round(1 / step)
    return [tuple(c / units for c in combo) + ((units - sum(combo)) / units,)
            for combo in itertools.product(range(units + 1), repeat=n - 1) if sum(combo) <= units]


def search_weights(probs: np.ndarray, y_true: np.ndarray, step: float = 0.1,
                   max_grid: int = 3) -> tuple[tuple[float, ...], float]:
    """Soft-vote weights that maximise macro F1 on these rows, and that F1.

    Up to ``max_grid`` members every point of the weight grid is tried; beyond that, coordinate search: one
    member's weight at a time over the grid's values, the others rescaled, until no change helps. Equal weights
    are the starting point and only a strictly better F1 replaces them, so ties keep the simpler answer.
    """
    m = len(probs)
    best_w = tuple([1.0 / m] * m)
    best = ensemble_f1(probs, y_true, best_w)
    if m == 1:
        return best_w, best
    if m <= max_grid:
        for w in simplex_grid(m, step):
            f1 = ensemble_f1(probs, y_true, w)
            if f1 > best + 1e-12:
                best_w, best = w, f1
        return best_w, best
    values = np.arange(0.0, 1.0 + 1e-9, step)
    for _ in range(20):
        improved = False
        for member, value in itertools.product(range(m), values):
            rest = np.delete(np.asarray(best_w), member)
            rest = rest / rest.sum() * (1 - value) if rest.sum() > 0 else np.full(m - 1, (1 - value) / (m - 1))
            w = tuple(np.insert(rest, member, value).tolist())
            f1 = ensemble_f1(probs, y_true, w)
            if f1 > best + 1e-12:
                best_w, best, improved = w, f1, True
        if not improved:
            break
    return best_w, best


def cross_validated_f1(probs: np.ndarray, y_true: np.ndarray, folds: np.ndarray, step: float = 0.1) -> float:
    """Macro F1 of weights chosen without each fold's rows: search on the other folds, predict the fold, pool."""
    pred = np.empty(len(y_true), dtype=np.int64)
    for fold in np.unique(folds):
        held = folds == fold
        weights, _ = search_weights(probs[:, ~held], y_true[~held], step)
        pred[held] = soft_vote(probs[:, held], weights).argmax(1)
    return macro_f1(y_true, pred)


@dataclass
class SearchReport:
    """Members against their ensembles on out-of-fold rows.

    Attributes:
        members: per run: name, macro F1, accuracy and per-task F1.
        equal_f1: macro F1 of the equal-weight soft vote.
        weights: the best weights found (one per run, summing to 1).
        best_f1: macro F1 with those weights (chosen on the same rows: optimistic).
        cv_f1: macro F1 with weights chosen on the other folds (a fair estimate of the search).
        n: photos.
    """

    members: list[dict]
    equal_f1: float
    weights: tuple[float, ...]
    best_f1: float
    cv_f1: float
    n: int

    def to_dict(self) -> dict:
        return {"members": self.members, "equal_f1": self.equal_f1, "weights": list(self.weights),
                "best_f1": self.best_f1, "cv_f1": self.cv_f1, "n": self.n}


def member_row(run: Oof) -> dict:
    """A run's OOF figures as one table row."""
    score = run.score()
    return {"run": str(run.folder), "macro_f1": score.macro_f1, "accuracy": score.accuracy,
            **{f"{task}_f1": value for task, value in score.task_f1.items()}, "n": score.n}


def search_report(runs: Sequence[Oof], step: float = 0.1) -> SearchReport:
    """Align the runs, score each, and search soft-vote weights (with a fold-wise cross-validated check)."""
    if not 0 < step <= 0.5 or abs(round(1 / step) * step - 1) > 1e-9:
        raise MaskclsError(f"--step {step}: expected 1/k such as 0.1, 0.05 or 0.25")
    runs = align(runs)
    probs = np.stack([run.probs for run in runs])
    y_true = runs[0].y_true
    weights, best = search_weights(probs, y_true, step)
    return SearchReport([member_row(run) for run in runs], ensemble_f1(probs, y_true, [1.0] * len(runs)),
                        weights, best, cross_validated_f1(probs, y_true, runs[0].folds, step), len(y_true))

