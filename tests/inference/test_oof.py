"""Out-of-fold files: reading, aligning runs photo by photo, and the ensemble weight search."""

import csv
from pathlib import Path

import numpy as np
import pytest

from maskcls.errors import MaskclsError
from maskcls.inference.oof import align, load_oof, search_report, search_weights, simplex_grid
from maskcls.metrics import macro_f1


def write_oof(folder: Path, paths, y_true, probs, folds) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "oof.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "path", "person", "id", "true", "pred", *[f"p{i}" for i in range(18)]])
        for path, truth, row, fold in zip(paths, y_true, probs, folds):
            writer.writerow([fold, path, path.split("/")[0], path.split("/")[0], truth, int(row.argmax()),
                             *[f"{p:.6f}" for p in row]])
    return folder


def one_hot(labels, p):
    rows = np.full((len(labels), 18), (1 - p) / 17)
    rows[np.arange(len(labels)), labels] = p
    return rows


@pytest.fixture
def two_runs(tmp_path):
    """Run ``good`` puts 0.9 on the truth; run ``bad`` puts 1.0 on a wrong class: equal weights follow ``bad``."""
    rng = np.random.default_rng(0)
    n = 72
    y_true = np.arange(n) % 18
    paths = [f"p{i // 7:03d}/photo{i % 7}.jpg" for i in range(n)]
    folds = (np.arange(n) // 7) % 3  # people stay within one fold
    wrong = (y_true + 1 + rng.integers(0, 17, n)) % 18
    good = write_oof(tmp_path / "good", paths, y_true, one_hot(y_true, 0.9), folds)
    order = rng.permutation(n)  # the other run lists the photos in another order
    bad = write_oof(tmp_path / "bad", [paths[i] for i in order], y_true[order], one_hot(wrong[order], 1.0),
                    folds[order])
    return good, bad, y_true


def test_load_and_align(two_runs):
    good, bad, y_true = two_runs
    runs = align([load_oof(good), load_oof(bad)])
    assert runs[0].paths == runs[1].paths and np.array_equal(runs[1].y_true, y_true)
    assert runs[0].score().macro_f1 == 1.0 and runs[1].score().macro_f1 == 0.0
    with pytest.raises(MaskclsError, match="no oof.csv"):
        load_oof(good.parent / "nothing")


def test_weight_search_finds_the_good_run_and_reports_members(two_runs):
    good, bad, _ = two_runs
    report = search_report([load_oof(good), load_oof(bad)], step=0.1)
    assert [m["macro_f1"] for m in report.members] == [1.0, 0.0]
    assert report.equal_f1 < 0.1  # 0.45 on the truth loses to 0.5 on the wrong class
    assert report.weights[0] > 0.5 and report.best_f1 == 1.0 and report.cv_f1 == 1.0
    assert sum(report.weights) == pytest.approx(1.0) and report.n == 72


def test_search_beats_equal_weights_only_when_it_should():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 18, 200)
    a = one_hot(y, 0.5) + rng.random((200, 18)) * 0.1
    probs = np.stack([a / a.sum(1, keepdims=True)] * 2)  # identical members: nothing to gain
    weights, f1 = search_weights(probs, y)
    assert weights == (0.5, 0.5) and f1 == macro_f1(y, probs[0].argmax(1))
    many = np.stack([probs[0]] * 4)  # coordinate search beyond three members
    assert search_weights(many, y)[0] == (0.25,) * 4
    assert len(simplex_grid(3, 0.1)) == 66 and all(abs(sum(w) - 1) < 1e-9 for w in simplex_grid(3, 0.1))


def test_runs_on_other_photos_are_refused(two_runs, tmp_path):
    good, _, y_true = two_runs
    other = write_oof(tmp_path / "other", [f"x{i}.jpg" for i in range(72)], y_true, one_hot(y_true, 0.9), [0] * 72)
    with pytest.raises(MaskclsError, match="covers other photos"):
        align([load_oof(good), load_oof(other)])
    with pytest.raises(MaskclsError, match="--step"):
        search_report([load_oof(good), load_oof(good)], step=0.3)
