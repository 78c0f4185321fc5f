"""Class counts, the class-balancing sampler, oversampling by repetition, and per-person undersampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from maskcls.labels import MASK_STEMS, STEMS
from maskcls.vision.sampling import class_counts, oversample_indices, undersample_indices, weighted_sampler


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


def people_photos(n: int) -> tuple[list[str | None], list[str]]:
    """``n`` people of the seven competition photos: the five mask photos drawn per person, the others kept."""
    people = [f"p{p}" if stem in MASK_STEMS else None for p in range(n) for stem in STEMS]
    return people, [stem for _ in range(n) for stem in STEMS]


def owners(n: int) -> list[str]:
    return [f"p{p}" for p in range(n) for _ in STEMS]


@pytest.mark.parametrize("k", [1, 2, 4])
def test_undersample_keeps_k_distinct_mask_photos_a_person_and_every_other_photo(k):
    people, photos = people_photos(6)
    draws = set()
    for epoch in range(1, 6):
        kept = undersample_indices(people, photos, k, seed=3, epoch=epoch)
        assert (np.diff(kept) > 0).all()  # ascending, each photo once
        drawn: dict[str, set[str]] = {}
        for i in kept:
            if people[i] is not None:
                drawn.setdefault(people[i], set()).add(photos[i])
        assert {person: len(stems) for person, stems in drawn.items()} == {f"p{p}": k for p in range(6)}
        assert all(stems <= set(MASK_STEMS) for stems in drawn.values())
        assert [i for i in kept if people[i] is None] == [i for i, person in enumerate(people) if person is None]
        draws.add(tuple(kept.tolist()))
    assert len(draws) == 5  # a new draw every epoch


def test_undersample_draw_depends_only_on_seed_epoch_and_the_persons_photos():
    people, photos = people_photos(6)
    chosen = {(owners(6)[i], photos[i]) for i in undersample_indices(people, photos, 2, seed=3, epoch=4)}
    assert chosen == {(owners(6)[i], photos[i]) for i in undersample_indices(people, photos, 2, 3, 4)}
    # three of the people, in reverse order: the same photos of each
    order = np.arange(3 * len(STEMS))[::-1]
    few = [people[i] for i in order], [photos[i] for i in order]
    kept = undersample_indices(*few, 2, 3, 4)
    assert {(owners(3)[order[i]], few[1][i]) for i in kept} == {(o, p) for o, p in chosen if o in {"p0", "p1", "p2"}}
    for seed, epoch in ((4, 4), (3, 5)):
        other = {(owners(6)[i], photos[i]) for i in undersample_indices(people, photos, 2, seed, epoch)}
        assert other != chosen


def test_undersample_keeps_everything_of_a_person_with_k_photos_or_fewer():
    assert undersample_indices(["a", "a", None, "b"], ["mask1", "mask2", "normal", "mask3"], 2, 0, 1).tolist() == [
        0, 1, 2, 3]
    with pytest.raises(ValueError, match=">= 1"):
        undersample_indices(["a"], ["mask1"], 0, 0, 1)
    with pytest.raises(ValueError, match="people"):
        undersample_indices(["a"], [], 1, 0, 1)
