"""A plain occluder painted over the lower face of photos of a worn mask (``aug.occlude_worn``), so that gender and
age are read from what any mask leaves visible rather than from how one synthesizer draws masks.

On the public set's validation people a run reads gender from a synthesized mask almost as well as from the bare
face (`general`, 2026-12-07: F1 0.926 on ``mask1..5`` against 0.939 on ``normal``), yet on the same kind of faces
masked by the evaluation-only renderer of the out-of-distribution suite it drops to 0.88 (0.94 unmasked). Our
reading, which this augmentation tests: the run leans on what the training masks leave visible. The occluder here is
deliberately not a mask drawing: a random trapezoid from below the eyes to past the chin, side to side, in a flat
colour with optional noise, stripes and shading. Its geometry is placed by the face cut the run makes
(``input.crop=face`` framed by the landmark square, see :func:`maskcls.faces.detect.landmark_square`), where the
eyes, nose and mouth sit at measured heights (medians on 133 masked public-set photos: eyes 0.27, nose 0.48, mouth
0.69 of the square at margin 0).

Measured on `general` (README, Training): real crowd faces of 32 px or more 0.765 -> 0.920 in mask F1, masked faces'
gender 0.875 -> 0.889, but the evaluation renderer's masks 0.950 -> 0.932 and realmask's not-worn photos 0.952 ->
0.938. With the made-up surround (:mod:`maskcls.vision.surround`) in both runs of a pair neither loss came back
(`runs/general-surr` against `runs/general-so`: the masks 0.953 and 0.953, realmask not worn 0.938 and 0.946) and
the crowd gain stayed (0.848 -> 0.908), so `general` trains with both; elsewhere it is off by default.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

#: Where the occluder's top edge may lie, as a share of the landmark square's height at margin 0: from just under
#: the eyes (0.27) to above the nose tip (0.48 under a mask, 0.54 bare), so that the nose is always hidden (the
#: photo is labelled worn) and the synthesized mask's top edge mostly too. A first range of (0.34, 0.46) with a
#: sag of up to 0.04 left the tip in view on some photos: on the suite the model then called 0.750 of the
#: masks worn under the nose correctly instead of 0.844.
TOP = (0.32, 0.42)
#: How far in from the square's sides its top corners may lie, and its bottom corners (a mask narrows to the chin).
SIDE_TOP = (0.0, 0.12)
SIDE_BOTTOM = (0.12, 0.30)


class LowerFaceOcclusion:
    """Paints the occluder, with probability ``p``, on a uint8 face cut ``[3, H, W]`` (in place on a copy).

    Draws come from torch's global generator (the same seed paints the same occluder; the DataLoader seeds that
    generator in each worker).

    Args:
        p: probability per photo.
        margin: the run's ``input.face_margin`` (the cut is the landmark square grown by it on each side).
    """

    def __init__(self, p: float, margin: float = 0.0) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"occlusion probability must be in [0, 1], got {p}")
        if margin < 0:
            raise ValueError(f"face margin must be >= 0, got {margin}")
        self.p, self.margin = float(p), float(margin)
        self._grids: dict[tuple[int, int], tuple[Tensor, Tensor]] = {}

    def __call__(self, image: Tensor) -> Tensor:
        if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"expected a uint8 image [3, H, W], got {image.dtype} {tuple(image.shape)}")
        if self.p == 0 or torch.rand(()).item() >= self.p:
            return image
        _, height, width = image.shape
        region = self._region(height, width)
        paint = self._paint(height, width)
        out = image.clone()
        out[:, region] = paint[:, region]
        return out

    def _uniform(self, low: float, high: float) -> float:
        return low + (high - low) * torch.rand(()).item()

    def _region(self, height: int, width: int) -> Tensor:
        """The occluder's pixels, a bool ``[H, W]``: a trapezoid whose top edge tilts a little and sags or bulges."""
        top_left, top_right = (self._uniform(*TOP) for _ in range(2))
        in_left, in_right = (self._uniform(*SIDE_TOP) for _ in range(2))
        low_left, low_right = (self._uniform(*SIDE_BOTTOM) for _ in range(2))
        bottom = self._uniform(0.95, 1.05)
        curve = self._uniform(-0.03, 0.02)  # > 0: the top edge sags in the middle, < 0: it rises over the nose
        u, v = self._grid(height, width)
        top = top_left + (top_right - top_left) * v + curve * (1 - (2 * v - 1) ** 2)
        depth = ((u - top) / max(bottom - top_left, 1e-3)).clamp(0, 1)  # 0 at the top edge, 1 at the bottom
        left = in_left + (low_left - in_left) * depth
        right = 1 - (in_right + (low_right - in_right) * depth)
        return (u >= top) & (u <= bottom) & (v >= left) & (v <= right)

    def _grid(self, height: int, width: int) -> tuple[Tensor, Tensor]:
        """Each pixel's height and width positions in the margin-0 square's coordinates (so the placement holds at
        any margin), made once per size."""
        grid = self._grids.get((height, width))
        if grid is None:
            ys = (torch.arange(height, dtype=torch.float32) + 0.5) / height
            xs = (torch.arange(width, dtype=torch.float32) + 0.5) / width
            y, x = torch.meshgrid(ys, xs, indexing="ij")
            grid = self._grids[(height, width)] = (y * (1 + 2 * self.margin) - self.margin,
                                                    x * (1 + 2 * self.margin) - self.margin)
        return grid

    def _paint(self, height: int, width: int) -> Tensor:
        """A flat colour with, at random, pixel noise, horizontal stripes and side-to-side shading, uint8 ``[3, H, W]``."""
        colour = torch.rand(3, 1, 1) * 255
        if torch.rand(()).item() < 0.5:  # half of them nearly grey: white, black and pale medical shades
            colour = colour.mean() + (colour - colour.mean()) * 0.2
        paint = colour.expand(3, height, width).clone()
        if torch.rand(()).item() < 0.5:
            paint += torch.randn(1 if torch.rand(()).item() < 0.5 else 3, height, width) * self._uniform(3, 25)
        if torch.rand(()).item() < 0.3:
            period = self._uniform(0.08, 0.25) * height
            rows = torch.arange(height, dtype=torch.float32).view(1, height, 1)
            paint += torch.sin(rows * (2 * torch.pi / period)) * self._uniform(8, 35)
        columns = (torch.arange(width, dtype=torch.float32) + 0.5) / width
        shade = 1 - self._uniform(0.0, 0.6) * (2 * columns - 1) ** 2  # darker towards the cheeks
        paint *= shade.view(1, 1, width)
        return paint.clamp_(0, 255).to(torch.uint8)


def worn_rows(mask_targets: np.ndarray) -> np.ndarray:
    """Which targets are a worn mask (the only photos the occluder is painted on)."""
    from maskcls.labels import Mask

    return np.asarray(mask_targets) == int(Mask.WEAR)
