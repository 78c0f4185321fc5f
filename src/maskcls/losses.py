"""Classification losses by name, and weighted sums of them written as a spec such as ``0.6*focal+0.4*f1``.

Every loss is an ``nn.Module`` called as ``loss(logits, target)`` with ``logits`` of shape ``[N, C]`` and
``target`` either class indices ``[N]`` (integers) or soft targets ``[N, C]`` (probabilities, as CutMix and
MixUp produce); it returns the scalar mean over the batch. Hard targets are turned into one-hot rows first, so
a hard target and its one-hot row always give the same value.

Registered names:

* ``ce`` — cross-entropy ``sum_c w_c q_c (-log p_c)`` averaged over the batch, where ``q`` is the target
  smoothed as ``(1 - eps) y + eps / C`` and ``w`` the optional class weights. Unlike
  ``torch.nn.functional.cross_entropy`` the mean is a plain mean over samples (not divided by the summed
  weights), which keeps hard and soft targets consistent.
* ``smooth_ce`` — ``ce`` with label smoothing 0.1 unless a positive ``label_smoothing`` is given.
* ``focal`` — ``alpha * sum_c w_c q_c (1 - p_c)^gamma (-log p_c)`` averaged over the batch; with ``gamma = 0``
  and no ``alpha`` it equals ``ce`` with the same options.
* ``f1`` — ``1 - mean_c F1_c`` with a soft F1 of every class over the batch (see :class:`SoftF1Loss`);
  class weights and label smoothing do not apply to it.

New losses join with :func:`register_loss`; :func:`build_loss` turns a spec into a module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

DEFAULT_SMOOTHING = 0.1
F1_EPS = 1e-7


@dataclass(frozen=True)
class LossOptions:
    """What a loss factory may use.

    Attributes:
        n_classes: number of classes ``C``.
        class_weights: per-class weights ``[C]`` or ``None``.
        label_smoothing: smoothing ``eps`` of the targets (0 for none).
        focal_gamma: focusing exponent of the focal loss.
        focal_alpha: constant factor of the focal loss, or ``None`` for 1.
    """

    n_classes: int
    class_weights: Tensor | None = None
    label_smoothing: float = 0.0
    focal_gamma: float = 2.0
    focal_alpha: float | None = None


LossFactory = Callable[[LossOptions], nn.Module]
LOSSES: dict[str, LossFactory] = {}


def register_loss(name: str) -> Callable[[LossFactory], LossFactory]:
    """Decorator adding a factory ``(LossOptions) -> nn.Module`` to :data:`LOSSES` under ``name``.

    Raises:
        ValueError: if the name is taken.
    """

    def add(factory: LossFactory) -> LossFactory:
        if name in LOSSES:
            raise ValueError(f"loss {name!r} is already registered")
        LOSSES[name] = factory
        return factory

    return add


def soft_targets(target: Tensor, n_classes: int) -> Tensor:
    """Class indices ``[N]`` as one-hot rows ``[N, C]``; soft targets ``[N, C]`` as floats, unchanged.

    Raises:
        ValueError: on any other shape.
    """
    if target.dim() == 1:
        return F.one_hot(target.long(), n_classes).float()
    if target.dim() == 2 and target.shape[1] == n_classes:
        return target.float()
    raise ValueError(f"target must be class indices [N] or probabilities [N, {n_classes}], got {tuple(target.shape)}")


def smooth(target: Tensor, eps: float) -> Tensor:
    """Label smoothing of soft targets: ``(1 - eps) * y + eps / C``."""
    return target if eps == 0 else target * (1.0 - eps) + eps / target.shape[1]


class _WeightedLoss(nn.Module):
    """Base of the losses that take per-class weights (kept as a buffer so ``.to(device)`` moves them)."""

    def __init__(self, n_classes: int, class_weights: Tensor | None, label_smoothing: float) -> None:
        super().__init__()
        weights = torch.ones(n_classes) if class_weights is None else torch.as_tensor(class_weights).float()
        if weights.shape != (n_classes,):
            raise ValueError(f"class_weights must have shape ({n_classes},), got {tuple(weights.shape)}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.n_classes = n_classes
        self.label_smoothing = label_smoothing
        self.register_buffer("class_weights", weights)

    def _targets(self, logits: Tensor, target: Tensor) -> Tensor:
        """Smoothed soft targets weighted by class: ``w_c * q_c`` of shape ``[N, C]``."""
        q = smooth(soft_targets(target, self.n_classes), self.label_smoothing)
        return q.to(logits.dtype) * self.class_weights.to(logits.dtype)


class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy ``mean_n sum_c w_c q_c (-log p_nc)`` for hard or soft targets (see the module docs)."""

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        return -(self._targets(log_p, target) * log_p).sum(dim=1).mean()


