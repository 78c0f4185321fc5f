"""Every loss against values worked out by hand on tiny fixed examples."""

from __future__ import annotations

import math

import pytest
import torch

from maskcls.losses import (
    LOSSES,
    WeightedSum,
    build_loss,
    class_weights_from_counts,
    parse_spec,
    register_loss,
)

# Two samples, three classes. Row 0 has logits (1, 2, 0), row 1 is uniform.
LOGITS = torch.tensor([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
TARGET = torch.tensor([1, 0])
Z0 = math.e + math.e**2 + 1.0  # softmax denominator of row 0
P0 = [math.e / Z0, math.e**2 / Z0, 1.0 / Z0]  # softmax of row 0
P1 = [1 / 3, 1 / 3, 1 / 3]  # softmax of row 1
NLL0 = [-math.log(p) for p in P0]  # -log p of row 0, per class
NLL1 = [math.log(3.0)] * 3  # -log p of row 1, per class


def value(spec: str, logits=LOGITS, target=TARGET, **kwargs) -> float:
    return float(build_loss(spec, logits.shape[1], **kwargs)(logits, target))


def test_ce_hard_targets():
    expected = ((math.log(Z0) - 2.0) + math.log(3.0)) / 2
    assert NLL0[1] == pytest.approx(math.log(Z0) - 2.0)
    assert value("ce") == pytest.approx(expected, rel=1e-6)


def test_ce_class_weights_are_a_plain_mean_over_samples():
    weights = torch.tensor([2.0, 0.5, 1.0])
    expected = (0.5 * NLL0[1] + 2.0 * NLL1[0]) / 2
    assert value("ce", class_weights=weights) == pytest.approx(expected, rel=1e-6)


def test_ce_label_smoothing():
    # eps = 0.3 over 3 classes: the true class gets 0.7 + 0.1, every other class 0.1
    q0, q1 = [0.1, 0.8, 0.1], [0.8, 0.1, 0.1]
    expected = (sum(q * l for q, l in zip(q0, NLL0)) + sum(q * l for q, l in zip(q1, NLL1))) / 2
    assert value("ce", label_smoothing=0.3) == pytest.approx(expected, rel=1e-6)


def test_ce_soft_targets():
    soft = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    expected = ((0.25 * NLL0[0] + 0.75 * NLL0[1]) + (0.5 * NLL1[0] + 0.5 * NLL1[2])) / 2
    assert value("ce", target=soft) == pytest.approx(expected, rel=1e-6)


def test_ce_soft_targets_with_weights_and_smoothing():
    soft = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    weights = torch.tensor([2.0, 0.5, 1.0])
    # eps = 0.3: q = 0.7 * y + 0.1
    q0 = [0.7 * 0.25 + 0.1, 0.7 * 0.75 + 0.1, 0.1]
    q1 = [0.7 * 0.5 + 0.1, 0.1, 0.7 * 0.5 + 0.1]
    row0 = sum(w * q * l for w, q, l in zip([2.0, 0.5, 1.0], q0, NLL0))
    row1 = sum(w * q * l for w, q, l in zip([2.0, 0.5, 1.0], q1, NLL1))
    got = value("ce", target=soft, class_weights=weights, label_smoothing=0.3)
    assert got == pytest.approx((row0 + row1) / 2, rel=1e-6)


def test_hard_and_one_hot_targets_agree_for_every_loss():
    one_hot = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    for name in ("ce", "smooth_ce", "focal", "f1"):
        assert value(name, target=one_hot) == pytest.approx(value(name), rel=1e-6), name


def test_smooth_ce_defaults_to_point_one():
    q0, q1 = [0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3], [0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]
    expected = (sum(q * l for q, l in zip(q0, NLL0)) + sum(q * l for q, l in zip(q1, NLL1))) / 2
    assert value("smooth_ce") == pytest.approx(expected, rel=1e-6)
    assert value("smooth_ce", label_smoothing=0.3) == pytest.approx(value("ce", label_smoothing=0.3))


def test_focal_hard_targets():
    # -(1 - p_t)^2 log p_t, per sample, then the mean
    expected = ((1 - P0[1]) ** 2 * NLL0[1] + (1 - P1[0]) ** 2 * NLL1[0]) / 2
    assert value("focal") == pytest.approx(expected, rel=1e-6)
    assert value("focal", focal_gamma=1.0) == pytest.approx(
        ((1 - P0[1]) * NLL0[1] + (1 - P1[0]) * NLL1[0]) / 2, rel=1e-6
    )


def test_focal_alpha_class_weights_and_soft_targets():
    soft = torch.tensor([[0.25, 0.75, 0.0], [0.5, 0.0, 0.5]])
    w = [2.0, 0.5, 1.0]
    row0 = w[0] * 0.25 * (1 - P0[0]) ** 2 * NLL0[0] + w[1] * 0.75 * (1 - P0[1]) ** 2 * NLL0[1]
    row1 = w[0] * 0.5 * (2 / 3) ** 2 * NLL1[0] + w[2] * 0.5 * (2 / 3) ** 2 * NLL1[2]
    got = value("focal", target=soft, class_weights=torch.tensor(w), focal_alpha=0.25)
    assert got == pytest.approx(0.25 * (row0 + row1) / 2, rel=1e-6)


def test_focal_with_gamma_zero_is_ce():
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0))
    target = torch.tensor([0, 1, 2, 3, 4, 0])
    options = {"class_weights": torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0]), "label_smoothing": 0.2}
    focal = value("focal", logits, target, focal_gamma=0.0, **options)
    assert focal == pytest.approx(value("ce", logits, target, **options), rel=1e-6)


