"""The ``wild`` augmentation applied to whole uint8 batches in the training process (``aug.batched=true``).

The per-photo ``wild`` transform (:mod:`maskcls.vision.transforms`) runs in DataLoader workers, one photo at a
time; on a 2-core CPU its worker takes most of a core from the model. Here the same kinds of change are drawn
per photo but applied to the collated batch with a few vectorised tensor operations:

* one affine warp (``grid_sample``, bilinear) for the loose crop (area 0.6–1, aspect 0.8–1.25), the horizontal
  flip and the rotation (±15°, half the time; corners filled black as ``RandomRotation`` does);
* brightness, contrast and saturation jitter (0.4 each) and grayscale (5 %) as per-photo blends;
* the faults of small far-away faces: a downscale to 12–64 px and back (half the time), Gaussian blur
  (kernel 5, sigma 0.1–1.5, 20 %) as one grouped convolution, and JPEG at quality 30–90 (30 %).

The draws come from torch's global generator, which the run seeds every epoch, so a run stays reproducible.
Differences from the per-photo transform: the crop resamples bilinearly (not bicubic) and the colour jitter
applies in a fixed order (brightness, contrast, saturation) rather than a random one.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_GRAY = (0.299, 0.587, 0.114)


class BatchWild(nn.Module):
    """``wild`` on a uint8 batch ``[N, 3, H, W]``; returns the normalised float batch at the model's input size.

    Args:
        preprocess: an object with ``size`` ``(h, w)``, ``mean`` and ``std`` (the backbone's preprocessing).
    """

    def __init__(self, preprocess: Any) -> None:
        super().__init__()
        self.size = tuple(int(v) for v in preprocess.size)
        self.register_buffer("mean", torch.tensor(preprocess.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocess.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("gray", torch.tensor(_GRAY, dtype=torch.float32).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, batch: Tensor) -> Tensor:
        if batch.dtype != torch.uint8 or batch.dim() != 4 or batch.shape[1] != 3:
            raise ValueError(f"expected a uint8 batch [N, 3, H, W], got {batch.dtype} {tuple(batch.shape)}")
        images = batch.float().div_(255.0)
        images = self._geometry(images)
        images = self._colour(images)
        images = self._low_resolution(images)
        images = self._blur(images)
        images = self._jpeg(images)
        return (images - self.mean.to(images.device)) / self.std.to(images.device)

    def _geometry(self, images: Tensor) -> Tensor:
        n, h, w = images.shape[0], *self.size
        area = torch.empty(n).uniform_(0.6, 1.0)
        ratio = torch.exp(torch.empty(n).uniform_(math.log(0.8), math.log(1.25)))
        half_w = torch.sqrt(area * ratio).clamp(max=1.0)  # crop size as a share of the photo's width / height
        half_h = torch.sqrt(area / ratio).clamp(max=1.0)
        centre_x = (torch.rand(n) * 2 - 1) * (1 - half_w)
        centre_y = (torch.rand(n) * 2 - 1) * (1 - half_h)
        flip = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
        angle = torch.where(torch.rand(n) < 0.5, torch.empty(n).uniform_(-15.0, 15.0), torch.zeros(n))
        cos, sin = torch.cos(torch.deg2rad(angle)), torch.sin(torch.deg2rad(angle))
        theta = torch.stack([torch.stack([half_w * flip * cos, -half_h * sin, centre_x], 1),
                             torch.stack([half_w * flip * sin, half_h * cos, centre_y], 1)], 1)
        grid = F.affine_grid(theta.to(images), [n, 3, h, w], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def _colour(self, images: Tensor) -> Tensor:
        n = images.shape[0]

        def factors() -> Tensor:
            return torch.empty(n, 1, 1, 1).uniform_(0.6, 1.4).to(images)

        gray = self.gray.to(images)
        images = (images * factors()).clamp_(0, 1)
        mean = (images * gray).sum(1, keepdim=True).mean((2, 3), keepdim=True)
        images = ((images - mean) * factors() + mean).clamp_(0, 1)
        luma = (images * gray).sum(1, keepdim=True)
        images = ((images - luma) * factors() + luma).clamp_(0, 1)
        to_gray = (torch.rand(n) < 0.05).to(images).view(n, 1, 1, 1)
        luma = (images * gray).sum(1, keepdim=True)
        return images * (1 - to_gray) + luma * to_gray

    def _low_resolution(self, images: Tensor) -> Tensor:
        n, _, h, w = images.shape
        chosen = torch.nonzero(torch.rand(n) < 0.5).flatten().tolist()
        sides = torch.randint(12, 65, (n,)).tolist()
        out = images.clone() if chosen else images
        for i in chosen:
            if sides[i] >= min(h, w):
                continue
            scale = sides[i] / min(h, w)
            small = F.interpolate(images[i:i + 1], size=(max(1, round(h * scale)), max(1, round(w * scale))),
                                  mode="bilinear", antialias=True, align_corners=False)
            out[i:i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        return out

    def _blur(self, images: Tensor) -> Tensor:
        n, c, h, w = images.shape
        chosen = torch.nonzero(torch.rand(n) < 0.2).flatten()
        if not len(chosen):
            return images
        sigma = torch.empty(len(chosen)).uniform_(0.1, 1.5)
        offsets = torch.arange(5, dtype=torch.float32) - 2
        kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
        kernel = kernel / kernel.sum(1, keepdim=True)
        weight = (kernel[:, :, None] * kernel[:, None, :]).repeat_interleave(c, 0)[:, None].to(images)
        part = images[chosen].reshape(1, len(chosen) * c, h, w)
        blurred = F.conv2d(F.pad(part, (2, 2, 2, 2), mode="reflect"), weight, groups=len(chosen) * c)
        out = images.clone()
        out[chosen] = blurred.reshape(len(chosen), c, h, w)
        return out

    def _jpeg(self, images: Tensor) -> Tensor:
        import cv2
        import numpy as np

        n = images.shape[0]
        chosen = torch.nonzero(torch.rand(n) < 0.3).flatten().tolist()
        qualities = torch.randint(30, 91, (n,)).tolist()
        if not chosen:
            return images
        out = images.clone()
        pixels = images[chosen].mul(255).round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        for row, i in enumerate(chosen):
            bgr = np.ascontiguousarray(pixels[row][..., ::-1])
            ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(qualities[i])])
            if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
                continue
            decoded = cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1]
            out[i] = torch.from_numpy(np.ascontiguousarray(decoded)).permute(2, 0, 1).to(images).div_(255.0)
        return out
