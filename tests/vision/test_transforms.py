"""Augmentation presets, and CutMix/MixUp target mixing checked against the pixels actually mixed."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from maskcls.config import AugConfig
from maskcls.vision import transforms as T
from maskcls.vision.transforms import BatchMixer, build_transforms, cutmix, mixup

SIZE = (40, 32)
PRE = SimpleNamespace(size=SIZE, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic", crop_pct=0.9)


def random_image(h: int = 48, w: int = 40, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def grey(value: int, h: int = 48, w: int = 40) -> torch.Tensor:
    return torch.full((3, h, w), value, dtype=torch.uint8)


def to_pil(image: torch.Tensor) -> Image.Image:
    return Image.fromarray(image.permute(1, 2, 0).numpy())


@pytest.mark.parametrize("preset", list(T.PRESETS))
@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("as_pil", [False, True])
def test_every_preset_gives_a_normalised_float_tensor_at_the_input_size(preset, train, as_pil):
    torch.manual_seed(0)
    image = random_image()
    out = build_transforms(preset, PRE, train)(to_pil(image) if as_pil else image)
    assert type(out) is torch.Tensor
    assert out.dtype == torch.float32 and out.shape == (3, *SIZE)
    assert torch.isfinite(out).all() and out.min() >= -1.0 - 1e-4 and out.max() <= 1.0 + 1e-4


@pytest.mark.parametrize("preset", ["none", "base"])
def test_constant_grey_is_normalised(preset):
    # 51 / 255 = 0.2, and (0.2 - 0.5) / 0.5 = -0.6
    for image in (grey(51), to_pil(grey(51))):
        for train in (True, False):
            out = build_transforms(preset, PRE, train)(image)
            assert torch.allclose(out, torch.full((3, *SIZE), -0.6), atol=1e-5)


def test_validation_is_deterministic_and_the_same_for_every_preset():
    image = random_image(seed=3)
    reference = build_transforms("none", PRE, False)(image)
    for preset in T.PRESETS:
        transform = build_transforms(preset, PRE, False)
        assert torch.equal(transform(image), reference)
        assert torch.equal(transform(image), reference)


def test_train_and_validation_are_separate_objects():
    assert build_transforms("base", PRE, True) is not build_transforms("base", PRE, False)
    assert build_transforms("none", PRE, True) is not build_transforms("none", PRE, True)


def test_train_augments():
    image = random_image(seed=4)
    transform = build_transforms("base", PRE, True)
    torch.manual_seed(0)
    outs = [transform(image) for _ in range(4)]
    assert any(not torch.equal(outs[0], other) for other in outs[1:])


def test_center_brightness_crops_away_the_border():
    # a 2-pixel white frame around black: the central 80 % x 90 % holds only black, which brightness keeps black
    image = grey(255, 50, 40)
    image[:, 2:-2, 2:-2] = 0
    torch.manual_seed(0)
    out = build_transforms("center_brightness", PRE, True)(image)
    assert torch.allclose(out, torch.full((3, *SIZE), -1.0))


def test_unknown_preset_and_interpolation():
    with pytest.raises(ValueError, match="randaugment"):
        build_transforms("augmix", PRE, True)
    with pytest.raises(ValueError, match="interpolation"):
        build_transforms("base", SimpleNamespace(**{**vars(PRE), "interpolation": "lanczos7"}), True)


POLICIES = {"autoaugment": v2.AutoAugment, "trivialaugment": v2.TrivialAugmentWide}


@pytest.mark.parametrize("preset", list(POLICIES))
def test_policy_presets_apply_their_policy_to_uint8_after_the_base_crop(preset):
    stages = build_transforms(preset, PRE, True).transforms
    kinds = [type(stage) for stage in stages]
    policy = kinds.index(POLICIES[preset])
    assert kinds.index(v2.RandomHorizontalFlip) < policy < kinds.index(v2.ToDtype)  # on base, before the scaling
    if preset == "autoaugment":
        assert stages[policy].policy == v2.AutoAugmentPolicy.IMAGENET


@pytest.mark.parametrize("preset", list(POLICIES))
def test_policy_presets_are_seeded_and_change_the_image(preset):
    image = random_image(seed=5)
    transform, base = build_transforms(preset, PRE, True), build_transforms("base", PRE, True)

    def under_seed(t, seed: int) -> torch.Tensor:
        torch.manual_seed(seed)
        return t(image)

    out = under_seed(transform, 0)
    assert type(out) is torch.Tensor and out.dtype == torch.float32 and out.shape == (3, *SIZE)
    assert torch.equal(under_seed(transform, 0), out)
    assert not torch.equal(under_seed(transform, 1), out)
    # base draws the same crop and flip first under the same seed, so what differs is the policy's operation
    changed = [not torch.equal(under_seed(transform, seed), under_seed(base, seed)) for seed in range(8)]
    assert sum(changed) >= 5, changed


def one_hot_targets(targets: dict[str, torch.Tensor], n_classes: dict[str, int]) -> dict[str, torch.Tensor]:
    """Class indices of each task as float one-hot rows (the soft targets the mixers take)."""
    return {name: torch.nn.functional.one_hot(t.long(), n_classes[name]).float() for name, t in targets.items()}


def black_and_white_batch() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Four all-zero images of class 0, four all-one images of class 1 (task ``b``: class 2)."""
    images = torch.zeros(8, 3, 16, 20)
    images[4:] = 1.0
    white = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    return images, one_hot_targets({"a": white, "b": white * 2}, {"a": 2, "b": 3})


