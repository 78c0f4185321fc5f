import csv
from pathlib import Path

import pytest
from PIL import Image

from helpers import write_photo
from maskcls.data.check import load_dataset
from maskcls.data.importers import import_boxes, import_utkface, square_box
from maskcls.data.records import DataError
from maskcls.labels import Mask


def test_utkface_names_become_the_competition_layout(tmp_path):
    src = tmp_path / "utk"
    for name in ("25_0_2_2017.jpg.chip.jpg", "61_1_0_2016.jpg.chip.jpg", "33_1_4_2018.jpg"):
        write_photo(src / name)
    for bad in ("abc_0_2_x.jpg", "40_7_2_x.jpg", "40_1.jpg"):
        write_photo(src / bad)
    (src / "._25_0_2_2017.jpg.chip.jpg").write_bytes(b"x")
    result = import_utkface(src, tmp_path / "out")
    assert result.written == 3
    assert sorted(p.path.name for p in result.problems) == ["40_1.jpg", "40_7_2_x.jpg", "abc_0_2_x.jpg"]
    dataset = load_dataset(tmp_path / "out")
    assert not dataset.errors()
    faces = {(r.age, r.gender, r.race, r.stem, r.mask) for r in dataset.records}
    assert faces == {(25, 0, "Asian", "normal", Mask.NOT_WEAR), (61, 1, "White", "normal", Mask.NOT_WEAR),
                     (33, 1, "Others", "normal", Mask.NOT_WEAR)}
    assert all(not r.id.isdigit() for r in dataset.records)  # never collides with competition ids
    with pytest.raises(DataError, match="already exists"):
        import_utkface(src, tmp_path / "out")
    assert not list((tmp_path / "out").glob(".train.partial-*"))


def test_utkface_labels_csv(tmp_path):
    src = tmp_path / "utk"
    write_photo(src / "images" / "a.jpg")
    write_photo(src / "images" / "b.jpg")
    (src / "labels.csv").write_text("file,age,gender,race\nimages/a.jpg,70,female,Asian\nimages/b.jpg,x,male,White\n"
                                    "images/c.jpg,30,male,White\n../etc/passwd,30,male,White\n")
    result = import_utkface(src, tmp_path / "out", link=True)
    assert result.written == 1
    assert {p.kind for p in result.problems} == {"malformed", "missing-image"} and len(result.problems) == 3
    (record,) = load_dataset(tmp_path / "out").records
    assert (record.age, record.gender) == (70, 1)


def test_square_box_grows_and_stays_inside():
    assert square_box((40, 40, 60, 70), 0.0, 200, 200) == (35, 40, 65, 70)
    left, top, right, bottom = square_box((0, 0, 20, 20), 0.5, 100, 100)
    assert (left, top) == (0, 0) and right - left == bottom - top == 40
    assert square_box((0, 0, 100, 50), 0.5, 100, 50) == (25, 0, 75, 50)


def test_boxes_become_labelled_crops(tmp_path):
    photos = tmp_path / "photos"
    Image.new("RGB", (100, 80), (10, 20, 30)).save(photos.mkdir() or photos / "p1.jpg")
    (photos / "p2.jpg").write_bytes(b"broken")
    boxes = tmp_path / "boxes.csv"
    boxes.write_text("image,box,mask,x0,y0,x1,y1\nimages/p1.jpg,0,mask,10,10,30,34\np1.jpg,1,incorrect,50,20,70,40\n"
                     "p1.jpg,2,normal,60,60,61,61\np1.jpg,3,weird,1,1,5,5\np1.jpg,4,mask,90,90,95,95\n"
                     "p2.jpg,0,mask,1,1,5,5\nmissing.jpg,0,mask,1,1,5,5\n")
    result = import_boxes(photos, boxes, tmp_path / "crops", margin=0.2, min_size=4)
    assert result.written == 2
    kinds = sorted(p.kind for p in result.problems)
    assert kinds == ["bad-box", "bad-box", "corrupt-image", "missing-image", "small-box"]
    rows = list(csv.DictReader(open(tmp_path / "crops" / "labels.csv")))
    assert [(r["mask"], r["mask_name"]) for r in rows] == [("0", "wear"), ("1", "incorrect")]
    for r in rows:
        with Image.open(tmp_path / "crops" / r["file"]) as crop:
            assert crop.width == crop.height
    with pytest.raises(DataError, match="already exists"):
        import_boxes(photos, boxes, tmp_path / "crops")


def test_shared_utkface_and_facemask_import(shared_data, tmp_path):
    result = import_utkface(shared_data / "utkface", tmp_path / "utk", link=True, limit=300)
    assert result.written == 300 and not result.problems
    assert len(load_dataset(tmp_path / "utk").records) == 300
    crops = import_boxes(shared_data / "facemask" / "images", shared_data / "facemask" / "boxes.csv",
                         tmp_path / "crops")
    rows = list(csv.DictReader(open(tmp_path / "crops" / "labels.csv")))
    assert len(rows) == crops.written > 1000
    assert {r["mask_name"] for r in rows} == {"wear", "incorrect", "not wear"}
    assert all(Path(tmp_path / "crops" / r["file"]).is_file() for r in rows[:50])


def test_boxes_split_keeps_the_crowd_hold_out_apart(tmp_path):
    from maskcls.data.devsplit import is_dev

    photos = tmp_path / "photos"
    names = [f"maksssksksss{k}.png" for k in range(24)]
    for name in names:
        write_photo(photos / name, size=(40, 40))
    boxes = tmp_path / "boxes.csv"
    with open(boxes, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "box", "mask", "x0", "y0", "x1", "y1"])
        writer.writerows([[name, 0, "mask", 5, 5, 30, 30] for name in names])
    dev = {n for n in names if is_dev("facemask", n)}
    assert dev and len(dev) < len(names)
    seen = {}
    for split in ("train", "dev"):
        result = import_boxes(photos, boxes, tmp_path / split, split=split)
        with open(tmp_path / split / "labels.csv", newline="") as handle:
            seen[split] = {row["source"] for row in csv.DictReader(handle)}
        assert result.left_out == len(names) - len(seen[split])
    assert seen["dev"] == dev and seen["train"] == set(names) - dev
    with pytest.raises(DataError, match="split"):
        import_boxes(photos, boxes, tmp_path / "bad", split="test")
