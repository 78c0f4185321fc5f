"""The classifier: a timm backbone returning pooled features, a head returning named logits, and freezing.

``model.arcface`` makes the head's class layers cosine layers (:mod:`maskcls.models.cosine`); ``model.sharing=soft``
splits the backbone into a shared trunk and a tower per task (:mod:`maskcls.models.towers`); ``model.side_trunk``
adds a face-pretrained trunk whose features join the backbone's (:mod:`maskcls.models.side`).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Literal, Sequence

import torch
from torch import Tensor, nn

from maskcls.errors import MaskclsError
from maskcls.labels import TASKS
from maskcls.models.backbones import Preprocess, backbone_stages, create_backbone
from maskcls.models.cosine import CosineLinear
from maskcls.models.heads import build_head
from maskcls.models.towers import build_towers

if TYPE_CHECKING:
    from maskcls.config import ModelConfig  # models sit below config: config checks backbone names against them


def _set_trainable(modules: Sequence[nn.Module], trainable: bool) -> None:
    for module in modules:
        for param in module.parameters():
            param.requires_grad_(trainable)


def _is_frozen_batchnorm(module: nn.Module) -> bool:
    """A BatchNorm layer whose parameters are all frozen."""
    params = list(module.parameters(recurse=False))
    return isinstance(module, nn.modules.batchnorm._BatchNorm) and bool(params) and not any(
        param.requires_grad for param in params
    )


class Classifier(nn.Module):
    """Backbone + head.

    Attributes:
        backbone: a timm model built with ``num_classes=0`` (its output is the pooled feature vector), or the
            :class:`~maskcls.models.towers.TowerBackbone` made of one.
        head: a head of :data:`maskcls.models.heads.HEADS`.
        preprocess: how inputs must be prepared for the backbone.
        side: a :class:`~maskcls.models.side.SideTrunk` on the same input, or ``None``.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, preprocess: Preprocess,
                 side: nn.Module | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.preprocess = preprocess
        self.side = side
        #: Keep every BatchNorm layer in eval mode while training (statistics fixed, affine weights trainable).
        self.bn_eval = False

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled backbone features ``[N, C]`` (with towers, every tower's side by side; with a side trunk, its
        features after the backbone's)."""
        features = self.backbone(x)
        if self.side is not None:
            features = torch.cat([features, self.side(x)], dim=1)
        return features

    def forward_head(self, features: Tensor) -> dict[str, Tensor]:
        """The head's named logits from pooled features."""
        return self.head(features)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        return self.forward_head(self.forward_features(x))

    def penalty(self) -> Tensor | None:
        """The backbone's term to add to the training loss (the towers' L2 pull), or ``None``."""
        own = getattr(self.backbone, "penalty", None)
        return own() if callable(own) else None

    def freeze(self, stages: int | Literal["backbone"] | None) -> None:
        """Make the first ``stages`` backbone stages untrainable (all of the backbone for ``"backbone"``,
        nothing for ``None``); everything else becomes trainable. Frozen BatchNorm layers stay in eval mode.

        Raises:
            MaskclsError: if ``stages`` is negative or more than the backbone has.
        """
        _set_trainable([self], True)
        if stages == "backbone":
            _set_trainable([self.backbone], False)
        elif stages is not None:
            all_stages = backbone_stages(self.backbone)
            if not 0 <= stages <= len(all_stages):
                raise MaskclsError(f"freeze: the backbone has {len(all_stages)} stages, cannot freeze {stages}")
            _set_trainable(all_stages[:stages], False)
        if self.side is not None:
            self.side.freeze_net()
        self.train(self.training)

    def unfreeze_last(self, n_stages: int) -> None:
        """Make the last ``n_stages`` backbone stages trainable, leaving the others as they are."""
        if n_stages > 0:
            _set_trainable(backbone_stages(self.backbone)[-n_stages:], True)
        self.train(self.training)

    def train(self, mode: bool = True) -> "Classifier":
        """Set training mode, keeping frozen BatchNorm layers (all of them with ``bn_eval``) in eval mode so
        their statistics stay fixed."""
        super().train(mode)
        if mode:
            for module in self.modules():
                if _is_frozen_batchnorm(module) or (self.bn_eval and isinstance(module, nn.modules.batchnorm._BatchNorm)):
                    module.eval()
        return self


def build_classifier(cfg: ModelConfig, age_thresholds: Sequence[int] = (30, 60)) -> Classifier:
    """Build the classifier a model config describes, with its freezing applied.

    Raises:
        MaskclsError: for a backbone, weights or sharing the config names but cannot be built.
    """
    backbone, preprocess = create_backbone(cfg.backbone, cfg.pretrained, cfg.img_size)
    layer = partial(CosineLinear, scale=cfg.arcface_s) if cfg.arcface else nn.Linear
    side = None
    if cfg.side_trunk is not None:
        from maskcls.models.side import SideTrunk

        side = SideTrunk(cfg.side_trunk, preprocess, cfg.side_trunk_trainable)
    if cfg.sharing == "soft":
        backbone = build_towers(backbone, cfg.backbone, preprocess.size, cfg.shared_stages, list(TASKS), cfg.tower_l2)
        head = build_head(cfg.head, backbone.tower_features, cfg.dropout, age_thresholds, layer=layer, split=True)
    else:
        width = backbone.num_features + (side.num_features if side is not None else 0)
        head = build_head(cfg.head, width, cfg.dropout, age_thresholds, layer=layer)
    model = Classifier(backbone, head, preprocess, side)
    model.freeze(cfg.freeze)
    return model


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
