"""Torch datasets over records: cached photos (:class:`RecordDataset`) or precomputed features.

Targets come from :func:`record_targets` as one array per task, aligned with the records. A dataset may
use only some of the records (``indices``), so training and validation share one cache and one targets
dict while each has its own transform.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from maskcls.data.records import Record
from maskcls.labels import AgeBands, TrainingAgePolicy, encode
from maskcls.vision.cache import ImageCache
from maskcls.vision.occlusion import worn_rows

Targets = dict[str, np.ndarray]
#: The target value of a label the record does not have (never trained on).
MISSING = -1
Item = tuple[torch.Tensor, dict[str, torch.Tensor]]


def record_targets(
    records: Sequence[Record], bands: AgeBands, policy: TrainingAgePolicy | None = None
) -> Targets:
    """Per-task target arrays aligned with ``records``.

    Args:
        records: the photos.
        bands: the evaluation age bands.
        policy: training-only age policy; when given, ``age`` (and so ``class18``) use its threshold.
            Evaluation passes none. Its ``drop_ages`` is not applied here: leave those records out with
            :meth:`TrainingAgePolicy.keep` (e.g. through ``indices``).

    Returns:
        int64 ``class18``, ``mask``, ``gender`` and ``age`` (the band), and float32 ``age_value`` (years). A label
        a record lacks (:class:`~maskcls.data.records.Record` fields set to ``None``) is :data:`MISSING` (-1), in
        ``class18`` too whenever any of the three is missing, and the objective trains no head on it.

    Raises:
        ValueError: if the policy was made for other bands.
    """
    if policy is not None and policy.bands != bands:
        raise ValueError(f"age policy bands {policy.bands.thresholds} differ from {bands.thresholds}")
    def column(name: str) -> np.ndarray:
        return np.array([MISSING if getattr(r, name) is None else getattr(r, name) for r in records], dtype=np.int64)

    mask, gender, ages = column("mask"), column("gender"), column("age")
    known_age = ages != MISSING
    band = np.full(len(records), MISSING, dtype=np.int64)
    if policy is None:
        band[known_age] = bands.bands(ages[known_age])
    else:
        band[known_age] = [int(policy.band(int(age))) for age in ages[known_age]]
    complete = (mask != MISSING) & (gender != MISSING) & known_age
    class18 = np.full(len(records), MISSING, dtype=np.int64)
    class18[complete] = encode(mask[complete], gender[complete], band[complete])
    return {
        "class18": class18,
        "mask": mask,
        "gender": gender,
        "age": band,
        "age_value": ages.astype(np.float32),
    }


class _IndexedTargets(Dataset):
    """The part shared by both datasets: a subset of positions and per-item target tensors."""

    def __init__(self, count: int, targets: Targets, indices: Sequence[int] | None) -> None:
        for name, values in targets.items():
            if len(values) != count:
                raise ValueError(f"target {name!r} has {len(values)} values for {count} items")
        self.targets = targets
        self.indices = np.arange(count) if indices is None else np.asarray(indices, dtype=np.int64)
        if self.indices.size and not 0 <= self.indices.min() <= self.indices.max() < count:
            raise ValueError(f"indices must lie in 0..{count - 1}")

    def __len__(self) -> int:
        return len(self.indices)

    def target(self, name: str) -> np.ndarray:
        """One target for this dataset's items, in order (e.g. ``class18`` for sampler weights)."""
        return self.targets[name][self.indices]

    def _item_targets(self, index: int) -> dict[str, torch.Tensor]:
        """Scalar target tensors of global ``index``, plus ``index`` itself."""
        item = {name: torch.as_tensor(values[index]) for name, values in self.targets.items()}
        item["index"] = torch.tensor(index, dtype=torch.int64)
        return item


class RecordDataset(_IndexedTargets):
    """Cached photos as ``(image, targets)``.

    Args:
        records: the photos, aligned with ``cache`` entries and ``targets``.
        cache: the preprocessed photos (memory-mapped or in memory, see :class:`ImageCache`).
        transform: applied to each uint8 ``[3, H, W]`` tensor (e.g. augmentation and normalisation);
            ``None`` returns it as is.
        targets: per-task arrays from :func:`record_targets`.
        indices: the records this dataset uses (default all); ``index`` in the targets is the record's
            position in ``records``, not in this dataset.
        occlude: applied to the uint8 ``[3, H, W]`` photo before ``transform`` when the record's mask target is a
            worn mask (:class:`~maskcls.vision.occlusion.LowerFaceOcclusion`, ``aug.occlude_worn``).
        surround: applied to every uint8 ``[3, H, W]`` photo after ``occlude`` and before ``transform``
            (:class:`~maskcls.vision.surround.SurroundJitter`, ``aug.surround``).
    """

    def __init__(
        self,
        records: Sequence[Record],
        cache: ImageCache,
        transform: Callable[[torch.Tensor], torch.Tensor] | None,
        targets: Targets,
        indices: Sequence[int] | None = None,
        occlude: Callable[[torch.Tensor], torch.Tensor] | None = None,
        surround: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if len(cache) != len(records):
            raise ValueError(f"cache has {len(cache)} entries for {len(records)} records")
        super().__init__(len(records), targets, indices)
        self.records = records
        self.cache = cache
        self.transform = transform
        self.occlude = occlude
        self.surround = surround
        self._worn = worn_rows(targets["mask"]) if occlude is not None else None

    def __getitem__(self, position: int) -> Item:
        index = int(self.indices[position])
        # A copy: transforms may work in place, and the cache must never change.
        image = torch.from_numpy(np.array(self.cache[index].transpose(2, 0, 1), order="C"))
        if self._worn is not None and self._worn[index]:
            image = self.occlude(image)
        if self.surround is not None:
            image = self.surround(image)
        if self.transform is not None:
            image = self.transform(image)
        return image, self._item_targets(index)


class FeatureDataset(_IndexedTargets):
    """Precomputed backbone features as ``(features, targets)``, for training a head on a frozen backbone.

    Args:
        features: float tensor ``[N, C]`` aligned with ``targets``.
        targets: per-task arrays from :func:`record_targets`.
        indices: the rows this dataset uses (default all).
    """

    def __init__(self, features: torch.Tensor, targets: Targets, indices: Sequence[int] | None = None) -> None:
        if features.ndim != 2:
            raise ValueError(f"features must be [N, C], got shape {tuple(features.shape)}")
        super().__init__(len(features), targets, indices)
        self.features = features

    def __getitem__(self, position: int) -> Item:
        index = int(self.indices[position])
        return self.features[index], self._item_targets(index)