def test_f1_by_hand():
    # p row 0 = (1/4, 3/4), row 1 = (1/2, 1/2); targets (1, 0)
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    target = torch.tensor([1, 0])
    # class 0: tp = 1/2, fp = 1/4, fn = 1/2 -> precision 2/3, recall 1/2, F1 4/7
    # class 1: tp = 3/4, fp = 1/2, fn = 1/4 -> precision 3/5, recall 3/4, F1 2/3
    expected = 1 - (4 / 7 + 2 / 3) / 2
    assert value("f1", logits, target) == pytest.approx(expected, abs=1e-6)


def test_f1_soft_targets_by_hand():
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    soft = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    # class 0: tp = 1/8 + 1/2 = 5/8, fp = 1/8 + 0 = 1/8, fn = 3/8 + 1/2 = 7/8
    #   precision 5/6, recall 5/12, F1 = 2 * 25/72 / (15/12) = 5/9
    # class 1: tp = 3/8, fp = 3/8 + 1/2 = 7/8, fn = 1/8 -> precision 3/10, recall 3/4, F1 = 3/7
    expected = 1 - (5 / 9 + 3 / 7) / 2
    assert value("f1", logits, soft) == pytest.approx(expected, abs=1e-6)


def test_f1_perfect_prediction_is_about_zero():
    logits = 30.0 * torch.eye(4)
    assert value("f1", logits, torch.arange(4)) == pytest.approx(0.0, abs=1e-5)


def test_weighted_sum_is_the_sum_of_its_parts():
    loss = build_loss(" 0.6*focal + 0.4 * f1 ", 3, focal_gamma=1.5)
    assert isinstance(loss, WeightedSum)
    expected = 0.6 * value("focal", focal_gamma=1.5) + 0.4 * value("f1")
    assert float(loss(LOGITS, TARGET)) == pytest.approx(expected, rel=1e-6)
    assert value("ce+f1") == pytest.approx(value("ce") + value("f1"), rel=1e-6)
    assert value("2*ce") == pytest.approx(2 * value("ce"), rel=1e-6)


def test_parse_spec():
    assert parse_spec("0.6*focal+0.4*f1") == [(0.6, "focal"), (0.4, "f1")]
    assert parse_spec("ce") == [(1.0, "ce")]
    assert parse_spec("1e-1*ce") == [(0.1, "ce")]


@pytest.mark.parametrize("spec", ["dice", "0.5*ce+0.5*dice", "ce+", "*ce", "0.5**ce"])
def test_bad_specs_raise(spec):
    with pytest.raises(ValueError) as info:
        build_loss(spec, 3)
    if "dice" in spec:
        assert "focal" in str(info.value) and "smooth_ce" in str(info.value)


@pytest.mark.parametrize("spec", ["ce", "smooth_ce", "focal", "f1", "0.6*focal+0.4*f1"])
def test_gradients_flow(spec):
    logits = torch.randn(8, 18, generator=torch.Generator().manual_seed(1), requires_grad=True)
    target = torch.arange(8)
    loss = build_loss(spec, 18, class_weights=torch.rand(18) + 0.5)
    loss(logits, target).backward()
    assert logits.grad is not None and torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_bad_target_shape_and_weights():
    with pytest.raises(ValueError):
        build_loss("ce", 3)(LOGITS, torch.zeros(2, 4))
    with pytest.raises(ValueError):
        build_loss("ce", 3, class_weights=torch.ones(4))


def test_class_weights_follow_the_module():
    loss = build_loss("0.5*ce+0.5*focal", 3, class_weights=torch.tensor([1.0, 2.0, 3.0]))
    assert "parts.0.class_weights" in dict(loss.named_buffers())
    assert loss.to(torch.float64).parts[0].class_weights.dtype == torch.float64


def test_register_loss():
    @register_loss("_test_zero")
    def _zero(opts):
        return torch.nn.Identity()

    try:
        assert "_test_zero" in LOSSES
        with pytest.raises(ValueError):
            register_loss("_test_zero")(_zero)
    finally:
        del LOSSES["_test_zero"]


def test_class_weights_from_counts():
    weights = class_weights_from_counts([10, 20, 0, 40])
    inverse = [1 / 10, 1 / 20, 1 / 40]
    mean = sum(inverse) / 3
    assert weights.tolist() == pytest.approx([inverse[0] / mean, inverse[1] / mean, 0.0, inverse[2] / mean])
    assert weights[weights > 0].mean().item() == pytest.approx(1.0)
    root = class_weights_from_counts([1, 4], power=0.5)
    assert root.tolist() == pytest.approx([1 / 0.75, 0.5 / 0.75])
    assert class_weights_from_counts([3, 7], power=0.0).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError):
        class_weights_from_counts([0, 0])
    with pytest.raises(ValueError):
        class_weights_from_counts([-1, 2])
