"""Classifier: forward paths, freezing by stage with frozen BatchNorm kept in eval mode, and the config builder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from maskcls.config import ModelConfig
from maskcls.errors import MaskclsError
from maskcls.models import Classifier, backbone_stages, build_classifier, count_parameters


def tiny(head: str = "multitask", freeze: int | str | None = None) -> Classifier:
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False, head=head, freeze=freeze, img_size=32)
    return build_classifier(cfg)


def trainable(module: nn.Module) -> set[int]:
    return {id(param) for param in module.parameters() if param.requires_grad}


def test_forward_equals_head_of_features() -> None:
    model = tiny().eval()
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    assert features.shape == (2, model.backbone.num_features)
    outputs = model(x)
    assert set(outputs) == {"mask", "gender", "age"}
    assert torch.equal(outputs["mask"], model.forward_head(features)["mask"])
    assert model.preprocess.size == (32, 32)


def test_freeze_first_stages() -> None:
    model = tiny(freeze=2)
    stages = backbone_stages(model.backbone)
    frozen = {id(p) for stage in stages[:2] for p in stage.parameters()}
    assert frozen and not frozen & trainable(model)
    assert trainable(model) == {id(p) for p in model.parameters()} - frozen
    assert trainable(model.head) == {id(p) for p in model.head.parameters()}


def test_freeze_backbone_leaves_only_the_head() -> None:
    model = tiny(head="class18", freeze="backbone")
    assert trainable(model) == {id(p) for p in model.head.parameters()}
    n_trainable, n_total = count_parameters(model)
    assert n_trainable == sum(p.numel() for p in model.head.parameters()) < n_total


def test_frozen_batchnorm_stays_in_eval_mode() -> None:
    model = tiny(freeze=2).train()
    stages = backbone_stages(model.backbone)
    norms = lambda modules: [m for s in modules for m in s.modules() if isinstance(m, nn.BatchNorm2d)]  # noqa: E731
    assert norms(stages[:2]) and not any(m.training for m in norms(stages[:2]))
    assert all(m.training for m in norms(stages[2:]))
    before = norms(stages[:1])[0].running_mean.clone()
    model(torch.randn(2, 3, 32, 32))
    assert torch.equal(norms(stages[:1])[0].running_mean, before)


def test_unfreeze_last_and_refreeze() -> None:
    model = tiny(freeze="backbone")
    model.unfreeze_last(2)
    stages = backbone_stages(model.backbone)
    assert trainable(model) == {id(p) for p in [*model.head.parameters(), *stages[-2].parameters(),
                                                 *stages[-1].parameters()]}
    model.freeze(None)
    assert trainable(model) == {id(p) for p in model.parameters()}
    assert all(m.training for m in model.modules())


def test_freeze_too_many_stages_is_a_maskcls_error() -> None:
    with pytest.raises(MaskclsError, match="stages"):
        tiny(freeze=99)
