"""A realistic public stand-in for the private competition data, built from UTKFace in one call.

:func:`build_public` samples people to the competition's make-up (by default its 2,700 training people:
61 % women, 7 % in the ≥60 band, Asian people first), imports them in the competition layout, and
synthesizes the six masked photos of every person (:mod:`maskcls.synth.masks`), so each person has the
seven photos a competition person has. Optionally the people left over become an ``eval/`` set in the
competition's flat layout (``info.csv`` + ``images/``) with its answers in ``eval_gt.csv``.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from maskcls.data.devsplit import is_dev
from maskcls.data.importers import UtkFace, import_utkface, read_utkface
from maskcls.data.records import DataError, Problem
from maskcls.synth.masks import SynthResult, synth_masks
from maskcls.fileio import atomic_write
from maskcls.labels import DEFAULT_AGE_BANDS, STEM_TO_MASK, AgeBands, encode

#: People per (gender, age band) in the competition's training set (2,700 people, 7 photos each).
COMPETITION_PEOPLE: dict[tuple[int, int], int] = {
    (0, 0): 549, (0, 1): 410, (0, 2): 83,
    (1, 0): 732, (1, 1): 817, (1, 2): 109,
}


@dataclass
class PublicResult:
    """What :func:`build_public` made: counts per stratum, the synthesis outcome, and every problem.

    ``dev_left_out`` counts the source's faces left out as the development hold-out
    (:func:`maskcls.data.devsplit.is_dev`); ``seconds`` is the wall time of each phase (``import``: reading,
    sampling and importing the training people; ``train masks``; ``eval``: its people imported, masked and
    flattened).
    """

    root: Path
    train_people: int = 0
    eval_people: int = 0
    eval_images: int = 0
    strata: dict[tuple[int, int], int] = field(default_factory=dict)
    dev_left_out: int = 0
    synth: SynthResult | None = None
    eval_synth: SynthResult | None = None
    problems: list[Problem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def target_counts(total: int, distribution: str, faces: list[UtkFace], bands: AgeBands) -> dict[tuple[int, int], int]:
    """People wanted per (gender, band): the competition's shares, or the source's own, scaled to ``total``.

    Rounding keeps the sum exactly ``total`` (largest remainders).
    """
    if distribution == "competition":
        weights = dict(COMPETITION_PEOPLE)
    elif distribution == "source":
        weights = {}
        for face in faces:
            key = (face.gender, int(bands.band(face.age)))
            weights[key] = weights.get(key, 0) + 1
    else:
        raise DataError(f"unknown distribution {distribution!r} (expected competition or source)")
    keys = sorted(weights)
    raw = np.array([weights[k] for k in keys], dtype=float) * total / sum(weights.values())
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts))[: total - counts.sum()]:
        counts[i] += 1
    return dict(zip(keys, counts.tolist()))


def sample_people(faces: list[UtkFace], wanted: dict[tuple[int, int], int], bands: AgeBands, seed: int,
                  prefer_race: str | None = "Asian") -> tuple[list[UtkFace], list[UtkFace], list[str]]:
    """Pick ``wanted`` people per stratum, ``prefer_race`` first, the rest at random.

    Returns:
        (chosen, left over, shortfall notes for strata the source cannot fill).
    """
    rng = np.random.default_rng(seed)
    by_stratum: dict[tuple[int, int], list[UtkFace]] = {}
    for face in sorted(faces, key=lambda f: f.path.name):
        by_stratum.setdefault((face.gender, int(bands.band(face.age))), []).append(face)
    chosen, rest, short = [], [], []
    for key, group in sorted(by_stratum.items()):
        order = rng.permutation(len(group))
        ranked = sorted(order, key=lambda i: group[i].race != prefer_race) if prefer_race else list(order)
        n = wanted.get(key, 0)
        if n > len(group):
            short.append(f"gender {key[0]}, band {key[1]}: wanted {n}, the source has {len(group)}")
        chosen += [group[i] for i in ranked[:n]]
        rest += [group[i] for i in ranked[n:]]
    return chosen, rest, short


def build_public(
    src: str | Path,
    dst: str | Path,
    people: int = 2700,
    distribution: str = "competition",
    eval_people: int = 0,
    prefer_race: str | None = "Asian",
    seed: int = 0,
    link: bool = True,
    detector: str = "retinaface",
    workers: int | None = None,
    bands: AgeBands = DEFAULT_AGE_BANDS,
) -> PublicResult:
    """Build ``dst/train`` (and ``dst/eval`` when ``eval_people``) from UTKFace-style faces.

    Args:
        src: UTKFace folder (``labels.csv`` or UTKFace file names), e.g. ``../shared/data/utkface``.
        dst: the new competition root; ``dst/train`` must not exist.
        people: training people.
        distribution: ``competition`` (its gender × age-band shares) or ``source`` (UTKFace's own).
        eval_people: people for ``dst/eval`` drawn from those left over, with the same shares (0: none).
        prefer_race: fill each stratum with this race first (the competition's people are Asian).
        seed: sampling and drawing seed.
        link: hard-link the original photos instead of copying them.
        detector: face detector for landmarks (see :mod:`maskcls.faces.detect`).
        workers: processes for mask synthesis (None: every core; the output is the same for any count).
        bands: age bands used to stratify.

    Raises:
        DataError: if the source has no valid face or the destination exists.
    """
    src, dst = Path(src), Path(dst)
    result = PublicResult(dst)
    started = time.perf_counter()
    if not src.is_dir():
        raise DataError(f"{src}: no such folder")
    faces = read_utkface(src, result.problems)
    if not faces:
        raise DataError(f"{src}: no valid UTKFace-style face found")
    # The development hold-out (maskcls.data.devsplit) is never trained on nor put in eval/: the
    # out-of-distribution suite scores runs on it.
    result.dev_left_out = sum(is_dev("utkface", face.path.name) for face in faces)
    faces = [face for face in faces if not is_dev("utkface", face.path.name)]
    if not faces:
        raise DataError(f"{src}: every face is in the development hold-out")
    chosen, rest, short = sample_people(faces, target_counts(people, distribution, faces, bands), bands, seed,
                                        prefer_race)
    result.problems += [Problem("warning", "short-stratum", src, note) for note in short]
    imported = import_utkface(src, dst, link=link, faces=chosen)
    result.problems += imported.problems
    result.train_people = imported.written
    for face in chosen:
        key = (face.gender, int(bands.band(face.age)))
        result.strata[key] = result.strata.get(key, 0) + 1
    result.seconds["import"] = time.perf_counter() - started
    started = time.perf_counter()
    result.synth = synth_masks(dst, detector=detector, seed=seed, workers=workers)
    result.seconds["train masks"] = time.perf_counter() - started
    result.problems += result.synth.problems
    if eval_people:
        picked, _, short = sample_people(rest, target_counts(eval_people, distribution, rest, bands), bands,
                                         seed + 1, prefer_race)
        result.problems += [Problem("warning", "short-stratum", src, f"eval: {note}") for note in short]
        started = time.perf_counter()
        _build_eval(src, dst, picked, seed, link, detector, workers, bands, result)
        result.seconds["eval"] = time.perf_counter() - started
    return result


def _build_eval(src: Path, dst: Path, faces: list[UtkFace], seed: int, link: bool, detector: str, workers: int | None,
                bands: AgeBands, result: PublicResult) -> None:
    """Make eval people in a scratch root, then flatten their complete photo sets into ``dst/eval``."""
    from maskcls.data.layout import scan_train

    work = dst / ".eval-work"
    if work.exists():
        shutil.rmtree(work)
    eval_dir = dst / "eval"
    if eval_dir.exists():
        raise DataError(f"{eval_dir}: already exists; choose another destination (builds never overwrite)")
    try:
        import_utkface(src, work, link=link, faces=faces)
        result.eval_synth = synth_masks(work, detector=detector, seed=seed + 1, workers=workers)
        result.eval_synth.manifest = None  # the scratch root goes; eval photos keep their JPEG signature
        result.problems += [Problem(p.severity, p.kind, p.path, f"eval: {p.message}") for p in result.eval_synth.problems]
        dataset = scan_train(work)
        complete: dict[str, list] = {}
        for record in dataset.records:
            complete.setdefault(record.person, []).append(record)
        staged = dst / ".eval-partial"
        if staged.exists():
            shutil.rmtree(staged)
        (staged / "images").mkdir(parents=True)
        rows = []
        for person, records in sorted(complete.items()):
            if len(records) != len(STEM_TO_MASK):
                continue  # a person the synthesizer could not finish is already listed as a problem
            result.eval_people += 1
            for record in records:
                name = hashlib.sha1(f"{seed}:{record.path.relative_to(work)}".encode()).hexdigest() + record.path.suffix.lower()
                shutil.copy2(record.path, staged / "images" / name)
                label = int(encode(int(record.mask), int(record.gender), int(bands.band(int(record.age)))))
                rows.append((name, label))
        order = np.random.default_rng(seed).permutation(len(rows))
        rows = [rows[i] for i in order]
        _write_rows(staged / "info.csv", [(name, 0) for name, _ in rows])
        _write_rows(dst / "eval_gt.csv", rows)
        _write_sources(dst / "eval_sources.csv", [f.path for f in faces])
        staged.rename(eval_dir)
        result.eval_images = len(rows)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(dst / ".eval-partial", ignore_errors=True)


def _write_sources(path: Path, sources: list[Path]) -> None:
    """The original photo of every eval person (so other training sources can leave them out)."""
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source"])
        writer.writerows([str(p)] for p in sorted(sources))


def _write_rows(path: Path, rows: list[tuple[str, int]]) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["ImageID", "ans"])
        writer.writerows(rows)
