"""A small SYNTHETIC dataset in the competition layout, for the built-in demo and the tests.

Nothing written here is a photo of a real person: every image is a cartoon face drawn procedurally with
Pillow (ellipses, lines and polygons) from random numbers. The drawings carry the three labels visibly, so
that a small CNN can learn them:

- mask status: ``mask1``–``mask5`` show a mask over nose, mouth and chin (surgical white or blue with pleats,
  black cloth, patterned cloth, a KF94-like shape with a fold seam), ``incorrect_mask`` a mask pulled below
  the nose or down to the chin, ``normal`` no mask;
- gender: long hair falling to the shoulders (female) or short hair, sometimes a beard shadow (male);
- age: dark hair and a smooth face (<30), greying hair and a first wrinkle (30–59), grey or white hair and
  wrinkles on the forehead and around the eyes (>=60).

Every photo of a person differs by face position, scale, tilt, lighting, noise and JPEG quality. With
``quirks=True`` the tree also holds what real archives hold (dot files, ``-1``/``-2`` ids, a repeated id,
mixed extensions, a short folder, a folder missing from ``train.csv`` and a row without a folder), and
:func:`inject_broken_files` adds unreadable and odd files on demand. The same seed gives the same bytes.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from maskcls.data.layout import EVAL_COLUMNS, TRAIN_COLUMNS, read_csv_rows
from maskcls.fileio import atomic_write, write_text
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, STEM_TO_MASK, STEMS, AgeBand, Gender, Mask, encode
from maskcls.progress import track

RGB = tuple[int, int, int]

RACE = "Asian"
MIN_AGE, MAX_AGE = 18, 75
FEMALE_SHARE = 0.6
BAND_WEIGHTS = (0.45, 0.45, 0.10)
#: Longest side the faces are drawn at before resizing to the requested size (keeps generation fast).
DRAW_HEIGHT = 256
#: Quirks need this many training people: seven distinct roles plus the owner of the repeated id.
MIN_QUIRK_PEOPLE = 8
MASK_KINDS = ("surgical_white", "surgical_blue", "cloth_black", "cloth_pattern", "kf94")
INCORRECT_STYLES = ("below_nose", "chin")
#: Fill and edge colour of each plain mask kind (``cloth_pattern`` takes the person's pattern colours).
MASK_COLOURS: dict[str, tuple[RGB, RGB]] = {
    "surgical_white": ((236, 238, 240), (196, 202, 210)),
    "surgical_blue": ((148, 192, 226), (104, 152, 196)),
    "cloth_black": ((32, 32, 36), (70, 70, 76)),
    "kf94": ((246, 246, 246), (190, 190, 196)),
}

SKIN_TONES: tuple[RGB, ...] = (
    (242, 214, 192), (234, 200, 172), (226, 188, 156), (214, 172, 138), (196, 150, 114), (168, 120, 88),
    (128, 88, 62),
)
SKIN_WEIGHTS = (0.18, 0.22, 0.22, 0.16, 0.10, 0.07, 0.05)
YOUNG_HAIR: tuple[RGB, ...] = ((22, 18, 16), (40, 28, 22), (70, 46, 30), (112, 74, 46), (150, 108, 66), (196, 164, 110))
YOUNG_HAIR_WEIGHTS = (0.35, 0.25, 0.18, 0.12, 0.06, 0.04)
GREY: RGB = (200, 200, 200)

README = """\
SYNTHETIC DATA - procedurally drawn, not photos of real people.

Every image in this folder was drawn by maskcls.data.synthetic with Pillow from random numbers (seed {seed}):
cartoon faces whose mask status, gender and age band are drawn visibly. The layout imitates the mask
classification competition (train/train.csv, train/images/<id>_<gender>_<race>_<age>/, eval/info.csv,
eval/images/) so that the tools can be demonstrated and tested offline. eval_gt.csv holds the true eval labels.
Models trained on it learn nothing about real faces.
"""

APPLEDOUBLE_BYTES = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(66)
DS_STORE_BYTES = b"\x00\x00\x00\x01Bud1" + bytes(120)


@dataclass
class SyntheticInfo:
    """What :func:`make_synthetic` wrote.

    Attributes:
        root: the dataset root (holding ``train/``, ``eval/``, ``eval_gt.csv`` and ``README.txt``).
        train_people: training people generated (with quirks, one of them has only a CSV row).
        eval_images: photos in the eval set.
        quirks: kind of each injected quirk -> the path it sits at (empty without quirks).
    """

    root: Path
    train_people: int
    eval_images: int
    quirks: dict[str, Path] = field(default_factory=dict)


@dataclass
class _Person:
    """One drawn person and how it is written: ``in_csv``/``on_disk`` and per-stem file extensions."""

    id: str
    gender: int
    age: int
    incorrect_style: str
    in_csv: bool = True
    on_disk: bool = True
    stems: tuple[str, ...] = STEMS
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return f"{self.id}_{GENDER_NAMES[self.gender]}_{RACE}_{self.age}"

    @property
    def band(self) -> int:
        return int(DEFAULT_AGE_BANDS.band(self.age))


@dataclass(frozen=True)
class _Look:
    """A person's appearance, the same in all seven photos. Heights are in face half-heights."""

    gender: int
    skin: RGB
    hair: RGB
    grey_streaks: int
    wrinkles: int
    hairline: float
    hair_length: float
    beard: bool
    lips: RGB
    iris: RGB
    mouth_width: float
    face_width: float
    face_ratio: float
    clothing: RGB
    v_neck: bool
    background: tuple[RGB, RGB]
    pattern: tuple[RGB, RGB]
    mask_kinds: tuple[str, ...]
    incorrect_kind: str
    incorrect_style: str


