"""Self-training: per-task pseudo labels kept above their thresholds, and rounds that train on them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers import write_photo

from maskcls.cli import run as cli
from maskcls.config import DataConfig, SourceConfig, TaskThresholds, load_config
from maskcls.data.sources import load_source, load_sources
from maskcls.data.synthetic import make_synthetic
from maskcls.engine import self_training
from maskcls.engine.self_training import PSEUDO_SOURCE, train_self_training
from maskcls.errors import MaskclsError
from maskcls.inference import pseudo_labels
from maskcls.inference.pseudo_labels import PseudoLabels, pseudo_rows, representative_age
from maskcls.runs import RunFolder


def probs_of(mask, gender, age) -> np.ndarray:
    """18-class probabilities with these task marginals (class = mask × 6 + gender × 3 + age band)."""
    return np.einsum("i,j,k->ijk", mask, gender, age).reshape(18)


CONFIDENT = probs_of((0.95, 0.03, 0.02), (0.97, 0.03), (0.05, 0.9, 0.05))  # wear, male, 30-59
MASK_ONLY = probs_of((0.02, 0.02, 0.96), (0.6, 0.4), (0.3, 0.3, 0.4))      # not wear; gender, age unsure
UNSURE = probs_of((0.4, 0.3, 0.3), (0.55, 0.45), (0.5, 0.3, 0.2))         # nothing above its threshold


def test_each_task_is_kept_only_above_its_threshold_and_a_photo_without_labels_is_not_read(tmp_path):
    folder = tmp_path / "unlabelled"
    photos = [write_photo(folder / f"{name}.jpg") for name in ("a", "b", "c", "d", "e")]
    probs = np.stack([CONFIDENT, MASK_ONLY, UNSURE, np.full(18, np.nan), CONFIDENT])
    rows = pseudo_rows(photos, probs, {3: "d.jpg: unreadable"}, {4: str(photos[4])}, DataConfig(), TaskThresholds())
    by_file = {r["file"]: r for r in rows}
    assert (by_file["a.jpg"]["mask"], by_file["a.jpg"]["gender"], by_file["a.jpg"]["age"]) == ("wear", "male", "45")
    assert by_file["a.jpg"]["age_band"] == "30-59" and by_file["a.jpg"]["p_age"] == "0.9000"
    b = by_file["b.jpg"]
    assert (b["mask"], b["gender"], b["age"]) == ("not wear", "", "") and b["p_gender"] == "0.6000"
    assert not any(by_file["c.jpg"][t] for t in ("mask", "gender", "age")) and by_file["c.jpg"]["p_mask"] == "0.4000"
    assert by_file["d.jpg"]["note"] == "unreadable" and by_file["d.jpg"]["p_mask"] == ""
    assert by_file["e.jpg"]["note"] == "no face" and not by_file["e.jpg"]["mask"]  # confident, but never saw a face
    table = PseudoLabels(folder, rows)
    assert table.summary() == {"photos": 5, "unreadable": 1, "no_face": 1,
                               "kept": {"mask": 2, "gender": 1, "age": 1}, "unlabelled": 3}
    labels = table.write(tmp_path / "pseudo_labels.csv")
    part = load_source(SourceConfig(kind="crops", root=folder, labels=labels, name="pseudo"))
    got = {Path(r.path).name: (r.mask, r.gender, r.age) for r in part.records}
    assert got == {"a.jpg": (0, 0, 45), "b.jpg": (2, None, None)}
    assert {Path(p.path).name for p in part.problems if p.kind == "no-label"} == {"c.jpg", "d.jpg", "e.jpg"}


def test_the_representative_age_trains_as_its_band_under_the_training_policy():
    assert [representative_age(b, DataConfig()) for b in range(3)] == [15, 45, 80]
    data = DataConfig(age_thresholds=(30, 60), train_old_threshold=58, train_drop_ages=(55, 59))
    bands, policy = data.bands(), data.age_policy()
    for band in range(3):
        age = representative_age(band, data)
        assert bands.band(age) == band and policy.band(age) == band and policy.keep(age)
    assert representative_age(1, data) == 42  # the middle of 30-54: 55-57 dropped, 58-59 train as the oldest
    assert representative_age(2, DataConfig(train_drop_ages=(60, 120))) is None


@pytest.fixture
def wide(monkeypatch):
    """The command line's consoles wide (log lines unwrapped) and without progress bars."""
    from maskcls.cli.render import console, err_console

    for shown in (console, err_console):
        monkeypatch.setattr(shown, "width", 1000)
    monkeypatch.setenv("MASKCLS_PROGRESS", "0")


def tiny_config(root: Path, folder: Path, *overrides: str):
    return load_config(None, [f"data.root={root}", "model.backbone=test_efficientnet", "model.pretrained=false",
                              "model.img_size=32", "train.epochs=1", "train.loggers=[]", "cache.enabled=false",
                              "split.val_fraction=0.25", f"self_training.folder={folder}", *overrides])


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=8, eval_people=2, seed=2, size=(48, 64))
    return root


