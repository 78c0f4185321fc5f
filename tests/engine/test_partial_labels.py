"""Partial labels: each example trains only the heads its labels cover (masked loss per task)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from maskcls.config import ModelConfig, TrainConfig
from maskcls.data.records import Record
from maskcls.engine.objective import Objective, years_loss
from maskcls.labels import AGE_YEARS, DEFAULT_AGE_BANDS, year_spread
from maskcls.models.heads import build_head
from maskcls.vision.dataset import MISSING, record_targets


def _records() -> list[Record]:
    return [
        Record(Path("a.jpg"), "a", "a", "normal", 2, 1, 34),            # fully labelled
        Record(Path("b.jpg"), "b", "b", "crop", 0, None, None),         # a crop: mask only
        Record(Path("c.jpg"), "c", "c", "face", None, 0, 71),           # a face folder: gender and age only
    ]


def test_missing_labels_become_minus_one_and_class18_needs_all_three():
    targets = record_targets(_records(), DEFAULT_AGE_BANDS)
    assert targets["mask"].tolist() == [2, 0, MISSING]
    assert targets["gender"].tolist() == [1, MISSING, 0]
    assert targets["age"].tolist() == [1, MISSING, 2]
    assert targets["class18"][0] >= 0 and targets["class18"][1:].tolist() == [MISSING, MISSING]


def _head_grads(head_name: str, targets: dict[str, torch.Tensor], soft: bool = False) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    head = build_head(head_name, 8, 0.0)
    objective = Objective(ModelConfig(head=head_name), TrainConfig(loss="0.6*focal+0.4*f1", label_smoothing=0.1))
    features = torch.randn(len(next(iter(targets.values()))), 8)
    if soft:
        targets = objective.soft(targets)
    loss = objective(head(features), targets)
    loss.backward()
    return {name: p.grad.clone() if p.grad is not None else torch.zeros_like(p) for name, p in head.named_parameters()}


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft (CutMix/MixUp)"])
def test_head_without_labels_gets_exactly_zero_gradient(soft):
    n = 6
    targets = {"mask": torch.tensor([0, 1, 2, 0, 1, 2]), "gender": torch.full((n,), MISSING),
               "age": torch.tensor([0, MISSING, 2, MISSING, 1, MISSING]), "class18": torch.full((n,), MISSING)}
    grads = _head_grads("multitask", targets, soft)
    assert torch.count_nonzero(grads["tasks.gender.weight"]) == 0
    assert torch.count_nonzero(grads["tasks.gender.bias"]) == 0
    assert torch.count_nonzero(grads["tasks.mask.weight"]) > 0
    assert torch.count_nonzero(grads["tasks.age.weight"]) > 0


def test_masked_loss_equals_the_loss_of_the_labelled_examples_alone():
    torch.manual_seed(1)
    objective = Objective(ModelConfig(head="multitask"), TrainConfig(loss="ce"))
    outputs = {"mask": torch.randn(4, 3), "gender": torch.randn(4, 2), "age": torch.randn(4, 3)}
    targets = {"mask": torch.tensor([0, MISSING, 2, 1]), "gender": torch.tensor([1, 0, MISSING, 0]),
               "age": torch.tensor([2, 1, 0, MISSING])}
    keep = {t: v >= 0 for t, v in targets.items()}
    expected = sum(objective.losses[t](outputs[t][keep[t]], targets[t][keep[t]]) for t in targets)
    assert torch.allclose(objective(outputs, targets), expected)


def test_class18_head_trains_only_on_fully_labelled_examples():
    targets = {"class18": torch.full((5,), MISSING)}
    grads = _head_grads("class18", targets)
    assert all(torch.count_nonzero(g) == 0 for g in grads.values())
    targets = {"class18": torch.tensor([3, MISSING, MISSING, 17, MISSING])}
    assert torch.count_nonzero(_head_grads("class18", targets)["fc.weight"]) > 0


def test_regressed_age_missing_gets_no_gradient():
    torch.manual_seed(2)
    head = build_head("multitask_regression", 8, 0.0)
    objective = Objective(ModelConfig(head="multitask_regression"), TrainConfig())
    out = head(torch.randn(3, 8))
    targets = {"mask": torch.tensor([0, 1, 2]), "gender": torch.tensor([0, 1, 0]),
               "age_value": torch.tensor([-1.0, -1.0, -1.0])}
    objective(out, targets).backward()
    age_params = [p for name, p in head.named_parameters() if "age" in name]
    assert age_params and all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in age_params)
    assert np.isfinite(float(objective(head(torch.randn(3, 8)), targets).detach()))


def test_age_spread_targets_share_the_bands_near_a_threshold():
    shares = DEFAULT_AGE_BANDS.spread(np.array([29, 30, 45, 59, 75, MISSING]), 3.0)
    assert np.allclose(shares.sum(1), [1, 1, 1, 1, 1, 0], atol=1e-6)
    assert 0.5 < shares[0, 0] < 0.6 and np.isclose(shares[0, 0], shares[1, 1])  # either side of 30 alike
    assert shares[2, 1] > 0.999 and shares[4, 2] > 0.999 and 0.5 < shares[3, 1] < 0.6
    with pytest.raises(ValueError):
        DEFAULT_AGE_BANDS.spread(np.array([30]), 0.0)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft (CutMix/MixUp)"])
def test_age_spread_replaces_the_band_target_and_a_missing_age_trains_nothing(soft):
    torch.manual_seed(3)
    objective = Objective(ModelConfig(head="multitask"), TrainConfig(loss="ce"))
    outputs = {"mask": torch.randn(3, 3), "gender": torch.randn(3, 2), "age": torch.randn(3, 3, requires_grad=True)}
    ages = np.array([29, 50, MISSING])
    targets = {"mask": torch.tensor([0, 1, 2]), "gender": torch.tensor([0, 1, 0]),
               "age": torch.tensor(DEFAULT_AGE_BANDS.bands(np.maximum(ages, 0)) * (ages >= 0) + MISSING * (ages < 0)),
               "age_soft": torch.from_numpy(DEFAULT_AGE_BANDS.spread(ages, 3.0))}
    if soft:
        targets = objective.soft(targets)
    loss = objective(outputs, targets)
    expected = sum(objective.losses[t](outputs[t], targets[t]) for t in ("mask", "gender"))
    expected = expected + objective.losses["age"](outputs["age"][:2], torch.from_numpy(DEFAULT_AGE_BANDS.spread(ages[:2], 3.0)))
    assert torch.allclose(loss, expected)
    loss.backward()
    assert torch.count_nonzero(outputs["age"].grad[2]) == 0  # the photo without an age
    if not soft:
        plain = {k: v for k, v in targets.items() if k != "age_soft"}
        assert not torch.allclose(objective(outputs, plain), loss)  # the 29-year-old's target is no longer one band


def test_year_targets_spread_like_the_bands_and_a_missing_age_is_empty():
    rows = year_spread(np.array([29, 45, 0, 130, MISSING]), 3.0)
    assert rows.shape == (5, AGE_YEARS) and np.allclose(rows.sum(1), [1, 1, 1, 1, 0], atol=1e-6)
    assert rows[0].argmax() == 29 and rows[1].argmax() == 45 and rows[3].argmax() == AGE_YEARS - 1
    by_band = rows[:2] @ np.eye(3)[DEFAULT_AGE_BANDS.year_bands()]
    assert np.allclose(by_band, DEFAULT_AGE_BANDS.spread(np.array([29, 45]), 3.0), atol=1e-6)
    assert year_spread(np.array([7, 130]), None).argmax(1).tolist() == [7, AGE_YEARS - 1]


def test_the_years_head_sums_its_years_into_bands_and_trains_them_only_on_aged_photos():
    torch.manual_seed(0)
    head = build_head("multitask_years", 8, 0.0, (30, 60))
    out = head(torch.randn(3, 8))
    years = out["age_years"].softmax(-1)
    expected = torch.stack([years[:, :30].sum(1), years[:, 30:60].sum(1), years[:, 60:].sum(1)], dim=1)
    assert torch.allclose(out["age"].exp(), expected, atol=1e-6)
    objective = Objective(ModelConfig(head="multitask_years"), TrainConfig())
    ages = np.array([MISSING, MISSING, MISSING])
    targets = {"mask": torch.tensor([0, 1, 2]), "gender": torch.tensor([0, 1, 0]), "age": torch.tensor([MISSING] * 3),
               "age_years": torch.from_numpy(year_spread(ages, 3.0))}
    objective(out, targets).backward()
    assert torch.count_nonzero(head.years.weight.grad) == 0
    head.zero_grad()
    targets["age_years"] = torch.from_numpy(year_spread(np.array([31, MISSING, 70]), 3.0))
    loss = objective(head(torch.randn(3, 8)), objective.soft(targets))
    loss.backward()
    assert torch.count_nonzero(head.years.weight.grad) > 0


def test_the_years_loss_is_zero_on_its_own_target():
    target = torch.from_numpy(year_spread(np.array([25, 64]), 2.0))
    assert float(years_loss(torch.log(target.clamp_min(1e-30)), target)) < 1e-5
    assert float(years_loss(torch.zeros(2, AGE_YEARS), target)) > 1.0


def test_the_years_weight_scales_only_the_years_term():
    torch.manual_seed(1)
    with torch.no_grad():
        out = build_head("multitask_years", 8, 0.0)(torch.randn(3, 8))
    targets = {"mask": torch.tensor([0, 1, 2]), "gender": torch.tensor([0, 1, 0]), "age": torch.tensor([1, 0, 2]),
               "age_years": torch.from_numpy(year_spread(np.array([31, 20, 70]), 3.0))}
    losses = [float(Objective(ModelConfig(head="multitask_years", task_weights={"age": 1.5}),
                              TrainConfig(age_years_weight=w))(out, targets)) for w in (0.0, 0.3)]
    assert np.isclose(losses[1] - losses[0], 1.5 * 0.3 * float(years_loss(out["age_years"], targets["age_years"])),
                      atol=1e-5)
