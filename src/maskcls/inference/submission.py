"""Submissions: ``info.csv`` with ``ans`` filled in, row order kept, plus the probabilities for ensembling.

``<out>.csv`` (``ImageID,ans``) comes with ``<stem>_probs.npy`` (float32 ``[N, 18]``) and ``<stem>_probs.csv``
(``ImageID,p0..p17``) in the same row order, and ``<stem>_skipped.txt`` when rows got a fallback prediction.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, write_text


def output_paths(path: str | Path) -> dict[str, Path]:
    """Every file a submission at ``path`` may write: ``submission``, ``probs_npy``, ``probs_csv``, ``skipped``."""
    path = Path(path)
    return {"submission": path, "probs_npy": path.with_name(f"{path.stem}_probs.npy"),
            "probs_csv": path.with_name(f"{path.stem}_probs.csv"),
            "skipped": path.with_name(f"{path.stem}_skipped.txt")}


def check_free(path: str | Path, force: bool = False) -> None:
    """Refuse to overwrite an earlier submission (or its side files) unless ``force``.

    Raises:
        MaskclsError: naming the first file that exists.
    """
    if force:
        return
    for existing in (p for p in output_paths(path).values() if p.exists()):
        raise MaskclsError(f"{existing}: already exists (choose another --out, or --force to replace it)")


def write_submission(path: Path, image_ids: Sequence[str], labels: np.ndarray, probs: np.ndarray | None = None,
                     skipped: Sequence[str] | None = None) -> Path:
    """Write ``ImageID,ans`` in the given order and the side files beside it.

    Args:
        path: the submission CSV.
        image_ids: the rows, in ``info.csv`` order.
        labels: one class per row.
        probs: ``[N, 18]`` class probabilities: written as ``<stem>_probs.npy`` and ``<stem>_probs.csv``.
        skipped: lines for ``<stem>_skipped.txt`` (rows predicted by a fallback); an empty list removes an
            earlier one, ``None`` leaves it alone.
    """
    if len(image_ids) != len(labels):
        raise ValueError(f"{len(image_ids)} ImageIDs but {len(labels)} labels")
    if probs is not None and len(probs) != len(image_ids):
        raise ValueError(f"{len(image_ids)} ImageIDs but {len(probs)} probability rows")
    outputs = output_paths(path)
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageID", "ans"])
        writer.writerows(zip(image_ids, (int(x) for x in labels)))
    if probs is not None:
        with atomic_write(outputs["probs_npy"], "wb") as handle:
            np.save(handle, probs.astype(np.float32))
        write_probs_csv(outputs["probs_csv"], image_ids, probs)
    if skipped:
        write_text(outputs["skipped"], "".join(f"{line}\n" for line in skipped))
    elif skipped is not None:
        outputs["skipped"].unlink(missing_ok=True)
    return path


def write_probs_csv(path: Path, image_ids: Sequence[str], probs: np.ndarray) -> Path:
    """``ImageID,p0..p17``: one row of class probabilities per image, in the given order."""
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageID", *[f"p{i}" for i in range(probs.shape[1])]])
        for image_id, row in zip(image_ids, probs):
            writer.writerow([image_id, *[f"{p:.6f}" for p in row]])
    return path
