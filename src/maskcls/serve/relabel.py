"""The relabeling tool's data side, without HTTP: people with their photos and current labels, how much a k-fold
run's out-of-fold predictions disagree with them, photo paths that cannot leave ROOT, and corrections saved to the
relabel CSV of :mod:`maskcls.data.relabel` (``id,field,value,note``), so ``data.relabel=[default,mine.csv]``
applies them. Photos are only read, never moved or renamed.

Current labels are the ones on disk with the base corrections files (the shipped default unless turned off) and
then the tool's own CSV applied, as training would apply them. A ``drop`` correction does not hide the person
here: the person is shown as dropped, so the drop can be undone.

Disagreement of a person (with a k-fold run): each photo of the person that the run predicted out of fold is
matched by person folder and file name, and compared with its *current* label, so a fixed person stops ranking
high. ``score`` is 1 − the mean probability of the current 18-class label; ``gender`` and ``age`` the mean
probability of another gender or age band; ``mask`` the largest probability of another mask status on one photo
(a swapped ``incorrect_mask``/``normal`` pair shows there).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence
from urllib.parse import quote

import numpy as np

from maskcls.data.images import IMAGE_EXTENSIONS, is_hidden
from maskcls.data.records import Record
from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, MASK_NAMES, AgeBands, encode

#: How the list of people can be ordered.
ORDERS = ("folder", "disagreement")


class PathRefused(MaskclsError):
    """A photo path that is absolute or climbs out of ROOT with ``..`` (HTTP 400)."""


class NotFound(MaskclsError):
    """No such photo inside ROOT, or no such person (HTTP 404)."""


class BadCorrection(MaskclsError):
    """A correction whose value does not fit its field (HTTP 422)."""


def safe_photo(root: Path, relative: str) -> Path:
    """The photo ``relative`` names inside ``root``, refusing anything that could reach outside it.

    Raises:
        PathRefused: for an empty, absolute, ``..``-climbing or NUL-holding path.
        NotFound: when the resolved file (symlinks followed) is outside ``root``, missing, hidden or no image.
    """
    pure = PurePosixPath(relative)
    if not relative or "\0" in relative or "\\" in relative or pure.is_absolute() or ".." in pure.parts:
        raise PathRefused(f"{relative!r}: photo paths are relative to ROOT and cannot leave it")
    target = (root / pure).resolve()
    if not target.is_relative_to(root.resolve()) or not target.is_file():
        raise NotFound(f"{relative}: no such photo in ROOT")
    if is_hidden(target.name) or target.suffix.lower() not in IMAGE_EXTENSIONS:
        raise NotFound(f"{relative}: not a photo")
    return target


@dataclass(frozen=True)
class OofIndex:
    """Out-of-fold probabilities of a k-fold run by ``(person folder, file name)``, and the run's age bands."""

    run: str
    probs: dict[tuple[str, str], np.ndarray]
    bands: AgeBands

    @classmethod
    def load(cls, run: str | Path) -> "OofIndex":
        """Read ``RUN/oof.csv`` (see :func:`maskcls.inference.oof.load_oof`)."""
        from maskcls.inference.oof import load_oof

        oof = load_oof(run)
        probs = {(person, Path(path).name): row for person, path, row in zip(oof.people, oof.paths, oof.probs)}
        return cls(str(run), probs, oof.bands)


def disagreement(records: Sequence[Record], oof: OofIndex) -> dict | None:
    """How much the out-of-fold predictions of one person's photos disagree with their current labels.

    Returns:
        ``{"score", "gender", "age", "mask", "photos", "model_gender", "model_age"}`` (see the module docstring;
        ``model_*`` are the run's mean answers), or ``None`` when the run predicted none of the photos.
    """
    from maskcls.inference.ensemble import task_marginals

    rows = [(record, oof.probs[key]) for record in records if (key := (record.person, record.path.name)) in oof.probs]
    if not rows:
        return None
    probs = np.stack([row for _, row in rows])
    tasks = task_marginals(probs)
    bands = np.array([oof.bands.band(record.age) for record, _ in rows])
    labels = np.array([encode(record.mask, record.gender, int(band)) for (record, _), band in zip(rows, bands)])
    index = np.arange(len(rows))
    genders = np.array([record.gender for record, _ in rows])
    masks = np.array([record.mask for record, _ in rows])
    mean_gender, mean_age = tasks["gender"].mean(0), tasks["age"].mean(0)
    return {"score": float(1 - probs[index, labels].mean()),
            "gender": float(1 - tasks["gender"][index, genders].mean()),
            "age": float(1 - tasks["age"][index, bands].mean()),
            "mask": float((1 - tasks["mask"][index, masks]).max()),
            "photos": len(rows),
            "model_gender": GENDER_NAMES[int(mean_gender.argmax())], "p_model_gender": float(mean_gender.max()),
            "model_age": oof.bands.names()[int(mean_age.argmax())], "p_model_age": float(mean_age.max())}


