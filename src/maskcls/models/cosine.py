"""ArcFace's cosine classifier: logits ``s·cos θ`` between normalised features and normalised class weights, and the
additive angular margin that training puts on the target class (``s·cos(θ + m)``).

The layer always returns the plain ``s·cos θ``, so probabilities, calibration, TTA and ONNX export see ordinary
logits; only the training objective, which has the targets, adds the margin with :func:`angular_margin`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

#: Cosines are kept this far inside [-1, 1] before ``acos``, whose gradient is infinite at the ends.
COS_EPS = 1e-6


class CosineLinear(nn.Module):
    """``scale · cos(features, weight_c)`` for every class ``c``: a bias-free linear layer on unit vectors.

    Args:
        in_features: width of the features.
        out_features: number of classes.
        scale: ``s``, the logits' range ``[-s, s]`` (softmax over bare cosines could never be confident).
    """

    def __init__(self, in_features: int, out_features: int, scale: float) -> None:
        super().__init__()
        self.in_features, self.out_features, self.scale = in_features, out_features, float(scale)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, features: Tensor) -> Tensor:
        return self.scale * F.linear(F.normalize(features, dim=-1), F.normalize(self.weight, dim=-1))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, scale={self.scale}"


def angular_margin(logits: Tensor, target: Tensor, scale: float, margin: float) -> Tensor:
    """A :class:`CosineLinear`'s logits with the margin added to each class's angle in proportion to its target
    mass: ``s·cos(θ_c + m·q_c)``.

    ``q`` is the one-hot row of a class index (none for a missing label, -1) or the soft target row as given
    (CutMix/MixUp mixtures; an all-zero row gets no margin). Classes without mass keep their logits exactly. Past
    ``θ_c + m·q_c = π``, where the cosine would turn back up, the logit goes on as ``s·(cos θ_c − 1 + cos(m·q_c))``,
    which meets it there and keeps falling as ``θ_c`` grows.

    Args:
        logits: ``[N, C]`` logits ``s·cos θ``.
        target: class indices ``[N]`` or soft targets ``[N, C]``.
        scale: the layer's ``s``.
        margin: ``m`` in radians.
    """
    logits = logits.float()
    if target.dim() == 1:
        labels = target.long()
        mass = F.one_hot(labels.clamp(min=0), logits.shape[1]).float() * (labels >= 0).unsqueeze(1).float()
    else:
        mass = target.float()
    shift = margin * mass
    cos = (logits / scale).clamp(-1.0 + COS_EPS, 1.0 - COS_EPS)
    turned = torch.acos(cos) + shift
    with_margin = torch.where(turned <= math.pi, torch.cos(turned), cos - 1.0 + torch.cos(shift))
    return torch.where(mass > 0, scale * with_margin, logits)
