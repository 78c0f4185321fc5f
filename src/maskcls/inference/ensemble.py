"""Ensembles: several members' class probabilities ``[M, N, 18]`` combined into one prediction per photo.

* ``soft`` — the weighted mean of the probabilities;
* ``hard`` — a weighted majority vote of each member's most probable class; a tie goes to the tied class with
  the largest weighted sum of probabilities (then the lowest index). Its probabilities are the soft mean;
* task level — each task's marginal (mask 3, gender 2, age band 3) taken from a chosen member or a weighted set
  of members, and the 18-class distribution rebuilt as their product ``p(m, g, a) = p(m) p(g) p(a)``, as a top
  team took the mask from one model and age and gender from another.

Weights are given per ``RUN`` of the command line; a k-fold run stands for its folds, which share its weight
equally (:func:`spread`), so a k-fold run's folds are averaged before runs are weighed against each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.labels import NUM_CLASSES, TASKS

VOTES = ("soft", "hard")


def normalise_weights(weights: Sequence[float] | np.ndarray | None, n: int) -> np.ndarray:
    """Weights of ``n`` members summing to 1 (equal when ``None``).

    Raises:
        MaskclsError: for a count other than ``n``, a negative weight or an all-zero set.
    """
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise MaskclsError(f"{w.size} weight(s) for {n} member(s)")
    if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
        raise MaskclsError(f"weights must be non-negative and not all zero, got {w.tolist()}")
    return w / w.sum()


def _check(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 3 or probs.shape[2] != NUM_CLASSES or probs.shape[0] == 0:
        raise ValueError(f"expected member probabilities [M, N, {NUM_CLASSES}], got shape {probs.shape}")
    return probs


def soft_vote(probs: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """The weighted mean ``[N, 18]`` of ``[M, N, 18]`` probabilities."""
    probs = _check(probs)
    w = normalise_weights(weights, len(probs))
    return np.tensordot(w, probs.astype(np.float64), axes=1).astype(np.float32)


def hard_vote(probs: np.ndarray, weights: Sequence[float] | None = None) -> np.ndarray:
    """int64 labels ``[N]``: the weighted majority of the members' argmax classes.

    A tie goes to the tied class with the largest weighted sum of probabilities, then to the lowest index.
    """
    probs = _check(probs)
    w = normalise_weights(weights, len(probs))
    n = probs.shape[1]
    votes = np.zeros((n, NUM_CLASSES))
    for weight, member in zip(w, probs):
        votes[np.arange(n), member.argmax(1)] += weight
    tied = votes >= votes.max(1, keepdims=True) - 1e-9
    summed = np.tensordot(w, probs.astype(np.float64), axes=1)
    return np.where(tied, summed, -np.inf).argmax(1).astype(np.int64)


def task_marginals(probs: np.ndarray) -> dict[str, np.ndarray]:
    """``{"mask": [..., 3], "gender": [..., 2], "age": [..., 3]}`` of 18-class probabilities ``[..., 18]``."""
    joint = np.asarray(probs).reshape(*np.shape(probs)[:-1], *TASKS.values())
    return {"mask": joint.sum((-2, -1)), "gender": joint.sum((-3, -1)), "age": joint.sum((-3, -2))}


def joint_from_marginals(mask: np.ndarray, gender: np.ndarray, age: np.ndarray) -> np.ndarray:
    """18-class probabilities ``[N, 18]`` as the product of task marginals, ordered by ``labels.encode``."""
    joint = mask[:, :, None, None] * gender[:, None, :, None] * age[:, None, None, :]
    return joint.reshape(len(mask), NUM_CLASSES)


def combine_tasks(probs: np.ndarray, tasks: Mapping[str, Sequence[float]],
                  weights: Sequence[float] | None = None) -> np.ndarray:
    """Task-level combination: each task's marginal from a weighted set of members, then their product.

    Args:
        probs: member probabilities ``[M, N, 18]``.
        tasks: task name → member weights ``[M]`` (e.g. ``{"mask": [1, 0]}`` takes the mask from member 0).
        weights: member weights of the tasks not named in ``tasks`` (equal when ``None``).

    Returns:
        float32 ``[N, 18]``, every row summing to 1.
    """
    probs = _check(probs)
    unknown = set(tasks) - set(TASKS)
    if unknown:
        raise MaskclsError(f"unknown task {sorted(unknown)[0]!r} (tasks: {', '.join(TASKS)})")
    marginals = task_marginals(probs.astype(np.float64))
    chosen = {}
    for task in TASKS:
        w = normalise_weights(tasks.get(task, weights), len(probs))
        chosen[task] = np.tensordot(w, marginals[task], axes=1)
    return joint_from_marginals(chosen["mask"], chosen["gender"], chosen["age"]).astype(np.float32)


def spread(run_weights: Sequence[float] | np.ndarray, groups: Sequence[int]) -> np.ndarray:
    """Member weights from run weights: a run's weight shared equally by its members (``groups[i]`` = run of
    member ``i``)."""
    groups = np.asarray(groups)
    counts = np.bincount(groups, minlength=len(run_weights))
    return np.asarray(run_weights, dtype=np.float64)[groups] / counts[groups]


def parse_weights(text: str | None, n_runs: int) -> tuple[float, ...] | None:
    """``0.6,0.4`` → one weight per run (``None`` for an empty text).

    Raises:
        MaskclsError: for a value that is not a number or a count other than ``n_runs``.
    """
    if not text:
        return None
    try:
        values = tuple(float(x) for x in text.split(","))
    except ValueError:
        raise MaskclsError(f"--weights {text!r}: expected numbers like 0.6,0.4") from None
    if len(values) != n_runs:
        raise MaskclsError(f"--weights {text!r}: {len(values)} weight(s) for {n_runs} run(s)")
    normalise_weights(values, n_runs)
    return values


def parse_tasks(text: str | None, n_runs: int) -> dict[str, tuple[float, ...]]:
    """``mask=0,gender=1,age=0:0.3+1:0.7`` → task → one weight per run.

    Each task names a run by its 0-based position on the command line, or a weighted set ``RUN:W+RUN:W``
    (``0+1`` weighs equally). Tasks not named follow ``--weights``.

    Raises:
        MaskclsError: naming the part that cannot be read.
    """
    if not text:
        return {}
    tasks: dict[str, tuple[float, ...]] = {}
    for part in text.split(","):
        task, sep, members = part.partition("=")
        task = task.strip()
        if not sep or task not in TASKS:
            raise MaskclsError(f"--tasks {text!r}: {part!r} is not TASK=RUN with TASK one of {', '.join(TASKS)}")
        if task in tasks:
            raise MaskclsError(f"--tasks {text!r}: {task} given twice")
        weights = [0.0] * n_runs
        for item in members.split("+"):
            index, _, weight = item.partition(":")
            try:
                run, value = int(index), float(weight) if weight else 1.0
            except ValueError:
                raise MaskclsError(f"--tasks {text!r}: {item!r} is not RUN or RUN:WEIGHT") from None
            if not 0 <= run < n_runs:
                raise MaskclsError(f"--tasks {text!r}: run {run} does not exist (runs are 0..{n_runs - 1})")
            weights[run] += value
        normalise_weights(weights, n_runs)
        tasks[task] = tuple(weights)
    return tasks


@dataclass(frozen=True)
class Ensemble:
    """How runs are combined.

    Attributes:
        vote: ``soft`` or ``hard``.
        weights: one weight per run (equal when ``None``).
        tasks: task → one weight per run, for task-level combination (soft only).
    """

    vote: str = "soft"
    weights: tuple[float, ...] | None = None
    tasks: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.vote not in VOTES:
            raise MaskclsError(f"--vote {self.vote!r}: expected one of {', '.join(VOTES)}")
        if self.tasks and self.vote != "soft":
            raise MaskclsError("--tasks combines probabilities: use it with --vote soft")

    @classmethod
    def parse(cls, n_runs: int, vote: str = "soft", weights: str | None = None, tasks: str | None = None) -> "Ensemble":
        """Read the command line's ``--vote``, ``--weights`` and ``--tasks`` for ``n_runs`` runs."""
        return cls(vote, parse_weights(weights, n_runs), parse_tasks(tasks, n_runs))

    def describe(self) -> str:
        """One line for people, e.g. ``soft vote, weights 0.6/0.4; mask from 0:1``."""
        text = f"{self.vote} vote" + (f", weights {'/'.join(f'{w:g}' for w in self.weights)}" if self.weights else "")
        for task, w in self.tasks.items():
            text += f"; {task} from " + "+".join(f"{i}:{v:g}" for i, v in enumerate(w) if v > 0)
        return text

    def combine(self, probs: np.ndarray, groups: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Labels ``[N]`` and probabilities ``[N, 18]`` of member probabilities ``[M, N, 18]``.

        Args:
            probs: one array per member.
            groups: the run of each member (default: every member is a run of its own).
        """
        probs = _check(probs)
        groups = list(range(len(probs))) if groups is None else list(groups)
        n_runs = max(groups) + 1
        run_weights = self.weights if self.weights is not None else (1.0,) * n_runs
        member_weights = spread(normalise_weights(run_weights, n_runs), groups)
        if self.tasks:
            tasks = {t: spread(normalise_weights(w, n_runs), groups) for t, w in self.tasks.items()}
            combined = combine_tasks(probs, tasks, member_weights)
            return combined.argmax(1), combined
        combined = soft_vote(probs, member_weights)
        labels = hard_vote(probs, member_weights) if self.vote == "hard" else combined.argmax(1)
        return labels.astype(np.int64), combined
