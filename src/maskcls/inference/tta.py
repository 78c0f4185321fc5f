"""Test-time augmentation: several views of each photo, their class probabilities averaged.

Views are made from the uint8 entries an engine takes (``[B, H, W, 3]`` at its input size), so every engine gets
TTA for free and its inputs keep the exact training preprocessing:

* ``flip`` — the photo and its horizontal mirror (2 views);
* ``crops5`` — the centre and the four corners, each ``scale`` of the height and width, resized back to the
  entry size (5 views);
* ``flip+crops5`` — every crop and its mirror (10 views).

Probabilities (not logits) are averaged, so views of any head and of any engine combine the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.labels import NUM_CLASSES

if TYPE_CHECKING:
    from maskcls.inference.contract import Engine

TTA_CHOICES = ("none", "flip", "crops5", "flip+crops5")
CROP_NAMES = ("centre", "top-left", "top-right", "bottom-left", "bottom-right")


@dataclass(frozen=True)
class Tta:
    """Which views to average.

    Attributes:
        flip: add the horizontal mirror of every view.
        crops: 1 (the whole entry) or 5 (centre + four corners).
        scale: side of a crop as a share of the entry's height and width.
    """

    flip: bool = False
    crops: int = 1
    scale: float = 0.875

    def __post_init__(self) -> None:
        if self.crops not in (1, 5):
            raise MaskclsError(f"TTA crops must be 1 or 5, got {self.crops}")
        if not 0.0 < self.scale <= 1.0:
            raise MaskclsError(f"TTA crop scale must be in (0, 1], got {self.scale}")

    @classmethod
    def parse(cls, text: str, scale: float = 0.875) -> "Tta":
        """``none``, ``flip``, ``crops5`` or ``flip+crops5`` (parts in any order).

        Raises:
            MaskclsError: for anything else.
        """
        parts = {part.strip() for part in text.lower().split("+") if part.strip()}
        if parts <= {"none"}:
            return cls(scale=scale)
        unknown = parts - {"flip", "crops5"}
        if unknown:
            raise MaskclsError(f"--tta {text!r}: unknown view {sorted(unknown)[0]!r} "
                               f"(expected {', '.join(TTA_CHOICES)})")
        return cls(flip="flip" in parts, crops=5 if "crops5" in parts else 1, scale=scale)

    @property
    def n_views(self) -> int:
        """Views per photo."""
        return self.crops * (2 if self.flip else 1)

    def describe(self) -> str:
        """The CLI spelling, e.g. ``flip+crops5``."""
        parts = (["flip"] if self.flip else []) + (["crops5"] if self.crops == 5 else [])
        return "+".join(parts) or "none"

    def views(self, images: np.ndarray, interpolation: str = "bicubic") -> list[np.ndarray]:
        """The views of a uint8 batch ``[B, H, W, 3]``, each a batch of the same shape.

        Args:
            images: the entries.
            interpolation: PIL filter that resizes crops back (the engine's, as its cache used).
        """
        base = [images] if self.crops == 1 else five_crops(images, self.scale, interpolation)
        if not self.flip:
            return base
        return [view for crop in base for view in (crop, hflip(crop))]


def hflip(images: np.ndarray) -> np.ndarray:
    """Horizontal mirror of a ``[B, H, W, C]`` batch (contiguous)."""
    return np.ascontiguousarray(images[:, :, ::-1])


def crop_boxes(height: int, width: int, scale: float) -> list[tuple[int, int, int, int]]:
    """``(top, left, bottom, right)`` of the centre and the four corner crops of an entry (see :data:`CROP_NAMES`)."""
    ch, cw = max(1, round(height * scale)), max(1, round(width * scale))
    top, left = (height - ch) // 2, (width - cw) // 2
    return [(top, left, top + ch, left + cw), (0, 0, ch, cw), (0, width - cw, ch, width),
            (height - ch, 0, height, cw), (height - ch, width - cw, height, width)]


def five_crops(images: np.ndarray, scale: float, interpolation: str = "bicubic") -> list[np.ndarray]:
    """Centre and corner crops of a uint8 ``[B, H, W, 3]`` batch, each resized back to ``H × W``."""
    from PIL import Image

    batch, height, width = images.shape[:3]
    resample = Image.Resampling[interpolation.upper()]
    views = []
    for top, left, bottom, right in crop_boxes(height, width, scale):
        view = np.empty_like(images)
        for i in range(batch):
            crop = Image.fromarray(np.ascontiguousarray(images[i, top:bottom, left:right]))
            view[i] = np.asarray(crop.resize((width, height), resample), dtype=np.uint8)
        views.append(view)
    return views


def mean_probs(engine: "Engine", views: Sequence[np.ndarray]) -> np.ndarray:
    """float32 ``[B, 18]``: the engine's class probabilities averaged over ``views`` (from :meth:`Tta.views`)."""
    total = np.zeros((len(views[0]), NUM_CLASSES), dtype=np.float64)
    for view in views:
        total += engine.probs(view)
    return (total / len(views)).astype(np.float32)
