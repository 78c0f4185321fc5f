"""``predict``, ``oof`` and ``analyze`` on tiny trained runs: a hold-out run and a 2-fold run, trained once."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli as cli
from maskcls.config import load_config
from maskcls.engine.kfold import train_kfold
from maskcls.engine.run import train
from maskcls.errors import MaskclsError
from maskcls.inference.batch import predict_members, predict_paths
from maskcls.inference.contract import Engine
from maskcls.inference.loading import load_engine, load_members
from maskcls.inference.ensemble import Ensemble


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory) -> dict[str, Path]:
    """One epoch of timm's test_efficientnet at 32 px: a hold-out class18 run and a 2-fold multitask run.

    The learning rates make probabilities differ between photos (not near uniform), so orders and ensembles show.
    """
    root = tmp_path_factory.mktemp("runs")

    def cfg(*overrides: str):
        return load_config(None, [
            f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
            "train.batch_size=32", "train.epochs=1", "train.loggers=[]", f"train.cache_dir={root / 'cache'}",
            "split.val_fraction=0.25", *overrides])

    quiet = lambda _message: None  # noqa: E731
    single = train(cfg("model.head=class18", "train.lr=0.03", "name=single"), root, log=quiet)
    kfold = train_kfold(cfg("model.head=multitask", "train.lr=0.05", "split.n_splits=2", "name=kfold"), root, log=quiet)
    return {"single": single, "kfold": kfold}


def first_column(path: Path) -> list[str]:
    with open(path, newline="") as handle:
        return [row[0] for row in csv.reader(handle)]


def test_predict_keeps_info_order_writes_probabilities_and_never_overwrites(runs, data_root, tmp_path, capsys):
    out = tmp_path / "sub.csv"
    code, stdout, err = cli(capsys, "predict", runs["single"], data_root, "--out", out, "--batch-size", 5)
    assert code == 0, err
    info = data_root / "eval" / "info.csv"
    assert first_column(out) == first_column(info)
    probs = np.load(tmp_path / "sub_probs.npy")
    assert probs.shape == (len(first_column(info)) - 1, 18) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with open(tmp_path / "sub_probs.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["ImageID", *[f"p{i}" for i in range(18)]]
    assert [r[0] for r in rows] == first_column(info)
    assert np.allclose(np.array([[float(x) for x in r[1:]] for r in rows[1:]]), probs, atol=1e-6)
    answers = [int(r.split(",")[1]) for r in out.read_text().splitlines()[1:]]
    assert answers == probs.argmax(1).tolist()
    assert probs.std(0).max() > 1e-3  # rows differ, so the order check means something
    code, _, err = cli(capsys, "predict", runs["single"], data_root, "--out", out)
    assert code == 1 and f"{out}: already exists" in err and err.count("\n") == 1
    assert cli(capsys, "predict", runs["single"], data_root, "--out", out, "--force")[0] == 0


def test_a_submission_scores_as_the_competition_formula(runs, data_root, tmp_path, capsys):
    from sklearn.metrics import f1_score

    out = tmp_path / "ens.csv"
    code, _, err = cli(capsys, "predict", f"{runs['single']},{runs['kfold']}", data_root, "--out", out,
                       "--tta", "flip+crops5", "--weights", "0.5,0.5")
    assert code == 0, err
    code, stdout, err = cli(capsys, "score", data_root / "eval_gt.csv", out, "--json")
    assert code == 0, err
    with open(data_root / "eval_gt.csv", newline="") as gt, open(out, newline="") as sub:
        truth = {r["ImageID"]: int(r["ans"]) for r in csv.DictReader(gt)}
        predicted = {r["ImageID"]: int(r["ans"]) for r in csv.DictReader(sub)}
    ids = list(truth)
    expected = f1_score([truth[i] for i in ids], [predicted[i] for i in ids], average="macro", labels=list(range(18)),
                        zero_division=0)
    assert json.loads(stdout)["macro_f1"] == pytest.approx(expected, abs=1e-12)


def test_unreadable_images_are_all_named_or_get_the_fallback(runs, data_root, tmp_path, capsys):
    shutil.copytree(data_root / "eval", tmp_path / "eval")
    ids = first_column(tmp_path / "eval" / "info.csv")[1:]
    images = tmp_path / "eval" / "images"
    missing, empty, corrupt = images / ids[1], images / ids[4], images / ids[7]
    missing.unlink()
    empty.write_bytes(b"")
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    out = tmp_path / "sub.csv"
    code, _, err = cli(capsys, "predict", runs["single"], tmp_path, "--out", out)
    assert code == 1 and err.count("\n") == 1 and "3 unreadable image(s)" in err
    assert all(str(p) in err for p in (missing, empty, corrupt)) and "Traceback" not in err
    assert not out.exists()

    code, stdout, err = cli(capsys, "predict", runs["single"], tmp_path, "--out", out, "--skip-bad")
    assert code == 0, err
    assert first_column(out) == first_column(tmp_path / "eval" / "info.csv")
    skipped = (tmp_path / "sub_skipped.txt").read_text().splitlines()
    assert len(skipped) == 3 and all(any(str(p) in line for line in skipped) for p in (missing, empty, corrupt))
    assert all(str(p) in err for p in (missing, empty, corrupt))
    probs = np.load(tmp_path / "sub_probs.npy")
    bad = [1, 4, 7]
    readable = [i for i in range(len(ids)) if i not in bad]
    prior = probs[readable].mean(0)
    answers = [int(r.split(",")[1]) for r in out.read_text().splitlines()[1:]]
    assert all(np.allclose(probs[i], prior, atol=1e-6) and answers[i] == prior.argmax() for i in bad)


def test_a_photo_or_a_folder_prints_each_task(runs, data_root, tmp_path, capsys):
    photos = sorted((data_root / "eval" / "images").glob("*.jpg"))[:4]
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos:
        shutil.copy(photo, folder / photo.name)
    code, stdout, err = cli(capsys, "predict", runs["single"], photos[0])
    assert code == 0, err
    assert "mask" in stdout and "age band" in stdout and any(g in stdout for g in ("male", "female"))
    out = tmp_path / "photos.csv"
    code, stdout, err = cli(capsys, "predict", runs["kfold"], folder, "--out", out, "--tta", "flip")
    assert code == 0, err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [Path(r["path"]).name for r in rows] == [p.name for p in photos]
    for row in rows:
        probs = np.array([float(row[f"p{i}"]) for i in range(18)])
        assert int(row["class"]) == probs.argmax() and row["mask"] in ("wear", "incorrect", "not wear")
        assert float(row["p_mask"]) >= 1 / 3 - 1e-6
    (folder / "broken.jpg").write_bytes(b"not a photo")
    code, _, err = cli(capsys, "predict", runs["single"], folder)
    assert code == 1 and str(folder / "broken.jpg") in err
    code, stdout, err = cli(capsys, "predict", runs["single"], folder, "--skip-bad")
    assert code == 0 and f"skipped: {folder / 'broken.jpg'}" in err


def test_kfold_runs_expand_and_run_weights_spread_over_folds(runs, data_root):
    from maskcls.data.layout import scan_eval

    engines, groups = load_members([runs["single"], runs["kfold"]])
    assert groups == [0, 1, 1] and all(isinstance(e, Engine) for e in engines)
    assert [e.name for e in engines] == ["single", "fold0", "fold1"]
    paths = scan_eval(data_root).paths
    probs, errors = predict_members(engines, paths, batch_size=8)
    assert not errors and probs.shape == (3, len(paths), 18)
    assert not np.allclose(probs[1], probs[2])  # the folds are different models
    _, combined = Ensemble(weights=(0.6, 0.4)).combine(probs, groups)
    assert np.allclose(combined, 0.6 * probs[0] + 0.2 * probs[1] + 0.2 * probs[2], atol=1e-6)
    single, _ = predict_paths(engines[0], paths, batch_size=8)
    assert np.allclose(single, probs[0], atol=1e-6)
    with pytest.raises(MaskclsError, match="unknown engine"):
        load_engine(runs["single"], "tensorrt")
    with pytest.raises(MaskclsError, match="no such run"):
        load_members([runs["single"].parent / "nope"])


def test_oof_reports_and_searches_weights(runs, tmp_path, capsys):
    code, stdout, err = cli(capsys, "oof", runs["kfold"], "--json")
    assert code == 0, err
    result = json.loads(stdout)
    recorded = json.loads((runs["kfold"] / "oof_metrics.json").read_text())
    assert result["members"][0]["macro_f1"] == pytest.approx(recorded["macro_f1"])
    assert result["members"][0]["gender_f1"] == pytest.approx(recorded["task_f1"]["gender"])
    assert [f["fold"] for f in result["per_fold"]] == [0, 1]
    out = tmp_path / "weights.json"
    code, stdout, err = cli(capsys, "oof", f"{runs['kfold']},{runs['kfold']}", "--out", out)
    assert code == 0, err
    assert "--weights" in stdout and json.loads(out.read_text())["weights"] == [0.5, 0.5]
    code, _, err = cli(capsys, "oof", runs["single"])
    assert code == 1 and "no oof.csv" in err


def test_analyze_writes_a_page_with_figures_and_never_overwrites(runs, capsys):
    code, stdout, err = cli(capsys, "analyze", runs["single"], "--images", 4, "--gradcam", 2)
    assert code == 0, err
    folder = runs["single"] / "analysis"
    page = (folder / "report.html").read_text()
    for name in ("confusion_counts.png", "confusion_normalised.png", "top_losses.png", "gradcam_losses.png",
                 "gradcam_correct.png"):
        assert (folder / name).stat().st_size > 1000 and name in page, name
    for heading in ("Per class", "Per task", "Most confused pairs", "Largest losses", "Grad-CAM"):
        assert heading in page
    earlier = runs["kfold"] / "analysis"
    earlier.mkdir()
    (earlier / "notes.txt").write_text("an earlier analysis")
    code, _, err = cli(capsys, "analyze", runs["kfold"], "--images", 2, "--gradcam", 1)
    assert code == 0, err
    assert (earlier / "notes.txt").read_text() == "an earlier analysis"
    page = (runs["kfold"] / "analysis-2" / "report.html").read_text()
    assert "oof.csv" in page and "gradcam_losses.png" in page
