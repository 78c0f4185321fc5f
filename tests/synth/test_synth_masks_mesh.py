"""``synth-masks --landmarks mesh``: masks laid on the face mesh, and the 5-landmark fallback counted."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskcls.data.images import load_rgb
from maskcls.data.importers import import_utkface
from maskcls.synth.masks import read_manifest, synth_masks
from maskcls.errors import MaskclsError
from maskcls.faces.mediapipe_support import mediapipe_available

needs_mediapipe = pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (optional extra) not installed")


def test_an_unknown_landmark_source_is_refused(tmp_path):
    with pytest.raises(MaskclsError, match="unknown landmark source 'dense'"):
        synth_masks(tmp_path, landmarks="dense")


def comment(path: Path) -> str:
    with Image.open(path) as image:
        return image.info["comment"].decode()


@needs_mediapipe
def test_mesh_masks_and_the_counted_fallback(shared_data, tmp_path, monkeypatch):
    import maskcls.faces.mesh as mesh_module

    root = tmp_path / "utk"
    import_utkface(shared_data / "utkface", root, link=True, limit=2)
    folders = sorted((root / "train" / "images").iterdir())
    # The second person's face "escapes" the mesh: drawn from the 5 landmarks instead, and counted.
    second = np.asarray(load_rgb(next(folders[1].glob("normal.*"))), dtype=np.uint8)
    real = mesh_module.face_mesh
    monkeypatch.setattr(mesh_module, "face_mesh", lambda pixels, box=None, margin=0.35: (
        None if np.array_equal(pixels, second) else real(pixels, box, margin)))
    result = synth_masks(root, seed=1, workers=1, landmarks="mesh")
    assert result.people == 2 and result.complete == 2 and result.written == 12, result.problems
    assert result.mesh_fallbacks == 1
    assert len(read_manifest(root)) == 12
    assert "landmarks=mesh" in comment(folders[0] / "mask1.jpg")
    assert "landmarks=mesh" not in comment(folders[1] / "mask1.jpg")
    normal = np.asarray(Image.open(next(folders[0].glob("normal.*"))).convert("RGB"), dtype=float)
    masked = np.asarray(Image.open(folders[0] / "mask1.jpg").convert("RGB"), dtype=float)
    lower, upper = np.abs(masked - normal)[120:180].mean(), np.abs(masked - normal)[:50].mean()
    assert lower > 4 * upper  # the mask changed the lower face, not the forehead
