"""Augmentation presets on ``torchvision.transforms.v2``, and batch mixing (CutMix, MixUp).

Transforms take a uint8 image tensor ``[3, H, W]`` (the cache has already resized it to the model's input size
or slightly larger) or a PIL image, and return a plain float tensor ``[3, h, w]`` at the model's input size,
scaled to [0, 1] and normalised. ``preprocess`` is any object with ``size`` ``(h, w)``, ``mean``, ``std`` and
``interpolation`` (``"bicubic"`` or ``"bilinear"``), such as the backbone's preprocessing description.

The validation transform is the same for every preset: a deterministic antialiased resize, then
scale and normalise. Train presets:

* ``none`` — the validation transform.
* ``base`` — RandomResizedCrop (scale 0.8–1, aspect 0.9–1.1) + horizontal flip.
* ``center_brightness`` — the winners' recipe: crop the central 80 % of the height × 90 % of the width,
  resize, brightness jitter 0.2, horizontal flip. Validation sees the full frame, as with every preset.
* ``color_jitter`` — ``base`` + ColorJitter(0.3, 0.3, 0.3, 0.05).
* ``random_erasing`` — ``base`` + RandomErasing(p=0.25) on the normalised tensor.
* ``randaugment`` — ``base`` + RandAugment(num_ops=2, magnitude=9) on uint8.
* ``autoaugment`` — ``base`` + AutoAugment with its ImageNet policy on uint8.
* ``trivialaugment`` — ``base`` + TrivialAugmentWide (one op a photo, at a uniformly drawn strength) on uint8.
* ``wild`` — for photos taken anywhere (crowds, an entrance camera): a looser crop (scale 0.6–1), flip,
  rotation ±15°, strong colour jitter, some grayscale, and the faults of small far-away faces: a random
  downscale to 12–64 px and back (half the time), blur and JPEG artefacts.

Batch mixing works on a collated batch and on *soft* targets, one ``[N, C]`` tensor per task, so a single
18-class head and the mask/gender/age heads mix the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import Tensor, nn
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

if TYPE_CHECKING:
    from maskcls.config import AugConfig

CENTER_FRACTION = (0.8, 0.9)


class CentralCrop(nn.Module):
    """Crop the central ``height`` × ``width`` fraction of an image, whatever its size.

    Args:
        height: kept fraction of the height.
        width: kept fraction of the width.
    """

    def __init__(self, height: float, width: float) -> None:
        super().__init__()
        self.height = height
        self.width = width

    def forward(self, image: Any) -> Any:
        h, w = TF.get_size(image)
        return TF.center_crop(image, [max(1, round(h * self.height)), max(1, round(w * self.width))])


class LowResolution(nn.Module):
    """With probability ``p``, shrink an image so its shorter side is ``low``–``high`` px, then enlarge it back.

    Mimics a face a few dozen pixels wide in a crowd photo, upscaled to the model's input.
    """

    def __init__(self, low: int = 12, high: int = 64, p: float = 0.5) -> None:
        super().__init__()
        self.low, self.high, self.p = low, high, p

    def forward(self, image: Tensor) -> Tensor:
        if float(torch.rand(())) >= self.p:
            return image
        h, w = TF.get_size(image)
        side = int(torch.randint(self.low, self.high + 1, ()))
        if side >= min(h, w):
            return image
        scale = side / min(h, w)
        small = TF.resize(image, [max(1, round(h * scale)), max(1, round(w * scale))], antialias=True)
        return TF.resize(small, [h, w], interpolation=v2.InterpolationMode.BILINEAR, antialias=True)


def _interpolation(preprocess: Any) -> v2.InterpolationMode:
    try:
        return v2.InterpolationMode(preprocess.interpolation)
    except ValueError:
        raise ValueError(f"unknown interpolation {preprocess.interpolation!r} (expected bicubic or bilinear)") from None


def _resize(preprocess: Any) -> v2.Transform:
    return v2.Resize(list(preprocess.size), interpolation=_interpolation(preprocess), antialias=True)


def _normalise(preprocess: Any) -> list[Callable]:
    return [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(preprocess.mean), list(preprocess.std))]


def _base(preprocess: Any) -> list[Callable]:
    crop = v2.RandomResizedCrop(
        list(preprocess.size), scale=(0.8, 1.0), ratio=(0.9, 1.1), interpolation=_interpolation(preprocess)
    )
    return [v2.ToImage(), crop, v2.RandomHorizontalFlip()]


def _preset_none(preprocess: Any) -> list[Callable]:
    return [v2.ToImage(), _resize(preprocess), *_normalise(preprocess)]


def _preset_base(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), *_normalise(preprocess)]


def _preset_center_brightness(preprocess: Any) -> list[Callable]:
    return [
        v2.ToImage(),
        CentralCrop(*CENTER_FRACTION),
        _resize(preprocess),
        v2.ColorJitter(brightness=0.2),
        v2.RandomHorizontalFlip(),
        *_normalise(preprocess),
    ]


def _preset_color_jitter(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), v2.ColorJitter(0.3, 0.3, 0.3, 0.05), *_normalise(preprocess)]


def _preset_random_erasing(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), *_normalise(preprocess), v2.RandomErasing(p=0.25)]


def _preset_randaugment(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), v2.RandAugment(num_ops=2, magnitude=9), *_normalise(preprocess)]


def _preset_autoaugment(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), v2.AutoAugment(v2.AutoAugmentPolicy.IMAGENET), *_normalise(preprocess)]


def _preset_trivialaugment(preprocess: Any) -> list[Callable]:
    return [*_base(preprocess), v2.TrivialAugmentWide(), *_normalise(preprocess)]


def _preset_wild(preprocess: Any) -> list[Callable]:
    crop = v2.RandomResizedCrop(
        list(preprocess.size), scale=(0.6, 1.0), ratio=(0.8, 1.25), interpolation=_interpolation(preprocess)
    )
    return [
        v2.ToImage(),
        crop,
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.RandomRotation(15)], p=0.5),
        v2.ColorJitter(0.4, 0.4, 0.4),  # no hue: its HSV round trip costs more than the rest together
        v2.RandomGrayscale(0.05),
        LowResolution(12, 64, p=0.5),
        v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 1.5))], p=0.2),
        v2.RandomApply([v2.JPEG((30, 90))], p=0.3),
        *_normalise(preprocess),
    ]


PRESETS: dict[str, Callable[[Any], list[Callable]]] = {
    "none": _preset_none,
    "base": _preset_base,
    "center_brightness": _preset_center_brightness,
    "color_jitter": _preset_color_jitter,
    "random_erasing": _preset_random_erasing,
    "randaugment": _preset_randaugment,
    "autoaugment": _preset_autoaugment,
    "trivialaugment": _preset_trivialaugment,
    "wild": _preset_wild,
}


def build_transforms(preset: str, preprocess: Any, train: bool) -> v2.Compose:
    """The train or validation transform of a preset; every call builds a new object.

    Args:
        preset: one of :data:`PRESETS` (ignored when ``train`` is false).
        preprocess: an object with ``size`` ``(h, w)``, ``mean``, ``std`` and ``interpolation``.
        train: the augmenting train transform, or the deterministic validation one.

    Raises:
        ValueError: on an unknown preset or interpolation.
    """
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r} (known: {', '.join(PRESETS)})")
    stages = PRESETS[preset if train else "none"](preprocess)
    return v2.Compose([*stages, v2.ToPureTensor()])


def _randint(high: int, generator: torch.Generator | None) -> int:
    return int(torch.randint(high, (1,), generator=generator))


def _beta(alpha: float, generator: torch.Generator | None) -> float:
    """One draw of Beta(alpha, alpha), reproducible from the torch generator (or torch's global seed)."""
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return float(np.random.default_rng(seed).beta(alpha, alpha))


def _mix_targets(targets: dict[str, Tensor], perm: Tensor, own: float) -> dict[str, Tensor]:
    """``own * t + (1 - own) * t[perm]`` for every task."""
    return {name: own * t + (1.0 - own) * t[perm.to(t.device)] for name, t in targets.items()}


def _box(h: int, w: int, lam: float, generator: torch.Generator | None) -> tuple[int, int, int, int]:
    """A box of area ~``1 - lam`` around a uniform random centre, clipped to the image: ``(y1, y2, x1, x2)``."""
    cut = math.sqrt(1.0 - lam)
    half_h, half_w = int(h * cut) // 2, int(w * cut) // 2
    cy, cx = _randint(h, generator), _randint(w, generator)
    return max(cy - half_h, 0), min(cy + half_h, h), max(cx - half_w, 0), min(cx + half_w, w)


def _strip(h: int, w: int, lam: float, generator: torch.Generator | None) -> tuple[int, int, int, int]:
    """A full-height strip of width ``round((1 - lam) * w)`` at the left or right edge: ``(y1, y2, x1, x2)``."""
    width = round((1.0 - lam) * w)
    if _randint(2, generator):
        return 0, h, w - width, w
    return 0, h, 0, width


def cutmix(
    images: Tensor,
    targets: dict[str, Tensor],
    alpha: float = 1.0,
    vertical: bool = False,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """CutMix: paste a region of a partner image (a permutation of the batch) into every image.

    ``lam ~ Beta(alpha, alpha)`` sets the region's intended area ``1 - lam``; the targets of every task are
    mixed by the area actually pasted after clipping to the image, ``own * (1 - a) + partner * a``.

    Args:
        images: batch ``[N, 3, H, W]`` (left unchanged; a mixed copy is returned).
        targets: soft targets ``[N, C_task]`` by task name.
        alpha: Beta concentration.
        vertical: paste a full-height strip at the left or right edge instead of a box.
        generator: CPU generator for reproducible draws.

    Returns:
        The mixed images and mixed targets.
    """
    n, _, h, w = images.shape
    perm = torch.randperm(n, generator=generator)
    lam = _beta(alpha, generator)
    y1, y2, x1, x2 = (_strip if vertical else _box)(h, w, lam, generator)
    mixed = images.clone()
    mixed[:, :, y1:y2, x1:x2] = images[perm.to(images.device), :, y1:y2, x1:x2]
    pasted = (y2 - y1) * (x2 - x1) / (h * w)
    return mixed, _mix_targets(targets, perm, 1.0 - pasted)


def mixup(
    images: Tensor,
    targets: dict[str, Tensor],
    alpha: float = 0.2,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """MixUp: ``lam * x + (1 - lam) * x[perm]`` for images and every task's soft targets, ``lam ~ Beta(alpha, alpha)``.

    Args:
        images: batch ``[N, 3, H, W]``.
        targets: soft targets ``[N, C_task]`` by task name.
        alpha: Beta concentration.
        generator: CPU generator for reproducible draws.

    Returns:
        The mixed images and mixed targets.
    """
    perm = torch.randperm(images.shape[0], generator=generator)
    lam = _beta(alpha, generator)
    mixed = lam * images + (1.0 - lam) * images[perm.to(images.device)]
    return mixed, _mix_targets(targets, perm, lam)


@dataclass(frozen=True)
class BatchMixer:
    """Apply at most one of CutMix and MixUp to a batch, with the given probabilities.

    Attributes:
        cutmix_prob: probability of CutMix per batch.
        cutmix_alpha: Beta concentration of CutMix.
        cutmix_vertical: CutMix pastes a left/right strip instead of a box.
        mixup_prob: probability of MixUp per batch.
        mixup_alpha: Beta concentration of MixUp.

    Raises:
        ValueError: if a probability is outside [0, 1] or the two sum to more than 1.
    """

    cutmix_prob: float = 0.0
    cutmix_alpha: float = 1.0
    cutmix_vertical: bool = False
    mixup_prob: float = 0.0
    mixup_alpha: float = 0.2

    def __post_init__(self) -> None:
        for name in ("cutmix_prob", "mixup_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.cutmix_prob + self.mixup_prob > 1.0:
            raise ValueError("cutmix and mixup probabilities must sum to at most 1 (one of them per batch)")

    @classmethod
    def from_config(cls, aug: AugConfig) -> BatchMixer:
        """The mixer of an augmentation config (``cutmix``, ``cutmix_alpha``, ``cutmix_vertical``, ``mixup``…)."""
        return cls(aug.cutmix, aug.cutmix_alpha, aug.cutmix_vertical, aug.mixup, aug.mixup_alpha)

    @property
    def enabled(self) -> bool:
        """Whether any batch can be mixed (so targets need to be soft)."""
        return self.cutmix_prob > 0 or self.mixup_prob > 0

    def __call__(
        self, images: Tensor, targets: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Mix the batch with CutMix, MixUp or neither; unmixed inputs are returned as they are."""
        draw = float(torch.rand((), generator=generator))
        if draw < self.cutmix_prob:
            return cutmix(images, targets, self.cutmix_alpha, self.cutmix_vertical, generator)
        if draw < self.cutmix_prob + self.mixup_prob:
            return mixup(images, targets, self.mixup_alpha, generator)
        return images, targets
