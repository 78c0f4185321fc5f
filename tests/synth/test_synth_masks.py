"""Mask synthesis over person folders: fills only what is missing, records every file, lists every failure."""

from pathlib import Path

import numpy as np
import pytest
from helpers import write_photo
from PIL import Image

from maskcls.data.importers import import_utkface
from maskcls.data.layout import scan_train
from maskcls.data.records import DataError
from maskcls.synth.masks import (BASE_KINDS, INCORRECT_STEM, WORN_STEMS, is_synthesized, plan_person,
                                      read_manifest, synth_masks, write_preview)
from maskcls.labels import STEMS


def test_plan_gives_five_worn_masks_with_the_base_kinds_and_one_incorrect():
    for seed in range(20):
        plans = plan_person(np.random.default_rng(seed))
        assert [p.stem for p in plans] == [*WORN_STEMS, INCORRECT_STEM]
        assert set(BASE_KINDS) <= {p.kind for p in plans[:5]}
        assert all(p.placement == "correct" for p in plans[:5])
        assert plans[5].placement in ("nose_exposed", "chin")
    shares = [plan_person(np.random.default_rng(s), nose_share=1.0)[5].placement for s in range(10)]
    assert set(shares) == {"nose_exposed"}


@pytest.fixture(scope="module")
def utk_root(tmp_path_factory, request) -> Path:
    from conftest import SHARED_DATA

    if not (SHARED_DATA / "utkface" / "labels.csv").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    root = tmp_path_factory.mktemp("utk")
    import_utkface(SHARED_DATA / "utkface", root, link=True, limit=6)
    return root


def test_real_faces_get_all_six_masked_photos_once(utk_root):
    folders = sorted((utk_root / "train" / "images").iterdir())
    kept = folders[0] / "mask1.png"
    write_photo(kept, (10, 200, 10), (200, 200))
    before = kept.read_bytes()

    result = synth_masks(utk_root, seed=3)
    assert result.people == 6 and result.complete == 6, result.problems
    assert result.written == 6 * 6 - 1  # mask1 of the first person already existed
    assert kept.read_bytes() == before
    dataset = scan_train(utk_root, source="utkface")
    assert len(dataset.records) == 6 * len(STEMS)
    rows = read_manifest(utk_root)
    assert len(rows) == result.written
    generated = utk_root / "train" / "images" / rows[0]["path"]
    assert is_synthesized(generated) and not is_synthesized(next(folders[0].glob("normal.*")))
    original = np.asarray(Image.open(next(folders[1].glob("normal.*"))).convert("RGB"), dtype=float)
    masked = np.asarray(Image.open(folders[1] / "mask2.jpg").convert("RGB"), dtype=float)
    lower, upper = np.abs(masked - original)[120:180].mean(), np.abs(masked - original)[:50].mean()
    assert lower > 4 * upper  # the mask changed the lower face, not the forehead

    again = synth_masks(utk_root, seed=3)
    assert again.written == 0 and again.complete == 6 and len(read_manifest(utk_root)) == result.written

    out = utk_root / "preview"
    first = write_preview(utk_root, out, count=8)
    second = write_preview(utk_root, out, count=8)
    assert first != second and first.is_file() and second.name == "synth_preview-2.png"


def test_people_without_a_face_or_a_normal_photo_are_listed(tmp_path):
    images = tmp_path / "train" / "images"
    write_photo(images / "000001_male_Asian_20" / "normal.jpg", (128, 128, 128), (64, 64))
    (images / "000002_female_Asian_30").mkdir(parents=True)
    write_photo(images / "000002_female_Asian_30" / "mask1.jpg", (128, 128, 128), (64, 64))
    result = synth_masks(tmp_path)
    kinds = {p.kind: p for p in result.problems}
    assert kinds["no-face"].path.name == "normal.jpg" and kinds["no-face"].severity == "error"
    assert kinds["no-normal"].path.name == "000002_female_Asian_30"
    assert result.written == 0 and result.people == 1 and result.complete == 0 and len(result.failed) == 1
    with pytest.raises(DataError, match="no synthesized photos"):
        write_preview(tmp_path, tmp_path / "p")


def test_a_root_without_images_is_refused(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        synth_masks(tmp_path)
