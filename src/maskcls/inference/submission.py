"""Submissions: ``info.csv`` with ``ans`` filled in, row order kept, plus the probabilities for ensembling."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.fileio import atomic_write


def write_submission(path: Path, image_ids: Sequence[str], labels: np.ndarray, probs: np.ndarray | None = None) -> Path:
    """Write ``ImageID,ans`` in the given order and, if given, ``<stem>_probs.npy`` beside it."""
    if len(image_ids) != len(labels):
        raise ValueError(f"{len(image_ids)} ImageIDs but {len(labels)} labels")
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageID", "ans"])
        writer.writerows(zip(image_ids, (int(x) for x in labels)))
    if probs is not None:
        with atomic_write(path.with_name(f"{path.stem}_probs.npy"), "wb") as handle:
            np.save(handle, probs.astype(np.float32))
    return path
