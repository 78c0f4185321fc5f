"""A second, independent mask renderer, used only by the evaluation suite (never by training).

The training masks (:mod:`maskcls.faces.masks`) are sheets laid on a 3-D cylinder face model and warped piecewise.
This renderer works the other way round, so a model that learnt the training synthesizer's look cannot pass it by
recognising that look:

- a mask is a flat *template* drawn in the canonical 5-point frame of aligned faces (the 112 × 112 ArcFace
  landmarks), an outline per kind (:data:`KINDS`: pleated, cup, contoured cloth) and placement
  (:data:`PLACEMENTS`: worn over the nose, under the nose, on the chin), with its own colours and prints;
- the template is shaded in its own frame (curvature falloff, pleats or a seam, a bound edge), then mapped onto the
  photo by ONE projective transform fitted to the detector's five landmarks (least squares; an affine fit where the
  projective one is unstable);
- it takes the photo's low-frequency light, a feathered edge and a little grain, and ear loops that stay below the
  eyes.

Every pixel it changes lies in the lower face: below the eye line, within the face's width plus its ear loops.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Where a mask sits: ``worn`` (over the nose), ``under_nose`` and ``chin`` (both worn incorrectly).
PLACEMENTS = ("worn", "under_nose", "chin")
#: The mask state of each placement (0 worn, 1 incorrect), as :class:`maskcls.labels.Mask` numbers them.
PLACEMENT_STATE = {"worn": 0, "under_nose": 1, "chin": 1}
KINDS = ("pleated", "cup", "cloth")
PRINTS = ("solid", "stripes", "dots", "check", "camo")

#: The five landmarks of an aligned 112 × 112 face (image-left eye, image-right eye, nose, mouth corners).
TEMPLATE_POINTS = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                            [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)
EYE_LINE = 51.7
#: The template canvas: origin (template units) and pixels per unit.
_ORIGIN = np.array([-8.0, 44.0], dtype=np.float32)
_EXTENT = np.array([128.0, 92.0], dtype=np.float32)
_SCALE = 3.0
#: Outline per placement (template units): top y, bottom y, top half-width, bottom half-width.
_GEOMETRY = {"worn": (59.0, 117.0, 42.0, 22.0), "under_nose": (79.0, 119.0, 40.0, 21.0),
             "chin": (99.0, 123.0, 31.0, 19.0)}
_COLOURS = ((120, 170, 215), (235, 238, 240), (30, 30, 34), (215, 160, 175), (110, 150, 120),
            (60, 75, 120), (200, 190, 160), (150, 40, 50))


def _canvas(points: np.ndarray) -> np.ndarray:
    return (np.asarray(points, dtype=np.float32) - _ORIGIN) * _SCALE


def _outline(kind: str, placement: str, rng: np.random.Generator) -> np.ndarray:
    """The mask's closed outline in template units."""
    top, bottom, top_half, bottom_half = _GEOMETRY[placement]
    top += rng.uniform(-1.5, 1.5)
    bottom += rng.uniform(-2.0, 2.0)
    top_half *= rng.uniform(0.94, 1.06)
    bottom_half *= rng.uniform(0.9, 1.1)
    centre = 56.0
    rise = {"pleated": 2.0, "cup": 6.0, "cloth": 4.0}[kind] if placement == "worn" else 1.0
    drop = {"pleated": 3.0, "cup": 8.0, "cloth": 6.0}[kind]
    bulge = {"pleated": 2.0, "cup": 4.0, "cloth": 5.0}[kind]
    t = np.linspace(0.0, 1.0, 40)
    top_edge = np.stack([centre - top_half + 2 * top_half * t,
                         top - rise * (np.sin(math.pi * t) ** (3 if kind == "cup" else 1))], axis=1)
    right = np.stack([centre + top_half + (bottom_half - top_half) * t + bulge * np.sin(math.pi * t),
                      top + (bottom - top) * t], axis=1)
    bottom_edge = np.stack([centre + bottom_half - 2 * bottom_half * t, bottom + drop * np.sin(math.pi * t)], axis=1)
    left = np.stack([centre - bottom_half - (top_half - bottom_half) * t - bulge * np.sin(math.pi * (1 - t)),
                     bottom - (bottom - top) * t], axis=1)
    outline = np.concatenate([top_edge, right[1:], bottom_edge[1:], left[1:-1]]).astype(np.float32)
    outline[:, 1] = np.maximum(outline[:, 1], EYE_LINE + 4.0)  # a nose bridge, never the eyes
    return outline


