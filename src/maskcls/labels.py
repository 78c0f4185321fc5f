"""The 18-class label scheme: mask status × gender × age band.

This module is the only place that knows how the competition's class index is built::

    class = mask * 6 + gender * 3 + age_band

with mask wear 0 / incorrect 1 / not wear 2, gender male 0 / female 1, and age bands
<30 / 30–59 / ≥60 by default. Everything else calls :func:`encode` and :func:`decode`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Iterable, Sequence

import numpy as np

NUM_CLASSES = 18
TASKS: dict[str, int] = {"mask": 3, "gender": 2, "age": 3}
#: Whole years a per-year age distribution covers: 0, 1 … 99 and "100 or more".
AGE_YEARS = 101


class Mask(IntEnum):
    """Mask status; the value is the competition's code."""

    WEAR = 0
    INCORRECT = 1
    NOT_WEAR = 2


class Gender(IntEnum):
    """Gender; the value is the competition's code."""

    MALE = 0
    FEMALE = 1


class AgeBand(IntEnum):
    """Age band; the value is the competition's code (bands set by :class:`AgeBands`)."""

    YOUNG = 0
    MIDDLE = 1
    OLD = 2


#: Photo file stems of the competition layout and the mask status each one shows.
STEM_TO_MASK: dict[str, Mask] = {
    "mask1": Mask.WEAR,
    "mask2": Mask.WEAR,
    "mask3": Mask.WEAR,
    "mask4": Mask.WEAR,
    "mask5": Mask.WEAR,
    "incorrect_mask": Mask.INCORRECT,
    "normal": Mask.NOT_WEAR,
}
STEMS: tuple[str, ...] = tuple(STEM_TO_MASK)
#: The five photos of a person wearing the mask (``mask1`` … ``mask5``).
MASK_STEMS: tuple[str, ...] = tuple(stem for stem, mask in STEM_TO_MASK.items() if mask is Mask.WEAR)

MASK_NAMES = ("wear", "incorrect", "not wear")
GENDER_NAMES = ("male", "female")


def parse_gender(value: str | int) -> Gender:
    """Read a gender written as ``male``/``female`` (any case) or ``0``/``1``.

    Raises:
        ValueError: for anything else.
    """
    text = str(value).strip().lower()
    if text in ("male", "m", "0"):
        return Gender.MALE
    if text in ("female", "f", "1"):
        return Gender.FEMALE
    raise ValueError(f"unknown gender {value!r} (expected male or female)")


