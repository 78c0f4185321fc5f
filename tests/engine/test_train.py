"""End-to-end training on tiny synthetic photos with a tiny model: run folders, resume, fast path, k-fold."""

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import subprocess_env

import maskcls
from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine import run as run_module
from maskcls.engine.kfold import train_kfold
from maskcls.engine.run import resume, train
from maskcls.inference.batch import predict_paths
from maskcls.inference.predictor import Predictor
from maskcls.inference.submission import write_submission
from maskcls.metrics import score_files
from maskcls.runs import load_checkpoint


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=3, seed=1, size=(48, 64))
    return root


def tiny(data_root: Path, tmp_path: Path, *overrides: str):
    return load_config(None, [
        f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
        "train.batch_size=32", "train.epochs=1", "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}",
        "split.val_fraction=0.25", *overrides])


def quiet(_message: str) -> None:
    pass


def test_two_step_run_leaves_a_complete_folder(data_root, tmp_path):
    cfg = tiny(data_root, tmp_path, "model.head=class18")
    folder = train(cfg, tmp_path / "runs", log=quiet)
    assert folder == tmp_path / "runs" / "run"
    for name in ("config.yaml", "split.json", "metrics.csv", "best.pt", "last.pt", "val_predictions.csv",
                 "report.html", "plots/curves.png", "plots/confusion_matrix.png"):
        assert (folder / name).is_file(), name
    state = torch.load(folder / "best.pt", weights_only=True)
    assert "model" in state and state["epoch"] == 1
    rows = (folder / "metrics.csv").read_text().splitlines()
    assert len(rows) == 2 and "macro_f1" in rows[0]
    assert load_config(folder / "config.yaml") == cfg
    assert train(cfg, tmp_path / "runs", log=quiet) == tmp_path / "runs" / "run-2"  # never overwrites


def test_resume_after_a_kill_matches_an_uninterrupted_run(data_root, tmp_path, monkeypatch):
    overrides = ("train.epochs=3", "train.batch_size=16", "aug.cutmix=0.5", "train.ema=0.9", "train.warmup_epochs=1")
    whole = train(tiny(data_root, tmp_path, *overrides), tmp_path / "a", log=quiet)

    saves = {"n": 0}
    real_save = run_module.save_checkpoint

    def killed_after_first_epoch(path, state):
        real_save(path, state)
        if Path(path).name == "last.pt":
            saves["n"] += 1
            if saves["n"] == 1:
                raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        train(tiny(data_root, tmp_path, *overrides), tmp_path / "b", log=quiet)
    monkeypatch.setattr(run_module, "save_checkpoint", real_save)
    resumed = resume(tmp_path / "b" / "run", log=quiet)
    a, b = load_checkpoint(whole / "last.pt")["model"], load_checkpoint(resumed / "last.pt")["model"]
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert (whole / "metrics.csv").read_text().count("\n") == (resumed / "metrics.csv").read_text().count("\n") == 4


def test_feature_fast_path_then_unfreeze(data_root, tmp_path):
    cfg = tiny(data_root, tmp_path, "train.features=true", "train.epochs=3", "train.unfreeze_epochs=1",
               "train.unfreeze_stages=1", "model.head=multitask")
    folder = train(cfg, tmp_path / "runs", log=quiet)
    lines = (folder / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[1] for line in lines[1:]] == ["head", "head", "head", "finetune"]
    cached = list((tmp_path / "cache").glob("features-*.npy"))
    assert len(cached) == 2  # plain and mirrored, reused by the next run
    train(cfg, tmp_path / "runs", log=quiet)
    assert len(list((tmp_path / "cache").glob("features-*.npy"))) == 2


def test_kfold_writes_out_of_fold_predictions_and_resumes(data_root, tmp_path):
    cfg = tiny(data_root, tmp_path, "split.kind=kfold", "split.n_splits=2", "model.head=multitask_regression")
    parent = train_kfold(cfg, tmp_path / "runs", log=quiet)
    oof = (parent / "oof.csv").read_text().splitlines()
    photos = sum(1 for p in (data_root / "train" / "images").rglob("*.jpg"))
    assert len(oof) - 1 == photos
    assert (parent / "oof_metrics.json").is_file()
    messages = []
    train_kfold(cfg, parent=parent, log=messages.append)
    assert sum("finished earlier" in m for m in messages) == 2


