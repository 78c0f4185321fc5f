"""``maskcls data gallery``: the PNG grid, what is missing from it named by path, and no overwriting."""

import shutil

import numpy as np
import pytest
from PIL import Image

from maskcls.synth.gallery import COLUMNS, gallery_photos
from maskcls.data.records import DataError
from maskcls.faces.mediapipe_support import mediapipe_available


def test_photos_of_a_competition_root_are_the_normal_ones(tree, tmp_path):
    root = tree([("000001", "male", 20), ("000002", "female", 40)])
    photos = gallery_photos(root)
    assert [p.name for p in photos] == ["normal.jpg", "normal.jpg"]
    assert [p.parent.name for p in photos] == ["000001_male_Asian_20", "000002_female_Asian_40"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no photos")
    with pytest.raises(DataError, match="no photos found"):
        gallery_photos(empty)
    with pytest.raises(DataError, match="no such folder"):
        gallery_photos(tmp_path / "missing")


@pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (optional extra) not installed")
def test_gallery_cli_draws_every_column_and_names_what_is_missing(shared_data, tmp_path, capsys):
    from maskcls.cli import main

    folder = tmp_path / "photos"
    folder.mkdir()
    for source in sorted((shared_data / "utkface" / "images").iterdir())[:2]:
        shutil.copy(source, folder / source.name)
    Image.new("RGB", (120, 90), (128, 128, 128)).save(folder / "blank.jpg")  # no face, no person
    out = tmp_path / "gallery" / "g.png"
    args = ["data", "gallery", str(folder), "--out", str(out), "--n", "3", "--seed", "1"]
    with pytest.raises(SystemExit) as done:
        main(args)
    printed = capsys.readouterr().out
    assert done.value.code == 0
    assert "gallery of 3 photos" in printed and "1 without a face" in printed and "blank.jpg" in printed
    with Image.open(out) as image:
        thumb = 128
        assert image.size == (len(COLUMNS) * (thumb + 4), 16 + 3 * (thumb + 12 + 4))
        sheet = np.asarray(image.convert("RGB"))
    # The blank photo's row (the last: digits sort first) has grey "no face" cells from the face crop on.
    row = sheet[16 + 2 * (thumb + 16):16 + 2 * (thumb + 16) + thumb]
    assert (row[:, 4 * (thumb + 4):5 * (thumb + 4) - 4] == 235).all()
    with pytest.raises(SystemExit) as again:
        main(args)
    assert again.value.code == 1 and "already exists" in capsys.readouterr().err
