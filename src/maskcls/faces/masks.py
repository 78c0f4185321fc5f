"""Procedural face masks drawn onto photos from five face landmarks (MaskTheFace-style, nothing downloaded).

A mask is a sheet laid on a small 3-D face model built from the landmarks: the eyes give scale and roll, the nose
tip's offset from the eye midpoint gives yaw, and the face is a vertical cylinder (radius :data:`FACE_RADIUS`
frontal eye distances) with the sheet bulging in front of it. Turning the head squeezes the far side of the sheet
towards the face's silhouette and widens the near side. Heights on the face are *face units* ``f``: 0 on the eye
line, 1 at the nose tip, 2 at the mouth corners, 3 at the chin (mouth + :data:`CHIN_RATIO` × (mouth − eyes)),
linear in between and beyond, so every mask follows the proportions of the face it lies on.

A kind (:data:`MASK_KINDS`) gives the sheet's outline in face units, samples its look and draws its flat texture
(:mod:`maskcls.faces.mask_textures`); a placement (:data:`PLACEMENTS`) moves it: ``correct`` from the nose
bridge to under the chin, ``nose_exposed`` with the top edge below the nostrils, ``chin`` under the lower lip.
:func:`render_mask` warps the texture piecewise-affinely over the projected sheet, lights it with the face's own
luminance, feathers its edge, adds ear loops (head straps for N95) and matches the photo's blur and noise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import cv2
import numpy as np

from maskcls.faces import mask_textures as textures
from maskcls.faces.mask_textures import MaskStyle

PLACEMENTS = ("correct", "nose_exposed", "chin")
#: Face radius (a vertical cylinder) in frontal eye distances: cheeks are about 2.2 eye distances wide.
FACE_RADIUS = 1.1
#: How far the nose tip and the mouth stand out, as their image offset from the eye midpoint per unit sin(yaw),
#: in frontal eye distances (from the mean 3-D face: nose tip 30 mm in front of the eyes, 63 mm apart).
NOSE_DEPTH = 0.48
MOUTH_DEPTH = 0.3
#: chin = mouth + CHIN_RATIO × (mouth − eyes), along the face's vertical axis (RetinaFace boxes of UTKFace faces
#: end at about 0.8, a little below the chin).
CHIN_RATIO = 0.72
MAX_YAW = math.radians(60.0)
#: Height (face units) of the jaw's angle: a mask laid on a face mesh leaves the silhouette there at the latest
#: and follows the jaw round the chin (a surgical mask's sides end at 2.45).
JAW_ANGLE = 2.45
#: Rows × columns of the mesh that carries the texture.
MESH = (13, 25)
#: placement -> (top centre in face units, or None for the kind's own; height scale; rise of the sides in face
#: units; width scale). A mask pulled down bunches up (height < 1); on the chin its sides ride up the jaw.
PLACEMENT_MOVES = {
    "correct": (None, 1.0, 0.0, 1.0),
    "nose_exposed": (1.26, 0.84, 0.0, 1.0),
    "chin": (2.42, 0.45, 0.35, 0.92),
}

_EYE_ANGLE = math.asin(0.5 / FACE_RADIUS)


@dataclass(frozen=True)
class MaskShape:
    """A mask sheet in face units: top, middle and bottom edge heights at the centre (``*_c``, ``u = 0``) and at
    the sides (``*_s``, ``|u| = 1``), joined by ``|u| ** p`` curves; half-angles around the face (degrees) at the
    top and bottom edge; ``bulge``: how far the sheet's centre stands off the face (frontal eye distances)."""

    top_c: float
    top_s: float
    mid_c: float
    mid_s: float
    bot_c: float
    bot_s: float
    top_p: float = 2.0
    bot_p: float = 2.0
    phi_top: float = 80.0
    phi_bot: float = 74.0
    bulge: float = 0.3


@dataclass(frozen=True)
class MaskKind:
    """One kind of mask: its outline, how often :func:`sample_kind` draws it, ``straps`` (``"ears"`` for ear
    loops, ``"head"`` for head straps), its style sampler and its texture painter (see
    :mod:`maskcls.faces.mask_textures`)."""

    name: str
    shape: MaskShape
    weight: float
    straps: str
    sample_style: Callable[[np.random.Generator], MaskStyle]
    texture: Callable[[MaskStyle, tuple[int, int], np.random.Generator], tuple[np.ndarray, np.ndarray]]