def test_predict_writes_a_submission_that_scores(data_root, tmp_path):
    folder = train(tiny(data_root, tmp_path), tmp_path / "runs", log=quiet)
    predictor = Predictor.from_run(folder)
    from maskcls.data.layout import scan_eval

    evalset = scan_eval(data_root)
    probs, bad = predict_paths(predictor, evalset.paths, batch_size=8)
    assert not bad and probs.shape == (len(evalset.paths), 18)
    assert np.allclose(probs.sum(1), 1, atol=1e-5)
    out = write_submission(tmp_path / "sub.csv", evalset.image_ids, probs.argmax(1), probs)
    score = score_files(data_root / "eval_gt.csv", out)
    assert score.n == len(evalset.paths) and 0.0 <= score.macro_f1 <= 1.0
    assert np.load(tmp_path / "sub_probs.npy").shape == probs.shape


def test_a_years_head_trains_under_mixup_and_predicts_its_summed_bands(data_root, tmp_path):
    cfg = tiny(data_root, tmp_path, "model.head=multitask_years", "train.age_sigma=3", "aug.mixup=0.5")
    folder = train(cfg, tmp_path / "runs", log=quiet)
    predictor = Predictor.from_run(folder)
    paths = sorted((data_root / "train" / "images").rglob("*.jpg"))[:6]
    probs, bad = predict_paths(predictor, paths, batch_size=4)
    assert not bad and probs.shape == (6, 18) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with pytest.raises(Exception, match="train_old_threshold"):
        tiny(data_root, tmp_path, "model.head=multitask_years", "data.train_old_threshold=58")


def test_train_on_validation_for_the_last_epochs_is_flagged(data_root, tmp_path):
    folder = train(tiny(data_root, tmp_path, "train.epochs=3", "train.train_on_val_epochs=1"), tmp_path / "r", log=quiet)
    lines = (folder / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    flags = [line.split(",")[header.index("val_in_train")] for line in lines[1:]]
    assert flags == ["0", "0", "1"]
    clock = [float(line.split(",")[header.index("process_s")]) for line in lines[1:]]  # this process's clock
    assert 0 < clock[0] < clock[1] < clock[2] < time.perf_counter() - maskcls.STARTED
    assert "not held-out estimates" in (folder / "report.html").read_text()


def test_train_cli_with_preset_overrides_and_resume(data_root, tmp_path):
    import subprocess
    import sys

    args = [sys.executable, "-m", "maskcls", "train", "baseline", f"data.root={data_root}",
            "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32", "train.epochs=1",
            "train.loggers=[tensorboard]", f"train.cache_dir={tmp_path / 'cache'}", "--runs", str(tmp_path / "runs")]
    env = subprocess_env()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "runs" / "baseline"
    assert "epoch 1/1" in done.stdout and any((folder / "tb").iterdir())
    again = subprocess.run([sys.executable, "-m", "maskcls", "train", "--resume", str(folder)], capture_output=True,
                           text=True, env=env)
    assert again.returncode == 0, again.stderr
    bad = subprocess.run([*args[:4], "train.nope=1"], capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and bad.stderr.startswith("maskcls: error: ") and "train.nope" in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_predict_cli_keeps_info_order_and_names_missing_images(data_root, tmp_path):
    import shutil
    import subprocess
    import sys

    folder = train(tiny(data_root, tmp_path), tmp_path / "runs", log=quiet)
    env = subprocess_env()
    out = tmp_path / "sub.csv"
    done = subprocess.run([sys.executable, "-m", "maskcls", "predict", str(folder), str(data_root), "--out", str(out)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    info = (data_root / "eval" / "info.csv").read_text().splitlines()
    rows = out.read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == [r.split(",")[0] for r in info]
    broken = tmp_path / "broken"
    shutil.copytree(data_root / "eval", broken / "eval")
    missing = broken / "eval" / "images" / info[2].split(",")[0]
    missing.unlink()
    failed = subprocess.run([sys.executable, "-m", "maskcls", "predict", str(folder), str(broken), "--out",
                             str(tmp_path / "x.csv")], capture_output=True, text=True, env=env)
    assert failed.returncode == 1 and str(missing) in failed.stderr and "Traceback" not in failed.stderr
