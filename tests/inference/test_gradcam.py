"""Grad-CAM: the layer it hooks, map shape and range, and that it points where the evidence is."""

import numpy as np
import torch
from torch import nn

from maskcls.config import ModelConfig
from maskcls.inference.gradcam import grad_cam, last_feature_layer, overlay
from maskcls.models.backbones import Preprocess
from maskcls.models.classifier import Classifier, build_classifier
from maskcls.models.heads import Class18Head

PRE = Preprocess((16, 16), (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "bilinear", 1.0)


class Brightness(nn.Module):
    """A one-stage backbone: a positive 1×1 conv, ReLU, then the global average pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.act = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        nn.init.constant_(self.conv.weight, 1.0)
        nn.init.constant_(self.conv.bias, 0.0)
        self.num_features = 4

    def forward(self, x):
        return self.pool(self.act(self.conv(x))).flatten(1)


def test_the_map_lights_up_where_the_evidence_is():
    torch.manual_seed(0)
    head = Class18Head(4, 0.0)
    nn.init.zeros_(head.fc.weight)
    nn.init.zeros_(head.fc.bias)
    with torch.no_grad():
        head.fc.weight[5] = 1.0  # class 5 grows with brightness; every other class is flat
    model = Classifier(Brightness(), head, PRE)
    for p in model.parameters():
        p.requires_grad_(False)  # frozen weights must not stop the map
    images = torch.zeros(2, 3, 16, 16)
    images[0, :, :4, :4] = 1.0  # top-left square
    images[1, :, 10:, 8:] = 1.0  # bottom-right block
    assert last_feature_layer(model, images) == "act"  # the pool's [B, C, 1, 1] is not a feature map
    maps, probs = grad_cam(model, images, classes=[5, 5])
    assert maps.shape == (2, 16, 16) and maps.dtype == np.float32
    assert maps.min() >= 0 and np.isclose(maps.max(), 1.0)
    assert maps[0, :4, :4].min() > 0.99 and maps[0, 8:, 8:].max() < 0.01
    assert maps[1, 10:, 8:].min() > 0.99 and maps[1, :6, :6].max() < 0.01
    assert probs.shape == (2, 18) and np.allclose(probs.sum(1), 1, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_a_timm_backbone_is_explained_at_its_last_conv_stage():
    torch.manual_seed(0)
    model = build_classifier(ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=64, head="multitask"))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images = torch.randn(3, 3, 64, 64)
    assert last_feature_layer(model, images) == "bn2"
    maps, probs = grad_cam(model, images)
    assert maps.shape == (3, 64, 64) and (maps >= 0).all() and (maps <= 1 + 1e-6).all()
    assert probs.shape == (3, 18)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    picture = overlay(np.zeros((64, 64, 3), dtype=np.uint8), maps[0])
    assert picture.shape == (64, 64, 3) and picture.dtype == np.uint8
