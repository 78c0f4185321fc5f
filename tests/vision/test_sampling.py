"""Class counts, the class-balancing sampler, and oversampling by repetition."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskcls.vision.sampling import class_counts, oversample_indices, weighted_sampler


def test_class_counts():
    assert class_counts([0, 2, 2, 2], 4).tolist() == [1, 0, 3, 0]
    with pytest.raises(ValueError):
        class_counts([0, 4], 4)


def test_weighted_sampler_draws_classes_about_uniformly():
    labels = np.array([0] * 800 + [1] * 150 + [2] * 50)
    sampler = weighted_sampler(labels, 3, num_samples=6000, generator=torch.Generator().manual_seed(0))
    drawn = labels[list(sampler)]
    assert len(drawn) == 6000
    shares = np.bincount(drawn, minlength=3) / len(drawn)
    assert shares == pytest.approx([1 / 3] * 3, abs=0.03)


def test_weighted_sampler_defaults_to_the_dataset_length_and_is_seeded():
    labels = [0, 0, 0, 1]
    first = list(weighted_sampler(labels, 2, generator=torch.Generator().manual_seed(1)))
    second = list(weighted_sampler(labels, 2, generator=torch.Generator().manual_seed(1)))
    assert len(first) == 4 and first == second


def test_oversample_indices_repeat_exactly():
    labels = [8, 0, 8, 3]
    out = oversample_indices(labels, {8: 3, 3: 2})
    assert out.tolist() == [0, 0, 0, 1, 2, 2, 2, 3, 3]
    assert oversample_indices(labels, {}).tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError):
        oversample_indices(labels, {8: 0})
