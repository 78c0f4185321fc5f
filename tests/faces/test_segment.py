"""Background replacement: the compositing on its own, the missing-package error, and segmentation of real faces."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from maskcls.errors import MaskclsError
from maskcls.faces.mediapipe_support import mediapipe_available, require_mediapipe
from maskcls.faces.segment import DEFAULT_FILL, apply_background, replace_background

needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (optional extra) not installed")
FILL = np.array(DEFAULT_FILL)


def person_scene() -> tuple[np.ndarray, np.ndarray]:
    """A 120 × 90 striped backdrop (high contrast, so a blur shows) with an orange disc as the 'person'."""
    image = np.zeros((120, 90, 3), np.uint8)
    image[:, ::2] = (250, 250, 250)
    yy, xx = np.mgrid[:120, :90]
    person = (yy - 70) ** 2 + (xx - 45) ** 2 < 30**2
    image[person] = (230, 120, 30)
    return image, person.astype(np.float32)


def test_apply_background_modes():
    image, mask = person_scene()
    inside = np.zeros(mask.shape, bool)
    inside[55:85, 30:60] = True  # well inside the disc
    far = np.zeros(mask.shape, bool)
    far[:25] = True  # far from it

    kept = apply_background(image, mask, "keep")
    assert np.array_equal(kept, image) and kept is not image

    removed = apply_background(image, mask, "remove")
    assert np.array_equal(removed[inside], image[inside])
    assert np.abs(removed[far].astype(int) - FILL).max() <= 1
    edge = removed[70, 45 - 30]  # on the disc's rim: a blend, neither pure person nor pure fill
    assert 0 < np.abs(edge.astype(int) - FILL).sum() and not np.array_equal(edge, image[70, 45 - 30])

    blurred = apply_background(image, mask, "blur")
    assert np.array_equal(blurred[inside], image[inside])
    assert blurred[far].std() < 0.2 * image[far].std()  # the stripes are gone
    # No orange halo: the backdrop just above the disc is made of backdrop pixels (grey), not the person's.
    above = blurred[30:36, 35:55].astype(int)
    assert np.abs(above[..., 0] - above[..., 2]).mean() < 12

    with pytest.raises(ValueError, match="background mode"):
        apply_background(image, mask, "erase")
    with pytest.raises(ValueError, match="does not fit"):
        apply_background(image, mask[:10], "remove")


def test_missing_mediapipe_names_the_package_and_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(MaskclsError, match=r"background removal: needs the optional package mediapipe==0\.10\.21.*"
                                           r"pip install --no-deps mediapipe==0\.10\.21"):
        require_mediapipe("background removal")
    assert not mediapipe_available()


@needs_mediapipe
def test_a_photo_without_anybody_is_kept():
    image = np.full((96, 128, 3), 128, np.uint8)
    out, found = replace_background(image, "remove")
    assert not found and np.array_equal(out, image)


@pytest.fixture
def utk_faces(shared_data):
    """Three UTKFace photos (200 × 200) and their RetinaFace boxes."""
    from maskcls.faces.detect import create_detector, pick_face

    names = sorted((shared_data / "utkface" / "images").iterdir())[::1200][:3]
    photos = [np.asarray(Image.open(path).convert("RGB")) for path in names]
    detector = create_detector("retinaface")
    return [(photo, pick_face(detector.detect(photo), (200, 200)).box) for photo in photos]


@needs_mediapipe
def test_segmentation_keeps_the_face_and_drops_a_plain_backdrop(utk_faces):
    from maskcls.faces.segment import person_mask

    cleared = []
    for photo, (x0, y0, x1, y1) in utk_faces:
        w, h = x1 - x0, y1 - y0
        mask = person_mask(photo)
        assert mask.shape == photo.shape[:2] and mask.dtype == np.float32
        # Measured: the middle half of every face box is 1.00.
        assert mask[int(y0 + h / 4):int(y1 - h / 4), int(x0 + w / 4):int(x1 - w / 4)].mean() > 0.95
        # The face set on a plain blue 384 × 512 portrait, at the bottom as a body would be.
        canvas = np.full((512, 384, 3), (90, 140, 200), np.uint8)
        canvas[212:, 42:342] = np.asarray(Image.fromarray(photo).resize((300, 300)))
        out, found = replace_background(canvas, "remove")
        assert found
        top = out[:150]  # the backdrop above the head
        # Measured 1.00, 0.45 and 0.38 of it cleared: the union of both models keeps some backdrop (see the module).
        cleared.append((np.abs(top.astype(int) - FILL).max(axis=-1) <= 2).mean())
        assert cleared[-1] > 0.3
        face = out[212 + int(1.5 * (y0 + h / 4)):212 + int(1.5 * (y1 - h / 4)),
                   42 + int(1.5 * (x0 + w / 4)):42 + int(1.5 * (x1 - w / 4))]
        assert (np.abs(face.astype(int) - FILL).max(axis=-1) <= 2).mean() < 0.01
    assert np.mean(cleared) > 0.5


def test_a_mask_that_leaves_out_the_face_is_a_miss():
    from maskcls.faces.segment import covers

    mask = np.zeros((100, 100), np.float32)
    mask[:, 60:] = 1.0  # a 'person' beside the face (a scarf), 40 % of the photo
    assert covers(mask, None)
    assert not covers(mask, (10, 20, 50, 70))
    assert covers(mask, (62, 20, 98, 70))
    assert not covers(np.zeros((100, 100), np.float32), None)  # nobody at all
