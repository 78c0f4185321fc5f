"""ArcFace: cosine logits at inference, the angular margin the objective adds in training, and the config."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional as F

from maskcls.config import ConfigError, ModelConfig, TrainConfig, load_config
from maskcls.engine.objective import Objective
from maskcls.models import build_classifier
from maskcls.models.cosine import CosineLinear, angular_margin

S, M = 30.0, 0.3


def arcface_model(head: str):
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=32, head=head, arcface=True,
                      arcface_s=S, arcface_m=M)
    return build_classifier(cfg)


@pytest.mark.parametrize("head, layers", [("class18", ["fc"]), ("multitask", ["tasks.mask", "tasks.gender",
                                                                              "tasks.age"])])
def test_eval_logits_are_the_scaled_cosines_for_every_class(head, layers):
    torch.manual_seed(0)
    model = arcface_model(head).eval()
    x = torch.randn(4, 3, 32, 32)
    features = model.forward_features(x)
    outputs = model(x)
    modules = dict(model.head.named_modules())
    for name in layers:
        layer = modules[name]
        assert isinstance(layer, CosineLinear) and layer.scale == S
        expected = S * F.cosine_similarity(features[:, None, :], layer.weight[None, :, :], dim=-1)
        got = outputs[name.split(".")[-1] if head == "multitask" else "class18"]
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-4)  # every class, the true one included: no margin
        assert got.abs().max() <= S + 1e-4


def test_the_margin_moves_only_the_target_class_to_s_cos_theta_plus_m():
    logits = torch.tensor([[15.0, -3.0, 27.0], [-29.0, 0.0, 10.0]])
    out = angular_margin(logits, torch.tensor([0, 2]), S, M)
    theta = torch.acos(torch.tensor([15.0, 10.0]) / S)
    assert torch.allclose(out[[0, 1], [0, 2]], S * torch.cos(theta + M), atol=1e-5)
    assert out[0, 0] < logits[0, 0] and out[1, 2] < logits[1, 2]
    keep = torch.tensor([[False, True, True], [True, True, False]])
    assert torch.equal(out[keep], logits[keep])


def test_soft_and_missing_targets_scale_the_margin_by_their_mass():
    logits = torch.tensor([[12.0, 6.0, -6.0], [12.0, 6.0, -6.0]])
    mixed = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.0, 0.0]])  # CutMix mixture; an unlabelled row
    out = angular_margin(logits, mixed, S, M)
    theta = torch.acos(logits[0] / S)
    assert torch.allclose(out[0, :2], S * torch.cos(theta[:2] + M * mixed[0, :2]), atol=1e-5)
    assert out[0, 2] == logits[0, 2] and torch.equal(out[1], logits[1])
    assert torch.equal(angular_margin(logits, torch.tensor([-1, -1]), S, M), logits)


def test_the_margin_stays_finite_and_monotonic_up_to_theta_pi():
    cos = torch.linspace(-1.0, 1.0, 2001)
    logits = (S * cos).unsqueeze(1).requires_grad_(True)
    out = angular_margin(logits, torch.zeros(len(cos), dtype=torch.long), S, 1.2)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(logits.grad).all()
    assert (out[1:, 0] >= out[:-1, 0] - 1e-4).all()  # still rises with cos θ past θ + m = π
    near_pi = torch.tensor([[S * math.cos(math.pi - 1.2 - 1e-3)], [S * math.cos(math.pi - 1.2 + 1e-3)]])
    values = angular_margin(near_pi, torch.tensor([0, 0]), S, 1.2)
    assert abs(values[0, 0] - values[1, 0]) < 0.05 and values[1, 0] < -S + 1e-3  # meets at π and keeps falling


def test_the_objective_adds_the_margin_in_training_only():
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False, head="class18", arcface=True, arcface_s=S,
                      arcface_m=M)
    objective = Objective(cfg, TrainConfig(loss="ce"))
    torch.manual_seed(1)
    logits = S * torch.tanh(torch.randn(6, 18))
    labels = torch.tensor([3, 17, -1, 0, 5, 5])
    outputs, targets = {"class18": logits}, {"class18": labels}
    known = labels >= 0
    margined = logits.clone()
    rows = torch.arange(6)[known]
    margined[rows, labels[known]] = S * torch.cos(torch.acos(logits[rows, labels[known]] / S) + M)
    assert objective.training
    assert torch.allclose(objective(outputs, targets), F.cross_entropy(margined[known], labels[known]), atol=1e-5)
    objective.eval()
    plain = F.cross_entropy(logits[known], labels[known])
    assert torch.allclose(objective(outputs, targets), plain, atol=1e-5)
    objective.train()
    assert objective(outputs, targets) > plain  # the margin makes the target harder


def test_config_rejects_arcface_on_a_regression_head_and_bad_values():
    with pytest.raises(ConfigError, match="model.arcface: needs the class18 or multitask head"):
        load_config(None, ["model.head=multitask_regression", "model.arcface=true"])
    for bad in ("model.arcface_m=1.6", "model.arcface_m=-0.1", "model.arcface_s=0"):
        with pytest.raises(ConfigError, match=bad.split("=")[0]):
            load_config(None, [bad])
    assert load_config(None, ["model.arcface=true", "model.head=class18"]).model.arcface_m == 0.3
