"""ONNX export and the ONNX Runtime engine: parity with PyTorch, dynamic batch, metadata, refusals, the CLI."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers import subprocess_env

from maskcls.config import ModelConfig, load_config
from maskcls.engine.run import train
from maskcls.errors import MaskclsError
from maskcls.inference.batch import predict_paths
from maskcls.inference.export import ExportModule, export_onnx, onnx_bytes
from maskcls.inference.loading import load_onnx
from maskcls.inference.onnx_engine import OnnxEngine
from maskcls.parallel import onnx_session
from maskcls.inference.parity import parity_images, torch_probs
from maskcls.inference.predictor import Predictor
from maskcls.models.classifier import build_classifier
from maskcls.runs import RunFolder, load_checkpoint, save_checkpoint
from maskcls.vision.cache import CacheSpec, load_image


@pytest.fixture(scope="module")
def runs(data_root, tmp_path_factory) -> dict[str, Path]:
    """A tiny trained run per head (one epoch of timm's test_efficientnet at 32 px).

    Learning rates are picked so that probabilities differ clearly between photos (neither near uniform nor
    saturated): a preprocessing slip such as dividing by 256 then moves them by far more than the 1e-4 tolerance.
    """
    root = tmp_path_factory.mktemp("runs")
    folders = {}
    for head, lr in (("class18", 0.03), ("multitask", 0.05)):
        cfg = load_config(None, [
            f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false",
            "model.img_size=32", f"model.head={head}", "train.batch_size=32", "train.epochs=1", f"train.lr={lr}",
            "train.loggers=[]", f"train.cache_dir={root / 'cache'}", "split.val_fraction=0.25", f"name={head}"])
        folders[head] = train(cfg, root, log=lambda _message: None)
    return folders


@pytest.mark.parametrize("head", ["class18", "multitask"])
def test_onnx_runtime_matches_pytorch_for_batches_of_1_and_5(runs, head):
    folder = runs[head]
    path = export_onnx(folder)
    assert path == folder / "export" / "model.onnx"
    engine = OnnxEngine.from_file(path)
    model, cfg = RunFolder(folder).load_model("cpu")
    images, what = parity_images(folder, engine.preprocess, cfg.input.crop, count=5)
    assert images.shape == (5, 32, 32, 3) and what == "5 validation photos"
    assert np.ptp(torch_probs(model, cfg, images), axis=0).max() > 0.1  # clearly different outputs per photo
    for batch in (1, 5):
        onnx, eager = engine.probs(images[:batch]), torch_probs(model, cfg, images[:batch])
        assert onnx.shape == (batch, 18) and onnx.dtype == np.float32
        assert np.abs(onnx - eager).max() < 1e-4
        assert np.allclose(onnx.sum(1), 1, atol=1e-5)
    assert engine.probs(images[:0]).shape == (0, 18)


def test_engine_matches_the_predictor_on_photo_files(runs, data_root):
    folder = runs["multitask"]
    engine = load_onnx(folder)  # exports on first use
    assert (folder / "export" / "model.json").is_file()
    paths = sorted((data_root / "eval" / "images").iterdir())[:6]
    expected, bad = predict_paths(Predictor.from_run(folder, device="cpu"), paths, batch_size=4)
    assert not bad
    spec = CacheSpec(engine.preprocess.size, engine.preprocess.interpolation, engine.cfg.input.crop)
    got = engine.probs(np.stack([load_image(p, spec) for p in paths]))
    assert np.abs(got - expected).max() < 1e-4
    assert engine.name == folder.name and engine.cfg == load_config(folder / "config.yaml")
    from maskcls.inference.contract import Engine

    assert isinstance(engine, Engine)  # the contract shared with the torch engine


def test_metadata_describes_the_model(runs):
    folder = runs["class18"]
    out = folder / "elsewhere" / "m.onnx"
    export_onnx(folder, out, opset=18)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["run"] == folder.name and meta["backbone"] == "test_efficientnet" and meta["opset"] == 18
    assert meta["input"]["shape"] == ["batch", 32, 32, 3] and meta["outputs"] == ["probs"]
    assert meta["preprocess"]["size"] == [32, 32] and meta["crop"] == "none" and meta["age_thresholds"] == [30, 60]
    assert meta["background"] == "keep" == meta["config"]["input"]["background"]
    assert len(meta["class_names"]) == 18 and meta["class_names"][0] == "wear/male/<30"
    import hashlib

    assert meta["checkpoint"]["sha256"] == hashlib.sha256((folder / "best.pt").read_bytes()).hexdigest()


def test_raw_outputs_follow_the_probabilities(runs):
    folder = runs["multitask"]
    out = export_onnx(folder, folder / "raw" / "model.onnx", raw_outputs=True)
    session = onnx_session(out)
    assert [o.name for o in session.get_outputs()] == ["probs", "mask", "gender", "age"]
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    probs, mask, gender, age = session.run(None, {"images": images})
    model, cfg = RunFolder(folder).load_model("cpu")
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (model.preprocess.mean, model.preprocess.std))
    with torch.inference_mode():
        eager = model((torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255 - mean) / std)
    assert np.abs(mask - eager["mask"].numpy()).max() < 1e-4 and np.abs(age - eager["age"].numpy()).max() < 1e-4
    assert np.abs(probs - torch_probs(model, cfg, images)).max() < 1e-4 and gender.shape == (3, 2)


@pytest.mark.parametrize("head", ["multitask_regression", "multitask_years"])
def test_age_reading_heads_export_with_a_dynamic_batch(head):
    model = build_classifier(ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=32,
                                         head=head), (30, 60))
    module = ExportModule(model, (30, 60))
    session = onnx_session(onnx_bytes(module))
    images = np.random.default_rng(1).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    with torch.inference_mode():
        eager = module(torch.from_numpy(images)).numpy()
    assert np.abs(session.run(None, {"images": images})[0] - eager).max() < 1e-4


def test_export_never_overwrites_and_stale_exports_are_refused(runs, tmp_path):
    folder = runs["class18"]
    out = tmp_path / "model.onnx"
    export_onnx(folder, out)
    before = out.read_bytes()
    with pytest.raises(MaskclsError, match="already exists"):
        export_onnx(folder, out)
    out.with_suffix(".json").unlink()
    with pytest.raises(MaskclsError, match="model.json: missing"):
        OnnxEngine.from_file(out)
    assert export_onnx(folder, out, force=True) == out and out.read_bytes() == before
    state = load_checkpoint(folder / "best.pt")
    state["epoch"] = 99  # the run was resumed and its best.pt changed after the export
    stale = tmp_path / "stale"
    import shutil

    shutil.copytree(folder, stale, ignore=shutil.ignore_patterns("tb"))
    save_checkpoint(stale / "best.pt", state)
    with pytest.raises(MaskclsError, match="earlier best.pt"):
        load_onnx(stale)


def test_bad_run_folders_are_named(runs, tmp_path):
    with pytest.raises(MaskclsError, match="no such run folder"):
        export_onnx(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MaskclsError, match="no config.yaml"):
        export_onnx(tmp_path / "empty")
    parent = tmp_path / "kfold-run"
    for fold in ("fold0", "fold1"):
        (parent / fold).mkdir(parents=True)
    (parent / "kfold.json").write_text('{"n_splits": 2}\n')
    with pytest.raises(MaskclsError, match="k-fold parent.*fold0, fold1"):
        export_onnx(parent)
    with pytest.raises(MaskclsError, match="k-fold parent"):
        load_onnx(parent)
    with pytest.raises(MaskclsError, match="must end in .onnx"):
        export_onnx(runs["class18"], tmp_path / "model.bin")
    with pytest.raises(MaskclsError, match="opset 12: unsupported"):
        export_onnx(runs["class18"], tmp_path / "model.onnx", opset=12)
    engine = load_onnx(runs["class18"])
    with pytest.raises(ValueError, match="expected uint8 images"):
        engine.probs(np.zeros((2, 32, 32, 3), dtype=np.float32))


def test_export_cli_prints_size_and_parity_and_refuses_to_overwrite(runs, tmp_path, capsys):
    env = subprocess_env()
    out = tmp_path / "cli" / "model.onnx"
    args = ["export", str(runs["class18"]), "--format", "onnx", "--out", str(out)]
    done = subprocess.run([sys.executable, "-m", "maskcls", *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert f"exported: {out}" in done.stdout and "MB" in done.stdout
    difference = float(done.stdout.split("parity: max |p_onnx - p_torch| = ")[1].split()[0])
    assert difference < 1e-4 and "validation photos" in done.stdout
    from maskcls.cli import main

    with pytest.raises(SystemExit) as again:  # in-process: a second interpreter start would only cost time
        main(args)
    stderr = capsys.readouterr().err
    assert again.value.code == 1 and stderr.startswith("maskcls: error: ") and "already exists" in stderr
    assert stderr.count("\n") == 1
