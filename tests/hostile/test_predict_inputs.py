"""Hostile inputs of ``predict``: photo folders with broken links, FIFOs, bombs and truncated files; eval folders
with bad ``info.csv``; run folders with damaged configs and checkpoints; bad options. Each is one line naming the
file, or with ``--skip-bad`` a reported skip; no submission appears unless it is complete."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import write_photo
from hostile_helpers import fails, png_header


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    for i in range(2):
        write_photo(folder / f"good{i}.jpg", color=(40 * i, 90, 160), size=(40, 48))
    return folder


def _break(folder: Path, case: str) -> tuple[Path, str]:
    if case == "dangling link":
        (folder / "bad.jpg").symlink_to("/nonexistent.jpg")
        return folder / "bad.jpg", "broken symbolic link"
    if case == "self-looping link":
        (folder / "bad.jpg").symlink_to("bad.jpg")
        return folder / "bad.jpg", "symbolic link loop"
    if case == "fifo":
        os.mkfifo(folder / "bad.jpg")
        return folder / "bad.jpg", "not a regular file (a FIFO)"
    if case == "empty":
        (folder / "bad.jpg").write_bytes(b"")
        return folder / "bad.jpg", "empty file"
    if case == "bomb":
        (folder / "bad.png").write_bytes(png_header(20000, 20000))
        return folder / "bad.png", "too large to decode safely"
    if case == "truncated":
        write_photo(folder / "bad.jpg", size=(64, 64))
        (folder / "bad.jpg").write_bytes((folder / "bad.jpg").read_bytes()[:150])
        return folder / "bad.jpg", "corrupt image"
    if case == "text":
        (folder / "bad.webp").write_text("hello")
        return folder / "bad.webp", "not an image"
    raise AssertionError(case)


CASES = ["dangling link", "self-looping link", "fifo", "empty", "bomb", "truncated", "text"]


@pytest.mark.parametrize("case", CASES)
def test_bad_photo_in_a_folder_is_named_or_skipped(case, cli, run_folder, photos, tmp_path):
    bad, needle = _break(photos, case)
    cache = tmp_path / "cache"
    fails(cli("predict", run_folder, photos, "--cache-dir", cache), f"{bad}: {needle}", "--skip-bad")
    skipped = cli("predict", run_folder, photos, "--skip-bad", "--cache-dir", cache, "--out", tmp_path / "p.csv")
    assert skipped.code == 0, skipped.err
    assert f"skipped: {bad}: {needle}" in skipped.err and "Traceback" not in skipped.err
    rows = (tmp_path / "p.csv").read_text().splitlines()
    assert len(rows) == 3 and all("good" in row for row in rows[1:])  # 2 photos predicted, the bad one reported


def test_large_photo_warning_names_it(cli, run_folder, photos, tmp_path):
    (photos / "big.png").write_bytes(png_header(10000, 10000))
    result = cli("predict", run_folder, photos, "--skip-bad", "--cache-dir", tmp_path / "cache")
    assert f"maskcls: warning: {photos / 'big.png'}: very large photo" in result.err
    assert "DecompressionBombWarning" not in result.err


def test_predict_cache_dir_is_used(cli, run_folder, photos, tmp_path):
    cache = tmp_path / "my-cache"
    result = cli("predict", run_folder, photos, "--cache-dir", cache)
    assert result.code == 0, result.err
    assert any(cache.glob("*.u8")) and not (tmp_path / "default-cache").exists()
    fails(cli("predict", run_folder, photos, "--cache-dir", photos / "good0.jpg"), "--cache-dir is not a folder")


def test_photo_table_keeps_whole_paths(cli, run_folder, tmp_path):
    folder = tmp_path / "photos"
    names = [f"{'a_rather_long_photo_name_' * 4}{i}.jpg" for i in range(2)]
    for name in names:
        write_photo(folder / name, size=(40, 48))
    result = cli("predict", run_folder, folder)
    flat = "".join(line.strip("│ ") for line in result.out.splitlines())
    assert all(name in flat for name in names) and "…" not in result.out


def _eval(tmp_path: Path, rows: str | bytes, images: tuple[str, ...] = ("a.jpg", "b.jpg")) -> Path:
    root = tmp_path / "comp" / "eval"
    for name in images:
        write_photo(root / "images" / name, size=(40, 48))
    (root / "info.csv").write_bytes(rows if isinstance(rows, bytes) else rows.encode())
    return root


EVAL_FATAL = {
    "header only": ("ImageID,ans\n", "no images to predict"),
    "no ImageID column": ("image,ans\na.jpg,0\n", "missing column(s) ImageID"),
    "latin-1": ("ImageID,ans\ná.jpg,0\n".encode("latin-1"), "not a UTF-8 CSV"),
    "path traversal": ("ImageID,ans\n../../etc/passwd,0\na.jpg,0\n", "is not a plain file name"),
    "duplicate rows": ("ImageID,ans\na.jpg,0\na.jpg,0\n", "already on line 2"),
    "NUL bytes": (b"ImageID,ans\na\x00.jpg,0\n", "NUL byte"),
}


@pytest.mark.parametrize("case", EVAL_FATAL)
def test_bad_info_csv_is_one_line_and_writes_nothing(case, cli, run_folder, tmp_path):
    rows, needle = EVAL_FATAL[case]
    root = _eval(tmp_path, rows)
    out = tmp_path / "sub.csv"
    fails(cli("predict", run_folder, root, "--out", out, "--cache-dir", tmp_path / "c"), needle)
    assert not out.exists() and not (tmp_path / "sub_probs.npy").exists()


@pytest.mark.parametrize("case", ["missing", "dangling link", "truncated", "fifo"])
def test_unreadable_eval_image(case, cli, run_folder, tmp_path):
    root = _eval(tmp_path, "ImageID,ans\na.jpg,0\nb.jpg,0\nc.jpg,0\n")
    bad = root / "images" / "c.jpg"
    if case == "dangling link":
        bad.symlink_to("/nonexistent.jpg")
    elif case == "truncated":
        write_photo(bad, size=(64, 64))
        bad.write_bytes(bad.read_bytes()[:100])
    elif case == "fifo":
        os.mkfifo(bad)
    out = tmp_path / "sub.csv"
    fails(cli("predict", run_folder, root, "--out", out, "--cache-dir", tmp_path / "c"), str(bad))
    assert not out.exists()
    result = cli("predict", run_folder, root, "--out", out, "--skip-bad", "--cache-dir", tmp_path / "c")
    assert result.code == 0 and str(bad) in result.err, result.err
    assert len(out.read_text().splitlines()) == 4  # every info.csv row, the bad one with the fallback
    assert str(bad) in (tmp_path / "sub_skipped.txt").read_text()


def test_existing_submission_is_refused(cli, run_folder, tmp_path):
    root = _eval(tmp_path, "ImageID,ans\na.jpg,0\n")
    out = tmp_path / "sub.csv"
    out.write_text("mine\n")
    fails(cli("predict", run_folder, root, "--out", out, "--cache-dir", tmp_path / "c"), str(out), "already exists")
    assert out.read_text() == "mine\n"


# --- damaged run folders ---------------------------------------------------------------------------------------
def _damage(run: Path, case: str) -> tuple[Path, str]:
    import pickle

    import torch

    if case == "no config":
        (run / "config.yaml").unlink()
        return run, "not a run folder (no config.yaml)"
    if case == "config not UTF-8":
        (run / "config.yaml").write_bytes(bytes(range(128, 256)) * 4)
        return run / "config.yaml", "not a UTF-8 text file"
    if case == "config unknown key":
        (run / "config.yaml").write_text((run / "config.yaml").read_text() + "extra: 1\n")
        return run / "config.yaml", "extra"
    if case == "config unknown loss":
        text = (run / "config.yaml").read_text().replace("loss: ce", "loss: cee")
        (run / "config.yaml").write_text(text)
        return run / "config.yaml", "unknown loss 'cee'"
    if case == "no best.pt":
        (run / "best.pt").unlink()
        return run / "best.pt", "checkpoint not found"
    if case == "best.pt garbage":
        (run / "best.pt").write_bytes(os.urandom(4096))
        return run / "best.pt", "not a maskcls checkpoint"
    if case == "best.pt truncated":
        (run / "best.pt").write_bytes((run / "best.pt").read_bytes()[:3000])
        return run / "best.pt", "not a maskcls checkpoint"
    if case == "best.pt unsafe pickle":
        with open(run / "best.pt", "wb") as handle:
            pickle.dump({"model": os.system}, handle)
        return run / "best.pt", "refused for safety"
    if case == "best.pt a list":
        torch.save([1, 2, 3], run / "best.pt")
        return run / "best.pt", "no 'model' weights"
    if case == "best.pt of another model":
        torch.save({"model": {"fc.weight": torch.zeros(3, 3)}}, run / "best.pt")
        return run / "best.pt", "does not fit the model of its config.yaml"
    if case == "kfold marker garbage":
        (run / "kfold.json").write_text("{not json")
        return run / "kfold.json", "unreadable k-fold marker"
    raise AssertionError(case)


DAMAGE = ["no config", "config not UTF-8", "config unknown key", "config unknown loss", "no best.pt",
          "best.pt garbage", "best.pt truncated", "best.pt unsafe pickle", "best.pt a list", "best.pt of another model",
          "kfold marker garbage"]


@pytest.mark.parametrize("case", DAMAGE)
def test_damaged_run_folder_is_one_line(case, cli, copy_run, photos, tmp_path):
    run = copy_run()
    where, needle = _damage(run, case)
    line = fails(cli("predict", run, photos, "--cache-dir", tmp_path / "c"), str(where), needle)
    assert "weights_only" not in line


@pytest.mark.parametrize("args,needle", [
    (("--weights", "0.5,0.5"), "2 weight(s) for 1 run(s)"),
    (("--weights", "a,b"), "--weights 'a,b'"),
    (("--tta", "sideways"), "--tta 'sideways'"),
    (("--tasks", "mask=7"), "--tasks"),
    (("--crop-scale", "3"), "crop scale"),
    (("--engine", "tensorrt"), "unknown engine 'tensorrt'"),
])
def test_bad_predict_options(args, needle, cli, run_folder, photos):
    fails(cli("predict", run_folder, photos, *args), needle)


def test_predict_target_that_is_nothing(cli, run_folder, tmp_path):
    fails(cli("predict", run_folder, tmp_path / "nothing"), str(tmp_path / "nothing"), "no such photo or folder")
    (tmp_path / "empty").mkdir()
    fails(cli("predict", run_folder, tmp_path / "empty"), str(tmp_path / "empty"), "no photos here")
    fails(cli("predict", tmp_path / "norun", tmp_path / "empty"), str(tmp_path / "norun"), "no such run folder")
