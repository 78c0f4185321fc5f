"""Re-framing: a tight face chip set into a larger frame, as a portrait or an aligned FFHQ-style crop shows a face.

UTKFace chips are tight (the detector's box covers most of the chip), so a model that predicts whole photos sees
faces at one framing only. :func:`reframe` puts the chip into a frame in which the face's box is 30–60 % of the
width (square, or a 4:5 portrait), fills the rest with the chip's own border extended, that border blurred, or
another backdrop (a lit gradient with soft shapes), then downscales the frame and recompresses it as a JPEG.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import numpy as np

BACKDROPS = ("extend", "blur", "backdrop")
FACE_SHARE = (0.30, 0.60)
JPEG_QUALITY = (35, 90)
LONG_SIDE = (128, 384)


@dataclass(frozen=True)
class Framing:
    """How one chip is re-framed (drawn by :func:`draw_framing` from a person's seed, so the same person's
    unmasked and masked photos share it)."""

    face_share: float
    portrait: bool
    backdrop: str
    dx: float
    dy: float
    scale: float
    quality: int
    seed: int


def draw_framing(rng: np.random.Generator) -> Framing:
    """A random framing: face share, frame shape, backdrop, offsets, downscale and JPEG quality."""
    return Framing(face_share=float(rng.uniform(*FACE_SHARE)), portrait=bool(rng.random() < 0.5),
                   backdrop=BACKDROPS[int(rng.integers(len(BACKDROPS)))], dx=float(rng.uniform(-0.06, 0.06)),
                   dy=float(rng.uniform(-0.05, 0.05)), scale=float(rng.uniform(0.55, 1.0)),
                   quality=int(rng.integers(*JPEG_QUALITY)), seed=int(rng.integers(2**31)))


def _backdrop(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """Another backdrop: a two-colour gradient lit from one side, with soft out-of-focus shapes and grain."""
    a, b = rng.uniform(20, 235, 3), rng.uniform(20, 235, 3)
    angle = rng.uniform(0, np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    t = (x * np.cos(angle) + y * np.sin(angle)) / max(height, width)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    out = a[None, None] * (1 - t[..., None]) + b[None, None] * t[..., None]
    for _ in range(int(rng.integers(3, 9))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        radius = rng.uniform(0.08, 0.3) * max(height, width)
        blob = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2)))
        out += (rng.uniform(-70, 70, 3)[None, None] * blob[..., None])
    out += rng.normal(0, 3.0, out.shape)
    return np.clip(out, 0, 255).astype(np.float32)


def reframe(chip: np.ndarray, face_box: tuple[float, float, float, float], framing: Framing,
            surround: np.ndarray | None = None) -> tuple[bytes, tuple]:
    """The chip in a larger frame, as JPEG bytes, and the face's box in the re-framed photo.

    Args:
        chip: RGB uint8 ``[H, W, 3]`` (a tight face photo).
        face_box: the detector's face box in the chip, ``(x0, y0, x1, y1)``.
        framing: from :func:`draw_framing`.
        surround: the chip the border is extended or blurred from (default ``chip``): the unmasked chip for a
            masked one, so a mask is never smeared into the backdrop and both photos share their surround.

    Returns:
        ``(jpeg bytes, (x0, y0, x1, y1) of the face in the result)``.
    """
    from PIL import Image

    rng = np.random.default_rng(framing.seed)
    chip_h, chip_w = chip.shape[:2]
    x0, y0, x1, y1 = face_box
    face_w = max(1.0, x1 - x0)
    width = int(round(max(face_w / framing.face_share, chip_w)))
    height = int(round(width * (1.25 if framing.portrait else 1.0)))
    height = max(height, chip_h)
    # The face's centre a little above the middle, as portraits frame it.
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left = int(round(width * (0.5 + framing.dx) - cx))
    top = int(round(height * (0.45 + framing.dy) - cy))
    left = min(max(left, 0), width - chip_w)
    top = min(max(top, 0), height - chip_h)
    pads = (top, height - chip_h - top, left, width - chip_w - left)
    surround = chip if surround is None else surround
    if framing.backdrop == "extend":
        base = cv2.copyMakeBorder(surround, *pads, cv2.BORDER_REPLICATE).astype(np.float32)
        base = cv2.GaussianBlur(base, (0, 0), max(1.0, 0.015 * width))
    elif framing.backdrop == "blur":
        base = cv2.copyMakeBorder(surround, *pads, cv2.BORDER_REFLECT_101).astype(np.float32)
        base = cv2.GaussianBlur(base, (0, 0), max(3.0, 0.1 * width))
    else:
        base = _backdrop(height, width, rng)
    # The chip's edge fades into what surrounds it over 6 % of its side.
    inside = np.zeros((height, width), dtype=np.uint8)
    inside[top:top + chip_h, left:left + chip_w] = 1
    distance = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    alpha = np.clip(distance / max(2.0, 0.06 * min(chip_h, chip_w)), 0, 1)[..., None]
    placed = base.copy()
    placed[top:top + chip_h, left:left + chip_w] = chip
    frame = placed * alpha + base * (1 - alpha)
    frame_u8 = np.clip(np.round(frame), 0, 255).astype(np.uint8)
    long_side = max(width, height) * framing.scale
    factor = min(1.0, max(LONG_SIDE[0], min(LONG_SIDE[1], long_side)) / max(width, height))
    out_w, out_h = max(1, int(round(width * factor))), max(1, int(round(height * factor)))
    image = Image.fromarray(frame_u8)
    if (out_w, out_h) != (width, height):
        image = image.resize((out_w, out_h), Image.Resampling.LANCZOS, reducing_gap=2.0)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=framing.quality)
    sx, sy = out_w / width, out_h / height
    box = ((x0 + left) * sx, (y0 + top) * sy, (x1 + left) * sx, (y1 + top) * sy)
    return buffer.getvalue(), tuple(round(v, 1) for v in box)
