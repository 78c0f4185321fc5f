"""The synthetic dataset: competition layout, labels, determinism, quirks, broken files and visible masks."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskcls.data.images import ImageReadError, load_rgb
from maskcls.data.layout import FolderName, scan_eval, scan_train
from maskcls.data.records import summarize_kinds
from maskcls.data.synthetic import inject_broken_files, make_synthetic
from maskcls.labels import DEFAULT_AGE_BANDS, NUM_CLASSES, STEMS, decode

MASKED = STEMS[:5]


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "data"
    make_synthetic(root, people=8, eval_people=3, seed=1)
    return root


@pytest.fixture(scope="module")
def quirky(tmp_path_factory):
    root = tmp_path_factory.mktemp("quirky") / "data"
    return make_synthetic(root, people=10, eval_people=0, seed=2, quirks=True)


def test_clean_tree_scans_without_problems(clean):
    dataset = scan_train(clean)
    assert dataset.problems == [] and dataset.ignored == 0
    assert len(dataset.people()) == 8
    assert len(dataset.records) == 8 * len(STEMS)
    for person in dataset.people():
        assert sorted(r.stem for r in dataset.records if r.person == person) == sorted(STEMS)
    assert all(r.path.suffix == ".jpg" for r in dataset.records)
    with Image.open(dataset.records[0].path) as image:
        assert image.size == (384, 512) and image.format == "JPEG"
    assert "SYNTHETIC" in (clean / "README.txt").read_text()


def test_train_csv_matches_folder_names(clean):
    rows = read_rows(clean / "train" / "train.csv")
    assert list(rows[0]) == ["id", "gender", "race", "age", "path"]
    for row in rows:
        assert re.fullmatch(r"\d{6}", row["id"])
        assert row["gender"] in ("male", "female") and row["race"] == "Asian"
        name = FolderName.parse(row["path"])
        assert (name.id, name.gender, name.race, name.age) == (row["id"], row["gender"], row["race"], row["age"])
        assert (clean / "train" / "images" / row["path"]).is_dir()
    combos = {(row["gender"], DEFAULT_AGE_BANDS.band(int(row["age"]))) for row in rows}
    assert len(combos) == 6  # every gender x age band


def test_eval_set_and_ground_truth(clean):
    info = read_rows(clean / "eval" / "info.csv")
    truth = read_rows(clean / "eval_gt.csv")
    assert len(info) == 3 * len(STEMS)
    assert [r["ImageID"] for r in info] == [r["ImageID"] for r in truth]
    assert all(re.fullmatch(r"[0-9a-f]{40}\.jpg", r["ImageID"]) and r["ans"] == "0" for r in info)
    labels = np.array([int(r["ans"]) for r in truth])
    assert labels.min() >= 0 and labels.max() < NUM_CLASSES
    mask, _gender, _age = decode(labels)
    assert np.bincount(mask, minlength=3).tolist() == [15, 3, 3]  # 5:1:1 as in the competition
    evalset = scan_eval(clean)
    assert evalset.problems == [] and all(p.is_file() for p in evalset.paths)


def test_same_seed_same_files(tmp_path):
    first = make_synthetic(tmp_path / "a", people=2, eval_people=1, seed=7).root
    second = make_synthetic(tmp_path / "b", people=2, eval_people=1, seed=7).root
    other = make_synthetic(tmp_path / "c", people=2, eval_people=1, seed=8).root
    for name in ("train/train.csv", "eval/info.csv", "eval_gt.csv"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "train/train.csv").read_bytes() != (other / "train/train.csv").read_bytes()
    photo = next((first / "train" / "images").glob("*/mask1.jpg"))
    assert photo.read_bytes() == (second / photo.relative_to(first)).read_bytes()


def test_size_and_refusals(tmp_path):
    info = make_synthetic(tmp_path / "small", people=1, eval_people=0, size=(96, 128))
    assert info.eval_images == 0 and read_rows(info.root / "eval" / "info.csv") == []
    with Image.open(next((info.root / "train" / "images").glob("*/normal.jpg"))) as image:
        assert image.size == (96, 128)
    with pytest.raises(FileExistsError):
        make_synthetic(info.root, people=1)
    with pytest.raises(ValueError):
        make_synthetic(tmp_path / "few", people=3, quirks=True)


def test_quirks_are_reported_by_the_scan(quirky):
    dataset = scan_train(quirky.root)
    kinds = summarize_kinds(dataset.problems)
    for kind in ("missing-photos", "not-in-csv", "missing-folder", "duplicate-id"):
        assert kinds.get(kind) == 1, kinds
    assert not dataset.errors()
    assert dataset.ignored >= 3
    q = quirky.quirks
    assert q["appledouble"].name == "._mask1.jpg" and q["appledouble"].is_file()
    assert q["ds_store"].name == ".DS_Store" and q["appledouble_folder"].name.startswith("._")
    assert not q["missing_folder"].exists()
    assert {p.suffix for p in q["mixed_extensions"].iterdir()} == {".jpg", ".png", ".JPEG"}
    assert len(list(q["missing_photos"].iterdir())) == 5


def test_split_ids_are_separate_people(quirky):
    dataset = scan_train(quirky.root)
    one, two = quirky.quirks["split_id_1"].name, quirky.quirks["split_id_2"].name
    assert {one, two} <= set(dataset.people())
    ids = {r.person: r.id for r in dataset.records}
    assert ids[one].endswith("-1") and ids[two].endswith("-2") and ids[one][:-2] == ids[two][:-2]
    first, second = quirky.quirks["duplicate_id_1"].name, quirky.quirks["duplicate_id_2"].name
    assert ids[first] == ids[second] and FolderName.parse(first).age != FolderName.parse(second).age


def test_injected_broken_files(tmp_path):
    root = make_synthetic(tmp_path / "data", people=5, eval_people=0, seed=3).root
    found = inject_broken_files(root)
    kinds = summarize_kinds(scan_train(root).problems)
    for kind in ("empty-file", "unknown-stem", "duplicate-stem", "name-mismatch"):
        assert kinds.get(kind) == 1, kinds
    assert found["truncated"].stat().st_size == 200 and found["empty"].stat().st_size == 0
    with pytest.raises(ImageReadError):
        load_rgb(found["truncated"])
    for kind, mode in (("palette", "P"), ("grayscale", "L"), ("rgba", "RGBA"), ("exif_rotated", "RGB")):
        with Image.open(found[kind]) as image:
            assert image.mode == mode
        rgb = load_rgb(found[kind])
        assert rgb.mode == "RGB" and rgb.size == (384, 512)
    with Image.open(found["exif_rotated"]) as image:
        assert image.size == (512, 384) and image.getexif().get(0x0112) == 6


def test_masks_cover_the_lower_face_only(clean):
    """Masked photos differ from the normal photo round nose and mouth far more than round hair and forehead."""

    def cells(path: Path) -> np.ndarray:  # 24 x 32 block averages, so small jitter hardly matters
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB").resize((24, 32), Image.Resampling.BOX), dtype=np.float32)

    lower, upper = [], []
    for folder in sorted((clean / "train" / "images").iterdir()):
        normal = cells(folder / "normal.jpg")
        for stem in MASKED:
            diff = np.abs(cells(folder / f"{stem}.jpg") - normal)
            lower.append(diff[16:19, 9:15].mean())  # nose tip, mouth
            upper.append(diff[7:10, 9:15].mean())  # hair and forehead
    assert np.mean(lower) > 45
    assert np.mean(lower) > 1.6 * np.mean(upper)