#: The kinds of mask, by name. Outlines in face units (0 eyes, 1 nose tip, 2 mouth, 3 chin): surgical is a
#: pleated rectangle gathered at the sides, cloth a contoured shape, KF94 a boat with pointed sides and its seam
#: at the middle row, N95 a rounded cup standing well off the face.
MASK_KINDS: dict[str, MaskKind] = {
    "surgical": MaskKind(
        "surgical", MaskShape(0.25, 0.5, 1.7, 1.55, 3.15, 2.45, top_p=1.3, bot_p=2.0),
        weight=0.45, straps="ears", sample_style=textures.surgical_style, texture=textures.surgical_texture),
    "cloth": MaskKind(
        "cloth", MaskShape(0.25, 0.6, 1.75, 1.6, 3.2, 2.35, top_p=1.6, bot_p=1.6, phi_top=78, phi_bot=70),
        weight=0.3, straps="ears", sample_style=textures.cloth_style, texture=textures.cloth_texture),
    "kf94": MaskKind(
        "kf94", MaskShape(0.22, 1.45, 1.55, 1.55, 3.25, 1.68, top_p=2.2, bot_p=2.0, phi_top=84, phi_bot=84,
                          bulge=0.35),
        weight=0.12, straps="ears", sample_style=textures.kf94_style, texture=textures.kf94_texture),
    "n95": MaskKind(
        "n95", MaskShape(0.25, 1.0, 1.75, 1.75, 3.2, 2.4, phi_top=66, phi_bot=60, bulge=0.45),
        weight=0.13, straps="head", sample_style=textures.n95_style, texture=textures.n95_texture),
}


