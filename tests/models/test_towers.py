"""Soft parameter sharing: which stages the towers share, what they compute, freezing, the L2 pull, Grad-CAM."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from maskcls.config import ConfigError, ModelConfig, load_config
from maskcls.errors import MaskclsError
from maskcls.inference.gradcam import grad_cam, last_feature_layer
from maskcls.models import backbone_stages, build_classifier, create_backbone
from maskcls.models.towers import TowerBackbone, build_towers

TASKS = ["mask", "gender", "age"]


def soft(shared: int = 2, tower_l2: float = 0.0, **options):
    cfg = ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=32, head="multitask", sharing="soft",
                      shared_stages=shared, tower_l2=tower_l2, **options)
    return build_classifier(cfg)


def ids(module: nn.Module) -> set[int]:
    return {id(p) for p in module.parameters()}


def test_the_towers_share_exactly_the_configured_stages():
    torch.manual_seed(0)
    plain, _ = create_backbone("test_efficientnet", pretrained=False, img_size=32)
    plain_stages = backbone_stages(plain)
    assert len(plain_stages) == 7  # stem, five block stages, head convolution
    model = soft(shared=2)
    stages = backbone_stages(model.backbone)
    assert len(stages) == len(plain_stages)
    towers = list(model.backbone.towers.values())
    for number, (stage, original) in enumerate(zip(stages, plain_stages)):
        n_params = sum(p.numel() for p in original.parameters())
        copies = [ids(tower) & ids(stage) for tower in towers]
        if number < 2:  # the same parameter objects for every task
            assert ids(stage) <= ids(model.backbone.shared) and not any(copies)
            assert sum(p.numel() for p in stage.parameters()) == n_params
        else:  # one distinct copy per tower
            assert all(copies) and not copies[0] & copies[1] and not copies[1] & copies[2]
            assert not ids(stage) & ids(model.backbone.shared)
            assert sum(p.numel() for p in stage.parameters()) == 3 * n_params
    shared = sum(p.numel() for p in model.backbone.shared.parameters())
    tower = sum(p.numel() for p in towers[0].parameters())
    total = sum(p.numel() for p in plain.parameters())
    assert shared == sum(p.numel() for s in plain_stages[:2] for p in s.parameters())
    assert shared + tower == total and sum(p.numel() for p in model.backbone.parameters()) == shared + 3 * tower


def test_each_task_reads_its_own_tower_which_starts_as_the_plain_backbone():
    torch.manual_seed(0)
    model = soft(shared=3).eval()
    torch.manual_seed(0)
    plain, _ = create_backbone("test_efficientnet", pretrained=False, img_size=32)  # the same initial weights
    x = torch.randn(2, 3, 32, 32)
    features = model.forward_features(x)
    width = model.backbone.tower_features
    assert features.shape == (2, 3 * width) and model.backbone.num_features == 3 * width == 3 * plain.num_features
    expected = plain.eval()(x)
    for block in features.split(width, dim=1):
        assert torch.allclose(block, expected, atol=1e-6)
    with torch.no_grad():  # a change in the age tower moves the age logits only
        model.backbone.towers["age"].bn2.weight.mul_(3.0)
    after = model(x)
    before = model.forward_head(features)
    assert torch.equal(after["mask"], before["mask"]) and torch.equal(after["gender"], before["gender"])
    assert not torch.allclose(after["age"], before["age"])


def test_freeze_counts_stages_as_the_plain_backbone_does():
    model = soft(shared=2, freeze=4)
    stages = backbone_stages(model.backbone)
    frozen = {id(p) for s in stages[:4] for p in s.parameters()}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert frozen and not frozen & trainable and trainable == ids(model) - frozen
    assert not any(p.requires_grad for p in model.backbone.towers["mask"].blocks_2.parameters())
    assert all(p.requires_grad for p in model.backbone.towers["age"].blocks_3.parameters())
    model.freeze("backbone")
    model.unfreeze_last(1)
    assert {id(p) for p in model.parameters() if p.requires_grad} == ids(model.head) | ids(stages[-1])


def test_the_penalty_is_zero_for_identical_towers_and_pulls_a_moved_one_back():
    model = soft(shared=2, tower_l2=0.5)
    assert model.penalty().item() == 0.0
    assert soft(shared=2).penalty() is None  # no pull asked for
    towers = model.backbone.towers
    delta = torch.zeros_like(towers["mask"].conv_head.weight)
    delta.view(-1)[:5] = torch.tensor([0.5, -0.25, 1.0, -1.0, 0.1])
    with torch.no_grad():
        towers["mask"].conv_head.weight.add_(delta)
    penalty = model.penalty()
    # ||δ||² against each of the two other towers, over 3 pairs, times 0.5
    assert torch.isclose(penalty, 0.5 * 2 * delta.pow(2).sum() / 3)
    penalty.backward()
    grad = towers["mask"].conv_head.weight.grad
    assert torch.allclose(grad, 0.5 * 2 * 2 * delta / 3)  # same sign as δ: a gradient step moves it back
    assert torch.allclose(towers["age"].conv_head.weight.grad, -0.5 * 2 * delta / 3)
    assert model.backbone.shared.conv_stem.weight.grad is None


def test_grad_cam_explains_a_soft_shared_model():
    torch.manual_seed(0)
    model = soft(shared=2)
    images = torch.randn(2, 3, 32, 32)
    assert last_feature_layer(model, images) == "towers.age.bn2"
    maps, probs = grad_cam(model, images)
    assert maps.shape == (2, 32, 32) and probs.shape == (2, 18) and (maps >= 0).all()


def test_bad_sharing_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="model.sharing=soft: needs the multitask head"):
        load_config(None, ["model.sharing=soft", "model.head=class18"])
    with pytest.raises(MaskclsError, match="model.shared_stages=7: the backbone has 7 stages"):
        soft(shared=7)
    plain, _ = create_backbone("test_efficientnet", pretrained=False, img_size=32)

    class Doubled(nn.Module):  # a forward that is no sequence of its children
        def __init__(self) -> None:
            super().__init__()
            self.inner = plain
            self.num_features = plain.num_features

        def forward(self, x):
            return 2 * self.inner(x)

    with pytest.raises(MaskclsError, match="cannot be split into towers"):
        build_towers(Doubled(), "doubled", (32, 32), 0, TASKS)
    assert isinstance(build_towers(plain, "test_efficientnet", (32, 32), 1, TASKS), TowerBackbone)
