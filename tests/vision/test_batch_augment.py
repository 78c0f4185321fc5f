"""The batched ``wild`` augmentation: shapes, ranges, per-photo draws, reproducibility, and a run that uses it."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from maskcls.config import ConfigError, load_config
from maskcls.vision.batch_augment import BatchWild

PRE = SimpleNamespace(size=(32, 32), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))


def batch(n: int = 16) -> torch.Tensor:
    ramp = torch.linspace(0, 255, 32).round().to(torch.uint8)
    image = torch.stack([ramp.expand(32, 32), ramp.expand(32, 32).T, torch.full((32, 32), 128, dtype=torch.uint8)])
    return image.expand(n, 3, 32, 32).contiguous()


def test_shapes_ranges_and_per_photo_draws():
    torch.manual_seed(0)
    out = BatchWild(PRE)(batch())
    assert out.shape == (16, 3, 32, 32) and out.dtype == torch.float32
    assert out.min() >= -1.0 - 1e-5 and out.max() <= 1.0 + 1e-5  # normalised from [0, 1]
    flat = out.flatten(1)
    assert len({tuple(row[:50].tolist()) for row in flat}) == 16  # every photo its own draw
    with pytest.raises(ValueError, match="uint8 batch"):
        BatchWild(PRE)(batch().float())


def test_the_same_seed_gives_the_same_batch_and_a_new_seed_another():
    torch.manual_seed(3)
    first = BatchWild(PRE)(batch())
    torch.manual_seed(3)
    again = BatchWild(PRE)(batch())
    torch.manual_seed(4)
    other = BatchWild(PRE)(batch())
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_flip_and_colour_keep_the_picture_on_average():
    torch.manual_seed(1)
    out = BatchWild(PRE)(batch(256)) * 0.5 + 0.5
    source = batch(1).float() / 255
    # the blue channel is constant 128: jitter moves it, but its mean over many draws stays near mid-grey
    assert abs(float(out[:, 2].mean()) - float(source[:, 2].mean())) < 0.15
    # about half the photos are mirrored: the red ramp rises to the right in some and to the left in others
    slopes = (out[:, 0, :, 24:28].mean((1, 2)) - out[:, 0, :, 4:8].mean((1, 2))).numpy()
    assert 0.3 < float(np.mean(slopes > 0)) < 0.7


def test_only_wild_has_a_batched_form_and_a_run_trains_with_it(tmp_path):
    with pytest.raises(ConfigError, match="aug.batched: only the wild preset"):
        load_config(None, ["aug.batched=true", "aug.preset=base"])
    from maskcls.data.synthetic import make_synthetic
    from maskcls.engine.run import train

    make_synthetic(tmp_path / "data", people=8, eval_people=0, seed=1, size=(48, 64))
    cfg = load_config(None, [f"data.root={tmp_path / 'data'}", "model.backbone=test_efficientnet",
                             "model.pretrained=false", "model.img_size=32", "train.batch_size=16", "train.epochs=1",
                             "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}", "split.val_fraction=0.25",
                             "aug.preset=wild", "aug.batched=true"])
    folder = train(cfg, tmp_path / "runs", log=lambda _m: None)
    assert (folder / "best.pt").is_file() and len((folder / "metrics.csv").read_text().splitlines()) == 2