def sample_kind(rng: np.random.Generator) -> str:
    """A mask kind drawn with :data:`MASK_KINDS`' weights (surgical 45 %, cloth 30 %, N95 13 %, KF94 12 %)."""
    names = list(MASK_KINDS)
    weights = np.array([MASK_KINDS[name].weight for name in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def _check(kind: str, placement: str) -> MaskKind:
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}; choose from {', '.join(MASK_KINDS)}")
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown mask placement {placement!r}; choose from {', '.join(PLACEMENTS)}")
    return MASK_KINDS[kind]


# ---------------------------------------------------------------- geometry


@dataclass(frozen=True)
class _Frame:
    """The face model in pixels: eye midpoint, image directions of the face's x and y axes, yaw (radians,
    negative when the nose points image-left), frontal eye distance, heights of face units 0–3 and the sideways
    corrections that put the sheet's centre line through the nose tip and the mouth."""

    origin: np.ndarray
    axes: np.ndarray
    yaw: float
    unit: float
    heights: np.ndarray
    shifts: np.ndarray

    def y(self, f: np.ndarray) -> np.ndarray:
        """Distance below the eye line (pixels) of face units ``f``, linear between landmarks and beyond them."""
        h = self.heights
        return np.where(f < 0, f * h[1], np.where(f > 3, h[3] + (f - 3) * (h[3] - h[2]), np.interp(f, range(4), h)))

    def radius(self, f: np.ndarray) -> np.ndarray:
        """The face cylinder's radius, narrowing from the cheeks to the jaw."""
        return FACE_RADIUS * self.unit * (1.0 - 0.15 * np.clip((f - 1.5) / 1.5, 0.0, 1.0))

    def project(self, phi: np.ndarray, f: np.ndarray, lift: np.ndarray | float = 0.0, spread: np.ndarray | float = 1.0,
                clamp: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Image points of points at angle ``phi`` round the face and height ``f``, ``lift`` in front of it and
        ``spread`` times its radius from the axis, and whether the head leaves them visible; ``clamp`` moves
        points behind the silhouette onto it (for the sheet)."""
        if clamp:
            phi = np.clip(phi, -math.pi / 2 - self.yaw, math.pi / 2 - self.yaw)
        radius = self.radius(f)
        across, forward = radius * spread * np.sin(phi), radius * spread * np.cos(phi) + lift
        x = across * math.cos(self.yaw) + forward * math.sin(self.yaw)
        depth = forward * math.cos(self.yaw) - across * math.sin(self.yaw)
        visible = (depth >= 0) | (np.abs(x) > radius)
        axis = FACE_RADIUS * self.unit * math.cos(_EYE_ANGLE) * math.sin(self.yaw)
        x = x - axis + np.interp(f, (0, 1, 2), self.shifts)
        points = self.origin + x[..., None] * self.axes[0] + self.y(f)[..., None] * self.axes[1]
        return points, visible


def _frame(landmarks: np.ndarray) -> _Frame:
    """The face model of five landmarks (yaw from the nose tip's sideways offset, at most :data:`MAX_YAW`)."""
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        raise ValueError(f"landmarks must be a finite (5, 2) array, got shape {points.shape}")
    eye_l, eye_r, nose, mouth_l, mouth_r = points
    origin = (eye_l + eye_r) / 2
    distance = float(np.hypot(*(eye_r - eye_l)))
    if distance < 1.0:
        raise ValueError(f"landmarks: the eyes are {distance:.2f} px apart; a face needs at least 1 px")
    x_axis = (eye_r - eye_l) / distance
    axes = np.array([x_axis, (-x_axis[1], x_axis[0])])
    nose_x, nose_y = axes @ (nose - origin)
    mouth_x, mouth_y = axes @ ((mouth_l + mouth_r) / 2 - origin)
    yaw = float(np.clip(math.atan(nose_x / distance / NOSE_DEPTH), -MAX_YAW, MAX_YAW))
    unit = distance / math.cos(yaw)
    mouth_y = max(mouth_y, 0.5 * unit)  # guards against landmarks in a wrong order
    nose_y = float(np.clip(nose_y, 0.3 * mouth_y, 0.8 * mouth_y))
    heights = np.array([0.0, nose_y, mouth_y, mouth_y * (1 + CHIN_RATIO)])
    lean = unit * math.sin(yaw)
    shifts = np.array([0.0, nose_x - NOSE_DEPTH * lean, mouth_x - MOUTH_DEPTH * lean])
    return _Frame(origin, axes, yaw, unit, heights, shifts)


def _sheet(shape: MaskShape, placement: str, u: np.ndarray, t: np.ndarray, drop: float = 0.0,
           anchor: float | None = None):
    """Angle around the face (radians) and height (face units) of sheet points ``u`` (-1..1), ``t`` (0..1);
    ``anchor`` (face units) replaces the placement's own height of the top edge's centre."""
    top_at, scale, rise, widen = PLACEMENT_MOVES[placement]
    top_at = top_at if anchor is None else anchor
    side = np.abs(u)
    top = shape.top_c + (shape.top_s - shape.top_c) * side**shape.top_p
    mid = shape.mid_c + (shape.mid_s - shape.mid_c) * side ** ((shape.top_p + shape.bot_p) / 2)
    bottom = shape.bot_c + (shape.bot_s - shape.bot_c) * side**shape.bot_p
    f = np.where(t < 0.5, top + (mid - top) * 2 * t, mid + (bottom - mid) * (2 * t - 1))
    anchor = shape.top_c if top_at is None else top_at
    f = anchor + drop + (f - shape.top_c) * scale - rise * u**2
    phi = np.radians(u * (shape.phi_top + (shape.phi_bot - shape.phi_top) * t) * widen)
    return phi, f


def _sheet_points(frame: _Frame, shape: MaskShape, placement: str, u, t, drop: float = 0.0) -> np.ndarray:
    phi, f = _sheet(shape, placement, np.asarray(u, dtype=np.float64), np.asarray(t, dtype=np.float64), drop)
    return frame.project(phi, f, lift=shape.bulge * frame.unit * np.cos(phi) ** 4, clamp=True)[0]


def _mesh(frame: _Frame, shape: MaskShape, placement: str, drop: float = 0.0) -> np.ndarray:
    """Image points ``[rows, cols, 2]`` of the sheet's mesh (rows from the top edge, columns from image-left)."""
    rows, cols = MESH
    t, u = np.meshgrid(np.linspace(0, 1, rows), np.linspace(-1, 1, cols), indexing="ij")
    return _sheet_points(frame, shape, placement, u, t, drop)


def _outline(mesh: np.ndarray) -> np.ndarray:
    """The mesh's border, clockwise on screen from the top-left corner."""
    return np.concatenate([mesh[0], mesh[1:, -1], mesh[-1, -2::-1], mesh[-2:0:-1, 0]])


def mask_outline(landmarks: np.ndarray | None, placement: str, image_size: tuple[int, int] | None = None,
                 shape: str = "surgical", mesh: np.ndarray | None = None) -> np.ndarray:
    """The polygon a mask covers on a face, in image coordinates.

    Args:
        landmarks: ``(5, 2)`` x, y of the image-left eye, image-right eye, nose tip, image-left and image-right
            mouth corner (unused, may be ``None``, when ``mesh`` is given).
        placement: one of :data:`PLACEMENTS`.
        image_size: ``(height, width)`` (as ``image.shape[:2]``) to clip the polygon to; ``None`` keeps it whole.
        shape: the mask kind whose outline to use (its nominal size, without a style's jitter).
        mesh: the face's 468-point mesh (:func:`maskcls.faces.mesh.face_mesh`): the mask then follows the face's
            own nose bridge, jaw and silhouette.

    Returns:
        ``(K, 2)`` float32 polygon, clockwise on screen.

    Raises:
        ValueError: unknown kind or placement, or landmarks that are not a finite ``(5, 2)`` array (or a mesh
            that is not a finite ``(468, 2|3)`` one).
    """
    kind = _check(shape, placement)
    if mesh is not None:
        frame, local = _mesh_frame(mesh)
        sheet = _mesh_sheet(frame, local, kind.shape, placement)
    else:
        sheet = _mesh(_frame(landmarks), kind.shape, placement)
    outline = _outline(sheet).astype(np.float32)
    if image_size is not None:
        height, width = image_size
        outline = np.clip(outline, 0, (width - 1, height - 1)).astype(np.float32)
    return outline


# ---------------------------------------------------------------- the dense face mesh


def _mesh_frame(mesh: np.ndarray) -> tuple[_Frame, np.ndarray]:
    """The face model of a 468-point mesh (its five landmarks, the chin where the mesh puts it) and every mesh
    point in face coordinates ``(across, down)`` in pixels from the eye midpoint."""
    from maskcls.faces.mesh import CHIN, MESH_POINTS, five_points

    points = np.asarray(mesh, dtype=np.float64)
    if points.ndim != 2 or points.shape[0] != MESH_POINTS or points.shape[1] < 2 or not np.isfinite(points).all():
        raise ValueError(f"mesh must be a finite ({MESH_POINTS}, 2 or 3) array, got shape {points.shape}")
    frame = _frame(five_points(points))
    local = (points[:, :2] - frame.origin) @ frame.axes.T
    heights = frame.heights.copy()
    heights[3] = max(float(local[CHIN, 1]), heights[2] + 0.2 * (heights[2] - heights[1]) + 1e-3)
    return replace(frame, heights=heights), local


def _ring(local: np.ndarray, count: int = 360) -> np.ndarray:
    """The face's silhouette (convex hull of the mesh in face coordinates), resampled evenly, clockwise."""
    hull = cv2.convexHull(local.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    closed = np.concatenate([hull, hull[:1]])
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(closed, axis=0), axis=1))])
    at = np.linspace(0.0, length[-1], count, endpoint=False)
    return np.stack([np.interp(at, length, closed[:, 0]), np.interp(at, length, closed[:, 1])], axis=1)


