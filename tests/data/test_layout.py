from pathlib import Path

import pytest
from PIL import Image

from helpers import build_quirk_tree, write_photo
from maskcls.data.check import check, inspect_image
from maskcls.data.images import ImageReadError, load_rgb
from maskcls.data.layout import FolderName, scan_eval, scan_train
from maskcls.data.records import DataError


def kinds_at(problems) -> dict[str, set[Path]]:
    out: dict[str, set[Path]] = {}
    for p in problems:
        out.setdefault(p.kind, set()).add(Path(p.path))
    return out


def test_folder_names_split_from_the_right():
    assert FolderName.parse("001498-1_male_Asian_20") == FolderName("001498-1", "male", "Asian", "20")
    assert FolderName.parse("x_y") is None


def test_scan_reports_every_quirk_with_its_path(tmp_path):
    at = build_quirk_tree(tmp_path)
    dataset = scan_train(tmp_path)
    kinds = kinds_at(dataset.problems)
    assert at["few"] in kinds["missing-photos"]
    assert at["not_in_csv"] in kinds["not-in-csv"]
    assert at["missing_folder"] in kinds["missing-folder"]
    assert at["empty"] in kinds["empty-file"]
    assert at["unknown_stem"] in kinds["unknown-stem"]
    assert at["duplicate_stem"] in kinds["duplicate-stem"]
    assert at["bad_extension"] in kinds["bad-extension"]
    assert at["mismatch"] in kinds["name-mismatch"]
    assert "duplicate-id" in kinds
    assert dataset.ignored == 2  # the ._ photo and the ._ folder entry, counted not read
    people = {r.person: r.id for r in dataset.records}
    assert people["001498-1_male_Asian_20"] == "001498-1" and people["001498-2_female_Asian_21"] == "001498-2"
    assert {p for p, i in people.items() if i == "003397"} == {"003397_female_Asian_20", "003397_female_Asian_22"}
    mixed = {r.stem: r.path.suffix for r in dataset.records if r.person == "000002_male_Asian_60"}
    assert len(mixed) == 7 and mixed["incorrect_mask"] == ".PNG" and mixed["normal"] == ".JPEG"
    # CSV wins over the folder name; folder-only people take the name's labels
    assert {r.age for r in dataset.records if r.id == "000006"} == {31}
    assert {(r.gender, r.age) for r in dataset.records if r.id == "000004"} == {(1, 61)}
    # every photo that is not a record is named in a problem
    named = {Path(p.path) for p in dataset.problems}
    for path in (at["empty"], at["unknown_stem"], at["duplicate_stem"], at["bad_extension"]):
        assert path in named and path not in {r.path for r in dataset.records}


def test_check_finds_the_corrupt_photo(tmp_path):
    at = build_quirk_tree(tmp_path)
    report = check(tmp_path, relabel=())
    assert report.corrupt() == [at["corrupt"]]
    assert any(p.kind == "corrupt-image" and p.path == at["corrupt"] for p in report.problems)
    summary = report.summary()
    assert summary["overview"]["ignored dot files"] == 2
    assert summary["extensions"][".png"] >= 1 and summary["extensions"][".jpeg"] == 1


def test_fatal_layout_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        scan_train(tmp_path / "nope")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "images").mkdir()
    (tmp_path / "train" / "train.csv").write_text("id,gender\n1,male\n")
    with pytest.raises(DataError, match="missing column"):
        scan_train(tmp_path)


def test_odd_image_modes_load_as_upright_rgb(tmp_path):
    gray = tmp_path / "gray.jpg"
    Image.new("L", (10, 20), 128).save(gray)
    palette = tmp_path / "palette.png"
    Image.new("RGB", (10, 20), (255, 0, 0)).convert("P", palette=Image.Palette.ADAPTIVE).save(palette)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (10, 20), (0, 0, 255, 0)).save(rgba)
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    Image.new("RGB", (10, 20), (0, 255, 0)).save(rotated, exif=exif)
    for path in (gray, palette, rgba, rotated):
        image = load_rgb(path)
        assert image.mode == "RGB"
    assert load_rgb(gray).size == (10, 20)
    assert load_rgb(rotated).size == (20, 10)
    assert load_rgb(rgba).getpixel((0, 0)) == (255, 255, 255)  # transparent → white, not black
    assert load_rgb(palette).getpixel((0, 0)) == (255, 0, 0)
    info = inspect_image(rotated)
    assert info.orientation == 6 and info.size == (20, 10) and not info.error


def test_unreadable_images_raise_clear_errors(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.jpg"
    text.write_text("not a jpeg")
    with pytest.raises(ImageReadError, match="empty.jpg: empty file"):
        load_rgb(empty)
    with pytest.raises(ImageReadError, match="text.jpg: not an image"):
        load_rgb(text)
    with pytest.raises(ImageReadError, match="file not found"):
        load_rgb(tmp_path / "missing.jpg")


def test_eval_scan_keeps_order_and_reports_missing(tmp_path):
    images = tmp_path / "eval" / "images"
    for name in ("b.jpg", "a.jpg", "extra.jpg"):
        write_photo(images / name)
    (images / "._a.jpg").write_bytes(b"x")
    (tmp_path / "eval" / "info.csv").write_text("ImageID,ans\nb.jpg,0\na.jpg,0\nmissing.jpg,0\n../x.jpg,0\n")
    evalset = scan_eval(tmp_path)
    assert evalset.image_ids == ["b.jpg", "a.jpg", "missing.jpg", "../x.jpg"]
    kinds = kinds_at(evalset.problems)
    assert images / "missing.jpg" in kinds["missing-image"]
    assert images / "extra.jpg" in kinds["unlisted-image"]
    assert "bad-image-id" in kinds and evalset.ignored == 1
