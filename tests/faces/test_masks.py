"""Procedural masks: outline geometry per placement and pose, and rendering on a synthetic grey face."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from maskcls.faces.masks import MASK_KINDS, PLACEMENTS, mask_outline, render_mask, sample_kind

#: A frontal face in a 300 × 300 photo: eyes 60 px apart (image-left eye, image-right eye, nose tip, mouth corners).
FRONTAL = np.array([[120, 130], [180, 130], [150, 165], [126, 195], [174, 195]], np.float32)
NOSE, MOUTH_L, MOUTH_R = (150, 165), (126, 195), (174, 195)
BELOW_MOUTH, CHIN = (150, 222), (150, 240)


def face_photo(landmarks: np.ndarray, size: int, left_light: float = 1.0) -> np.ndarray:
    """A grey background with a skin-coloured ellipse face, dark eyes and mouth at ``landmarks``; the image-left
    half of the face is multiplied by ``left_light``."""
    image = np.full((size, size, 3), (128, 128, 128), np.uint8)
    eyes = landmarks[:2].mean(axis=0)
    dist = float(landmarks[1, 0] - landmarks[0, 0])
    centre = (int(eyes[0]), int(eyes[1] + 0.6 * dist))
    cv2.ellipse(image, centre, (int(1.1 * dist), int(1.5 * dist)), 0, 0, 360, (200, 160, 130), -1)
    for x, y in landmarks[:2]:
        cv2.circle(image, (int(x), int(y)), max(1, int(0.1 * dist)), (40, 30, 30), -1)
    cv2.line(image, tuple(int(v) for v in landmarks[3]), tuple(int(v) for v in landmarks[4]), (120, 60, 60),
             max(1, int(0.06 * dist)))
    if left_light != 1.0:
        half = image[:, : centre[0]].astype(np.float32) * left_light
        image[:, : centre[0]] = half.clip(0, 255).astype(np.uint8)
    return image


def inside(polygon: np.ndarray, point) -> bool:
    return cv2.pointPolygonTest(polygon.astype(np.float32), (float(point[0]), float(point[1])), False) > 0


def polygon_mask(polygon: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.rint(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


@pytest.mark.parametrize("kind", list(MASK_KINDS))
def test_correct_covers_nose_tip_mouth_and_below(kind):
    outline = mask_outline(FRONTAL, "correct", shape=kind)
    assert outline.ndim == 2 and outline.shape[1] == 2 and outline.dtype == np.float32
    for point in (NOSE, MOUTH_L, MOUTH_R, BELOW_MOUTH):
        assert inside(outline, point), (kind, point)


@pytest.mark.parametrize("kind", list(MASK_KINDS))
def test_nose_exposed_covers_the_mouth_but_not_the_nose_tip(kind):
    outline = mask_outline(FRONTAL, "nose_exposed", shape=kind)
    assert not inside(outline, NOSE)
    assert not inside(outline, (150, 170))  # just below the tip: the nostrils show
    for point in (MOUTH_L, MOUTH_R, BELOW_MOUTH):
        assert inside(outline, point), (kind, point)


@pytest.mark.parametrize("kind", list(MASK_KINDS))
def test_chin_covers_the_chin_only(kind):
    outline = mask_outline(FRONTAL, "chin", shape=kind)
    for point in (NOSE, MOUTH_L, MOUTH_R, (150, 196)):
        assert not inside(outline, point), (kind, point)
    assert inside(outline, CHIN)


def test_yaw_makes_the_far_side_narrower():
    frontal = mask_outline(FRONTAL, "correct")
    turned_lm = FRONTAL.copy()
    turned_lm[2, 0] -= 14  # the nose tip points image-left: that side turns away
    turned_lm[3:, 0] -= 8
    turned = mask_outline(turned_lm, "correct")

    def sides(outline, nose_x):
        return nose_x - outline[:, 0].min(), outline[:, 0].max() - nose_x

    left0, right0 = sides(frontal, FRONTAL[2, 0])
    left, right = sides(turned, turned_lm[2, 0])
    assert abs(left0 - right0) < 0.05 * (left0 + right0)
    assert left < 0.75 * left0 and right > 1.1 * right0
    assert left < 0.6 * right
    mirrored = turned_lm.copy()
    mirrored[:, 0] = 300 - mirrored[:, 0]
    mirrored = mirrored[[1, 0, 2, 4, 3]]
    m_left, m_right = sides(mask_outline(mirrored, "correct"), mirrored[2, 0])
    assert m_left == pytest.approx(right, abs=0.5) and m_right == pytest.approx(left, abs=0.5)


def test_roll_rotates_the_outline_with_the_face():
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([150, 150])
    rolled = (FRONTAL - centre) @ rotation.T + centre
    expected = (mask_outline(FRONTAL, "correct") - centre) @ rotation.T + centre
    assert np.allclose(mask_outline(rolled, "correct"), expected, atol=0.05)


def test_outline_clipped_to_the_image():
    outline = mask_outline(FRONTAL - (0, 100), "correct", image_size=(100, 160))
    assert outline[:, 0].min() >= 0 and outline[:, 0].max() <= 159
    assert outline[:, 1].min() >= 0 and outline[:, 1].max() <= 99


def test_render_changes_only_pixels_near_the_mask():
    image = face_photo(FRONTAL, 300)
    before = image.copy()
    out = render_mask(image, FRONTAL, "surgical", "correct", np.random.default_rng(0))
    assert np.array_equal(image, before)  # the input is left alone
    assert out.dtype == np.uint8 and out.shape == image.shape
    changed = (out != image).any(axis=2)
    outline = mask_outline(FRONTAL, "correct")
    covered = polygon_mask(outline, changed.shape)
    assert changed[covered].mean() > 0.95
    # Ear loops, the feather and the drawn size (up to 18 % taller and 10 % wider than the nominal outline).
    near = cv2.dilate(covered.astype(np.uint8), np.ones((61, 61), np.uint8)).astype(bool)
    assert not changed[~near].any()
    assert not changed[:100].any() and not changed[:, :50].any() and not changed[:, 250:].any()


def test_render_is_deterministic_per_seed():
    image = face_photo(FRONTAL, 300)
    first = render_mask(image, FRONTAL, "cloth", "nose_exposed", np.random.default_rng(3))
    again = render_mask(image, FRONTAL, "cloth", "nose_exposed", np.random.default_rng(3))
    other = render_mask(image, FRONTAL, "cloth", "nose_exposed", np.random.default_rng(4))
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_mask_takes_the_light_of_the_face_under_it():
    image = face_photo(FRONTAL, 300, left_light=0.55)
    out = render_mask(image, FRONTAL, "surgical", "correct", np.random.default_rng(1)).astype(np.float32)
    covered = polygon_mask(mask_outline(FRONTAL, "correct"), image.shape[:2])
    left, right = covered.copy(), covered.copy()
    left[:, 140:], right[:, :160] = False, False
    assert out[left].mean() < 0.85 * out[right].mean()


def test_greyscale_photo_gets_a_grey_mask():
    image = face_photo(FRONTAL, 300).mean(axis=2, keepdims=True).repeat(3, axis=2).astype(np.uint8)
    out = render_mask(image, FRONTAL, "cloth", "correct", np.random.default_rng(2)).astype(np.int16)
    assert np.abs(out - out.mean(axis=2, keepdims=True)).max() <= 2


@pytest.mark.parametrize("face_px", [48, 300])
@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("kind", list(MASK_KINDS))
def test_every_kind_and_placement_renders_small_and_large_faces(kind, placement, face_px):
    dist = face_px / 2.2  # a face is about 2.2 eye distances wide
    size = int(face_px * 2)
    landmarks = (FRONTAL - (150, 150)) * (dist / 60) + size / 2
    image = face_photo(landmarks, size)
    out = render_mask(image, landmarks, kind, placement, np.random.default_rng(5))
    assert out.shape == image.shape and out.dtype == np.uint8
    covered = polygon_mask(mask_outline(landmarks, placement, shape=kind), image.shape[:2])
    assert covered.sum() > 0.02 * face_px**2
    assert (out != image).any(axis=2)[covered].mean() > 0.9


def test_unknown_kind_or_placement_names_the_choices():
    image = face_photo(FRONTAL, 300)
    with pytest.raises(ValueError, match="surgical, cloth, kf94, n95"):
        render_mask(image, FRONTAL, "bandana")
    with pytest.raises(ValueError, match="correct, nose_exposed, chin"):
        render_mask(image, FRONTAL, "surgical", "forehead")
    with pytest.raises(ValueError, match="correct, nose_exposed, chin"):
        mask_outline(FRONTAL, "on_ear")
    with pytest.raises(ValueError, match="landmarks"):
        mask_outline(FRONTAL[:4], "correct")


def test_sample_kind_draws_every_kind_surgical_most():
    rng = np.random.default_rng(0)
    counts = {kind: 0 for kind in MASK_KINDS}
    for _ in range(2000):
        counts[sample_kind(rng)] += 1
    assert all(count > 100 for count in counts.values())
    assert max(counts, key=counts.get) == "surgical"


@pytest.mark.parametrize("sigma", [6.0, 12.0, 32.0])  # the textures blur at most a fifth of their height
def test_wide_texture_noise_drawn_coarse_is_as_smooth_as_a_full_size_blur(sigma):
    from maskcls.faces.mask_textures import _noise

    def correlation(field: np.ndarray, lag: int) -> float:
        return float(np.mean(field[:, :-lag] * field[:, lag:]))

    rng = np.random.default_rng(0)
    size, lag = (400, 600), int(sigma)  # large enough for the field to hold many independent blobs
    coarse = [correlation(_noise(rng, size, sigma), lag) for _ in range(100)]
    full = []
    for _ in range(100):
        field = cv2.GaussianBlur(rng.standard_normal(size).astype(np.float32), (0, 0), sigma)
        full.append(correlation(field / field.std(), lag))
    assert _noise(rng, size, sigma).shape == size
    assert abs(np.mean(coarse) - np.mean(full)) < 0.03
    assert np.array_equal(_noise(np.random.default_rng(3), size, sigma), _noise(np.random.default_rng(3), size, sigma))
