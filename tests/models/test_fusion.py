"""BatchNorm folding: the view gives the model's outputs and gradients, and the model itself never changes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from maskcls.config import ModelConfig
from maskcls.models.backbones import create_backbone
from maskcls.models.classifier import build_classifier
from maskcls.models.fusion import conv_bn_pairs, fold_batchnorm


def _randomize_norms(model: nn.Module, seed: int = 0) -> None:
    """Statistics and affine weights far from the identity, so a wrong fold cannot pass unnoticed."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.5)
                module.running_var.copy_(torch.rand(n, generator=generator) * 2 + 0.2)
                module.weight.copy_(torch.randn(n, generator=generator))
                module.bias.copy_(torch.randn(n, generator=generator) * 0.3)


def _classifier(backbone: str = "test_efficientnet", **kwargs) -> nn.Module:
    model = build_classifier(ModelConfig(backbone=backbone, pretrained=False, img_size=32, head="multitask",
                                         dropout=0.0, **kwargs))
    _randomize_norms(model)
    return model


@pytest.mark.parametrize("backbone, kwargs", [
    ("test_efficientnet", {}),
    ("mobilenetv2_100", {}),
    ("test_efficientnet", {"sharing": "soft", "shared_stages": 2}),
])
def test_folded_view_matches_the_model_in_eval(backbone: str, kwargs: dict) -> None:
    model = _classifier(backbone, **kwargs).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(3, 3, 32, 32)
    view = fold_batchnorm(model)
    assert view is not model
    assert len(conv_bn_pairs(model)) > 5
    assert not any(isinstance(m, nn.BatchNorm2d) for m in view.modules())
    with torch.no_grad():
        expected, folded = model(x), view(x)
    for task in expected:
        torch.testing.assert_close(folded[task], expected[task], atol=1e-4, rtol=1e-4)
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) > 5


def test_training_view_folds_only_frozen_pairs_and_trains_the_model() -> None:
    torch.manual_seed(0)
    model = _classifier(freeze=3).train()
    reference = _classifier(freeze=3).train()
    reference.load_state_dict(model.state_dict())
    view = fold_batchnorm(model, frozen_only=True)
    frozen = [name for name, m in model.named_modules() if isinstance(m, nn.BatchNorm2d) and not m.training]
    assert frozen
    remaining = {name for name, m in view.named_modules() if isinstance(m, nn.BatchNorm2d)}
    assert remaining and not remaining & set(frozen)
    x = torch.randn(4, 3, 32, 32)
    for net in (view, reference):
        sum(out.logsumexp(1).mean() for out in net(x).values()).backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    ref_grads = {n: p.grad for n, p in reference.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for g in grads.values())
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], atol=1e-4, rtol=1e-3)
    # The trainable BatchNorm layers are the model's own: the view's batch updated their statistics.
    for name in remaining:
        torch.testing.assert_close(dict(model.named_modules())[name].running_mean,
                                   dict(reference.named_modules())[name].running_mean)


class _Branching(nn.Module):
    """A convolution whose output feeds a BatchNorm and also a skip connection: folding it would be wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.preprocess = type("P", (), {"size": (8, 8)})()
        self.conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
        self.norm = nn.BatchNorm2d(3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return self.norm(y) + y


def test_a_fold_that_changes_outputs_is_refused() -> None:
    model = _Branching()
    _randomize_norms(model)
    model.eval()
    assert conv_bn_pairs(model) == []
    assert fold_batchnorm(model) is model


def test_models_without_an_input_size_and_train_mode_norms_are_left_alone() -> None:
    backbone, _ = create_backbone("test_efficientnet", False, 32)
    assert fold_batchnorm(backbone) is backbone  # no preprocess: no input size to trace with
    model = _classifier().train()  # nothing frozen: every BatchNorm is in training mode
    view = fold_batchnorm(model)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in view.modules()) == sum(
        isinstance(m, nn.BatchNorm2d) for m in model.modules())
