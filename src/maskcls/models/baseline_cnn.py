"""The competition's official baseline network, registered in timm as ``maskcls_baseline_cnn``.

Three convolutions (7×7 → 32, 3×3 → 64, 3×3 → 128) with ReLU, two max-pools, dropout 0.25 after each pool,
global average pooling and one linear layer; inputs resized to 128×96 (height × width) and normalised with the
mean and standard deviation the baseline computed on the competition photos. No pretrained weights exist.

It exists so benchmarks can compare against the recipe every team started from, inside maskcls's own engine
(``model.backbone=maskcls_baseline_cnn``, see the ``official-baseline`` preset).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maskcls.labels import NUM_CLASSES

NAME = "maskcls_baseline_cnn"

#: The baseline's preprocessing: ``Resize((128, 96))`` and its dataset statistics.
PRETRAINED_CFG = {
    "input_size": (3, 128, 96),
    "mean": (0.548, 0.504, 0.479),
    "std": (0.237, 0.247, 0.246),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "num_classes": NUM_CLASSES,
    "fixed_input_size": False,
}


class BaselineCNN(nn.Module):
    """The official baseline's ``BaseModel``, with timm's backbone interface (``num_classes=0`` → pooled features).

    Args:
        num_classes: classifier width; ``0`` returns the 128 pooled features.
        drop_rate: dropout after each pooling (0.25 in the baseline).
    """

    def __init__(self, num_classes: int = NUM_CLASSES, drop_rate: float = 0.25, **_: object) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=7)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.conv3 = nn.Conv2d(64, 128, kernel_size=3)
        self.drop_rate = drop_rate
        self.num_features = 128
        self.num_classes = num_classes
        self.fc: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        self.pretrained_cfg = dict(PRETRAINED_CFG)

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the last layer (``0`` removes it)."""
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: Tensor) -> Tensor:
        """The feature map before pooling."""
        x = F.relu(self.conv1(x))
        x = F.dropout(F.max_pool2d(F.relu(self.conv2(x)), 2), self.drop_rate, self.training)
        return F.dropout(F.max_pool2d(F.relu(self.conv3(x)), 2), self.drop_rate, self.training)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.flatten(F.adaptive_avg_pool2d(self.forward_features(x), 1), 1)
        return self.fc(pooled)


def register() -> None:
    """Make ``maskcls_baseline_cnn`` known to timm's factory (idempotent)."""
    import timm
    from timm.models import register_model

    if timm.is_model(NAME):
        return

    def maskcls_baseline_cnn(pretrained: bool = False, **kwargs: object) -> BaselineCNN:
        if pretrained:
            raise ValueError(f"{NAME} has no pretrained weights")
        kwargs.pop("pretrained_cfg", None)
        kwargs.pop("pretrained_cfg_overlay", None)
        return BaselineCNN(**kwargs)

    maskcls_baseline_cnn.__module__ = __name__
    register_model(maskcls_baseline_cnn)
