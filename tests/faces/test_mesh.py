"""The 468-point face mesh on real faces, and masks laid on it (nose bridge, jaw, nostrils left out)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

from maskcls.faces.masks import MASK_KINDS, mask_outline, render_mask
from maskcls.faces.mediapipe_support import mediapipe_available

needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (optional extra) not installed")


def inside(polygon: np.ndarray, point) -> bool:
    return cv2.pointPolygonTest(polygon.astype(np.float32), (float(point[0]), float(point[1])), False) > 0


def test_a_mesh_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="mesh must be a finite"):
        mask_outline(None, "correct", mesh=np.zeros((5, 2), np.float32))


@pytest.fixture(scope="module")
def meshed_faces():
    """Four UTKFace photos (one a turned face) with their RetinaFace face and 468-point mesh."""
    from conftest import SHARED_DATA

    from maskcls.faces.detect import create_detector, pick_face
    from maskcls.faces.mesh import face_mesh

    if not mediapipe_available():
        pytest.skip("mediapipe (optional extra) not installed")
    images = SHARED_DATA / "utkface" / "images"
    if not images.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    names = sorted(p.name for p in images.iterdir())
    detector = create_detector("retinaface")
    found = []
    for index in (0, 1200, 3848, 4800):  # 3848 is turned about 30° (its nose tip is 0.34 eye distances off centre)
        photo = np.asarray(Image.open(images / names[index]).convert("RGB"))
        face = pick_face(detector.detect(photo), (200, 200))
        found.append((photo, face, face_mesh(photo, face.box)))
    return found


@needs_mediapipe
def test_mesh_lies_on_the_detected_face(meshed_faces):
    from maskcls.faces.mesh import MESH_POINTS, five_points

    for photo, face, mesh in meshed_faces:
        assert mesh is not None and mesh.shape == (MESH_POINTS, 3) and mesh.dtype == np.float32
        x0, y0, x1, y1 = face.box
        grow_x, grow_y = 0.1 * face.width, 0.1 * face.height
        assert ((mesh[:, 0] > x0 - grow_x) & (mesh[:, 0] < x1 + grow_x)
                & (mesh[:, 1] > y0 - grow_y) & (mesh[:, 1] < y1 + grow_y)).all()
        # Its five landmarks agree with the detector's (measured: within 0.16 eye distances).
        eyes = float(np.linalg.norm(face.landmarks[1] - face.landmarks[0]))
        assert np.linalg.norm(five_points(mesh) - face.landmarks, axis=1).max() < 0.25 * eyes


@needs_mediapipe
@pytest.mark.parametrize("kind", list(MASK_KINDS))
def test_mesh_masks_cover_and_uncover_the_right_parts(meshed_faces, kind):
    from maskcls.faces.mesh import CHIN, EYE_LEFT, EYE_RIGHT, MOUTH_LEFT, MOUTH_RIGHT, NOSE_TIP, NOSTRILS, UPPER_LIP

    for photo, _, mesh in meshed_faces:
        xy = mesh[:, :2]
        above_chin = xy[CHIN] + 0.15 * (xy[UPPER_LIP] - xy[CHIN])
        eyes = [xy[i] for i in (*EYE_LEFT, *EYE_RIGHT)]
        correct = mask_outline(None, "correct", photo.shape[:2], kind, mesh=mesh)
        for point in (xy[NOSE_TIP], xy[MOUTH_LEFT], xy[MOUTH_RIGHT], above_chin):
            assert inside(correct, point), (kind, "correct", point)
        assert not any(inside(correct, point) for point in eyes)
        exposed = mask_outline(None, "nose_exposed", shape=kind, mesh=mesh)
        assert not any(inside(exposed, xy[i]) for i in (NOSE_TIP, *NOSTRILS)), (kind, "nostrils covered")
        for point in (xy[MOUTH_LEFT], xy[MOUTH_RIGHT], above_chin):
            assert inside(exposed, point), (kind, "nose_exposed", point)
        chin = mask_outline(None, "chin", shape=kind, mesh=mesh)
        assert not any(inside(chin, xy[i]) for i in (NOSE_TIP, UPPER_LIP, MOUTH_LEFT, MOUTH_RIGHT))
        assert inside(chin, above_chin)


@needs_mediapipe
def test_mask_bottom_follows_the_jaw(meshed_faces):
    from maskcls.faces.mesh import CHIN

    for photo, _, mesh in meshed_faces:
        outline = mask_outline(None, "correct", mesh=mesh)
        jaw_to_eyes = float(np.linalg.norm(mesh[CHIN, :2] - mesh[[33, 263], :2].mean(axis=0)))
        # The lowest edge sits just under the chin (by at most 0.35 face units, here about 12 % of this distance).
        below = outline[:, 1].max() - mesh[CHIN, 1]
        assert 0 < below < 0.15 * jaw_to_eyes


@needs_mediapipe
def test_render_mask_with_a_mesh_draws_on_the_lower_face_only(meshed_faces):
    from maskcls.faces.mesh import MOUTH_LEFT

    photo, face, mesh = meshed_faces[1]
    drawn = render_mask(photo, face.landmarks, "surgical", "correct", np.random.default_rng(0), mesh=mesh)
    again = render_mask(photo, face.landmarks, "surgical", "correct", np.random.default_rng(0), mesh=mesh)
    five = render_mask(photo, face.landmarks, "surgical", "correct", np.random.default_rng(0))
    assert np.array_equal(drawn, again) and not np.array_equal(drawn, five)
    changed = np.abs(drawn.astype(int) - photo).sum(axis=-1) > 30
    x, y = np.rint(mesh[MOUTH_LEFT, :2]).astype(int)
    assert changed[y - 2:y + 3, x - 2:x + 3].all()
    eye_row = int(mesh[[33, 263], 1].mean())
    assert not changed[: eye_row - 5].any()
