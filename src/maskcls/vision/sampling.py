"""Class-balanced sampling: per-class counts, a class-weighted sampler, oversampling by repetition, and per-person
undersampling drawn anew each epoch."""

from __future__ import annotations

import hashlib
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


def _score(seed: int, epoch: int, person: str, photo: str) -> bytes:
    """A pseudo-random rank of one photo in one epoch's draw, the same in every process and Python run."""
    return hashlib.blake2b(f"{seed}\0{epoch}\0{person}\0{photo}".encode(), digest_size=8).digest()


def undersample_indices(people: Sequence[str | None], photos: Sequence[str], k: int, seed: int,
                        epoch: int) -> np.ndarray:
    """Positions (ascending) left when every person keeps only ``k`` of their photos, drawn anew each epoch.

    Each photo is ranked by a hash of ``(seed, epoch, person, photo)`` and each person keeps their ``k``
    lowest-ranked photos (all of them when they have ``k`` or fewer). A person's draw thus depends on the seed, the
    epoch and their own photos only, not on the other people, the order of the items or the process drawing it:
    every torchrun rank, and a resumed run, draws the same photos.

    Args:
        people: the person of every item; ``None`` for an item that is always kept.
        photos: every item's name within its person (e.g. its file stem).
        k: photos kept per person.
        seed: the run's seed.
        epoch: the epoch drawn.

    Raises:
        ValueError: on ``k`` below 1, or ``people`` and ``photos`` of different lengths.
    """
    if k < 1:
        raise ValueError(f"photos kept per person must be >= 1, got {k}")
    if len(people) != len(photos):
        raise ValueError(f"{len(people)} people for {len(photos)} photos")
    kept: list[int] = []
    ranked: dict[str, list[tuple[bytes, int]]] = {}
    for position, (person, photo) in enumerate(zip(people, photos)):
        if person is None:
            kept.append(position)
        else:
            ranked.setdefault(person, []).append((_score(seed, epoch, person, photo), position))
    for draws in ranked.values():
        kept.extend(position for _, position in sorted(draws)[:k])
    return np.sort(np.asarray(kept, dtype=np.int64))


def draw_weights(labels: Sequence[int] | np.ndarray, sources: Sequence[int] | np.ndarray,
                 source_weights: Sequence[float | None], balance: bool) -> np.ndarray | None:
    """Per-item draw weights of an epoch over several sources, or ``None`` for a plain shuffle.

    Each source's items together get the share ``w_s / sum(w)`` of the draws, where ``w_s`` is its configured
    weight (1 for a source without one); when no source has a weight each keeps its size's share, as a shuffle
    would. With ``balance`` every 18-class label
    within a source is drawn about equally often (items without the full label, ``-1``, count as one more class).

    Args:
        labels: the 18-class label of every item (``-1`` where not every task is labelled).
        sources: the source index of every item.
        source_weights: the configured weight of each source (``None``: unset).
        balance: class-balance within each source (``train.sampler=weighted``).
    """
    labels = np.asarray(labels, dtype=np.int64)
    sources = np.asarray(sources, dtype=np.int64)
    if not balance and all(w is None for w in source_weights):
        return None
    weights = np.zeros(len(labels), dtype=np.float64)
    present = np.unique(sources)
    sizes = {int(s): int((sources == s).sum()) for s in present}
    weighted = any(w is not None for w in source_weights)
    shares = {int(s): (sizes[int(s)] if not weighted else 1.0 if source_weights[s] is None else source_weights[s])
              for s in present}
    total = sum(shares.values())
    for s in present:
        mine = sources == s
        if balance:
            classes, counts = np.unique(labels[mine], return_counts=True)
            per = dict(zip(classes.tolist(), counts.tolist()))
            inner = np.array([1.0 / per[c] for c in labels[mine]]) / len(per)
        else:
            inner = np.full(int(mine.sum()), 1.0 / int(mine.sum()))
        weights[mine] = inner * shares[int(s)] / total
    return weights
