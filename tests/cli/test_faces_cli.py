"""``maskcls faces`` as a user runs it: a real subprocess on a tiny folder, and on shared real faces when present."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import subprocess_env


def maskcls(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maskcls", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=subprocess_env())


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture
def folder(tmp_path: Path, astronaut: Image.Image) -> Path:
    """A face, a pair of faces, a photo without one, a corrupt file, an AppleDouble file and a text file."""
    root = tmp_path / "photos"
    (root / "sub").mkdir(parents=True)
    astronaut.save(root / "astronaut.jpg", quality=95)
    pair = Image.new("RGB", (1024, 512))
    pair.paste(astronaut, (0, 0))
    pair.paste(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (512, 0))
    pair.save(root / "sub" / "pair.png")
    gradient = np.linspace(0, 255, 80 * 60).reshape(60, 80).astype(np.uint8)
    Image.fromarray(gradient).convert("RGB").save(root / "sub" / "plain.webp")
    (root / "corrupt.jpg").write_bytes((root / "astronaut.jpg").read_bytes()[:200])
    (root / "._astronaut.jpg").write_bytes(b"\0\5\26\7 resource fork")
    (root / "notes.txt").write_text("not a photo")
    return root


def rows_of(csv_path: Path) -> list[dict[str, str]]:
    with open(csv_path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_faces_on_a_folder(folder, tmp_path):
    out = tmp_path / "out"
    result = maskcls("faces", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Traceback" not in result.stderr
    lines = {line.split("  ")[0]: line for line in text.splitlines() if line.startswith(str(folder))}
    assert lines[str(folder / "astronaut.jpg")].split("  ")[1] == "1 face"
    assert lines[str(folder / "sub" / "pair.png")].split("  ")[1] == "2 faces"
    assert lines[str(folder / "sub" / "plain.webp")].endswith("0 faces")
    assert "unreadable" in lines[str(folder / "corrupt.jpg")]
    assert "4 photos, 2 with a face (66.67 %), 3 faces" in text and "ms/photo" in text
    assert f"no face (1):\n  {folder / 'sub' / 'plain.webp'}\n" in text
    assert f"unreadable (1):\n  {folder / 'corrupt.jpg'}: " in text
    assert f"skipped AppleDouble (._*) files (1):\n  {folder / '._astronaut.jpg'}\n" in text
    for name in ("astronaut.jpg", "sub/pair.png", "sub/plain.webp"):
        assert (out / name).is_file(), name
    with Image.open(out / "astronaut.jpg") as annotated, Image.open(folder / "astronaut.jpg") as original:
        drawn = np.abs(np.asarray(annotated, dtype=int) - np.asarray(original, dtype=int)).max(axis=2) > 60
        assert 0 < drawn.mean() < 0.05  # boxes, labels and landmarks, not a different photo
    rows = rows_of(out / "faces.csv")
    by_path: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_path.setdefault(row["path"], []).append(row)
    pair = by_path[str(folder / "sub" / "pair.png")]
    assert [r["face"] for r in pair] == ["0", "1"] and {r["faces"] for r in pair} == {"2"}
    centres = sorted((float(r["x0"]) + float(r["x1"])) / 2 for r in pair)
    assert centres[0] < 512 < centres[1]  # one face in each half
    first = by_path[str(folder / "astronaut.jpg")][0]
    assert float(first["score"]) > 0.99 and float(first["eye_left_x"]) < float(first["eye_right_x"])
    assert by_path[str(folder / "sub" / "plain.webp")][0]["faces"] == "0"
    assert "corrupt" in by_path[str(folder / "corrupt.jpg")][0]["error"]
    assert str(folder / "._astronaut.jpg") not in by_path

    again = maskcls("faces", folder, "--out", out, "--limit", "1", "--detector", "haar")
    assert again.returncode == 0, again.stderr
    assert "haar: 1 photo, 1 with a face (100.00 %), 1 face;" in again.stdout
    assert [r["path"] for r in rows_of(tmp_path / "out-2" / "faces.csv")] == [str(folder / "astronaut.jpg")]
    assert len(rows_of(out / "faces.csv")) == len(rows)  # the first run's output is untouched


def test_faces_on_one_photo_writes_under_runs_by_default(folder, tmp_path):
    result = maskcls("faces", folder / "sub" / "pair.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "2 faces" in result.stdout
    assert (tmp_path / "runs" / "faces" / "pair" / "pair.png").is_file()
    assert len(rows_of(tmp_path / "runs" / "faces" / "pair" / "faces.csv")) == 2


@pytest.mark.parametrize("args,needle", [
    (("--detector", "yolo"), "unknown face detector 'yolo' (choices: retinaface, mtcnn, haar, retinaface+mtcnn)"),
    (("--limit", "0"), None),
])
def test_faces_bad_options(folder, tmp_path, args, needle):
    result = maskcls("faces", folder, "--out", tmp_path / "out", *args)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    if needle:
        assert result.returncode == 1 and result.stderr.strip() == f"maskcls: error: {needle}"
    assert not (tmp_path / "out").exists()


def test_faces_on_a_missing_or_empty_folder(tmp_path):
    missing = maskcls("faces", tmp_path / "nope")
    assert missing.returncode == 1 and f"{tmp_path / 'nope'}: no such photo or folder" in missing.stderr
    (tmp_path / "empty").mkdir()
    empty = maskcls("faces", tmp_path / "empty", "--out", tmp_path / "out")
    assert empty.returncode == 1 and "no photos" in empty.stderr


def test_faces_on_real_utkface_photos(shared_data, tmp_path):
    paths = sorted((shared_data / "utkface" / "images").glob("*.jpg"))
    sample = tmp_path / "utk"
    sample.mkdir()
    for path in paths[:: len(paths) // 30][:30]:
        (sample / path.name).symlink_to(path)
    result = maskcls("faces", sample, "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    found = {r["path"] for r in rows_of(tmp_path / "out" / "faces.csv") if r["faces"] not in ("", "0")}
    assert len(found) >= 29, result.stdout
