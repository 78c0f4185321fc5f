"""Models: timm backbones with offline pretrained weights, heads with named outputs (plain or ArcFace cosine
layers), soft-shared towers per task, and the classifier.

``timm`` is imported only when a backbone is built, so importing this package costs just torch.
"""

from maskcls.models.backbones import (
    OFFLINE_WEIGHTS,
    Preprocess,
    WeightSource,
    backbone_stages,
    create_backbone,
    list_offline,
    load_offline_weights,
    register_weights,
)
from maskcls.models.classifier import Classifier, build_classifier, count_parameters
from maskcls.models.cosine import CosineLinear, angular_margin
from maskcls.models.heads import HEADS, build_head, class18_probs, register_head, soft_age_bands, task_probs
from maskcls.models.towers import TowerBackbone, build_towers

__all__ = [
    "HEADS",
    "OFFLINE_WEIGHTS",
    "Classifier",
    "CosineLinear",
    "Preprocess",
    "TowerBackbone",
    "WeightSource",
    "angular_margin",
    "backbone_stages",
    "build_classifier",
    "build_head",
    "build_towers",
    "class18_probs",
    "count_parameters",
    "create_backbone",
    "list_offline",
    "load_offline_weights",
    "register_head",
    "register_weights",
    "soft_age_bands",
    "task_probs",
]
