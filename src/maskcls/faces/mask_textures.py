"""Styles and flat textures of procedural face masks, drawn with numpy and OpenCV (no image assets).

A texture is the mask sheet laid flat: rows run from the top edge (``t = 0``) to the bottom edge (``t = 1``),
columns from the image-left side (``u = -1``) to the image-right side (``u = 1``); the middle row ``t = 0.5`` is
where :mod:`maskcls.faces.masks` puts a KF94's centre seam. Each texture function returns the fabric's colour
(``[h, w, 3]`` float32 in 0..1) and its relief (``[h, w]`` float32 around 1: folds, seams and hems that the
renderer multiplies into the light). Everything random comes from the ``numpy.random.Generator`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

RGB = tuple[float, float, float]

#: ``(name, colour 0-255, weight)`` palettes per kind; the weights follow what street photos show most.
SURGICAL_COLOURS = (("blue", (150, 196, 226), 0.38), ("white", (236, 238, 240), 0.30), ("black", (38, 38, 42), 0.12),
                    ("green", (128, 202, 190), 0.08), ("pink", (238, 192, 204), 0.07),
                    ("lavender", (190, 182, 226), 0.05))
CLOTH_COLOURS = (("black", (30, 30, 33), 0.30), ("charcoal", (72, 72, 78), 0.10), ("grey", (150, 150, 156), 0.08),
                 ("navy", (36, 46, 82), 0.08), ("white", (230, 228, 224), 0.07), ("beige", (205, 186, 160), 0.07),
                 ("denim", (72, 96, 132), 0.06), ("light blue", (152, 182, 212), 0.05), ("pink", (226, 162, 178), 0.05),
                 ("olive", (98, 104, 70), 0.04), ("brown", (102, 72, 52), 0.04), ("red", (168, 42, 48), 0.03),
                 ("green", (52, 102, 72), 0.03))
CLOTH_PATTERNS = (("solid", 0.42), ("heather", 0.2), ("checks", 0.1), ("stripes", 0.08), ("dots", 0.1),
                  ("print", 0.1))
KF94_COLOURS = (("white", (244, 244, 244), 0.55), ("black", (34, 34, 36), 0.28), ("beige", (222, 205, 185), 0.08),
                ("grey", (162, 162, 168), 0.05), ("pastel blue", (196, 214, 236), 0.04))
N95_COLOURS = (("white", (238, 236, 230), 0.6), ("cream", (226, 216, 196), 0.2), ("light grey", (202, 202, 204), 0.1),
               ("blue", (162, 192, 222), 0.1))
VALVE_COLOURS = ((245, 245, 245), (150, 152, 156), (232, 120, 40), (60, 110, 190), (70, 150, 90), (40, 40, 44))
WHITE: RGB = (0.93, 0.93, 0.94)


@dataclass(frozen=True)
class MaskStyle:
    """One drawn mask's look and size jitter.

    Attributes:
        colour: main fabric colour, RGB in 0..1.
        accent: second colour of patterns (stripes, dots, checks, prints) and of a valve.
        pattern: ``solid``, ``heather``, ``stripes``, ``dots``, ``checks`` or ``print``.
        period: pattern period as a share of the texture height.
        angle: stripe angle in degrees.
        seam: a vertical centre seam (cloth).
        valve: an exhalation valve (N95).
        loops: colour of the ear loops or head straps.
        width: scale of the mask's half-angle around the face.
        height: scale of its height in face units.
        drop: shift of the whole mask down the face, in face units.
    """

    colour: RGB
    accent: RGB = WHITE
    pattern: str = "solid"
    period: float = 0.15
    angle: float = 0.0
    seam: bool = False
    valve: bool = False
    loops: RGB = WHITE
    width: float = 1.0
    height: float = 1.0
    drop: float = 0.0


def _pick(rng: np.random.Generator, table: tuple) -> tuple:
    """One row of a ``(..., weight)`` table, drawn by weight."""
    weights = np.array([row[-1] for row in table], dtype=np.float64)
    return table[int(rng.choice(len(table), p=weights / weights.sum()))]


def _colour(rng: np.random.Generator, rgb: tuple[int, int, int], jitter: float = 8.0) -> RGB:
    """A palette colour moved a little, as 0..1 floats."""
    values = (np.asarray(rgb, dtype=np.float64) + rng.normal(0.0, jitter, 3)).clip(0, 255) / 255.0
    return (float(values[0]), float(values[1]), float(values[2]))


def _size(rng: np.random.Generator) -> dict[str, float]:
    # Masks come in sizes: a larger one reaches past the chin and wraps the jaw, as many real masks and the
    # suite's second renderer do. Drawn within ±6 %, the `general` run's masked gender F1 was 0.89 on our own
    # masks (build-public's eval/) and 0.83 on the second renderer's (faces found).
    return {"width": float(rng.uniform(0.93, 1.10)), "height": float(rng.uniform(0.94, 1.18)),
            "drop": float(rng.uniform(-0.06, 0.06))}


def surgical_style(rng: np.random.Generator) -> MaskStyle:
    """Pleated surgical mask: blue, white, black, green, pink or lavender; white or matching loops."""
    colour = _colour(rng, _pick(rng, SURGICAL_COLOURS)[1], 6.0)
    loops = WHITE if rng.random() < 0.7 else colour
    return MaskStyle(colour=colour, loops=loops, **_size(rng))


def cloth_style(rng: np.random.Generator) -> MaskStyle:
    """Cloth mask: mostly solid or heathered dark colours, sometimes stripes, dots, checks or a small print."""
    base = _pick(rng, CLOTH_COLOURS)
    pattern = _pick(rng, CLOTH_PATTERNS)[0]
    accent = base
    while accent[0] == base[0]:
        accent = _pick(rng, CLOTH_COLOURS + (("white", (236, 234, 230), 0.3),))
    colour = _colour(rng, base[1])
    return MaskStyle(colour=colour, accent=_colour(rng, accent[1]), pattern=pattern,
                     period=float(rng.uniform(0.08, 0.22)), angle=float(rng.choice([0.0, 90.0, 45.0, -45.0])),
                     seam=bool(rng.random() < 0.45), loops=colour, **_size(rng))


def kf94_style(rng: np.random.Generator) -> MaskStyle:
    """Fold-flat KF94: white, black, beige, grey or pastel; loops in the mask's colour."""
    colour = _colour(rng, _pick(rng, KF94_COLOURS)[1], 5.0)
    return MaskStyle(colour=colour, loops=colour, **_size(rng))