@dataclass(frozen=True)
class _Pose:
    """What changes between two photos of one person."""

    dx: float
    dy: float
    scale: float
    angle: float
    light: float
    cast: tuple[float, ...]
    side_light: float
    noise: float
    quality: int


@dataclass(frozen=True)
class _Face:
    """Face geometry in pixels: centre ``(cx, cy)`` and half-width ``a``, half-height ``b``."""

    cx: float
    cy: float
    a: float
    b: float

    def p(self, x: float, y: float) -> tuple[float, float]:
        """A point given in face units (``x`` in half-widths, ``y`` in half-heights from the centre)."""
        return (self.cx + x * self.a, self.cy + y * self.b)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float]]:
        """A bounding box given in face units."""
        return [self.p(x0, y0), self.p(x1, y1)]

    def px(self, width: float) -> int:
        """A line width that scales with the face (``width`` pixels for a face 38 pixels wide)."""
        return max(1, round(width * self.a / 38))


# ---------------------------------------------------------------- colours and random attributes


def _rgb(values: Iterable[float]) -> RGB:
    """Round and clip three channel values to a colour."""
    r, g, b = (int(min(255, max(0, round(float(v))))) for v in values)
    return (r, g, b)


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved a share ``t`` of the way to ``b``."""
    return _rgb(x + (y - x) * t for x, y in zip(a, b))


def _shade(colour: RGB, factor: float) -> RGB:
    return _rgb(c * factor for c in colour)


def _jitter(rng: np.random.Generator, colour: RGB, amount: int) -> RGB:
    return _rgb(np.asarray(colour) + rng.integers(-amount, amount + 1, 3))


def _random_colour(rng: np.random.Generator, low: int, high: int) -> RGB:
    return _rgb(rng.integers(low, high, 3))


def _pick(rng: np.random.Generator, options: Sequence, weights: Sequence[float]):
    return options[int(rng.choice(len(options), p=np.asarray(weights) / sum(weights)))]


def _age_range(band: int) -> tuple[int, int]:
    low, high = DEFAULT_AGE_BANDS.thresholds
    return ((MIN_AGE, low - 1), (low, high - 1), (high, MAX_AGE))[band]


def _draw_people(rng: np.random.Generator, ids: Iterable[str]) -> list[_Person]:
    """Genders and ages; the first six people take one gender × age-band combination each."""
    combos = [(gender, band) for gender in Gender for band in AgeBand]
    people = []
    for index, pid in enumerate(ids):
        if index < len(combos):
            gender, band = combos[index]
        else:
            gender = Gender.FEMALE if rng.random() < FEMALE_SHARE else Gender.MALE
            band = int(rng.choice(len(BAND_WEIGHTS), p=BAND_WEIGHTS))
        low, high = _age_range(band)
        age = int(rng.integers(low, high + 1))
        people.append(_Person(pid, int(gender), age, INCORRECT_STYLES[index % 2]))
    return people


def _hair_colour(rng: np.random.Generator, band: int) -> RGB:
    if band == AgeBand.YOUNG:
        return _jitter(rng, _pick(rng, YOUNG_HAIR, YOUNG_HAIR_WEIGHTS), 8)
    if band == AgeBand.MIDDLE:
        dark = _pick(rng, YOUNG_HAIR[:3], YOUNG_HAIR_WEIGHTS[:3])
        return _mix(dark, GREY, rng.uniform(0.1, 0.3))
    level = int(rng.integers(170, 236))
    return _mix((level, level, level - 4), YOUNG_HAIR[1], rng.uniform(0.0, 0.15))


def _hairline(rng: np.random.Generator, gender: int, band: int) -> float:
    if gender == Gender.FEMALE:
        return rng.uniform(0.6, 0.78)
    return rng.uniform(*((0.68, 0.8), (0.72, 0.88), (0.8, 0.97))[band])


def _draw_look(rng: np.random.Generator, person: _Person) -> _Look:
    """A person's appearance: skin, hair, face shape, clothes, background and masks."""
    female = person.gender == Gender.FEMALE
    band = person.band
    skin = _jitter(rng, _pick(rng, SKIN_TONES, SKIN_WEIGHTS), 6)
    lip_tint = (200, 60, 75) if female else (165, 90, 85)
    wall = int(rng.integers(135, 236))
    background = _jitter(rng, (wall, wall, wall), 22)
    return _Look(
        gender=person.gender,
        skin=skin,
        hair=_hair_colour(rng, band),
        grey_streaks=(0, int(rng.integers(2, 4)), 0)[band],
        wrinkles=band,
        hairline=_hairline(rng, person.gender, band),
        hair_length=rng.uniform(0.2, 1.0) if female else 0.0,
        beard=not female and rng.random() < (0.2, 0.45, 0.45)[band],
        lips=_mix(skin, lip_tint, rng.uniform(0.35, 0.65) if female else rng.uniform(0.2, 0.35)),
        iris=_jitter(rng, (48, 32, 26), 10),
        mouth_width=rng.uniform(0.24, 0.34),
        face_width=rng.uniform(0.92, 1.06) * (0.96 if female else 1.0),
        face_ratio=rng.uniform(1.25, 1.4),
        clothing=_random_colour(rng, 15, 240),
        v_neck=bool(rng.random() < 0.4),
        background=(background, _shade(background, rng.uniform(0.72, 0.95))),
        pattern=(_random_colour(rng, 40, 230), _random_colour(rng, 0, 256)),
        mask_kinds=tuple(str(k) for k in rng.permutation(MASK_KINDS)),
        incorrect_kind=str(rng.choice(MASK_KINDS)),
        incorrect_style=person.incorrect_style,
    )