def _print(name: str, size: tuple[int, int], base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An ``[H, W, 3]`` float print of ``base`` colour with a second colour."""
    height, width = size
    other = np.array(_COLOURS[rng.integers(len(_COLOURS))], dtype=np.float32)
    if np.abs(other - base).sum() < 60:
        other = 255.0 - base
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    period = rng.uniform(10, 22) * _SCALE / 3
    if name == "stripes":
        angle = rng.uniform(0, math.pi)
        amount = (np.sin((x * math.cos(angle) + y * math.sin(angle)) * 2 * math.pi / period) > 0.3).astype(np.float32)
    elif name == "dots":
        amount = ((((x % period) - period / 2) ** 2 + ((y % period) - period / 2) ** 2) < (period * 0.22) ** 2)
        amount = amount.astype(np.float32)
    elif name == "check":
        amount = 0.5 * (((x // period) + (y // period)) % 2)
    elif name == "camo":
        noise = cv2.GaussianBlur(rng.normal(size=(height, width)).astype(np.float32), (0, 0), period / 2)
        amount = (noise > np.quantile(noise, 0.55)).astype(np.float32)
    else:
        amount = np.zeros((height, width), dtype=np.float32)
    return base[None, None] * (1 - amount[..., None]) + other[None, None] * amount[..., None]


def _template(kind: str, placement: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shaded template in canvas pixels: ``rgb`` float ``[H, W, 3]``, ``alpha`` ``[H, W]`` in [0, 1], and the
    ear-loop alpha."""
    width, height = (int(v) for v in np.ceil(_EXTENT * _SCALE))
    outline = _outline(kind, placement, rng)
    alpha = np.zeros((height, width), dtype=np.uint8)
    cv2.fillPoly(alpha, [np.round(_canvas(outline) * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    alpha_f = alpha.astype(np.float32) / 255.0
    base = np.array(_COLOURS[rng.integers(len(_COLOURS))], dtype=np.float32)
    base = np.clip(base + rng.normal(0, 6, 3), 0, 255)
    print_name = "solid" if kind != "cloth" else PRINTS[rng.integers(len(PRINTS))]
    rgb = _print(print_name, (height, width), base, rng)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ux, uy = x / _SCALE + _ORIGIN[0], y / _SCALE + _ORIGIN[1]
    top, bottom = float(outline[:, 1].min()), float(outline[:, 1].max())
    half = float(np.abs(outline[:, 0] - 56.0).max())
    rel_y = np.clip((uy - top) / max(bottom - top, 1.0), 0, 1)
    # Curvature: the sides turn away from the light; the lower part is in the chin's shadow.
    shade = 0.68 + 0.32 * np.cos(np.clip(np.abs(ux - 56.0) / half, 0, 1) * math.pi / 2)
    shade *= 1.0 - 0.18 * rel_y ** 2
    if kind == "pleated":
        folds = rng.integers(2, 4)
        for k in range(folds):
            level = top + (bottom - top) * (k + 1) / (folds + 1)
            distance = uy - level
            shade *= 1.0 - 0.22 * np.exp(-((distance - 0.8) / 0.9) ** 2) + 0.08 * np.exp(-((distance + 1.2) / 1.2) ** 2)
    elif kind == "cup":
        shade *= 1.0 - 0.25 * np.exp(-((ux - 56.0) / 0.8) ** 2) * (uy > top + 2)
        shade *= 1.0 + 0.12 * np.exp(-((ux - 56.0 + 6) / 5.0) ** 2)
    edge = cv2.distanceTransform((alpha > 127).astype(np.uint8), cv2.DIST_L2, 3) / _SCALE
    binding = np.exp(-(edge / 1.3) ** 2)
    rgb = rgb * shade[..., None]
    rgb = rgb * (1 - 0.25 * binding[..., None]) + 0.25 * binding[..., None] * (0.7 * base[None, None])
    # Ear loops, from the upper and lower side corners towards the ears, all below the eye line.
    loops = np.zeros((height, width), dtype=np.uint8)
    corners = [outline[0], outline[39], outline[78], outline[117] if len(outline) > 117 else outline[-1]]
    ear_y = max(EYE_LINE + 12.0, min(float(outline[0, 1]) + 4.0, 80.0))
    for corner in corners:
        side = -1.0 if corner[0] < 56 else 1.0
        ear = np.array([56.0 + side * 62.0, ear_y + (6.0 if corner[1] > top + 5 else 0.0)], dtype=np.float32)
        a, b = _canvas(corner[None])[0], _canvas(ear[None])[0]
        cv2.line(loops, tuple(int(v) for v in np.round(a * 4)), tuple(int(v) for v in np.round(b * 4)), 255,
                 thickness=max(1, int(round(0.9 * _SCALE))), lineType=cv2.LINE_AA, shift=2)
    loops_f = loops.astype(np.float32) / 255.0 * (1 - alpha_f)
    return rgb, alpha_f, loops_f


def _transform(landmarks: np.ndarray) -> np.ndarray:
    """The 3 × 3 map from canvas pixels to the photo: projective, or affine where the projective fit is unstable."""
    src = _canvas(TEMPLATE_POINTS)
    dst = np.asarray(landmarks, dtype=np.float32)
    affine, _ = cv2.estimateAffine2D(src, dst, method=cv2.LMEDS)
    if affine is None:
        raise ValueError("landmarks are degenerate: no transform fits them")
    affine = np.vstack([affine, [0.0, 0.0, 1.0]])
    projective, _ = cv2.findHomography(src, dst, 0)
    if projective is None:
        return affine
    corners = np.array([[0, 0], [_EXTENT[0] * _SCALE, 0], [0, _EXTENT[1] * _SCALE], _EXTENT * _SCALE],
                       dtype=np.float32)[:, None]
    a = cv2.perspectiveTransform(corners, affine)[:, 0]
    p = cv2.perspectiveTransform(corners, projective)[:, 0]
    eyes = float(np.linalg.norm(dst[1] - dst[0]))
    w = corners[:, 0] @ projective[2, :2] + projective[2, 2]
    stable = np.all(w > 0) and float(np.abs(p - a).max()) < 0.35 * max(eyes, 1.0)
    return projective if stable else affine


def lower_face_region(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Boolean ``[H, W]``: where :func:`render_eval_mask` may change pixels (the template frame below the eye
    line, mask and loops), for checks and tests."""
    height, width = size
    canvas_w, canvas_h = (int(v) for v in np.ceil(_EXTENT * _SCALE))
    y = np.arange(canvas_h, dtype=np.float32) / _SCALE + _ORIGIN[1]
    frame = np.repeat((y > EYE_LINE + 1.0)[:, None], canvas_w, axis=1).astype(np.uint8) * 255
    warped = cv2.warpPerspective(frame, _transform(landmarks), (width, height), flags=cv2.INTER_LINEAR)
    return warped > 127


def render_eval_mask(image: np.ndarray, landmarks: np.ndarray, placement: str, rng: np.random.Generator,
                     kind: str | None = None) -> np.ndarray:
    """Draw one evaluation mask on a photo.

    Args:
        image: RGB uint8 ``[H, W, 3]`` (not changed).
        landmarks: ``(5, 2)`` detector landmarks (eyes, nose, mouth corners) in the photo's pixels.
        placement: one of :data:`PLACEMENTS`.
        rng: the source of every random choice (kind, colour, print, jitter, grain).
        kind: one of :data:`KINDS`, or ``None`` to draw one.

    Returns:
        A new RGB uint8 photo of the same size.

    Raises:
        ValueError: for an unknown placement or kind, or landmarks no transform fits.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r} (expected one of {PLACEMENTS})")
    kind = kind or KINDS[rng.integers(len(KINDS))]
    if kind not in KINDS:
        raise ValueError(f"unknown mask kind {kind!r} (expected one of {KINDS})")
    landmarks = np.asarray(landmarks, dtype=np.float32).reshape(5, 2)
    height, width = image.shape[:2]
    rgb, alpha, loops = _template(kind, placement, rng)
    matrix = _transform(landmarks)
    warp = lambda a, interp=cv2.INTER_LINEAR: cv2.warpPerspective(  # noqa: E731
        a, matrix, (width, height), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    mask_rgb = warp(rgb.astype(np.float32))
    mask_alpha = warp(alpha)
    loop_alpha = warp(loops)
    if mask_alpha.max() <= 0:
        return image.copy()
    eyes = float(np.linalg.norm(landmarks[1] - landmarks[0]))
    photo = image.astype(np.float32)
    grey = photo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    light = cv2.GaussianBlur(grey, (0, 0), max(1.0, 0.25 * eyes))
    inside = mask_alpha > 0.5
    reference = float(light[inside].mean()) if inside.any() else float(light.mean())
    ratio = np.clip(light / max(reference, 1.0), 0.55, 1.35) ** 0.7
    mask_rgb *= ratio[..., None] * rng.uniform(0.85, 1.05)
    mask_rgb += rng.normal(0.0, rng.uniform(1.0, 3.5), mask_rgb.shape).astype(np.float32)
    feather = max(0.5, eyes / 70.0)
    mask_alpha = cv2.GaussianBlur(mask_alpha, (0, 0), feather)
    loop_rgb = np.full_like(photo, 235.0 if rng.random() < 0.6 else 40.0) * ratio[..., None]
    loop_alpha = np.clip(loop_alpha * 0.9, 0, 1)
    # Nothing may reach above the eye line (the feathering could by a pixel).
    allowed = lower_face_region(landmarks, (height, width)).astype(np.float32)
    mask_alpha *= allowed
    loop_alpha *= allowed
    out = photo * (1 - loop_alpha[..., None]) + loop_rgb * loop_alpha[..., None]
    out = out * (1 - mask_alpha[..., None]) + mask_rgb * mask_alpha[..., None]
    changed = (mask_alpha + loop_alpha) > 0
    result = image.copy()
    result[changed] = np.clip(np.round(out[changed]), 0, 255).astype(np.uint8)
    return result
