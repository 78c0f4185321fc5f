"""A made-up surround for training face cuts (``aug.surround``): the cut, shrunk, set into a square of its own size
whose rest is filled with something the photo never held, so gender and age stop depending on what lies past the
edge of a tight photo.

Why: UTKFace chips are tight, so the landmark square a run cuts (:func:`maskcls.faces.detect.landmark_square`) is
about 0.96 of a chip's side and is shifted to stay inside it; every training cut is the chip's own content. A
face in a larger photo is cut around the same square without that shift, so its cut can hold the photo's edge, a
border or another backdrop. Measured on the out-of-distribution suite's re-framed UTKFace people, paired with the
same 1,000 people as they are (`general-160-ema`, 2026-12-07): where the chip's border is extended, gender / age F1
fall by 0.008 / 0.013; where it is mirrored and blurred, by 0.030 / 0.025; on another backdrop by 0.018 / 0.049.
The surround here is deliberately generic (the cut's own edge mirrored and blurred at a random strength, a smooth
random colour field, or a flat colour, with grain) and the seam is feathered by a random width, so the model learns
that a seam and what lies past it say nothing, not what one backdrop looks like.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

#: How much larger than the shrunk cut the square is, per side (1: not shrunk). The re-framed suite's cuts hold
#: the chip in 0.8-1 of their side; a wider range costs resolution on every shrunk photo.
SCALE = (1.05, 1.3)
#: The seam's feathering, as a share of the shrunk cut's shorter side.
FEATHER = (0.0, 0.08)
FILLS = ("mirror", "field", "flat")


class SurroundJitter:
    """Sets a uint8 face cut ``[3, H, W]``, with probability ``p``, shrunk into a made-up surround of the same size.

    Draws come from torch's global generator (the same seed gives the same surround; the DataLoader seeds that
    generator in each worker).

    Args:
        p: probability per photo.
    """

    def __init__(self, p: float) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"surround probability must be in [0, 1], got {p}")
        self.p = float(p)

    def __call__(self, image: Tensor) -> Tensor:
        if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a uint8 image [3, H, W], got {image.dtype} {tuple(image.shape)}")
        if self.p == 0 or torch.rand(()).item() >= self.p:
            return image
        return self.apply(image)[0]

    def apply(self, image: Tensor) -> tuple[Tensor, tuple[int, int, int, int]]:
        """The photo set into a surround, always, and where its shrunk cut lies: ``(top, left, height, width)``."""
        _, height, width = image.shape
        scale = self._uniform(*SCALE)
        inner_h, inner_w = max(1, round(height / scale)), max(1, round(width / scale))
        top = int(torch.randint(height - inner_h + 1, ()).item())
        left = int(torch.randint(width - inner_w + 1, ()).item())
        cut = F.interpolate(image.float()[None], size=(inner_h, inner_w), mode="bilinear", antialias=True,
                            align_corners=False)[0]
        pads = (left, width - inner_w - left, top, height - inner_h - top)
        base = self._fill(cut, pads, height, width)
        alpha = self._alpha(height, width, top, left, inner_h, inner_w)
        out = base * (1 - alpha) + F.pad(cut, pads) * alpha
        return out.round_().clamp_(0, 255).to(torch.uint8), (top, left, inner_h, inner_w)

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand(()).item()

    def _fill(self, cut: Tensor, pads: tuple[int, int, int, int], height: int, width: int) -> Tensor:
        """The surround, float ``[3, H, W]`` in 0-255."""
        kind = FILLS[int(torch.randint(len(FILLS), ()).item())]
        if kind == "mirror":
            # Each pad is under the shrunk cut's side (at most 0.23 of the square against at least 0.77), as
            # reflection needs.
            mirrored = F.pad(cut[None], pads, mode="reflect")
            base = _blur(mirrored, self._uniform(0.02, 0.15) * max(height, width))[0]
        elif kind == "field":
            cells = int(torch.randint(2, 6, ()).item())
            colours = torch.rand(3, 1, 1) * 255 + (torch.rand(1, 3, cells, cells) - 0.5) * self._uniform(40, 160)
            base = F.interpolate(colours, size=(height, width), mode="bicubic", align_corners=False)[0]
        else:
            base = (torch.rand(3, 1, 1) * 255).expand(3, height, width).clone()
        return base + torch.randn(1, height, width) * self._uniform(0.0, 6.0)

    def _alpha(self, height: int, width: int, top: int, left: int, inner_h: int, inner_w: int) -> Tensor:
        """1 inside the cut, 0 outside, rising over a random feathering inside its edge, ``[1, H, W]``."""
        feather = self._uniform(*FEATHER) * min(inner_h, inner_w)
        ys = torch.arange(height, dtype=torch.float32).view(height, 1)
        xs = torch.arange(width, dtype=torch.float32).view(1, width)
        inside = torch.minimum(torch.minimum(ys - top, top + inner_h - 1 - ys),
                               torch.minimum(xs - left, left + inner_w - 1 - xs)) + 1
        if feather < 1:
            return (inside > 0).float()[None]
        return (inside / feather).clamp(0, 1)[None]


def _blur(batch: Tensor, sigma: float) -> Tensor:
    """A Gaussian blur of ``sigma`` pixels, computed on a copy reduced so the kernel stays short."""
    height, width = batch.shape[-2:]
    factor = max(1, int(sigma // 2))
    small = F.interpolate(batch, size=(max(1, height // factor), max(1, width // factor)), mode="area")
    s = max(sigma / factor, 0.5)
    small = TF.gaussian_blur(small, [2 * max(1, int(3 * s)) + 1] * 2, [s, s])
    return F.interpolate(small, size=(height, width), mode="bilinear", align_corners=False)