def _draw_pose(rng: np.random.Generator) -> _Pose:
    """Random jitter of one photo: position ±6 % of the width, scale ±8 %, tilt ±6°, light, noise, quality."""
    return _Pose(
        dx=rng.uniform(-0.06, 0.06),
        dy=rng.uniform(-0.025, 0.025),
        scale=rng.uniform(0.92, 1.08),
        angle=rng.uniform(-6.0, 6.0),
        light=rng.uniform(0.85, 1.12),
        cast=tuple(float(c) for c in rng.uniform(0.94, 1.06, 3)),
        side_light=rng.uniform(-0.12, 0.12),
        noise=rng.uniform(2.0, 6.0),
        quality=int(rng.integers(78, 95)),
    )


# ---------------------------------------------------------------- drawing


def _draw_background(size: tuple[int, int], look: _Look) -> Image.Image:
    """A vertical gradient between the person's two wall colours."""
    width, height = size
    top, bottom = (np.asarray(c, dtype=np.float32) for c in look.background)
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    rows = top + (bottom - top) * t
    pixels = np.broadcast_to(rows, (height, width, 3)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels, "RGB").convert("RGBA")


def _draw_back_hair(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Long hair behind the head and neck (drawn before the torso)."""
    end = 1.4 + look.hair_length
    draw.ellipse(f.box(-1.16, -1.2, 1.16, 0.2), fill=look.hair)
    draw.polygon([f.p(-1.16, -0.5), f.p(1.16, -0.5), f.p(1.4, end), f.p(-1.4, end)], fill=look.hair)


def _draw_torso(draw: ImageDraw.ImageDraw, f: _Face, look: _Look, height: int) -> None:
    """Neck, shoulders in the person's clothing colour and a round or V neckline."""
    neck = _shade(look.skin, 0.86)
    base = 1.3
    draw.ellipse(f.box(-2.6, base, 2.6, base + 2.4), fill=look.clothing)
    left, chest = f.p(-2.6, base + 1.2)
    draw.rectangle([(left, min(chest, height)), (f.cx + 2.6 * f.a, height)], fill=look.clothing)
    draw.rectangle(f.box(-0.42, 0.4, 0.42, base + 0.12), fill=neck)
    if look.v_neck:
        draw.polygon([f.p(-0.5, base), f.p(0.5, base), f.p(0.0, base + 0.75)], fill=neck)
    else:
        draw.chord(f.box(-0.55, base - 0.3, 0.55, base + 0.45), 0, 180, fill=neck)


def _draw_ears(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Two ears at eye height (hidden under long hair, still where mask loops go)."""
    for side in (-1, 1):
        draw.ellipse(f.box(side * 1.0 - 0.13, -0.24, side * 1.0 + 0.13, 0.16), fill=_shade(look.skin, 0.95))
        draw.arc(f.box(side * 1.0 - 0.07, -0.16, side * 1.0 + 0.07, 0.08), 0, 360, fill=_shade(look.skin, 0.78))


def _draw_side_strands(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Long hair falling beside the face over the shoulders (the face is drawn over their inner edge)."""
    end = 1.4 + look.hair_length
    for side in (-1, 1):
        points = [(0.7, -0.8), (1.2, -0.5), (1.36, 0.4), (1.45, end), (0.98, end), (0.9, 0.9), (0.72, 0.2)]
        draw.polygon([f.p(side * x, y) for x, y in points], fill=look.hair)


def _draw_hair_cap(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Hair on the top of the head, grey streaks for the middle-aged, then the forehead below the hairline."""
    female = look.gender == Gender.FEMALE
    rx, top, bottom = (1.14, -1.2, -0.5) if female else (1.07, -1.14, -0.56)
    cap = f.box(-rx, top, rx, 2 * bottom - top)
    draw.chord(cap, 180, 360, fill=look.hair)
    if not female:
        for side in (-1, 1):
            sideburn = [(0.72, -0.56), (1.0, -0.56), (0.99, -0.12), (0.9, -0.12)]
            draw.polygon([f.p(side * x, y) for x, y in sideburn], fill=look.hair)
    streak = _mix(look.hair, (235, 235, 235), 0.75)
    for k in range(look.grey_streaks):
        shrink = 0.92 - 0.14 * k
        half_w, half_h = rx * shrink, (bottom - top) * shrink
        box = f.box(-half_w, bottom - half_h, half_w, bottom + half_h)
        draw.arc(box, 200 + 12 * k, 330 - 8 * k, fill=streak, width=f.px(1.4))
    hairline = look.hairline
    draw.ellipse(f.box(-0.8, -hairline, 0.8, hairline - 0.2), fill=look.skin)


def _draw_eyes_and_brows(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Eyes with iris, pupil and upper lid; eyebrows thin and arched (female) or thick and flat (male)."""
    female = look.gender == Gender.FEMALE
    brow = _shade(look.hair, 0.8) if look.wrinkles < AgeBand.OLD else _mix(look.hair, (90, 90, 90), 0.4)
    arch = 0.06 if female else 0.02
    for side in (-1, 1):
        x = side * 0.4
        draw.line([f.p(side * 0.16, -0.3), f.p(x, -0.33 - arch), f.p(side * 0.64, -0.29)],
                  fill=brow, width=f.px(1.3 if female else 2.4), joint="curve")
        draw.ellipse(f.box(x - 0.17, -0.2, x + 0.17, -0.07), fill=(246, 244, 240))
        draw.ellipse(f.box(x - 0.075, -0.19, x + 0.075, -0.08), fill=look.iris)
        draw.ellipse(f.box(x - 0.03, -0.16, x + 0.03, -0.11), fill=(12, 10, 10))
        draw.arc(f.box(x - 0.18, -0.21, x + 0.18, -0.04), 190, 350, fill=(40, 30, 28), width=f.px(1.3))


def _draw_nose(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """A shaded bridge, the tip and two nostrils (the tip is what an incorrect mask leaves visible)."""
    draw.line([f.p(0.06, -0.06), f.p(0.1, 0.22)], fill=_shade(look.skin, 0.82), width=f.px(1))
    draw.ellipse(f.box(-0.14, 0.2, 0.14, 0.34), fill=_shade(look.skin, 0.9))
    for side in (-1, 1):
        draw.ellipse(f.box(side * 0.08 - 0.04, 0.29, side * 0.08 + 0.04, 0.335), fill=_shade(look.skin, 0.5))


def _draw_beard(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """A stubble shadow along the jaw, round the mouth and on the upper lip."""
    jaw = [(math.cos(t), math.sin(t)) for t in np.linspace(math.asin(0.2), math.pi - math.asin(0.2), 15)]
    upper = [(-0.62, 0.5), (-0.3, 0.4), (0.3, 0.4), (0.62, 0.5)]
    draw.polygon([f.p(x, y) for x, y in jaw + upper], fill=_mix(look.skin, look.hair, 0.2))


def _draw_mouth(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """Lips (redder for women) and the line between them."""
    w = look.mouth_width
    draw.ellipse(f.box(-w, 0.53, w, 0.66), fill=look.lips)
    draw.line([f.p(-w, 0.59), f.p(0, 0.6), f.p(w, 0.59)], fill=_shade(look.lips, 0.55), width=f.px(1.2))


def _draw_wrinkles(draw: ImageDraw.ImageDraw, f: _Face, look: _Look) -> None:
    """One forehead line and smile lines from 30; more forehead lines, crow's feet and eye bags from 60."""
    line = _shade(look.skin, 0.68)
    width = f.px(1.2)
    rows = (-0.5,) if look.wrinkles == AgeBand.MIDDLE else (-0.42, -0.5, -0.58)
    for y in rows:
        if y > -look.hairline + 0.04:
            draw.arc(f.box(-0.42, y - 0.06, 0.42, y + 0.06), 200, 340, fill=line, width=width)
    for side in (-1, 1):
        draw.line([f.p(side * 0.2, 0.3), f.p(side * 0.33, 0.45), f.p(side * 0.38, 0.62)], fill=line, width=width)
        if look.wrinkles == AgeBand.OLD:
            x = side * 0.4
            draw.arc(f.box(x - 0.16, -0.1, x + 0.16, 0.02), 20, 160, fill=line, width=width)
            for dy in (-0.08, 0.0, 0.08):
                draw.line([f.p(side * 0.6, -0.13 + dy / 3), f.p(side * 0.74, -0.13 + dy)], fill=line, width=width)


def _mask_outline(kind: str, top: float, side: float) -> list[tuple[float, float]]:
    """A mask's outline in face units, from its upper-edge centre ``top`` and the height of its corners."""
    rx, ry = 1.05, 1.1
    t0 = math.asin(min(side / ry, 0.99))
    corner = rx * math.cos(t0)
    if kind == "kf94":
        lower = [(corner, side), (0.62, 0.98), (0.0, 1.2), (-0.62, 0.98), (-corner, side)]
        upper = [(-0.5, top + 0.02), (0.0, top - 0.06), (0.5, top + 0.02)]
    else:
        lower = [(rx * math.cos(t), ry * math.sin(t)) for t in np.linspace(t0, math.pi - t0, 14)]
        upper = [(-0.5, top + 0.05), (0.0, top), (0.5, top + 0.05)]
    return lower + upper


def _mask_fabric(size: tuple[int, int], f: _Face, kind: str, look: _Look, top: float) -> tuple[Image.Image, RGB]:
    """The mask's cloth over the whole canvas (cut out later) and its edge colour."""
    fill, edge = MASK_COLOURS.get(kind) or (look.pattern[0], _shade(look.pattern[0], 0.7))
    fabric = Image.new("RGB", size, fill)
    draw = ImageDraw.Draw(fabric)
    if kind.startswith("surgical"):
        for k in (1, 2, 3):
            y = top + (1.05 - top) * k / 4
            draw.line([f.p(-1.2, y + 0.04), f.p(1.2, y + 0.04)], fill=edge, width=f.px(1.6))
        draw.line([f.p(-0.3, top + 0.05), f.p(0.3, top + 0.05)], fill=_shade(edge, 0.8), width=f.px(1.6))
    elif kind == "cloth_pattern":
        step = 0.22
        for i, y in enumerate(np.arange(top - 0.2, 1.3, step * 1.3)):
            for x in np.arange(-1.2 + (i % 2) * step / 2, 1.2, step):
                draw.ellipse(f.box(x - 0.05, y - 0.04, x + 0.05, y + 0.04), fill=look.pattern[1])
    elif kind == "kf94":
        middle = (top + 1.2) / 2
        draw.line([f.p(-1.2, middle), f.p(1.2, middle)], fill=edge, width=f.px(1.4))
    else:  # cloth_black: a centre seam
        draw.line([f.p(0.0, top), f.p(0.0, 1.25)], fill=edge, width=f.px(1.2))
    return fabric, edge


def _draw_mask(layer: Image.Image, f: _Face, look: _Look, kind: str, placement: str) -> None:
    """A mask worn (``worn``), pulled below the nose (``below_nose``) or down to the chin (``chin``)."""
    top, side = {"worn": (-0.05, 0.06), "below_nose": (0.4, 0.42), "chin": (0.72, 0.68)}[placement]
    outline = [f.p(x, y) for x, y in _mask_outline(kind, top, side)]
    fabric, edge = _mask_fabric(layer.size, f, kind, look, top)
    cutout = Image.new("L", layer.size, 0)
    ImageDraw.Draw(cutout).polygon(outline, fill=255)
    layer.paste(fabric, (0, 0), cutout)
    draw = ImageDraw.Draw(layer)
    draw.line(outline + outline[:1], fill=edge, width=f.px(1.2))
    loop = (40, 40, 44) if kind == "cloth_black" else (236, 236, 236)
    for sign in (-1, 1):
        upper = f.p(sign * 1.0, side)
        lower = f.p(sign * 0.9, min(side + 0.45, 0.85))
        draw.line([upper, f.p(sign * 1.05, -0.2)], fill=loop, width=f.px(1.4))
        draw.line([lower, f.p(sign * 1.08, 0.12)], fill=loop, width=f.px(1.4))


def _mask_of(look: _Look, stem: str) -> tuple[str, str] | None:
    """The ``(kind, placement)`` of the mask in one photo, or ``None`` for ``normal``."""
    status = STEM_TO_MASK[stem]
    if status == Mask.WEAR:
        return look.mask_kinds[STEMS.index(stem)], "worn"
    if status == Mask.INCORRECT:
        return look.incorrect_kind, look.incorrect_style
    return None


def _face_geometry(size: tuple[int, int], look: _Look, pose: _Pose) -> _Face:
    width, height = size
    a = 0.2 * width * look.face_width * pose.scale
    return _Face(width * (0.5 + pose.dx), height * (0.43 + pose.dy), a, a * look.face_ratio)


def _draw_head(size: tuple[int, int], f: _Face, look: _Look, mask: tuple[str, str] | None) -> Image.Image:
    """Ears, front hair, face, features and the mask on a transparent layer (tilted as one piece)."""
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    _draw_ears(draw, f, look)
    if look.gender == Gender.FEMALE:
        _draw_side_strands(draw, f, look)
    draw.ellipse(f.box(-1, -1, 1, 1), fill=look.skin)
    _draw_hair_cap(draw, f, look)
    _draw_eyes_and_brows(draw, f, look)
    if look.beard:
        _draw_beard(draw, f, look)
    _draw_nose(draw, f, look)
    _draw_mouth(draw, f, look)
    if look.wrinkles:
        _draw_wrinkles(draw, f, look)
    if mask is not None:
        _draw_mask(layer, f, look, *mask)
    return layer


def _finish(canvas: Image.Image, pose: _Pose, rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Lighting (brightness, colour cast, light from one side), sensor noise and the final resize."""
    pixels = np.asarray(canvas.convert("RGB"), dtype=np.float32)
    across = 1.0 + pose.side_light * np.linspace(-1.0, 1.0, pixels.shape[1], dtype=np.float32)
    gain = pose.light * across[None, :, None] * np.asarray(pose.cast, dtype=np.float32)
    pixels = pixels * gain + rng.standard_normal(pixels.shape, dtype=np.float32) * np.float32(pose.noise)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    return image if image.size == size else image.resize(size, Image.Resampling.BILINEAR)


def _render(look: _Look, stem: str, rng: np.random.Generator, draw_size: tuple[int, int],
            size: tuple[int, int]) -> tuple[Image.Image, int]:
    """One photo of a person and the JPEG quality to save it at."""
    pose = _draw_pose(rng)
    f = _face_geometry(draw_size, look, pose)
    canvas = _draw_background(draw_size, look)
    draw = ImageDraw.Draw(canvas)
    if look.gender == Gender.FEMALE:
        _draw_back_hair(draw, f, look)
    _draw_torso(draw, f, look, draw_size[1])
    head = _draw_head(draw_size, f, look, _mask_of(look, stem))
    canvas.alpha_composite(head.rotate(pose.angle, Image.Resampling.BILINEAR, center=f.p(0.0, 1.0)))
    return _finish(canvas, pose, rng, size), pose.quality


def _draw_size(size: tuple[int, int]) -> tuple[int, int]:
    """The canvas the faces are drawn on: the requested size, at most :data:`DRAW_HEIGHT` high."""
    width, height = size
    factor = min(1.0, DRAW_HEIGHT / height)
    return (max(1, round(width * factor)), max(1, round(height * factor)))


def _save(image: Image.Image, path: Path, quality: int) -> None:
    """Save as PNG or JPEG as the suffix says (any case)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".png":
        image.save(path, "PNG")
    else:
        image.save(path, "JPEG", quality=quality)


def _write_person(person: _Person, rng: np.random.Generator, sizes: tuple[tuple[int, int], tuple[int, int]],
                  paths: dict[str, Path]) -> None:
    """Draw all seven photos of a person (so its randomness never depends on quirks) and save those in ``paths``."""
    look = _draw_look(rng, person)
    for stem in STEMS:
        image, quality = _render(look, stem, rng, *sizes)
        if stem in paths:
            _save(image, paths[stem], quality)


# ---------------------------------------------------------------- CSVs and quirks


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence]) -> None:
    with atomic_write(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _train_paths(images: Path, person: _Person) -> dict[str, Path]:
    if not person.on_disk:
        return {}
    return {stem: images / person.folder / f"{stem}{person.extensions.get(stem, '.jpg')}" for stem in person.stems}


def _plan_quirks(rng: np.random.Generator, people: list[_Person], images: Path) -> dict[str, Path]:
    """Give seven people a quirk of real archives (ids, extensions, missing files); returns kind -> path.

    People keep their drawn labels, except the one that takes another person's id (and their gender, with
    an age one year apart). The six gender × age-band people at the front are spared when there are enough.
    """
    spared = len(Gender) * len(AgeBand) if len(people) >= len(Gender) * len(AgeBand) + MIN_QUIRK_PEOPLE else 0
    roles = [int(i) for i in rng.choice(np.arange(spared, len(people)), 7, replace=False)]
    owner = people[int(rng.choice([i for i in range(len(people)) if i not in roles]))]
    split_1, split_2, repeat, mixed, short, unlisted, folderless = (people[i] for i in roles)
    split_1.id, split_2.id = f"{split_1.id}-1", f"{split_1.id}-2"
    repeat.id, repeat.gender = owner.id, owner.gender
    repeat.age = owner.age + 1 if owner.age < MAX_AGE else owner.age - 1
    mixed.extensions = {"mask2": ".png", "mask3": ".png", "normal": ".JPEG"}
    short.stems = tuple(stem for stem in STEMS if stem not in ("mask4", "mask5"))
    unlisted.in_csv = False
    folderless.on_disk = False
    return {
        "split_id_1": images / split_1.folder,
        "split_id_2": images / split_2.folder,
        "duplicate_id_1": images / owner.folder,
        "duplicate_id_2": images / repeat.folder,
        "mixed_extensions": images / mixed.folder,
        "missing_photos": images / short.folder,
        "not_in_csv": images / unlisted.folder,
        "missing_folder": images / folderless.folder,
    }


def _write_dot_files(rng: np.random.Generator, people: list[_Person], images: Path) -> dict[str, Path]:
    """macOS leftovers: ``._mask1.jpg`` and ``.DS_Store`` in person folders and a ``._<folder>`` in images/."""
    on_disk = [p for p in people if p.on_disk]
    first, second = (on_disk[int(i)] for i in rng.choice(len(on_disk), 2, replace=False))
    found = {
        "appledouble": images / first.folder / "._mask1.jpg",
        "ds_store": images / first.folder / ".DS_Store",
        "ds_store_2": images / second.folder / ".DS_Store",
        "appledouble_folder": images / f"._{first.folder}",
    }
    for kind, path in found.items():
        path.write_bytes(DS_STORE_BYTES if kind.startswith("ds_store") else APPLEDOUBLE_BYTES)
    return found


def _eval_layout(rng: np.random.Generator, people: list[_Person]) -> tuple[list[dict[str, str]], list[tuple[int, str]]]:
    """Random 40-hex names for every eval photo (per person, per stem) and the shuffled listing order."""
    names = [{stem: f"{rng.bytes(20).hex()}.jpg" for stem in STEMS} for _ in people]
    photos = [(index, stem) for index in range(len(people)) for stem in STEMS]
    order = [photos[int(i)] for i in rng.permutation(len(photos))]
    return names, order


# ---------------------------------------------------------------- public API


def make_synthetic(root: str | Path, people: int = 60, eval_people: int = 20, seed: int = 0,
                   size: tuple[int, int] = (384, 512), quirks: bool = False) -> SyntheticInfo:
    """Draw a synthetic dataset in the competition layout under ``root``.

    Writes ``train/train.csv``, ``train/images/<id>_<gender>_Asian_<age>/<stem>.jpg`` (7 photos a person),
    ``eval/info.csv`` (``ans`` all 0) with ``eval/images/<40 hex>.jpg`` from ``eval_people`` other people,
    ``eval_gt.csv`` (the true 18-class eval labels) and a ``README.txt`` saying the data is synthetic.

    Args:
        root: a new or empty folder.
        people: training people (at least :data:`MIN_QUIRK_PEOPLE` with ``quirks``).
        eval_people: people in the eval set (0 for none).
        seed: the random seed; the same seed gives the same files.
        size: photo ``(width, height)``.
        quirks: also add dot files, ``-1``/``-2`` ids, a repeated id, mixed extensions, a short folder, a
            folder missing from ``train.csv`` and a ``train.csv`` row without a folder.

    Returns:
        What was written, with the path of every quirk.

    Raises:
        ValueError: for too few people.
        FileExistsError: if ``root`` exists and is not empty.
    """
    root = Path(root)
    least = MIN_QUIRK_PEOPLE if quirks else 1
    if people < least or eval_people < 0:
        raise ValueError(f"need at least {least} training people and eval_people >= 0, got {people} and {eval_people}")
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root}: already exists and is not empty")
    rng = np.random.default_rng(seed)
    # Ids look like the competition's (6 digits) but start at 010000, above every id the shipped corrections name.
    numbers = rng.choice(np.arange(10_000, 10_000 + max(90_000, 2 * (people + eval_people))), people + eval_people,
                         replace=False)
    ids = [f"{int(n):06d}" for n in numbers]
    train = _draw_people(rng, sorted(ids[:people]))
    evals = _draw_people(rng, ids[people:])
    person_rngs = rng.spawn(people + eval_people)
    eval_names, eval_order = _eval_layout(rng, evals)
    images = root / "train" / "images"
    found = _plan_quirks(rng, train, images) if quirks else {}

    sizes = (_draw_size(size), size)
    eval_images = root / "eval" / "images"
    jobs = [(p, _train_paths(images, p)) for p in train]
    jobs += [(p, {stem: eval_images / name for stem, name in names.items()}) for p, names in zip(evals, eval_names)]
    for (person, paths), person_rng in track(list(zip(jobs, person_rngs)), "drawing synthetic people"):
        _write_person(person, person_rng, sizes, paths)
    images.mkdir(parents=True, exist_ok=True)
    eval_images.mkdir(parents=True, exist_ok=True)
    if quirks:
        found.update(_write_dot_files(rng, train, images))

    listed = sorted((p for p in train if p.in_csv), key=lambda p: (p.id, p.folder))
    _write_csv(root / "train" / "train.csv", TRAIN_COLUMNS,
               [(p.id, GENDER_NAMES[p.gender], RACE, p.age, p.folder) for p in listed])
    _write_csv(root / "eval" / "info.csv", EVAL_COLUMNS, [(eval_names[i][stem], 0) for i, stem in eval_order])
    truth = [(eval_names[i][stem], int(encode(int(STEM_TO_MASK[stem]), evals[i].gender, evals[i].band)))
             for i, stem in eval_order]
    _write_csv(root / "eval_gt.csv", EVAL_COLUMNS, truth)
    write_text(root / "README.txt", README.format(seed=seed))
    return SyntheticInfo(root, people, len(truth), found)


def _has_all_jpegs(folder: Path) -> bool:
    return all((folder / f"{stem}.jpg").is_file() for stem in STEMS)


def _replace_photo(photo: Path, suffix: str, image: Image.Image, **save) -> Path:
    """Save ``image`` in place of ``photo`` under ``suffix``, removing the old file if the name changes."""
    target = photo.with_suffix(suffix)
    image.save(target, **save)
    if target != photo:
        photo.unlink()
    return target


def inject_broken_files(root: str | Path) -> dict[str, Path]:
    """Add the broken and odd files real archives hold to a tree written by :func:`make_synthetic`.

    Four complete person folders (in ``train.csv`` order) are changed: the first gets a truncated JPEG
    (its first 200 bytes) and a zero-byte file; the second an unknown stem ``mask6.jpg`` and a duplicate
    stem ``mask2.png``; the third's ``train.csv`` age is changed so it disagrees with the folder name; the
    fourth's photos are re-saved as a palette PNG, a grayscale JPEG, an RGBA PNG and an EXIF-rotated JPEG
    (orientation 6), all still valid photos.

    Args:
        root: the dataset root.

    Returns:
        kind -> path: ``truncated``, ``empty``, ``unknown_stem``, ``duplicate_stem``, ``name_mismatch``
        (the folder), ``palette``, ``grayscale``, ``rgba`` and ``exif_rotated``.

    Raises:
        ValueError: if fewer than four person folders hold all seven JPEGs.
    """
    train = Path(root) / "train"
    csv_path = train / "train.csv"
    rows = read_csv_rows(csv_path, TRAIN_COLUMNS)
    folders = [train / "images" / row["path"] for row in rows if _has_all_jpegs(train / "images" / row["path"])]
    if len(folders) < 4:
        raise ValueError(f"{train}: need four complete person folders to break, found {len(folders)}")
    damaged, crowded, mislabelled, odd = folders[:4]
    found: dict[str, Path] = {}

    found["truncated"] = damaged / "mask1.jpg"
    found["truncated"].write_bytes(found["truncated"].read_bytes()[:200])
    found["empty"] = damaged / "mask2.jpg"
    found["empty"].write_bytes(b"")

    found["unknown_stem"] = crowded / "mask6.jpg"
    found["unknown_stem"].write_bytes((crowded / "mask1.jpg").read_bytes())
    found["duplicate_stem"] = crowded / "mask2.png"
    with Image.open(crowded / "mask2.jpg") as image:
        image.save(found["duplicate_stem"], "PNG")

    for row in rows:
        if row["path"] == mislabelled.name:
            row["age"] = str(int(row["age"]) + 1)
    _write_csv(csv_path, TRAIN_COLUMNS, [[row[c] for c in TRAIN_COLUMNS] for row in rows])
    found["name_mismatch"] = mislabelled

    def upright(stem: str) -> Image.Image:
        with Image.open(odd / f"{stem}.jpg") as image:
            return image.convert("RGB")

    palette = upright("mask1").convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    found["palette"] = _replace_photo(odd / "mask1.jpg", ".png", palette, format="PNG")
    found["grayscale"] = _replace_photo(odd / "mask2.jpg", ".jpg", upright("mask2").convert("L"), format="JPEG")
    found["rgba"] = _replace_photo(odd / "mask3.jpg", ".png", upright("mask3").convert("RGBA"), format="PNG")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display, so store the photo turned the other way
    stored = upright("normal").transpose(Image.Transpose.ROTATE_90)
    found["exif_rotated"] = _replace_photo(odd / "normal.jpg", ".jpg", stored, format="JPEG", exif=exif.tobytes())
    return found