def _side(ring: np.ndarray, down: float, sign: float) -> float:
    """How far across (image-left ``sign=-1`` or image-right ``+1``) the silhouette reaches at height ``down``."""
    low, high = ring[:, 1].min(), ring[:, 1].max()
    down = float(np.clip(down, low + 0.02 * (high - low), high - 0.02 * (high - low)))
    a, b = ring, np.roll(ring, -1, axis=0)
    crosses = (a[:, 1] - down) * (b[:, 1] - down) <= 0
    crosses &= a[:, 1] != b[:, 1]
    across = a[crosses, 0] + (down - a[crosses, 1]) * (b[crosses, 0] - a[crosses, 0]) / (b[crosses, 1] - a[crosses, 1])
    return float(across.min() if sign < 0 else across.max())


def _even(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced along a polyline, ends kept."""
    length = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])
    at = np.linspace(0.0, length[-1], count)
    return np.stack([np.interp(at, length, points[:, 0]), np.interp(at, length, points[:, 1])], axis=1)


def _jaw(ring: np.ndarray, left: np.ndarray, right: np.ndarray, cols: int, below: float) -> np.ndarray:
    """The silhouette's lower arc from the ``left`` to the ``right`` corner, in ``cols`` points (the middle one at
    its lowest point), pushed out from the face by up to ``below`` pixels under the chin (none at the corners)."""
    start = int(np.argmin(np.linalg.norm(ring - left, axis=1)))
    end = int(np.argmin(np.linalg.norm(ring - right, axis=1)))
    forward = np.roll(ring, -start, axis=0)[: (end - start) % len(ring) + 1]
    backward = np.roll(ring[::-1], -(len(ring) - 1 - start), axis=0)[: (start - end) % len(ring) + 1]
    arc = forward if forward[:, 1].mean() > backward[:, 1].mean() else backward
    arc = np.concatenate([left[None], arc[1:-1], right[None]])
    lowest = int(np.argmax(arc[:, 1]))
    half = cols // 2 + 1
    if 0 < lowest < len(arc) - 1:
        points = np.concatenate([_even(arc[: lowest + 1], half), _even(arc[lowest:], half)[1:]])
    else:
        points = _even(arc, cols)
    tangent = np.gradient(points, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-9)
    centre = ring.mean(axis=0)
    normal *= np.sign(np.sum((points - centre) * normal, axis=1, keepdims=True) + 1e-12)
    reach = below * np.clip(1.6 * np.sin(np.linspace(0.0, math.pi, len(points))), 0.0, 1.0)
    return points + normal * reach[:, None]


def _mesh_anchor(placement: str, local: np.ndarray, frame: _Frame) -> float | None:
    """Height (face units) of the top edge's centre, from the mesh: the kind's own on the nose bridge
    (``correct``), between the nostrils and the upper lip (``nose_exposed``), under the lower lip (``chin``)."""
    from maskcls.faces.mesh import BELOW_LIP, SUBNASALE, UPPER_LIP

    if placement == "correct":
        return None
    down = local[:, 1]
    if placement == "nose_exposed":
        at = down[SUBNASALE] + 0.2 * (down[UPPER_LIP] - down[SUBNASALE])
    else:
        at = down[BELOW_LIP]
    return float(np.interp(at, frame.heights, range(4)))


def _mesh_sheet(frame: _Frame, local: np.ndarray, shape: MaskShape, placement: str, drop: float = 0.0
                ) -> np.ndarray:
    """Image points ``[rows, cols, 2]`` of a mask sheet laid on a face mesh (rows from the top edge).

    The top edge keeps the kind's heights but centres on the face's own midline (the nose ridge, which moves
    with the head); the sides run down the silhouette (on a turned face, the far side's visible cheek), the
    bottom edge follows the jaw and passes under the chin by as much as the kind reaches below it. The inside
    is a Coons patch of those four edges.
    """
    from maskcls.faces.mesh import MIDLINE

    rows, cols = MESH
    ring = _ring(local)
    middle = local[list(MIDLINE)]
    middle = middle[np.argsort(middle[:, 1])]

    def ridge(down):
        """How far across the face's midline (nose ridge, lips, chin) lies at height ``down``."""
        return np.interp(down, middle[:, 1], middle[:, 0])

    anchor = _mesh_anchor(placement, local, frame)
    u = np.linspace(-1.0, 1.0, cols)
    _, f_top = _sheet(shape, placement, u, np.zeros(cols), drop, anchor)
    _, f_bottom = _sheet(shape, placement, np.array([-1.0, 0.0, 1.0]), np.ones(3), drop, anchor)
    # The kind's width at its top edge, relative to a surgical mask's (which reaches the silhouette).
    width = min(1.0, math.sin(math.radians(min(shape.phi_top, 89.0))) / math.sin(math.radians(80.0)))
    down_top = frame.y(f_top)
    sides = np.array([_side(ring, d, np.sign(x) or 1.0) for d, x in zip(down_top, u)])
    top = np.stack([ridge(down_top) + (sides - ridge(down_top)) * width * np.abs(u), down_top], axis=1)
    # Bottom corners on the silhouette no lower than the jaw's angle, so the arc between them is the face's jaw.
    corner_f = np.minimum(f_bottom[[0, 2]], JAW_ANGLE)
    corners = [np.array([_side(ring, frame.y(f), sign), frame.y(f)]) for f, sign in zip(corner_f, (-1.0, 1.0))]
    # Under the chin by what the kind reaches below it (a pulled-down mask hangs lower), within reason.
    chin_unit = frame.heights[3] - frame.heights[2]
    below = float(np.clip(f_bottom[1] - 3.0, 0.08, 0.35)) * chin_unit
    bottom = _jaw(ring, corners[0], corners[1], cols, below)
    t = np.linspace(0.0, 1.0, rows)
    edges = []
    for end, corner, sign in ((0, corners[0], -1.0), (-1, corners[1], 1.0)):
        down = top[end, 1] + (corner[1] - top[end, 1]) * t
        reach = np.array([_side(ring, d, sign) for d in down])
        share = width + (1.0 - width) * t
        edges.append(np.stack([ridge(down) + (reach - ridge(down)) * share, down], axis=1))
    left, right = edges
    s = np.linspace(0.0, 1.0, cols)[None, :, None]
    tt = t[:, None, None]
    patch = ((1 - tt) * top[None] + tt * bottom[None] + (1 - s) * left[:, None] + s * right[:, None]
             - ((1 - s) * (1 - tt) * top[0] + s * (1 - tt) * top[-1] + (1 - s) * tt * bottom[0] + s * tt * bottom[-1]))
    return frame.origin + patch[..., :1] * frame.axes[0] + patch[..., 1:] * frame.axes[1]


def _straps(frame: _Frame, shape: MaskShape, placement: str, straps: str, drop: float,
            sheet: np.ndarray | None = None) -> list[np.ndarray]:
    """Visible pieces of the ear loops (or N95 head straps) as image polylines, from the mask's side corners;
    with ``sheet`` (a mesh-laid sheet's points) each loop leaves from that sheet's side instead, easing into the
    modelled path on its way to the ear."""
    # (sheet row it leaves from, height it reaches, angle round the head it reaches): loops hook over and
    # behind the ear; head straps run over the cheek round the back of the head, above the ear and on the neck.
    if straps == "ears":
        ends, stand_off = ((0.04, 0.15, 100.0), (0.96, 1.25, 100.0)), 0.12
    else:
        ends, stand_off = ((0.15, -0.1, 118.0), (0.85, 2.4, 118.0)), 0.03
    s = np.linspace(0.0, 1.0, 24)
    pieces = []
    for side in (-1.0, 1.0):
        for t_end, ear_f, ear_angle in ends:
            phi0, f0 = _sheet(shape, placement, np.array(side), np.array(t_end), drop)
            phi = phi0 + (side * math.radians(ear_angle) - phi0) * s
            f = f0 + (ear_f - f0) * s + 0.1 * np.sin(np.pi * s)  # a little sag between mask and ear
            lift = shape.bulge * frame.unit * math.cos(phi0) ** 4 * (1 - s)
            points, visible = frame.project(phi, f, lift=lift, spread=1.0 + stand_off * s)
            if sheet is not None:
                start = sheet[round(t_end * (sheet.shape[0] - 1)), 0 if side < 0 else -1]
                points = points + (start - points[0]) * (1 - s)[:, None]
            shown = len(s) if visible.all() else int(np.argmin(visible))
            if shown >= 2:
                pieces.append(points[:shown])
    return pieces


# ---------------------------------------------------------------- rendering


def _mesh_coords(mesh: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """Sheet coordinates ``(u 0..1, t 0..1)`` of every pixel of a ``size`` region, piecewise affine over the
    mesh's triangles (``mesh`` in region pixels); pixels off the mesh use their nearest triangle's map."""
    rows, cols = mesh.shape[:2]
    t, u = np.meshgrid(np.linspace(0, 1, rows), np.linspace(0, 1, cols), indexing="ij")
    sheet = np.stack([u, t], axis=-1)
    # Two triangles per quad, in raster order of the quads (a later triangle owns the pixels it shares).
    i, j = (g.ravel() for g in np.meshgrid(np.arange(rows - 1), np.arange(cols - 1), indexing="ij"))
    first = np.stack([np.stack([i, j], -1), np.stack([i, j + 1], -1), np.stack([i + 1, j + 1], -1)], axis=1)
    second = np.stack([np.stack([i, j], -1), np.stack([i + 1, j + 1], -1), np.stack([i + 1, j], -1)], axis=1)
    corners = np.stack([first, second], axis=1).reshape(-1, 3, 2)
    dst = mesh[corners[..., 0], corners[..., 1]].astype(np.float32)
    src = sheet[corners[..., 0], corners[..., 1]]
    edge_a, edge_b = dst[:, 1] - dst[:, 0], dst[:, 2] - dst[:, 0]
    keep = np.abs(edge_a[:, 0] * edge_b[:, 1] - edge_a[:, 1] * edge_b[:, 0]) >= 1e-3
    dst, src = dst[keep], src[keep]
    if not len(dst):
        return None
    # The affine map of each triangle onto the sheet: [x, y, 1] @ solve(...) gives (u, t) at its corners.
    solved = np.linalg.solve(np.concatenate([dst, np.ones((len(dst), 3, 1), np.float32)], axis=-1).astype(np.float64),
                             src)
    maps = np.transpose(solved, (0, 2, 1)).astype(np.float32)
    owner = np.full(size, -1, np.int32)
    for label, points in enumerate(np.rint(dst * 16).astype(np.int32)):
        cv2.fillConvexPoly(owner, points, label, cv2.LINE_8, 4)
    hole = owner < 0
    if hole.all():
        return None
    if hole.any():
        # Each covered pixel is its own label, numbered in raster order: label - 1 indexes owner[~hole].
        _, nearest = cv2.distanceTransformWithLabels(hole.astype(np.uint8), cv2.DIST_L2, 5,
                                                     labelType=cv2.DIST_LABEL_PIXEL)
        owner = owner[~hole][nearest - 1]
    y, x = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float32)
    m = maps[owner]
    return m[..., 2] + m[..., 0] * x[..., None] + m[..., 1] * y[..., None]


def _photo_blur(grey: np.ndarray) -> float:
    """Gaussian sigma (pixels) of a patch's edges, from the steepest slope next to its strongest steps (slope /
    step height = 1 / (sigma × √(2π))). The raw reading flattens (JPEG blocks and fine detail look sharp);
    the linear correction was fitted on UTKFace faces blurred by known amounts, at 64 and 200 px."""
    if min(grey.shape) < 12:
        return 1.0
    slope = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)) / 8
    steepest = cv2.dilate(slope, np.ones((5, 5), np.uint8))
    kernel = np.ones((11, 11), np.uint8)
    step = cv2.dilate(grey, kernel) - cv2.erode(grey, kernel)
    strong = step >= max(0.1, float(np.percentile(step, 98)))
    if strong.sum() < 10:
        return 1.0
    ratio = float(np.median(steepest[strong] / step[strong]))
    reading = 1.0 / (math.sqrt(2 * math.pi) * max(ratio, 1e-3))
    return float(np.clip(1.35 * reading - 0.95, 0.5, 5.0))


