"""ArcFace heads and soft-shared towers end to end: the loop adds a model's penalty, tiny runs train, and their
folders load for prediction and export to ONNX with the eager model's probabilities."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from helpers import train_tiny_run

from maskcls.config import TrainConfig
from maskcls.engine.loop import Trainer
from maskcls.inference.batch import predict_paths
from maskcls.inference.export import export_onnx
from maskcls.inference.parity import measure_parity
from maskcls.inference.predictor import Predictor
from maskcls.models.cosine import CosineLinear
from maskcls.models.towers import TowerBackbone
from maskcls.runs import RunFolder

RUNS = {
    "arcface": ["model.head=class18", "model.arcface=true", "model.arcface_m=0.4", "train.lr=0.01"],
    "soft": ["model.head=multitask", "model.sharing=soft", "model.shared_stages=3", "model.tower_l2=0.1",
             "train.lr=0.01"],
}


class Pulled(nn.Module):
    """One weight, outputs that the objective ignores, and a penalty ``(w - 3)²``."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": x * self.w}

    def penalty(self) -> torch.Tensor:
        return (self.w - 3.0).pow(2).sum()


def test_the_trainer_adds_the_models_penalty_to_the_training_loss():
    model = Pulled()
    cfg = TrainConfig(optimizer="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, scheduler="none", ema=None, amp=False,
                      channels_last=False)
    trainer = Trainer(model, lambda outputs, targets: outputs["out"].sum() * 0.0, cfg, 1, 1, torch.device("cpu"))
    stats = trainer.train_epoch([(torch.ones(2, 1), {})])
    assert stats.loss == pytest.approx(9.0)  # the penalty at w = 0
    assert model.w.item() == pytest.approx(0.6)  # one step of 0.1 down the gradient -6: toward 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return {name: train_tiny_run(tmp_path_factory.mktemp(name), overrides=overrides)
            for name, overrides in RUNS.items()}


def test_an_arcface_run_trains_and_predicts_with_cosine_logits(runs):
    folder = runs["arcface"]
    model, cfg = RunFolder(folder).load_model("cpu")
    assert cfg.model.arcface and isinstance(model.head.fc, CosineLinear) and model.head.fc.scale == 30.0
    rows = RunFolder(folder).metrics_rows()
    assert len(rows) == 1 and np.isfinite(float(rows[0]["train_loss"])) and np.isfinite(float(rows[0]["val_loss"]))
    paths = RunFolder(folder).read_predictions(probs=False).paths[:5]
    probs, bad = predict_paths(Predictor.from_run(folder, device="cpu"), paths, batch_size=2)
    assert not bad and probs.shape == (len(paths), 18) and np.allclose(probs.sum(1), 1, atol=1e-5)


def test_a_soft_shared_run_trains_and_predicts_with_towers(runs):
    folder = runs["soft"]
    model, cfg = RunFolder(folder).load_model("cpu")
    assert isinstance(model.backbone, TowerBackbone) and set(model.backbone.towers) == {"mask", "gender", "age"}
    towers = model.backbone.towers
    assert not torch.equal(towers["mask"].conv_head.weight, towers["age"].conv_head.weight)  # trained apart
    assert model.penalty().item() > 0
    paths = RunFolder(folder).read_predictions(probs=False).paths[:5]
    probs, bad = predict_paths(Predictor.from_run(folder, device="cpu"), paths, batch_size=2)
    assert not bad and probs.shape == (len(paths), 18) and np.allclose(probs.sum(1), 1, atol=1e-5)


@pytest.mark.parametrize("name", sorted(RUNS))
def test_the_run_exports_to_onnx_with_the_eager_probabilities(runs, name):
    path = export_onnx(runs[name])
    gap, what = measure_parity(runs[name], path, count=5)
    assert what == "5 validation photos" and gap < 1e-4