class RelabelData:
    """The people of a competition root, their current labels and the tool's corrections CSV.

    Args:
        root: competition root (holding ``train/``) or its train folder.
        corrections_csv: the CSV corrections are saved to (created on the first save; kept and extended if it
            exists).
        oof_run: a k-fold run whose ``oof.csv`` ranks people by disagreement, or ``None``.
        relabel: corrections files applied before ``corrections_csv`` (``default`` is the shipped one).

    Raises:
        MaskclsError: for a root without the competition layout, an unreadable corrections file or ``oof.csv``.
    """

    def __init__(self, root: str | Path, corrections_csv: str | Path, oof_run: str | Path | None = None,
                 relabel: Sequence[str | Path] = ("default",)) -> None:
        from maskcls.data.layout import scan_train
        from maskcls.data.relabel import load_corrections, read_corrections

        self.root = Path(root)
        self.base = load_corrections(relabel)
        self.csv = Path(corrections_csv)
        if self.csv.exists():
            read_corrections(self.csv)  # a broken file fails now, not at the first save
        self.dataset = scan_train(self.root)
        self.ids = {record.id for record in self.dataset.records}
        self.oof = OofIndex.load(oof_run) if oof_run is not None else None
        self.bands = self.oof.bands if self.oof is not None else DEFAULT_AGE_BANDS
        self.lock = threading.Lock()

    def corrections(self):
        """The base corrections, then the CSV's (later ones win)."""
        from maskcls.data.relabel import read_corrections

        return self.base + (read_corrections(self.csv) if self.csv.exists() else [])

    def people(self, order: str = "folder", limit: int | None = None, person_id: str | None = None) -> list[dict]:
        """Every person (or those of one id) with photos, original and current labels, corrections, disagreement.

        Args:
            order: ``folder`` (the layout's order) or ``disagreement`` (most disagreeing first; people the run
                did not predict last).
            limit: keep the first N after ordering.
            person_id: only the people of this id.
        """
        from maskcls.data.relabel import apply_corrections

        if order not in ORDERS:
            raise BadCorrection(f"order {order!r}: expected one of {', '.join(ORDERS)}")
        corrections = self.corrections()
        # Drops are shown, not applied, so a dropped person stays on screen and the drop can be undone.
        current, _ = apply_corrections(self.dataset.records, [c for c in corrections if c.field != "drop"])
        dropped = {c.id: c.value == "true" for c in corrections if c.field == "drop"}
        by_person: dict[str, list[Record]] = {}
        for record in current:
            by_person.setdefault(record.person, []).append(record)
        original = {record.person: record for record in self.dataset.records}
        people = []
        for index, (person, records) in enumerate(by_person.items()):
            first = records[0]
            if person_id is not None and first.id != person_id:
                continue
            people.append({
                "index": index, "person": person, "id": first.id, "gender": GENDER_NAMES[first.gender],
                "age": first.age, "band": self.bands.names()[self.bands.band(first.age)],
                "original": {"gender": GENDER_NAMES[original[person].gender], "age": original[person].age},
                "dropped": dropped.get(first.id, False),
                "swapped": any(r.stem != Path(r.path).stem.lower() for r in records),
                "corrections": [{"field": c.field, "value": c.value, "source": Path(c.source).name}
                                for c in corrections if c.id == first.id],
                "photos": [self._photo(record) for record in records],
                "disagreement": disagreement(records, self.oof) if self.oof is not None else None,
            })
        if order == "disagreement":
            people.sort(key=lambda p: -1.0 if p["disagreement"] is None else p["disagreement"]["score"], reverse=True)
        return people[:limit] if limit is not None else people

    def _photo(self, record: Record) -> dict:
        relative = record.path.relative_to(self.root).as_posix()
        return {"file": record.path.name, "stem": record.stem, "mask": MASK_NAMES[record.mask],
                "swapped": record.stem != record.path.stem.lower(), "url": "/photos/" + quote(relative)}

    def save(self, person_id: str, field: str, value: str | int | bool, note: str = ""):
        """Add (or replace) one correction in the CSV; saves are serialised, and each file write is atomic.

        Returns:
            The saved :class:`~maskcls.data.relabel.Correction`.

        Raises:
            NotFound: for an id no person has.
            BadCorrection: for an unknown field or a value that does not fit it.
        """
        from maskcls.data.relabel import FIELDS, Correction, _check_value, save_correction

        if person_id not in self.ids:
            raise NotFound(f"id {person_id!r}: no such person in {self.root}")
        if field not in FIELDS:
            raise BadCorrection(f"field {field!r}: expected one of {', '.join(FIELDS)}")
        text = str(value).lower() if isinstance(value, bool) else str(value)
        try:
            checked = _check_value(field, text)
        except ValueError as exc:
            raise BadCorrection(f"{field} {value!r}: {exc}") from None
        correction = Correction(person_id, field, checked, str(self.csv), note)
        with self.lock:  # the CSV's own file lock covers other processes; this one keeps threads in line too
            save_correction(self.csv, correction)
        return correction