def check_targets_follow_pixels(mixed: torch.Tensor, targets: dict[str, torch.Tensor]) -> torch.Tensor:
    """The share of white in each mixed image must equal its mixed weight on the white class."""
    white = mixed.mean(dim=(1, 2, 3))
    assert torch.allclose(targets["a"][:, 1], white, atol=1e-6)
    assert torch.allclose(targets["a"][:, 0], 1 - white, atol=1e-6)
    assert torch.allclose(targets["b"][:, 2], white, atol=1e-6)
    assert torch.allclose(targets["b"][:, 0], 1 - white, atol=1e-6)
    for t in targets.values():
        assert torch.allclose(t.sum(dim=1), torch.ones(8), atol=1e-6)
    return white


@pytest.mark.parametrize("vertical", [False, True])
def test_cutmix_mixes_targets_by_the_pasted_area(vertical):
    mixed_any = 0
    for seed in range(10):
        images, targets = black_and_white_batch()
        generator = torch.Generator().manual_seed(seed)
        mixed, soft = cutmix(images, targets, alpha=1.0, vertical=vertical, generator=generator)
        assert torch.equal(images[:4], torch.zeros(4, 3, 16, 20))  # inputs untouched
        assert set(mixed.unique().tolist()) <= {0.0, 1.0}
        white = check_targets_follow_pixels(mixed, soft)
        mixed_any += int(((white > 0) & (white < 1)).sum())
        for own, image in zip(targets["a"][:, 1], mixed):
            pasted = image[0] != own  # where the partner's pixels differ from the own colour
            if pasted.any():
                rows, cols = pasted.any(dim=1).nonzero(), pasted.any(dim=0).nonzero()
                assert pasted.sum() == len(rows) * len(cols)  # one rectangle
                if vertical:
                    assert len(rows) == 16 and (cols.min() == 0 or cols.max() == 19)
    assert mixed_any > 0


def test_cutmix_is_reproducible():
    images = torch.rand(6, 3, 12, 12)
    targets = one_hot_targets({"class18": torch.arange(6)}, {"class18": 18})
    first = cutmix(images, targets, generator=torch.Generator().manual_seed(5))
    second = cutmix(images, targets, generator=torch.Generator().manual_seed(5))
    assert torch.equal(first[0], second[0]) and torch.equal(first[1]["class18"], second[1]["class18"])


def test_mixup_mixes_targets_by_the_image_weight():
    mixed_any = 0
    for seed in range(5):
        images, targets = black_and_white_batch()
        mixed, soft = mixup(images, targets, alpha=0.4, generator=torch.Generator().manual_seed(seed))
        assert torch.allclose(mixed, mixed[:, :1, :1, :1].expand_as(mixed))  # each image is one flat value
        white = check_targets_follow_pixels(mixed, soft)
        mixed_any += int(((white > 0) & (white < 1)).sum())
        # every mixed value is lam or 1 - lam of one shared lam
        partial = white[(white > 0) & (white < 1)]
        if len(partial):
            lam = partial[0]
            assert all(torch.isclose(v, lam) or torch.isclose(v, 1 - lam) for v in partial)
    assert mixed_any > 0


def test_batch_mixer_probabilities(monkeypatch):
    calls = {"cutmix": 0, "mixup": 0}

    def fake(name):
        def apply(images, targets, *args):
            calls[name] += 1
            return images, targets

        return apply

    monkeypatch.setattr(T, "cutmix", fake("cutmix"))
    monkeypatch.setattr(T, "mixup", fake("mixup"))
    mixer = BatchMixer(cutmix_prob=0.3, mixup_prob=0.5)
    generator = torch.Generator().manual_seed(0)
    images, targets = torch.zeros(2, 3, 4, 4), {"a": torch.eye(2)}
    for _ in range(2000):
        mixer(images, targets, generator)
    assert calls["cutmix"] / 2000 == pytest.approx(0.3, abs=0.04)
    assert calls["mixup"] / 2000 == pytest.approx(0.5, abs=0.04)


def test_batch_mixer_from_config_and_limits():
    images, targets = black_and_white_batch()
    off = BatchMixer.from_config(AugConfig())
    assert not off.enabled
    out_images, out_targets = off(images, targets)
    assert out_images is images and out_targets is targets
    vertical = BatchMixer.from_config(AugConfig(cutmix=1.0, cutmix_vertical=True, cutmix_alpha=0.5))
    assert vertical.enabled and vertical.cutmix_vertical and vertical.cutmix_alpha == 0.5
    mixed, soft = vertical(images, targets, torch.Generator().manual_seed(1))
    check_targets_follow_pixels(mixed, soft)
    with pytest.raises(ValueError, match="at most 1"):
        BatchMixer.from_config(AugConfig(cutmix=0.6, mixup=0.6))
