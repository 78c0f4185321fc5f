"""The command line as a user runs it: a real subprocess, exit codes and one-line errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import build_quirk_tree, subprocess_env, write_person


def maskcls(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maskcls", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=subprocess_env())


def test_help_imports_nothing_heavy():
    code = ("import sys; from maskcls.cli import app; "
            "heavy = [m for m in ('numpy', 'pandas', 'torch', 'PIL', 'sklearn', 'matplotlib') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    result = maskcls("--help")
    assert result.returncode == 0 and "data" in result.stdout and "score" in result.stdout


def test_train_help_names_every_shipped_preset():
    from maskcls import presets

    shipped = sorted(p.stem for p in (Path(__import__("maskcls").__file__).parent / "presets").glob("*.yaml"))
    assert presets.names() == shipped and "general" in shipped
    result = maskcls("train", "--help")
    flat = " ".join(result.stdout.replace("│", " ").split())
    assert result.returncode == 0
    for name in shipped:
        assert name in flat, name


def test_check_reports_quirks_and_strict_exits_on_corrupt(tmp_path):
    at = build_quirk_tree(tmp_path)
    result = maskcls("data", "check", tmp_path, "--all", "--problems-csv", tmp_path / "problems.csv")
    assert result.returncode == 0, result.stderr
    for key in ("corrupt", "empty", "unknown_stem", "duplicate_stem", "few", "not_in_csv", "missing_folder", "mismatch"):
        assert str(at[key]) in result.stdout, key
    for kind in ("corrupt-image", "duplicate-id", "name-mismatch", "missing-photos", "empty-file"):
        assert kind in result.stdout
    assert "ignored dot files" in result.stdout
    assert str(at["corrupt"]) in (tmp_path / "problems.csv").read_text()
    strict = maskcls("data", "check", tmp_path, "--strict")
    assert strict.returncode == 1
    assert strict.stderr.count("\n") == 1 and "error-level problem" in strict.stderr
    assert "Traceback" not in strict.stderr


def test_strict_passes_a_clean_tree(tree):
    root = tree([("000001", "male", 20), ("000002", "female", 65)])
    result = maskcls("data", "check", root, "--strict")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no errors or warnings" in result.stdout


@pytest.mark.parametrize("args,needle", [
    (("data", "check", "/nonexistent/root"), "/nonexistent/root: no such folder"),
    (("score", "/nope/gt.csv", "/nope/sub.csv"), "/nope/gt.csv: file not found"),
    (("data", "check", ".", "--relabel", "/nope/fixes.csv"), "/nope/fixes.csv: relabel file not found"),
])
def test_fatal_errors_are_one_line(args, needle, tree):
    result = maskcls(*args)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"maskcls: error: {result.stderr.strip().removeprefix('maskcls: error: ')}"]
    assert needle in result.stderr and "Traceback" not in result.stderr


def test_split_writes_once_and_refuses_to_overwrite(tree, tmp_path):
    root = tree([(f"{i:06d}", "male" if i % 2 else "female", 20 + i) for i in range(30)])
    out = tmp_path / "split.json"
    first = maskcls("data", "split", root, "--out", out, "--kind", "holdout", "--val", "0.2")
    assert first.returncode == 0, first.stderr
    assert json.loads(out.read_text())["kind"] == "holdout"
    again = maskcls("data", "split", root, "--out", out)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_score_json_and_mismatch(tmp_path):
    gt = tmp_path / "gt.csv"
    gt.write_text("ImageID,ans\na.jpg,0\nb.jpg,17\n")
    sub = tmp_path / "sub.csv"
    sub.write_text("ImageID,ans\na.jpg,0\nb.jpg,17\n")
    result = maskcls("score", gt, sub, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["accuracy"] == 1.0 and abs(data["macro_f1"] - 2 / 18) < 1e-12
    plain = maskcls("score", gt, sub)
    assert "macro F1 (18 classes)" in plain.stdout and "0.1111" in plain.stdout
    sub.write_text("ImageID,ans\nb.jpg,0\na.jpg,17\n")
    bad = maskcls("score", gt, sub)
    assert bad.returncode == 1 and "line 2: ImageID b.jpg where the ground truth has a.jpg" in bad.stderr


def test_eda_writes_a_new_folder_each_time(tree, tmp_path):
    root = tree([("000001", "male", 20), ("000002", "female", 65)])
    for expected in ("eda", "eda-2"):
        result = maskcls("eda", root, "--out", tmp_path / "eda")
        assert result.returncode == 0, result.stderr
        assert (tmp_path / expected / "report.html").is_file()


def test_import_utkface_cli(tmp_path):
    write_person(tmp_path / "src", "x")  # not UTKFace files at all: nothing valid
    result = maskcls("data", "import-utkface", tmp_path / "src" / "x", tmp_path / "out")
    assert result.returncode == 1 and "no valid UTKFace-style face" in result.stderr
