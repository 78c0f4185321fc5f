"""The official baseline network: timm registration, its preprocessing, and a run that keeps the best accuracy."""

import csv

import torch

from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.run import train
from maskcls.models import build_classifier, create_backbone
from maskcls.runs import load_checkpoint


def test_backbone_has_the_baselines_shape_and_preprocessing():
    model, preprocess = create_backbone("maskcls_baseline_cnn", pretrained=False)
    assert preprocess.size == (128, 96)
    assert preprocess.mean == (0.548, 0.504, 0.479) and preprocess.interpolation == "bilinear"
    assert model(torch.zeros(2, 3, 128, 96)).shape == (2, 128)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [
        (3, 32, (7, 7)), (32, 64, (3, 3)), (64, 128, (3, 3))]


def test_official_baseline_preset_builds_and_refuses_pretrained():
    cfg = load_config("official-baseline")
    assert cfg.train.optimizer == "sgd" and cfg.train.lr == 1e-3 and cfg.train.monitor == "accuracy"
    model = build_classifier(cfg.model)
    assert model(torch.zeros(1, 3, 128, 96))["class18"].shape == (1, 18)


def test_monitor_accuracy_chooses_best_by_accuracy(tmp_path):
    root = tmp_path / "data"
    make_synthetic(root, people=10, eval_people=2, seed=3, size=(48, 64))
    cfg = load_config("official-baseline", [
        f"data.root={root}", "model.img_size=32", "train.epochs=3", "train.batch_size=16", "train.loggers=[]",
        f"train.cache_dir={tmp_path / 'cache'}", "split.val_fraction=0.3", "train.lr=0.05"])
    folder = train(cfg, tmp_path / "runs", log=lambda _m: None)
    with open(folder / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    accuracies = [float(r["accuracy"]) for r in rows]
    best = load_checkpoint(folder / "best.pt")
    assert best["epoch"] == accuracies.index(max(accuracies)) + 1
