"""Hostile train folders: CSV encodings and shapes, broken, looping and special files, huge and truncated photos.

``data check`` must name each problem (never crash), ``data split`` must name everyone it leaves out, and fatal
problems give one line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile_helpers import fails, png_header
from helpers import write_photo

HEADER = "id,gender,race,age,path\n"
ROW1 = "000001,male,Asian,20,000001_male_Asian_20\n"


def _csv(root: Path) -> Path:
    return root / "train" / "train.csv"


# --- train.csv that cannot be read at all: one line naming the file -------------------------------------------
FATAL_CSV = {
    "latin-1": ("id,gender,race,age,path\n000001,male,Asiát,20,000001_male_Asian_20\n".encode("latin-1"), "UTF-8"),
    "utf-16": ((HEADER + ROW1).encode("utf-16"), "UTF-8"),
    "empty file": (b"", "missing column"),
    "semicolons": (b"id;gender;race;age;path\n", "missing column"),
    "missing age column": (b"id,gender,race,path\n", "age"),
    "NUL bytes": (b"id,gender,race,age,path\n0\x00\x00,male\n", "NUL byte"),
    "huge field": (("id,gender,race,age,path\n" + "x" * 200_000 + "\n").encode(), "malformed CSV"),
    "random binary": (bytes(range(256)) * 8, ""),
}


@pytest.mark.parametrize("case", FATAL_CSV)
def test_unreadable_train_csv_is_one_line(case, cli, root, tmp_path):
    content, needle = FATAL_CSV[case]
    _csv(root).write_bytes(content)
    fails(cli("data", "check", root), _csv(root), needle)
    fails(cli("data", "split", root, "--out", tmp_path / "s.json"), _csv(root), needle)
    assert not (tmp_path / "s.json").exists()


# --- train.csv rows that are bad: the person is named as left out ------------------------------------------
BAD_ROWS = {
    "non-numeric age": ("000001,male,Asian,2x,000001_male_Asian_20", "age '2x' is not a whole number"),
    "fractional age": ("000001,male,Asian,23.7,000001_male_Asian_20", "age '23.7' is not a whole number"),
    "age out of range": ("000001,male,Asian,200,000001_male_Asian_20", "age 200 out of range"),
    "unknown gender": ("000001,robot,Asian,20,000001_male_Asian_20", "unknown gender 'robot'"),
    "empty id": (",male,Asian,20,000001_male_Asian_20", "empty id"),

}


@pytest.mark.parametrize("case", BAD_ROWS)
def test_bad_row_is_named_by_check_and_split(case, cli, root, tmp_path):
    row, needle = BAD_ROWS[case]
    lines = _csv(root).read_text().splitlines()
    lines[1] = row
    _csv(root).write_text("\n".join(lines) + "\n")
    checked = cli("data", "check", root)
    assert checked.code == 0 and needle in checked.out and "Traceback" not in checked.err
    split = cli("data", "split", root, "--out", tmp_path / "s.json", "--folds", "2")
    assert split.code == 0, split.err
    assert f"left out of the split: {_csv(root)}: line 2: {needle}" in split.out
    assert "5 people; 1 left out" in split.out


@pytest.mark.parametrize("row,needle", [
    ("000001,male,Asian", "path '' is not a folder name"),
    ("000001,male,Asian,20,../../etc", "path '../../etc' is not a folder name"),
    ("000001,male,Asian,20,.hidden", "path '.hidden' is not a folder name"),
])
def test_bad_row_path_is_named_and_the_folder_still_read(row, needle, cli, root, tmp_path):
    lines = _csv(root).read_text().splitlines()
    lines[1] = row
    _csv(root).write_text("\n".join(lines) + "\n")
    checked = cli("data", "check", root)
    assert checked.code == 0 and f"{_csv(root)}: line 2: {needle}" in checked.out
    assert "000001_male_Asian_20: not in train.csv; labels read from the folder name" in checked.out
    split = cli("data", "split", root, "--out", tmp_path / "s.json", "--folds", "2")
    assert split.code == 0 and "(6 people)" in split.out, split.out


def test_crlf_bom_csv_is_fine(cli, root):
    text = _csv(root).read_text()
    _csv(root).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    result = cli("data", "check", root, "--strict")
    assert result.code == 0, result.err


def test_header_only_csv_splits_nothing(cli, root, tmp_path):
    import shutil

    _csv(root).write_text(HEADER)
    shutil.rmtree(root / "train" / "images")
    (root / "train" / "images").mkdir()
    fails(cli("data", "split", root, "--out", tmp_path / "s.json"), "nothing to split")


@pytest.mark.parametrize("kind", ["folder", "fifo", "dangling link"])
def test_train_csv_not_a_regular_file(kind, cli, root):
    path = _csv(root)
    path.unlink()
    if kind == "folder":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to(root / "nowhere.csv")
    fails(cli("data", "check", root), root, "no train/train.csv")


# --- photos that are not photos -------------------------------------------------------------------------------
def _person(root: Path) -> Path:
    return root / "train" / "images" / "000001_male_Asian_20"


def _dangling(path: Path) -> str:
    path.unlink()
    path.symlink_to("/nonexistent.jpg")
    return "broken symbolic link"


def _self_loop(path: Path) -> str:
    path.unlink()
    path.symlink_to(path.name)
    return "symbolic link loop"


def _fifo(path: Path) -> str:
    path.unlink()
    os.mkfifo(path)
    return "not a regular file (a FIFO)"


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return "zero-byte file"


def _socket(path: Path) -> str:
    import socket

    import tempfile

    path.unlink()
    short = Path(tempfile.mkdtemp()) / "s"  # AF_UNIX paths are short; a rename moves the socket in place
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(short))
    sock.close()
    os.rename(short, path)
    return "not a regular file (a socket)"


SCAN_SKIPS = {"dangling link": _dangling, "self-looping link": _self_loop, "fifo": _fifo, "empty": _empty,
              "socket": _socket}


@pytest.mark.parametrize("case", SCAN_SKIPS)
def test_special_photo_files_are_named_and_skipped(case, cli, root, tmp_path):
    photo = _person(root) / "mask5.jpg"
    needle = SCAN_SKIPS[case](photo)
    checked = cli("data", "check", root)
    assert checked.code == 0 and "Traceback" not in checked.err
    assert f"{photo}: {needle}" in checked.out.replace("\n", "")
    split = cli("data", "split", root, "--out", tmp_path / "s.json", "--folds", "2")
    assert split.code == 0 and (tmp_path / "s.json").is_file(), split.err
    strict = cli("data", "check", root, "--strict")
    fails(strict, "error-level problem")


def test_every_photo_broken_leaves_the_person_out_by_name(cli, root, tmp_path):
    person = _person(root)
    for photo in person.iterdir():
        _dangling(photo)
    split = cli("data", "split", root, "--out", tmp_path / "s.json", "--folds", "2")
    assert split.code == 0, split.err
    assert f"left out of the split: {person}: 0 of 7 photos" in split.out.replace("\n", "")


def test_looping_folder_link_is_not_called_a_file(cli, root):
    loop = root / "train" / "images" / "loop"
    loop.symlink_to("loop")
    checked = cli("data", "check", root)
    assert f"{loop}: symbolic link loop" in checked.out.replace("\n", "")
    assert "file directly under images" not in checked.out


def test_folder_named_like_a_photo(cli, root):
    (_person(root) / "mask5.jpg").unlink()
    (_person(root) / "mask5.jpg").mkdir()
    checked = cli("data", "check", root)
    assert checked.code == 0 and "folder inside a person folder" in checked.out


@pytest.mark.parametrize("case", ["truncated jpeg", "text as jpeg", "bomb png", "png claiming 100 MP"])
def test_undecodable_photos_are_named_by_check(case, cli, root):
    photo = _person(root) / ("mask5.jpg" if "jpeg" in case else "mask5.png")
    (_person(root) / "mask5.jpg").unlink()
    if case == "truncated jpeg":
        write_photo(photo, size=(64, 64))
        photo.write_bytes(photo.read_bytes()[:200])
    elif case == "text as jpeg":
        photo.write_text("not a photo at all")
    else:
        photo.write_bytes(png_header(20000, 20000) if case == "bomb png" else png_header(10000, 10000))
    checked = cli("data", "check", root)
    assert checked.code == 0 and "Traceback" not in checked.err
    assert "corrupt-image" in checked.out and str(photo) in checked.out.replace("\n", "")
    if case == "png claiming 100 MP":  # Pillow's raw DecompressionBombWarning never shows; ours names the photo
        assert "DecompressionBombWarning" not in checked.err
        assert f"maskcls: warning: {photo}: very large photo" in checked.err


def test_unlabelled_folder_is_named(cli, root, tmp_path):
    write_photo(root / "train" / "images" / "no-labels-here" / "normal.jpg")
    split = cli("data", "split", root, "--out", tmp_path / "s.json", "--folds", "2")
    assert "left out of the split:" in split.out and "no-labels-here" in split.out


# --- data split arguments -------------------------------------------------------------------------------------
@pytest.mark.parametrize("args,needle", [
    (("--kind", "holdout", "--val", "0"), "--val 0.0"),
    (("--kind", "holdout", "--val", "0.99"), "--val 0.99"),
    (("--kind", "holdout", "--val", "1.5"), "--val 1.5"),
    (("--kind", "holdout", "--val", "-0.2"), "--val -0.2"),
    (("--folds", "1"), "--folds 1"),
    (("--folds", "0"), "--folds 0"),
    (("--folds", "50"), "cannot make 50 folds from 6 people"),
    (("--kind", "random"), "--kind 'random'"),
])
def test_bad_split_arguments(args, needle, cli, root, tmp_path):
    fails(cli("data", "split", root, "--out", tmp_path / "s.json", *args), needle)
    assert not (tmp_path / "s.json").exists()


def test_split_out_is_a_folder(cli, root, tmp_path):
    fails(cli("data", "split", root, "--out", tmp_path), str(tmp_path), "is a folder")


def test_relabel_file_problems(cli, root, tmp_path):
    fails(cli("data", "check", root, "--relabel", tmp_path), str(tmp_path), "a folder, not a relabel CSV")
    bad = tmp_path / "fix.csv"
    bad.write_text("id,field,value\n000001,age,23.7\n")
    fails(cli("data", "check", root, "--relabel", bad), f"{bad}: line 2: age '23.7' is not a whole number")
    bad.write_bytes(b"id,field,value\n000001,gender,m\xe4nnlich\n")
    fails(cli("data", "check", root, "--relabel", bad), str(bad), "UTF-8")


def test_score_files(cli, tmp_path):
    gt, sub = tmp_path / "gt.csv", tmp_path / "sub.csv"
    gt.write_text("ImageID,ans\na.jpg,1\n")
    sub.write_text("ImageID,ans\na.jpg,one\n")
    fails(cli("score", gt, sub), f"{sub}: line 2: ans 'one' is not an integer")
    sub.write_bytes(b"\xff\xfe\x00garbage")
    fails(cli("score", gt, sub), str(sub))


def test_file_names_that_are_not_utf8(root, tmp_path, monkeypatch):
    """Names with bytes that are no UTF-8 are printed as those bytes (a strict UTF-8 stdout, as in a UTF-8 locale)."""
    import io
    import sys

    from maskcls.cli import render, run

    person = os.fsencode(_person(root))
    with open(person + b"/mask\xff.jpg", "wb") as handle:
        handle.write(b"x")
    os.makedirs(os.fsencode(root / "train" / "images") + b"/00000\xfe_male_Asian_30")
    streams = [io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict") for _ in range(2)]
    monkeypatch.setattr(sys, "stdout", streams[0])
    monkeypatch.setattr(sys, "stderr", streams[1])
    monkeypatch.setattr(render.console, "width", 1000)
    code = run(["data", "check", str(root), "--problems-csv", str(tmp_path / "problems.csv")])
    for stream in streams:
        stream.flush()
    out, err = (stream.buffer.getvalue() for stream in streams)
    assert code == 0 and b"Traceback" not in err, err
    assert b"mask\xff.jpg" in out and b"00000\xfe_male_Asian_30" in out
    assert b"mask\xff.jpg" in (tmp_path / "problems.csv").read_bytes()


@pytest.mark.parametrize("bands,needle", [("x", "two whole ages"), ("60,30", "increasing"), ("30", "two whole ages")])
def test_bad_age_bands(bands, needle, cli, root):
    fails(cli("data", "check", root, "--age-bands", bands), f"--age-bands {bands!r}", needle)
