"""The evaluation-only mask renderer: it draws in the lower face only, differs by placement, and is seeded."""

import numpy as np
import pytest

from maskcls.ood.eval_masks import KINDS, PLACEMENTS, TEMPLATE_POINTS, lower_face_region, render_eval_mask


def _face(size=(160, 140), scale=1.1, offset=(8.0, -20.0)):
    """A smooth synthetic photo and landmarks of an aligned face placed in it."""
    height, width = size
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([90 + x % 50, 120 + (y // 3) % 40, 140 + ((x + y) // 5) % 30], axis=2).astype(np.uint8)
    landmarks = TEMPLATE_POINTS * scale + np.array(offset, dtype=np.float32)
    return image, landmarks


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("kind", KINDS)
def test_only_lower_face_pixels_change(placement, kind):
    image, landmarks = _face()
    out = render_eval_mask(image, landmarks, placement, np.random.default_rng(3), kind)
    assert out.shape == image.shape and out.dtype == np.uint8
    changed = np.any(out != image, axis=2)
    assert changed.sum() > 300  # a mask, not a speck
    ys, xs = np.nonzero(changed)
    eye_line = landmarks[:2, 1].max()
    assert ys.min() > eye_line  # nothing at or above the eyes
    width = landmarks[1, 0] - landmarks[0, 0]
    centre = landmarks[:2, 0].mean()
    assert np.abs(xs - centre).max() < 2.2 * width  # within the face and its ear loops
    assert not (changed & ~lower_face_region(landmarks, image.shape[:2])).any()


def test_placements_cover_what_they_say():
    image, landmarks = _face()
    nose = tuple(np.round(landmarks[2]).astype(int))
    mouth = tuple(np.round(landmarks[3:].mean(axis=0)).astype(int))
    changed = {p: np.any(render_eval_mask(image, landmarks, p, np.random.default_rng(1), "pleated") != image, axis=2)
               for p in PLACEMENTS}
    assert changed["worn"][nose[1], nose[0]] and changed["worn"][mouth[1], mouth[0]]
    assert not changed["under_nose"][nose[1], nose[0]] and changed["under_nose"][mouth[1], mouth[0]]
    assert not changed["chin"][nose[1], nose[0]] and not changed["chin"][mouth[1], mouth[0]]


def test_seeded_and_checked():
    image, landmarks = _face()
    a = render_eval_mask(image, landmarks, "worn", np.random.default_rng(5))
    b = render_eval_mask(image, landmarks, "worn", np.random.default_rng(5))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="placement"):
        render_eval_mask(image, landmarks, "forehead", np.random.default_rng(0))
    with pytest.raises(ValueError, match="kind"):
        render_eval_mask(image, landmarks, "worn", np.random.default_rng(0), "balaclava")