class FocalLoss(_WeightedLoss):
    """Focal loss ``mean_n alpha * sum_c w_c q_c (1 - p_nc)^gamma (-log p_nc)``.

    For a hard target this is the usual ``-alpha_t (1 - p_t)^gamma log p_t``; soft targets spread it over
    classes. The per-class part of the paper's alpha is given by the class weights.

    Args:
        n_classes: number of classes.
        class_weights: per-class weights ``[C]`` or ``None``.
        label_smoothing: smoothing of the targets.
        gamma: focusing exponent (0 gives cross-entropy).
        alpha: constant factor, or ``None`` for 1.
    """

    def __init__(
        self,
        n_classes: int,
        class_weights: Tensor | None = None,
        label_smoothing: float = 0.0,
        gamma: float = 2.0,
        alpha: float | None = None,
    ) -> None:
        super().__init__(n_classes, class_weights, label_smoothing)
        if gamma < 0:
            raise ValueError(f"focal gamma must be >= 0, got {gamma}")
        self.gamma = gamma
        self.alpha = 1.0 if alpha is None else alpha

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        log_p = F.log_softmax(logits.float(), dim=1)
        focus = (1.0 - log_p.exp()).pow(self.gamma)
        return -self.alpha * (self._targets(log_p, target) * focus * log_p).sum(dim=1).mean()


class SoftF1Loss(nn.Module):
    """``1 - mean_c F1_c`` with the soft F1 of each class over the batch.

    With ``p`` the softmax probabilities and ``y`` the (soft) one-hot targets, per class ``c``::

        tp = sum_n p_nc y_nc,  fp = sum_n p_nc (1 - y_nc),  fn = sum_n (1 - p_nc) y_nc
        precision = tp / (tp + fp + eps),  recall = tp / (tp + fn + eps)
        F1 = clamp(2 precision recall / (precision + recall + eps), eps, 1 - eps)

    with ``eps = 1e-7``, the recipe the competition's top teams used. A class absent from the batch counts
    (with F1 ~ 0), so the loss reaches ~0 only on a batch holding every class.
    """

    def __init__(self, n_classes: int, eps: float = F1_EPS) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.eps = eps

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        p = F.softmax(logits.float(), dim=1)
        y = soft_targets(target, self.n_classes).to(p.dtype)
        tp = (p * y).sum(dim=0)
        fp = (p * (1.0 - y)).sum(dim=0)
        fn = ((1.0 - p) * y).sum(dim=0)
        precision = tp / (tp + fp + self.eps)
        recall = tp / (tp + fn + self.eps)
        f1 = 2.0 * precision * recall / (precision + recall + self.eps)
        return 1.0 - f1.clamp(self.eps, 1.0 - self.eps).mean()


class WeightedSum(nn.Module):
    """``sum_i w_i * loss_i(logits, target)``.

    Args:
        terms: ``(weight, loss)`` pairs.
    """

    def __init__(self, terms: list[tuple[float, nn.Module]]) -> None:
        super().__init__()
        self.weights = [float(w) for w, _ in terms]
        self.parts = nn.ModuleList(loss for _, loss in terms)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return sum(w * loss(logits, target) for w, loss in zip(self.weights, self.parts))