def n95_style(rng: np.random.Generator) -> MaskStyle:
    """Moulded N95 cup: white to cream, 40 % with a valve; white, yellow or blue head straps."""
    colour = _colour(rng, _pick(rng, N95_COLOURS)[1], 5.0)
    valve = VALVE_COLOURS[int(rng.integers(len(VALVE_COLOURS)))]
    straps = ((0.93, 0.93, 0.93), (0.9, 0.8, 0.3), (0.35, 0.5, 0.8))[int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
    return MaskStyle(colour=colour, accent=_colour(rng, valve, 6.0), valve=bool(rng.random() < 0.4), loops=straps,
                     **_size(rng))


# ---------------------------------------------------------------- texture helpers


def _coords(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """``u`` (-1..1 across) and ``t`` (0..1 down) of every texel."""
    h, w = size
    t, u = np.meshgrid(np.linspace(0.0, 1.0, h, dtype=np.float32), np.linspace(-1.0, 1.0, w, dtype=np.float32),
                       indexing="ij")
    return u, t


def _noise(rng: np.random.Generator, size: tuple[int, int], sigma: float, stretch: float = 1.0) -> np.ndarray:
    """Gaussian noise smoothed over ``sigma`` texels (``stretch`` times longer across), scaled to unit std.

    Wide smoothing draws the noise on a grid ``sigma / 4`` times coarser and enlarges the smoothed field: the
    field has no detail finer than ``sigma`` either way, and a wide blur of a full-size field was the texture's
    largest cost in a profile of ``build-public``.
    """
    factor = int(sigma // 4) if sigma >= 8 else 1
    h, w = size
    field = rng.standard_normal((max(2, -(-h // factor)), max(2, -(-w // factor)))).astype(np.float32)
    if sigma > 0:
        field = cv2.GaussianBlur(field, (0, 0), sigmaX=sigma * stretch / factor, sigmaY=sigma / factor)
    if factor > 1:
        field = cv2.resize(field, (w, h), interpolation=cv2.INTER_LINEAR)
    return field / max(float(field.std()), 1e-6)


def _band(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """A soft bump of height 1 and half-width ``width`` around ``centre``."""
    return np.exp(-(((x - centre) / max(width, 1e-6)) ** 2))


def _edge(distance: np.ndarray, width: float) -> np.ndarray:
    """1 inside a band of ``width`` from an edge, falling smoothly to 0 (``distance`` >= 0 from the edge)."""
    return np.clip(1.5 - distance / max(width, 1e-6), 0.0, 1.0)


def _fill(colour: RGB, size: tuple[int, int]) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, dtype=np.float32), (*size, 3)).copy()


def _mix(rgb: np.ndarray, colour: RGB, amount: np.ndarray) -> np.ndarray:
    """``rgb`` moved towards ``colour`` by ``amount`` (per texel, 0..1)."""
    return rgb + (np.asarray(colour, dtype=np.float32) - rgb) * amount[..., None]


def _hems(u: np.ndarray, t: np.ndarray, h: int, top: float, side: float) -> np.ndarray:
    """Relief of bound edges: slightly darker bands ``top`` (top and bottom) and ``side`` (left and right) wide,
    both as shares of the texture height."""
    edge = np.maximum(_edge(np.minimum(t, 1 - t) * h, top * h), _edge((1 - np.abs(u)) * u.shape[1] / 2, side * h))
    return 1.0 - 0.07 * edge


# ---------------------------------------------------------------- textures


def surgical_texture(style: MaskStyle, size: tuple[int, int], rng: np.random.Generator):
    """Non-woven fabric, three pleats with their shadow lines, hems and a nose wire over the bridge."""
    h, w = size
    u, t = _coords(size)
    rgb = _fill(style.colour, size) * (1.0 + 0.025 * _noise(rng, size, 0.7))[..., None]
    relief = _hems(u, t, h, 0.07, 0.06) * (1.0 + 0.035 * _noise(rng, size, h / 12, stretch=2.0))
    line = max(0.012, 1.2 / h)
    for fold in np.linspace(0.3, 0.78, 3) + rng.uniform(-0.02, 0.02, 3):
        wave = fold + 0.012 * np.sin(3.0 * u + float(rng.uniform(0, 6)))
        below = (t - wave) / 0.13
        shadow = np.where((below > 0) & (below < 1), 0.9 + 0.1 * below, 1.0)
        relief = relief * shadow * (1.0 - 0.28 * _band(t - wave, 0, line) + 0.06 * _band(t - wave, -2 * line, line))
    wire = (np.abs(u) < 0.3) * _band(t, 0.035, max(0.012, 1.0 / h))
    relief = relief * (1.0 - 0.12 * wire) * (1.0 + 0.06 * _band(t, 0.012, 0.01))
    return rgb.astype(np.float32), relief.astype(np.float32)


def _pattern(style: MaskStyle, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The cloth's printed or woven pattern in its two colours."""
    h, w = size
    rgb = _fill(style.colour, size)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    period = max(3.0, style.period * h)
    soft = 0.5
    if style.pattern == "stripes":
        angle = np.radians(style.angle)
        phase = (x * np.sin(angle) + y * np.cos(angle)) / period % 1.0
        rgb = _mix(rgb, style.accent, np.clip((np.abs(phase - 0.5) - 0.25) * period / soft + 0.5, 0, 1))
    elif style.pattern == "checks":
        across = np.clip((np.abs((x / period) % 1.0 - 0.5) - 0.25) * period / soft + 0.5, 0, 1)
        down = np.clip((np.abs((y / period) % 1.0 - 0.5) - 0.25) * period / soft + 0.5, 0, 1)
        rgb = _mix(rgb, style.accent, 0.5 * (across + down))
    elif style.pattern == "dots":
        row = np.floor(y / period)
        dx = (x / period + 0.5 * (row % 2)) % 1.0 - 0.5
        dy = (y / period) % 1.0 - 0.5
        radius = 0.22
        rgb = _mix(rgb, style.accent, np.clip((radius - np.hypot(dx, dy)) * period / soft + 0.5, 0, 1))
    elif style.pattern == "print":
        layer = np.zeros((h, w), np.float32)
        count = int(w * h / period**2 * 1.2)
        flowers = zip(rng.uniform(0, w, count), rng.uniform(0, h, count), rng.uniform(0.12, 0.3, count) * period,
                      rng.uniform(0, 2 * np.pi, count))
        for cx, cy, size_, spin in flowers:
            for angle in spin + np.arange(5) * 2 * np.pi / 5:  # five petals make a small flower
                centre = (int((cx + 0.6 * size_ * np.cos(angle)) * 16), int((cy + 0.6 * size_ * np.sin(angle)) * 16))
                cv2.circle(layer, centre, max(1, int(size_ * 8)), 1.0, -1, cv2.LINE_AA, shift=4)
        rgb = _mix(rgb, style.accent, np.clip(layer, 0, 1))
    elif style.pattern == "heather":
        fleck = _noise(rng, size, 0.6, stretch=4.0)
        rgb = rgb * (1.0 + 0.1 * fleck)[..., None] + 0.05 * (fleck > 1.6)[..., None]
    return rgb


def cloth_texture(style: MaskStyle, size: tuple[int, int], rng: np.random.Generator):
    """Woven or knitted fabric with its pattern, soft wrinkles, a bound edge and sometimes a centre seam."""
    h, w = size
    u, t = _coords(size)
    rgb = _pattern(style, size, rng) * (1.0 + 0.035 * _noise(rng, size, 0.5, stretch=2.0))[..., None]
    relief = _hems(u, t, h, 0.05, 0.04) * (1.0 + 0.04 * _noise(rng, size, h / 6))
    if style.seam:
        relief = relief * (1.0 - 0.25 * _band(u * w / 2, 0.0, 0.8)) * (1.0 + 0.05 * np.sign(u) * _band(u, 0, 0.15))
    return rgb.astype(np.float32), relief.astype(np.float32)


def kf94_texture(style: MaskStyle, size: tuple[int, int], rng: np.random.Generator):
    """Three panels: a horizontal centre seam, a welded edge all round, the top panel catching more light."""
    h, w = size
    u, t = _coords(size)
    rgb = _fill(style.colour, size) * (1.0 + 0.02 * _noise(rng, size, 0.8))[..., None]
    wrinkles = 1.0 + 0.03 * _noise(rng, size, h / 10)
    seam = 0.5 + 0.015 * np.cos(np.pi * u / 2)
    relief = np.where(t < seam, 1.07 - 0.08 * t, 0.93 - 0.1 * (t - 0.5)).astype(np.float32)
    line = max(0.012, 1.5 / h)
    relief = relief * (1.0 - 0.4 * _band(t - seam, 0, line)) * (1.0 + 0.08 * _band(t - seam, -2.5 * line, line))
    rim = np.minimum(np.minimum(t, 1 - t) * h, (1 - np.abs(u)) * w / 2)
    dots = 0.5 + 0.5 * np.cos(np.arange(w, dtype=np.float32)[None, :] * 2.0)
    relief = relief * (1.0 - 0.1 * _edge(rim, 0.04 * h) * (0.6 + 0.4 * dots)) * wrinkles
    return rgb.astype(np.float32), relief.astype(np.float32)


def n95_texture(style: MaskStyle, size: tuple[int, int], rng: np.random.Generator):
    """Moulded fibre cup: a rolled rim, a welded ring, a metal nose clip and sometimes a valve."""
    h, w = size
    u, t = _coords(size)
    rgb = _fill(style.colour, size) * (1.0 + 0.04 * _noise(rng, size, 0.8))[..., None]
    ellipse = np.hypot(u, (t - 0.5) * 2)
    relief = (1.0 - 0.12 * np.clip((ellipse - 0.82) / 0.18, 0, 1)) * (1.0 - 0.15 * _band(ellipse, 0.86, 0.02))
    dome = np.sqrt(np.clip(1.0 - ellipse**2, 0.0, 1.0))  # the moulded cup catches light in its middle
    relief = relief * (0.8 + 0.22 * dome) * (1.0 + 0.04 * _noise(rng, size, h / 5))
    clip = (np.abs(u) < 0.25) * _band(t, 0.075, max(0.012, 1.2 / h))
    rgb = _mix(rgb, (0.6, 0.61, 0.64), np.clip(clip, 0, 1) * 0.7)
    if style.valve:
        cx, cy = float(rng.uniform(-0.04, 0.04)), float(rng.uniform(0.56, 0.62))
        radius = float(rng.uniform(0.13, 0.18)) * h
        dx, dy = (u - cx) * w / 2 / radius, (t - cy) * h / radius
        square = rng.random() < 0.4  # round or rounded-square valve covers
        dist = np.maximum(np.abs(dx), np.abs(dy)) * 0.7 + np.hypot(dx, dy) * 0.3 if square else np.hypot(dx, dy)
        body = np.clip((1.0 - dist) * radius / 0.7, 0, 1)
        rgb = _mix(rgb, style.accent, body)
        slots = (np.abs(dy) < 0.55) * (np.sin(dy * np.pi * 3.2) > 0.55) * (dist < 0.72)
        relief = relief * (1.0 - 0.35 * _band(dist, 1.0, 0.12)) * (1.0 + 0.1 * body * (dy < 0) * (dist < 0.8))
        relief = relief * (1.0 - 0.25 * slots)
    return rgb.astype(np.float32), relief.astype(np.float32)
