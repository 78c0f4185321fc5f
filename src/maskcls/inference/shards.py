"""A large prediction split over machines: ``maskcls predict ... --shard K/N``, then ``maskcls predict-merge``.

Shard ``K`` of ``N`` (1-based) predicts the contiguous rows ``[(K-1)·n/N, K·n/N)`` of ``info.csv`` and writes a
submission of those rows (with its ``_probs`` side files) plus ``<stem>.shard.json``: which shard it is, which
rows, and a digest of the whole ``info.csv`` ImageID list. :func:`merge_shards` checks that the parts are
every shard ``1..N`` of one ``info.csv`` exactly once, each holding exactly its rows in ``info.csv`` order, then
writes the whole submission. The fallback of an unreadable row (``--skip-bad``) is the prior of its shard's
readable rows.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.fileio import write_text
from maskcls.inference.submission import check_free, output_paths, write_submission


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` (1-based) of ``count``."""

    index: int
    count: int

    def rows(self, n: int) -> tuple[int, int]:
        """``(start, stop)`` of this shard's rows among ``n``."""
        return (self.index - 1) * n // self.count, self.index * n // self.count

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"K/N"`` with ``1 <= K <= N``.

    Raises:
        MaskclsError: for anything else.
    """
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise MaskclsError(f"--shard {text}: expected K/N, e.g. 2/4 (shard 2 of 4)") from None
    if count < 1 or not 1 <= index <= count:
        raise MaskclsError(f"--shard {text}: K must lie in 1..N")
    return Shard(index, count)


def ids_digest(image_ids: Sequence[str]) -> str:
    """sha256 of the ImageID list, in order (what every shard of one ``info.csv`` shares)."""
    return hashlib.sha256("\n".join(image_ids).encode()).hexdigest()


def meta_path(submission: str | Path) -> Path:
    """``<stem>.shard.json`` beside a shard's submission."""
    submission = Path(submission)
    return submission.with_name(f"{submission.stem}.shard.json")


def write_shard_meta(submission: Path, shard: Shard, all_ids: Sequence[str], info_csv: Path) -> Path:
    """Record which shard ``submission`` holds."""
    start, stop = shard.rows(len(all_ids))
    meta = {"shard": shard.index, "of": shard.count, "start": start, "stop": stop, "rows": len(all_ids),
            "ids_sha256": ids_digest(all_ids), "info_csv": str(info_csv)}
    write_text(meta_path(submission), json.dumps(meta, indent=1) + "\n")
    return meta_path(submission)


def _read_part(path: Path) -> tuple[dict, list[str], np.ndarray, np.ndarray, list[str]]:
    """A shard's meta, ImageIDs, answers, probabilities and skipped lines."""
    import csv

    meta_file = meta_path(path)
    try:
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        meta = {**meta, **{key: int(meta[key]) for key in ("shard", "of", "start", "stop", "rows")},
                "ids_sha256": str(meta["ids_sha256"])}
    except FileNotFoundError:
        raise MaskclsError(f"{meta_file}: not found; is {path} the output of predict --shard?") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MaskclsError(f"{meta_file}: not a shard record ({exc})") from None
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise MaskclsError(f"{path}: cannot read ({exc.strerror})") from None
    if not rows or rows[0] != ["ImageID", "ans"] or any(len(row) != 2 for row in rows[1:]):
        raise MaskclsError(f"{path}: not a submission (expected ImageID,ans rows)")
    ids = [row[0] for row in rows[1:]]
    try:
        answers = np.array([int(row[1]) for row in rows[1:]], dtype=np.int64)
    except ValueError:
        raise MaskclsError(f"{path}: an ans that is not a class number") from None
    side = output_paths(path)
    try:
        probs = np.load(side["probs_npy"], allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise MaskclsError(f"{side['probs_npy']}: cannot read the shard's probabilities ({exc})") from None
    if probs.shape != (len(ids), probs.shape[1] if probs.ndim == 2 else -1):
        raise MaskclsError(f"{side['probs_npy']}: {probs.shape} probabilities for {len(ids)} rows")
    skipped = side["skipped"].read_text(encoding="utf-8").splitlines() if side["skipped"].is_file() else []
    return meta, ids, answers, probs, skipped


def merge_shards(parts: Sequence[str | Path], out: str | Path, info_csv: str | Path | None = None,
                 force: bool = False) -> tuple[Path, int]:
    """Check the shard submissions and write the whole one; returns ``(out, rows)``.

    Args:
        parts: the shards' submission CSVs, in any order.
        out: the merged submission (side files beside it, as for ``predict``).
        info_csv: ``info.csv`` to check the merged ImageIDs against (default: the one the shards recorded, when
            it still exists).
        force: replace an earlier ``out``.

    Raises:
        MaskclsError: naming the problem: a missing or repeated shard, shards of different ``info.csv`` files or
            counts, a shard whose rows are not its ``info.csv`` rows in order.
    """
    if not parts:
        raise MaskclsError("predict-merge: no shard given")
    read = [(Path(p), *_read_part(Path(p))) for p in parts]
    first = read[0][1]
    for path, meta, *_ in read:
        if (meta["of"], meta["rows"], meta["ids_sha256"]) != (first["of"], first["rows"], first["ids_sha256"]):
            raise MaskclsError(f"{path}: shard of another prediction (shard {meta['shard']}/{meta['of']} of "
                               f"{meta['rows']} rows; {read[0][0]} is {first['shard']}/{first['of']} of "
                               f"{first['rows']} rows, or another info.csv)")
    by_index: dict[int, tuple] = {}
    for entry in read:
        index = int(entry[1]["shard"])
        if index in by_index:
            raise MaskclsError(f"{entry[0]}: shard {index}/{first['of']} given twice (also {by_index[index][0]})")
        by_index[index] = entry
    missing = [k for k in range(1, int(first["of"]) + 1) if k not in by_index]
    if missing:
        listed = ", ".join(f"{k}/{first['of']}" for k in missing)
        raise MaskclsError(f"predict-merge: shard(s) {listed} missing")
    ids: list[str] = []
    answers, probs, skipped = [], [], []
    for index in sorted(by_index):
        path, meta, part_ids, part_answers, part_probs, part_skipped = by_index[index]
        expected = Shard(index, int(first["of"])).rows(int(first["rows"]))
        if (int(meta["start"]), int(meta["stop"])) != expected or len(part_ids) != expected[1] - expected[0]:
            raise MaskclsError(f"{path}: shard {index}/{first['of']} should hold rows {expected[0]}..{expected[1]} "
                               f"but has {len(part_ids)} rows")
        ids += part_ids
        answers.append(part_answers)
        probs.append(part_probs)
        skipped += part_skipped
    if ids_digest(ids) != first["ids_sha256"]:
        raise MaskclsError("predict-merge: the shards' ImageIDs are not their info.csv rows in order")
    info = Path(info_csv) if info_csv is not None else Path(first.get("info_csv", ""))
    if info_csv is not None or info.is_file():
        from maskcls.data.layout import read_csv_rows

        listed = [row["ImageID"] for row in read_csv_rows(info, ("ImageID",))]
        if listed != ids:
            at = next((i for i, (a, b) in enumerate(zip(listed, ids)) if a != b), min(len(listed), len(ids)))
            raise MaskclsError(f"{info}: the merged rows differ from this info.csv from line {at + 2} on "
                               f"({len(listed)} rows listed, {len(ids)} merged)")
    out = Path(out)
    check_free(out, force)
    write_submission(out, ids, np.concatenate(answers), np.concatenate(probs), skipped)
    return out, len(ids)