@register_loss("ce")
def _ce(opts: LossOptions) -> nn.Module:
    return CrossEntropyLoss(opts.n_classes, opts.class_weights, opts.label_smoothing)


@register_loss("smooth_ce")
def _smooth_ce(opts: LossOptions) -> nn.Module:
    eps = opts.label_smoothing if opts.label_smoothing > 0 else DEFAULT_SMOOTHING
    return CrossEntropyLoss(opts.n_classes, opts.class_weights, eps)


@register_loss("focal")
def _focal(opts: LossOptions) -> nn.Module:
    return FocalLoss(opts.n_classes, opts.class_weights, opts.label_smoothing, opts.focal_gamma, opts.focal_alpha)


@register_loss("f1")
def _f1(opts: LossOptions) -> nn.Module:
    return SoftF1Loss(opts.n_classes)


_TERM = re.compile(r"^(?:(?P<weight>[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*\*\s*)?(?P<name>[A-Za-z_][A-Za-z0-9_]*)$")


def parse_spec(spec: str) -> list[tuple[float, str]]:
    """Split ``"0.6*focal+0.4*f1"`` into ``[(0.6, "focal"), (0.4, "f1")]`` (a missing weight is 1).

    Raises:
        ValueError: on a malformed term or an unknown loss name.
    """
    terms = []
    for raw in spec.split("+"):
        match = _TERM.match(raw.strip())
        if match is None:
            raise ValueError(f"bad loss term {raw.strip()!r} in {spec!r} (expected [weight*]name)")
        name = match["name"]
        if name not in LOSSES:
            raise ValueError(f"unknown loss {name!r} in {spec!r} (known: {', '.join(sorted(LOSSES))})")
        terms.append((float(match["weight"] or 1.0), name))
    return terms


def build_loss(
    spec: str,
    n_classes: int,
    class_weights: Tensor | None = None,
    label_smoothing: float = 0.0,
    focal_gamma: float = 2.0,
    focal_alpha: float | None = None,
) -> nn.Module:
    """Build the loss a spec names: one registered name, or a weighted sum such as ``0.6*focal+0.4*f1``.

    Args:
        spec: the loss spec.
        n_classes: number of classes of the logits.
        class_weights: per-class weights ``[C]`` for ``ce``, ``smooth_ce`` and ``focal``.
        label_smoothing: target smoothing for ``ce`` and ``focal`` (``smooth_ce`` uses 0.1 when this is 0).
        focal_gamma: focusing exponent of ``focal``.
        focal_alpha: constant factor of ``focal``.

    Raises:
        ValueError: on a malformed spec or an unknown loss name.
    """
    opts = LossOptions(n_classes, class_weights, label_smoothing, focal_gamma, focal_alpha)
    terms = parse_spec(spec)
    if len(terms) == 1 and terms[0][0] == 1.0:
        return LOSSES[terms[0][1]](opts)
    return WeightedSum([(weight, LOSSES[name](opts)) for weight, name in terms])


def class_weights_from_counts(counts, power: float = 1.0) -> Tensor:
    """Inverse-frequency class weights ``(1 / count_c) ** power``, normalised to mean 1 over present classes.

    A class with no samples gets weight 0: it never occurs as a target, and a large weight would only inflate
    the label-smoothing and soft-target mass put on it.

    Args:
        counts: samples per class ``[C]``.
        power: exponent; 1 is plain inverse frequency, 0.5 a softer square-root version, 0 all ones.

    Raises:
        ValueError: on negative counts or when every count is zero.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if (counts < 0).any():
        raise ValueError("class counts must be non-negative")
    present = counts > 0
    if not present.any():
        raise ValueError("every class count is zero")
    weights = np.zeros_like(counts)
    weights[present] = counts[present] ** -power
    weights[present] /= weights[present].mean()
    return torch.as_tensor(weights, dtype=torch.float32)