def _photo_noise(grey: np.ndarray) -> float:
    """Standard deviation (0..1 units) of a patch's pixel noise, read in its flattest places (faces are full of
    fine detail, so a global residual would take detail for noise)."""
    residual = grey - cv2.GaussianBlur(grey, (0, 0), 1.0)
    local = cv2.GaussianBlur(residual**2, (0, 0), 2.0)
    # Fine detail alone reads as about 0.008 in sharp small faces; take it out.
    return float(np.clip(math.sqrt(max(1.7 * float(np.percentile(local, 10)) - 0.008**2, 0.0)), 0.0, 0.03))


def _texture_size(mesh: np.ndarray) -> tuple[int, int]:
    """Texture rows × columns with about one texel per pixel along the sheet's middle row and column."""
    rows, cols = mesh.shape[:2]
    across = float(np.linalg.norm(np.diff(mesh[rows // 2], axis=0), axis=1).sum())
    down = float(np.linalg.norm(np.diff(mesh[:, cols // 2], axis=0), axis=1).sum())
    return int(np.clip(down, 24, 480)), int(np.clip(across, 32, 640))


def _texture(kind: MaskKind, style: MaskStyle, size: tuple[int, int], rng: np.random.Generator):
    """The kind's texture at ``size``, painted at twice the size and reduced when small (anti-aliased)."""
    if size[1] >= 200:
        return kind.texture(style, size, rng)
    rgb, relief = kind.texture(style, (size[0] * 2, size[1] * 2), rng)
    shrink = (size[1], size[0])
    return (cv2.resize(rgb, shrink, interpolation=cv2.INTER_AREA),
            cv2.resize(relief, shrink, interpolation=cv2.INTER_AREA))


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur; wide ones run on a reduced copy (the result is smooth anyway, and 20 × faster)."""
    if sigma <= 0.05:
        return image
    factor = int(sigma // 4)
    if factor < 2:
        return cv2.GaussianBlur(image, (0, 0), sigma)
    h, w = image.shape[:2]
    small = cv2.resize(image, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), sigma / factor), (w, h), interpolation=cv2.INTER_LINEAR)


def _jittered(shape: MaskShape, style: MaskStyle) -> MaskShape:
    """The shape scaled by a style's width (half-angles) and height (face units below the top edge)."""
    taller = {name: shape.top_c + (getattr(shape, name) - shape.top_c) * style.height
              for name in ("top_s", "mid_c", "mid_s", "bot_c", "bot_s")}
    return replace(shape, phi_top=shape.phi_top * style.width, phi_bot=shape.phi_bot * style.width, **taller)


def _coverage(outline: np.ndarray, straps: list[np.ndarray], size: tuple[int, int], span: float):
    """Alpha of the mask (anti-aliased at sub-pixel precision, then feathered) and of its loops."""
    cover = np.zeros(size, np.uint8)
    cv2.fillPoly(cover, [np.rint(outline * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    loops = np.zeros(size, np.uint8)
    thickness = max(1, round(0.012 * span))
    for piece in straps:
        cv2.polylines(loops, [np.rint(piece * 16).astype(np.int32)], False, 255, thickness, cv2.LINE_AA, 4)
    alpha = _blur(cover.astype(np.float32) / 255.0, 0.3 + 0.004 * span)
    return alpha, loops.astype(np.float32) / 255.0 * 0.9


def _light(image: np.ndarray, patch: np.ndarray, alpha: np.ndarray, span: float, rng: np.random.Generator):
    """How the photo lights the mask: the face's own low-frequency luminance under it (relative to its mean),
    an exposure from the face and the photo, and the photo's colour cast."""
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    weight = np.maximum(alpha, 1e-3)
    local = _blur(grey * weight, 0.12 * span) / _blur(weight, 0.12 * span)
    under = float((grey * alpha).sum() / max(alpha.sum(), 1e-6))
    face = np.clip(local / max(under, 1e-3), 0.45, 1.6)
    overall = image[::4, ::4].reshape(-1, 3).mean(axis=0) / 255.0
    exposure = np.clip((under + overall.mean()) / 2 / 0.48, 0.45, 1.2) ** 0.6 * rng.uniform(0.92, 1.06)
    tint = (overall / max(overall.mean(), 1e-3)).clip(0.7, 1.4) ** 0.2
    return face * exposure, tint.astype(np.float32)


def _desaturate(colours: tuple[np.ndarray, ...], patch: np.ndarray) -> tuple[np.ndarray, ...]:
    """A greyscale (or washed-out) photo gets a mask as colourless as the photo around it."""
    saturation = min(float(np.abs(patch - patch.mean(axis=-1, keepdims=True)).mean()) / 0.02, 1.0)
    if saturation >= 1.0:  # a colour photo: the colours stay as they are
        return colours
    return tuple(c.mean(axis=-1, keepdims=True) + (c - c.mean(axis=-1, keepdims=True)) * saturation
                 for c in colours)


def _composite(patch: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, loop_rgb: np.ndarray,
               loop_alpha: np.ndarray, span: float, rng: np.random.Generator) -> np.ndarray:
    """Loops under the mask's edge; the layer (premultiplied) takes the photo's blur and noise, the skin along
    the mask's edge a soft contact shadow. Returns the patch as uint8."""
    # In-place float32 arithmetic: this runs on every pixel of the region, six times a person in build-public.
    grey = cv2.cvtColor(patch, cv2.COLOR_RGB2GRAY)
    loop_share = loop_alpha * (1 - alpha)
    layer_alpha = alpha + loop_share
    layer = rgb * alpha[..., None]
    layer += loop_rgb * loop_share[..., None]
    extra = math.sqrt(max(_photo_blur(grey) ** 2 - 0.7**2, 0.0))  # the drawn, feathered edge is about 0.7
    layer, layer_alpha = _blur(layer, extra), _blur(layer_alpha, extra)
    layer /= np.maximum(layer_alpha, 1e-4)[..., None]
    noise = _photo_noise(grey)
    grain = rng.standard_normal((*alpha.shape, 4), dtype=np.float32)
    layer += noise * grain[..., :1]
    layer += (noise * 0.3) * grain[..., 1:]
    shadow = np.clip(_blur(alpha, 0.03 * span) - alpha, 0, 1)
    base = patch * (1 - 0.35 * shadow)[..., None]
    np.clip(layer, 0, 1, out=layer)
    layer -= base
    layer *= layer_alpha[..., None]
    layer += base
    np.clip(layer, 0, 1, out=layer)
    layer *= 255
    return np.rint(layer, out=layer).astype(np.uint8)


def render_mask(image: np.ndarray, landmarks: np.ndarray | None, kind: str = "surgical", placement: str = "correct",
                rng: np.random.Generator | None = None, mesh: np.ndarray | None = None) -> np.ndarray:
    """Draw a mask onto a face and return a new image.

    Args:
        image: ``[H, W, 3]`` uint8 RGB photo (not modified).
        landmarks: ``(5, 2)`` x, y of the image-left eye, image-right eye, nose tip, image-left and image-right
            mouth corner, in pixels of ``image``.
        kind: one of :data:`MASK_KINDS`.
        placement: one of :data:`PLACEMENTS`.
        rng: source of the mask's style and texture; the same seed gives the same pixels (``None``: fresh).
        mesh: the face's 468-point mesh (:func:`maskcls.faces.mesh.face_mesh`), or ``None``. Given, the mask's
            edges follow the face's own nose bridge, jaw and silhouette (``landmarks`` is then unused); without
            it the mask is placed from the five landmarks alone.

    Returns:
        ``[H, W, 3]`` uint8 RGB copy of ``image`` with the mask composited; pixels away from the mask and its
        loops are unchanged.

    Raises:
        ValueError: unknown kind or placement, an image that is not ``[H, W, 3]`` uint8, or bad landmarks.
    """
    spec = _check(kind, placement)
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] uint8 RGB, got {image.dtype} {image.shape}")
    rng = np.random.default_rng() if rng is None else rng
    frame, local = _mesh_frame(mesh) if mesh is not None else (_frame(landmarks), None)
    style = spec.sample_style(rng)
    shape = _jittered(spec.shape, style)
    if local is None:
        sheet = _mesh(frame, shape, placement, style.drop)
        straps = _straps(frame, shape, placement, spec.straps, style.drop)
    else:
        sheet = _mesh_sheet(frame, local, shape, placement, style.drop)
        straps = _straps(frame, shape, placement, spec.straps, style.drop, sheet)
    outline = _outline(sheet)

    # Work in the region the mask, its loops and its soft edges can reach.
    span = max(float(np.ptp(outline[:, 0])), float(np.ptp(outline[:, 1])), 4.0)
    margin = int(math.ceil(0.08 * span)) + 4
    reach = np.concatenate([outline, *straps])
    height, width = image.shape[:2]
    x0, y0 = np.maximum(np.floor(reach.min(axis=0)).astype(int) - margin, 0)
    x1, y1 = np.minimum(np.ceil(reach.max(axis=0)).astype(int) + margin, (width, height))
    out = image.copy()
    if x1 - x0 < 2 or y1 - y0 < 2:
        return out
    corner, size = np.array([x0, y0], np.float64), (int(y1 - y0), int(x1 - x0))
    coords = _mesh_coords(sheet - corner, size)
    if coords is None:
        return out
    alpha, loop_alpha = _coverage(outline - corner, [piece - corner for piece in straps], size, span)

    # Fabric colour and relief warped onto the face, lit like it: the face's light, a vertical gradient (the
    # part under the chin faces down) and the sheet turning away at the sides.
    tex_rgb, tex_relief = _texture(spec, style, _texture_size(sheet), rng)
    th, tw = tex_relief.shape
    map_x, map_y = coords[..., 0] * (tw - 1), coords[..., 1] * (th - 1)
    rgb = cv2.remap(tex_rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    relief = cv2.remap(tex_relief, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)[..., None]
    patch = image[y0:y1, x0:x1].astype(np.float32) / 255.0
    face_light, tint = _light(image, patch, alpha, span, rng)
    u, t = np.clip(coords[..., 0], 0, 1), np.clip(coords[..., 1], 0, 1)
    phi, _ = _sheet(shape, placement, u * 2 - 1, t, style.drop)
    turn = 0.7 + 0.3 * np.cos(np.clip(phi + frame.yaw, -math.pi / 2, math.pi / 2))
    vertical = 1.04 - 0.08 * t - 0.14 * np.clip((t - 0.8) / 0.2, 0, 1) ** 2
    light = (face_light * turn * vertical)[..., None] * tint
    dark = 1.0 - rgb.mean(axis=-1, keepdims=True)  # black fabric still shows its folds and the light as sheen
    rgb = rgb * relief * light + dark * (0.5 * (relief - 1) + 0.08 * (light - 1))
    rgb, loop_rgb = _desaturate((rgb, np.asarray(style.loops, np.float32) * light), patch)
    out[y0:y1, x0:x1] = _composite(patch, rgb, alpha, loop_rgb, loop_alpha, span, rng)
    return out