def test_a_round_trains_on_the_labels_kept_and_never_on_a_photo_that_kept_none(synthetic, tmp_path, monkeypatch):
    folder = synthetic / "eval" / "images"
    photos = sorted(folder.iterdir())
    assert len(photos) >= 4

    def predicted(engine, paths, no_face=None, **_):  # the first photo sure of all, the second of its mask only
        rows = [CONFIDENT, MASK_ONLY] + [UNSURE] * (len(paths) - 2)
        return np.stack(rows).astype(np.float32), {}

    monkeypatch.setattr(pseudo_labels, "predict_paths", predicted)
    parent = train_self_training(tiny_config(synthetic, folder, "self_training.weight=0.5"), tmp_path / "runs",
                                 log=lambda _m: None)
    round1 = RunFolder(parent).round(1)
    with open(round1.pseudo_labels_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["file"] for r in rows] == [p.name for p in photos]
    assert [bool(r["mask"]) for r in rows] == [True, True] + [False] * (len(photos) - 2)
    summary = {s["name"]: s for s in json.loads(round1.sources_path.read_text())["sources"]}
    pseudo = summary[PSEUDO_SOURCE]
    assert pseudo["photos"] == pseudo["train_photos"] == 2 and pseudo["val_photos"] == 0 and pseudo["weight"] == 0.5
    assert pseudo["train_labels"]["gender"] == {"male": 1, "missing": 1}
    assert pseudo["train_labels"]["age"] == {"30-59": 1, "missing": 1}
    cfg = round1.read_config()
    trained = next(p for p in load_sources(cfg.data, cfg.seed) if p.name == PSEUDO_SOURCE)
    assert sorted(Path(r.path).name for r in trained.records) == [photos[0].name, photos[1].name]
    assert cfg.self_training.folder is None and cfg.split.file == RunFolder(parent).split_path.resolve()
    record = json.loads(RunFolder(parent).self_training_path.read_text())
    assert record["final"] == "round1" and record["rounds"]["1"]["kept"] == {"mask": 2, "gender": 1, "age": 1}
    assert record["rounds"]["1"]["unlabelled"] == len(photos) - 2 and record["rounds"]["0"]["run"] == "."


def test_self_training_from_the_command_line_gives_a_round_predict_loads(synthetic, tmp_path, capsys, wide):
    folder = synthetic / "eval" / "images"
    runs = tmp_path / "runs"
    every = ["self_training.thresholds.mask=0", "self_training.thresholds.gender=0", "self_training.thresholds.age=0"]
    args = [f"{k}={v}" for k, v in (("data.root", synthetic), ("model.backbone", "test_efficientnet"),
                                    ("model.pretrained", "false"), ("model.img_size", 32), ("train.epochs", 1),
                                    ("train.loggers", "[]"), ("cache.enabled", "false"),
                                    ("self_training.folder", folder))]
    assert cli(["train", *args, *every, "--runs", str(runs)]) == 0
    parent = RunFolder(runs / "run")
    round1 = parent.round(1)
    for path in (round1.config_path, round1.best_path, round1.metrics_path, round1.report_path,
                 round1.pseudo_labels_path):
        assert path.is_file(), path
    record = parent.read_self_training()
    photos = len(list(folder.iterdir()))
    assert record["final"] == "round1" and record["rounds"]["1"]["kept"]["mask"] == photos
    capsys.readouterr()
    assert cli(["predict", str(round1.path), str(folder)]) == 0
    assert "predictions" in capsys.readouterr().out
    stamp = round1.best_path.stat().st_mtime_ns
    assert cli(["train", "--resume", str(parent.path)]) == 0  # every round finished: nothing trains
    assert round1.best_path.stat().st_mtime_ns == stamp and "finished earlier, skipped" in capsys.readouterr().out
    assert sorted(runs.iterdir()) == [parent.path] and sorted(parent.path.glob("round*")) == [round1.path]


def test_resuming_relabels_a_round_stopped_before_its_first_epoch_in_its_own_folder(synthetic, tmp_path,
                                                                                   monkeypatch):
    folder = synthetic / "eval" / "images"
    cfg = tiny_config(synthetic, folder)
    parent = RunFolder(tmp_path / "run")
    parent.path.mkdir()
    parent.write_config(cfg)
    parent.report_path.write_text("round 0 finished")
    stale = parent.round(1)
    stale.path.mkdir()
    (stale.path / "metrics.csv").write_text("epoch\n")  # what a round killed in its first epoch leaves
    calls = []

    def labelled(run, photos, data, thresholds, device):
        assert run == parent.path  # round 1 is labelled by round 0's model
        return PseudoLabels(folder, pseudo_rows(photos, np.stack([MASK_ONLY] * len(photos)), {}, {}, data,
                                                thresholds))

    monkeypatch.setattr(self_training, "label_photos", labelled)
    monkeypatch.setattr(self_training, "resume", lambda *a, **k: pytest.fail("round 0 is finished: no resume"))
    monkeypatch.setattr(self_training, "train_in", lambda c, f, **_: calls.append((c, f)))
    assert train_self_training(cfg, parent=parent.path, log=lambda _m: None) == parent.path
    [(round_cfg, trained_in)] = calls
    assert trained_in == stale.path and not (stale.path / "metrics.csv").exists()
    assert stale.read_config() == round_cfg and round_cfg.data.sources[-1].labels == stale.pseudo_labels_path
    assert stale.pseudo_labels_path.read_text().count("not wear") == len(list(folder.iterdir()))


def test_self_training_refuses_kfold_and_a_folder_without_photos(synthetic, tmp_path, capsys, wide):
    assert cli(["train", f"data.root={synthetic}", f"self_training.folder={tmp_path}", "--kfold",
                "--runs", str(tmp_path / "runs")]) == 1
    assert "not the folds of --kfold" in capsys.readouterr().err
    with pytest.raises(MaskclsError, match="no photos here"):
        train_self_training(tiny_config(synthetic, tmp_path), tmp_path / "runs")
    assert not (tmp_path / "runs").exists()  # refused before round 0 trained