def parse_age(value: str | int, low: int = 0) -> int:
    """Read an age in whole years, ``low`` <= age < 130.

    Raises:
        ValueError: naming the value, for a non-number (``23.7``, ``abc``) or an age out of range.
    """
    text = str(value).strip()
    try:
        age = int(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not a whole number of years") from None
    if not low <= age < 130:
        raise ValueError(f"age {age} out of range")
    return age


def parse_mask(value: str | int) -> Mask:
    """Read a mask status: ``wear``/``mask``, ``incorrect``, ``not wear``/``normal``, or 0–2."""
    text = str(value).strip().lower().replace("_", " ")
    table = {
        "0": Mask.WEAR, "wear": Mask.WEAR, "mask": Mask.WEAR, "with mask": Mask.WEAR,
        "1": Mask.INCORRECT, "incorrect": Mask.INCORRECT, "incorrect mask": Mask.INCORRECT,
        "mask weared incorrect": Mask.INCORRECT,
        "2": Mask.NOT_WEAR, "not wear": Mask.NOT_WEAR, "normal": Mask.NOT_WEAR,
        "without mask": Mask.NOT_WEAR, "no mask": Mask.NOT_WEAR,
    }
    if text not in table:
        raise ValueError(f"unknown mask status {value!r} (expected mask, incorrect or normal)")
    return table[text]


@dataclass(frozen=True)
class AgeBands:
    """Age band thresholds: ``age < t0`` is band 0, ``t0 <= age < t1`` band 1, else band 2.

    Args:
        thresholds: the two lower bounds of the middle and oldest bands (default 30, 60).
    """

    thresholds: tuple[int, int] = (30, 60)

    def __post_init__(self) -> None:
        low, high = self.thresholds
        if not 0 < low < high:
            raise ValueError(f"age thresholds must satisfy 0 < low < high, got {self.thresholds}")

    def band(self, age: int) -> AgeBand:
        """Return the band of one age."""
        low, high = self.thresholds
        return AgeBand(0 if age < low else 1 if age < high else 2)

    def bands(self, ages: Sequence[int] | np.ndarray) -> np.ndarray:
        """Vectorised :meth:`band` for an array of ages."""
        return np.digitize(np.asarray(ages), self.thresholds).astype(np.int64)

    def band_probs(self, age_probs: np.ndarray, ages: Sequence[float] | np.ndarray) -> np.ndarray:
        """Band probabilities ``[N, 3]`` of distributions ``[N, K]`` over the ages ``ages`` (K values, e.g. the
        dlib age net's 0.25, 1, 2 … 80): each band gets the sum over its ages."""
        one_hot = np.eye(3, dtype=np.float64)[self.bands(np.asarray(ages, dtype=np.float64))]
        return np.asarray(age_probs, dtype=np.float64) @ one_hot

    def spread(self, ages: Sequence[float] | np.ndarray, sigma: float) -> np.ndarray:
        """Soft band targets ``[N, 3]`` of whole-year ages: the share of each band under a normal spread of
        ``sigma`` years about the middle of the age's year (``age + 0.5``), so a 29-year-old at σ = 3 is 0.57
        ``<30`` and 0.43 ``30-59``. A negative (missing) age gets an all-zero row.

        Raises:
            ValueError: for ``sigma <= 0``.
        """
        return _normal_shares(ages, self.thresholds, sigma)

    def year_bands(self, years: int = AGE_YEARS) -> np.ndarray:
        """The band of each whole year ``0 … years - 1``, ``[years]`` (the last year stands for all older ages)."""
        return self.bands(np.arange(years))

    def names(self) -> tuple[str, str, str]:
        """Human-readable names such as ``<30``, ``30-59``, ``>=60``."""
        low, high = self.thresholds
        return (f"<{low}", f"{low}-{high - 1}", f">={high}")


DEFAULT_AGE_BANDS = AgeBands()


def year_spread(ages: Sequence[float] | np.ndarray, sigma: float | None, years: int = AGE_YEARS) -> np.ndarray:
    """Per-year age targets ``[N, years]`` of whole-year ages: each year's share of a normal spread of ``sigma``
    years about the middle of the age's year (``age + 0.5``), the first and last years taking the tails; with
    ``sigma=None`` the age's own year alone (ages past the last year count as it). A negative (missing) age gets an
    all-zero row.

    Raises:
        ValueError: for ``sigma <= 0``.
    """
    if sigma is not None:
        return _normal_shares(ages, np.arange(1, years), sigma)  # year k covers [k, k + 1)
    ages = np.asarray(ages, dtype=np.float64)
    rows = np.eye(years, dtype=np.float32)[np.clip(ages, 0, years - 1).astype(np.int64)]
    rows[ages < 0] = 0.0
    return rows


def _normal_shares(ages: Sequence[float] | np.ndarray, bounds: Sequence[float] | np.ndarray,
                   sigma: float) -> np.ndarray:
    """``[N, len(bounds) + 1]`` float32: the share of each interval between ascending ``bounds`` (the ends running
    to ±infinity) under a normal of ``sigma`` years about each age's year middle (``age + 0.5``); a negative
    (missing) age gets an all-zero row.

    Raises:
        ValueError: for ``sigma <= 0``.
    """
    if sigma <= 0:
        raise ValueError(f"age spread sigma must be > 0, got {sigma}")
    from scipy.special import ndtr

    ages = np.asarray(ages, dtype=np.float64)
    below = ndtr((np.asarray(bounds, dtype=np.float64)[None, :] - (ages[:, None] + 0.5)) / sigma)
    shares = np.diff(np.concatenate([np.zeros((len(ages), 1)), below, np.ones((len(ages), 1))], axis=1), axis=1)
    shares[ages < 0] = 0.0
    return shares.astype(np.float32)


@dataclass(frozen=True)
class TrainingAgePolicy:
    """How ages become *training* targets; evaluation always uses the plain :class:`AgeBands`.

    Top teams moved the oldest band's threshold down (e.g. 58 or 59) because the ≥60 band is rare and
    its boundary noisy, and some dropped the ambiguous ages around it (e.g. 57–59) from training.

    Args:
        bands: the evaluation bands.
        old_threshold: training-only lower bound of the oldest band, or ``None`` to use ``bands``.
        drop_ages: inclusive ``(low, high)`` range of ages left out of training, or ``None``.
    """

    bands: AgeBands = DEFAULT_AGE_BANDS
    old_threshold: int | None = None
    drop_ages: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.old_threshold is not None and not self.bands.thresholds[0] < self.old_threshold:
            raise ValueError(
                f"training old-band threshold {self.old_threshold} must be above {self.bands.thresholds[0]}"
            )
        if self.drop_ages is not None and self.drop_ages[0] > self.drop_ages[1]:
            raise ValueError(f"drop_ages range {self.drop_ages} is empty")

    def keep(self, age: int) -> bool:
        """Whether a person of this age is used for training."""
        return self.drop_ages is None or not self.drop_ages[0] <= age <= self.drop_ages[1]

    def band(self, age: int) -> AgeBand:
        """The training target band of one age (``old_threshold`` applied)."""
        if self.old_threshold is None:
            return self.bands.band(age)
        return AgeBands((self.bands.thresholds[0], self.old_threshold)).band(age)


def encode(mask: int | np.ndarray, gender: int | np.ndarray, age_band: int | np.ndarray):
    """Combine the three task labels into the 18-class index (scalars or arrays)."""
    return mask * 6 + gender * 3 + age_band


def decode(label: int | np.ndarray):
    """Split an 18-class index into ``(mask, gender, age_band)`` (scalars or arrays).

    Raises:
        ValueError: if a label is outside 0–17.
    """
    arr = np.asarray(label)
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_CLASSES):
        raise ValueError(f"class labels must be in 0..{NUM_CLASSES - 1}")
    mask, rest = np.divmod(label, 6)
    gender, age_band = np.divmod(rest, 3)
    if np.ndim(label) == 0:
        return int(mask), int(gender), int(age_band)
    return mask, gender, age_band


def class_name(label: int, bands: AgeBands = DEFAULT_AGE_BANDS) -> str:
    """A short readable name of one class, e.g. ``wear/female/30-59``."""
    mask, gender, age_band = decode(int(label))
    return f"{MASK_NAMES[mask]}/{GENDER_NAMES[gender]}/{bands.names()[age_band]}"


def class_names(bands: AgeBands = DEFAULT_AGE_BANDS) -> list[str]:
    """Names of all 18 classes in index order."""
    return [class_name(i, bands) for i in range(NUM_CLASSES)]


def task_names(task: str, bands: AgeBands = DEFAULT_AGE_BANDS) -> tuple[str, ...]:
    """Class names of one task (``mask``, ``gender`` or ``age``)."""
    return {"mask": MASK_NAMES, "gender": GENDER_NAMES, "age": bands.names()}[task]


def split_tasks(labels: Iterable[int] | np.ndarray) -> dict[str, np.ndarray]:
    """Decode an array of 18-class labels into ``{"mask": …, "gender": …, "age": …}``."""
    mask, gender, age = decode(np.asarray(list(labels)))
    return {"mask": np.asarray(mask), "gender": np.asarray(gender), "age": np.asarray(age)}
