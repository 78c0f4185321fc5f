"""Distillation from the dlib face nets: each person's ``normal`` photo teaches that person's masked photos.

In the competition layout every person has one unmasked ``normal`` photo. The dlib age and gender nets
(:mod:`maskcls.models.dlib_nets`, their original classifiers) see that face well; a mask hides half of it. Their
gender and age-band probabilities on the normal photo become soft targets for the same person's ``mask1..5`` and
``incorrect_mask`` photos (``train.distill_weight``, ``train.distill_temperature``), next to the hard labels. The
objective adds ``weight · T² · KL(teacher_T ‖ student_T)`` per task (:class:`~maskcls.engine.objective.Objective`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from maskcls.config import Config
from maskcls.data.records import Record
from maskcls.labels import GENDER_NAMES, AgeBands, Mask

#: Target keys the teacher adds to the training targets.
TEACHER_KEYS = ("teacher_gender", "teacher_age", "teacher_weight")


class FaceTeacher:
    """The dlib gender and age nets with their own classifiers, as maskcls task probabilities.

    Args:
        bands: the age bands of the ``age`` probabilities.
        device: where the nets run.
    """

    def __init__(self, bands: AgeBands, device: torch.device | str = "cpu") -> None:
        from maskcls.models.backbones import create_backbone
        from maskcls.models.dlib_nets import AGES, GENDER_LABELS

        self.bands, self.device = bands, torch.device(device)
        self.gender, self.gender_pre = create_backbone("dlib_gender", True, num_classes=2)
        self.age, self.age_pre = create_backbone("dlib_age", True, num_classes=81)
        self.gender, self.age = self.gender.eval().to(self.device), self.age.eval().to(self.device)
        self.gender_order = [GENDER_LABELS.index(name) for name in GENDER_NAMES]
        self.ages = np.asarray(AGES, dtype=np.float64)

    @torch.no_grad()
    def predict(self, gender_chips: np.ndarray, age_chips: np.ndarray, batch: int = 256) -> dict[str, np.ndarray]:
        """``{"gender": [N, 2] (male, female), "age": [N, 3]}`` of aligned uint8 chips ``[N, 32|64, 32|64, 3]``."""
        from maskcls.vision.transforms import build_transforms

        out: dict[str, list[np.ndarray]] = {"gender": [], "age": []}
        for task, net, pre, chips in (("gender", self.gender, self.gender_pre, gender_chips),
                                      ("age", self.age, self.age_pre, age_chips)):
            transform = build_transforms("none", pre, False)
            for start in range(0, len(chips), batch):
                x = torch.from_numpy(np.ascontiguousarray(chips[start:start + batch].transpose(0, 3, 1, 2)))
                out[task].append(net(transform(x).to(self.device)).softmax(-1).float().cpu().numpy())
        gender = np.concatenate(out["gender"]) if out["gender"] else np.zeros((0, 2))
        age = np.concatenate(out["age"]) if out["age"] else np.zeros((0, 81))
        return {"gender": gender[:, self.gender_order].astype(np.float32),
                "age": self.bands.band_probs(age, self.ages).astype(np.float32)}


def _normal_photos(records: Sequence[Record]) -> dict[str, int]:
    """Person → index of that person's ``normal`` (unmasked) photo, for the people who also have a masked photo
    (a crop folder's unmasked photo of no one else teaches nothing, so the nets need not see it)."""
    normals: dict[str, int] = {}
    masked = set()
    for index, record in enumerate(records):
        if record.mask == Mask.NOT_WEAR and record.person not in normals:
            normals[record.person] = index
        elif record.mask in (Mask.WEAR, Mask.INCORRECT):
            masked.add(record.person)
    return {person: index for person, index in normals.items() if person in masked}


def teacher_targets(records: Sequence[Record], cfg: Config, cache_dir: Path | None,
                    log: Callable[[str], None] = print) -> dict[str, np.ndarray]:
    """Soft targets from the face nets for every masked photo of a person with a readable ``normal`` photo.

    The normal photos are cropped as the run crops (``input.crop`` and the face settings) and aligned as the nets
    expect; their chips go through the image cache like any run's inputs.

    Returns:
        float32 ``teacher_gender [N, 2]``, ``teacher_age [N, 3]`` and ``teacher_weight [N]`` (1 where the target
        applies: the photo shows a mask, worn or not properly, and the person's normal photo was read), aligned
        with ``records``.
    """
    from maskcls.vision.cache import ImageCache
    from maskcls.vision.preprocess import CacheSpec

    teacher = FaceTeacher(cfg.data.bands())
    normals = _normal_photos(records)
    people = sorted(normals)
    paths = [records[normals[person]].path for person in people]
    chips = {}
    for task, pre in (("gender", teacher.gender_pre), ("age", teacher.age_pre)):
        spec = CacheSpec.from_config(cfg.input, pre)
        cache = ImageCache.open(paths, spec, cache_dir, workers=max(1, cfg.train.workers or 2))
        chips[task] = (np.asarray(cache.array), set(cache.errors))
    unread = chips["gender"][1] | chips["age"][1]
    probs = teacher.predict(chips["gender"][0], chips["age"][0])
    row = {person: i for i, person in enumerate(people) if i not in unread}
    n = len(records)
    targets = {"teacher_gender": np.full((n, 2), 0.5, np.float32), "teacher_age": np.full((n, 3), 1 / 3, np.float32),
               "teacher_weight": np.zeros(n, np.float32)}
    for index, record in enumerate(records):
        i = row.get(record.person)
        if i is None:
            continue
        targets["teacher_gender"][index] = probs["gender"][i]
        targets["teacher_age"][index] = probs["age"][i]
        targets["teacher_weight"][index] = float(record.mask != Mask.NOT_WEAR)
    taught = int(targets["teacher_weight"].sum())
    log(f"distillation: the face nets on {len(row)} normal photos teach {taught} masked photos")
    return targets
