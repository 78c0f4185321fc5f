"""Heads: output shapes, and probabilities of every head consistent with the 18-class encoding."""

from __future__ import annotations

import pytest
import torch

from maskcls.errors import MaskclsError
from maskcls.labels import encode
from maskcls.models import HEADS, build_head, class18_probs, create_backbone, soft_age_bands, task_probs

SHAPES = {
    "class18": {"class18": (4, 18)},
    "multitask": {"mask": (4, 3), "gender": (4, 2), "age": (4, 3)},
    "multitask_regression": {"mask": (4, 3), "gender": (4, 2), "age_value": (4,)},
    "multitask_years": {"mask": (4, 3), "gender": (4, 2), "age": (4, 3), "age_years": (4, 101)},
}


@pytest.fixture(scope="module")
def features() -> torch.Tensor:
    torch.manual_seed(0)
    backbone, _ = create_backbone("test_efficientnet", pretrained=False)
    with torch.no_grad():
        return backbone.eval()(torch.randn(4, 3, 32, 32))


@pytest.mark.parametrize("name", sorted(HEADS))
def test_every_head_gives_named_outputs_and_normalised_probs(name: str, features: torch.Tensor) -> None:
    head = build_head(name, features.shape[1], dropout=0.2)
    outputs = head(features)
    assert {key: tuple(value.shape) for key, value in outputs.items()} == SHAPES[name]
    probs = class18_probs(outputs)
    assert probs.shape == (4, 18)
    assert torch.allclose(probs.sum(-1), torch.ones(4))
    assert all(torch.allclose(p.sum(-1), torch.ones(4)) for p in task_probs(outputs).values())


def test_multitask_argmax_matches_encoded_task_argmaxes() -> None:
    torch.manual_seed(1)
    outputs = {"mask": torch.randn(64, 3) * 3, "gender": torch.randn(64, 2) * 3, "age": torch.randn(64, 3) * 3}
    expected = encode(outputs["mask"].argmax(-1), outputs["gender"].argmax(-1), outputs["age"].argmax(-1))
    assert torch.equal(class18_probs(outputs).argmax(-1), expected)


def test_class18_marginals_are_consistent() -> None:
    torch.manual_seed(2)
    outputs = {"class18": torch.randn(8, 18)}
    joint = class18_probs(outputs)
    tasks = task_probs(outputs)
    labels = torch.arange(18)
    for task, index in (("mask", labels // 6), ("gender", labels % 6 // 3), ("age", labels % 3)):
        summed = torch.zeros(8, int(index.max()) + 1).index_add_(1, index, joint)
        assert torch.allclose(tasks[task], summed, atol=1e-6)


def test_regression_bands_follow_the_age() -> None:
    bands = soft_age_bands(torch.tensor([10.0, 45.0, 70.0]))
    assert bands.argmax(-1).tolist() == [0, 1, 2]
    assert torch.allclose(bands.sum(-1), torch.ones(3))
    outputs = {"mask": torch.zeros(1, 3), "gender": torch.zeros(1, 2), "age_value": torch.tensor([70.0])}
    assert task_probs(outputs)["age"].argmax(-1).item() == 2
    assert bands.min() >= 0


def test_regression_head_starts_near_the_middle_band() -> None:
    head = build_head("multitask_regression", 8, dropout=0.0, age_thresholds=(30, 60))
    torch.nn.init.zeros_(head.age.weight)
    torch.nn.init.zeros_(head.age.bias)
    assert head(torch.randn(2, 8))["age_value"].tolist() == [45.0, 45.0]


def test_unknown_head_is_a_maskcls_error() -> None:
    with pytest.raises(MaskclsError, match="class18"):
        build_head("nope", 8, dropout=0.0)
