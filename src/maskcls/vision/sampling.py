"""Class-balanced sampling: per-class counts, a class-weighted sampler, and oversampling by repetition."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler


def class_counts(labels: Sequence[int] | np.ndarray, n_classes: int) -> np.ndarray:
    """Samples per class, ``[n_classes]`` (zeros for absent classes).

    Raises:
        ValueError: on a label outside ``0..n_classes-1``.
    """
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    return np.bincount(labels, minlength=n_classes)


def weighted_sampler(
    labels: Sequence[int] | np.ndarray,
    n_classes: int,
    num_samples: int | None = None,
    generator: torch.Generator | None = None,
) -> WeightedRandomSampler:
    """A sampler drawing (with replacement) each sample with weight ``1 / count(its class)``.

    Every present class is then drawn about equally often.

    Args:
        labels: class of every sample of the dataset.
        n_classes: number of classes.
        num_samples: draws per epoch; the dataset's length by default.
        generator: generator for reproducible draws.
    """
    labels = np.asarray(labels, dtype=np.int64)
    weights = 1.0 / class_counts(labels, n_classes)[labels]
    return WeightedRandomSampler(
        torch.as_tensor(weights, dtype=torch.double),
        num_samples if num_samples is not None else len(labels),
        replacement=True,
        generator=generator,
    )


def oversample_indices(labels: Sequence[int] | np.ndarray, factors: dict[int, int]) -> np.ndarray:
    """Dataset indices where every sample of class ``c`` appears ``factors[c]`` times in a row, others once.

    Raises:
        ValueError: on a factor below 1.
    """
    bad = {c: f for c, f in factors.items() if f < 1}
    if bad:
        raise ValueError(f"oversampling factors must be >= 1, got {bad}")
    labels = np.asarray(labels, dtype=np.int64)
    repeats = np.array([factors.get(int(c), 1) for c in labels], dtype=np.int64)
    return np.repeat(np.arange(len(labels)), repeats)
