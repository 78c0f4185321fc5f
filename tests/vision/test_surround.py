"""The made-up surround of training face cuts (``aug.surround``)."""

import pytest
import torch
import torch.nn.functional as F

from maskcls.config import ConfigError, load_config
from maskcls.vision.surround import FEATHER, SCALE, SurroundJitter


def _photo(seed: int = 0, size: tuple[int, int] = (160, 160)) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    smooth = torch.rand(1, 3, 8, 8, generator=generator) * 255
    return F.interpolate(smooth, size=size, mode="bilinear", align_corners=False)[0].round().to(torch.uint8)


@pytest.mark.parametrize("size", [(160, 160), (128, 96)])
def test_the_cut_is_shrunk_whole_into_the_square_and_only_its_seam_is_blended(size):
    jitter = SurroundJitter(1.0)
    image = _photo(size=size)
    torch.manual_seed(3)
    for _ in range(30):
        out, (top, left, h, w) = jitter.apply(image)
        assert out.shape == image.shape and out.dtype == torch.uint8
        assert 1 / SCALE[1] - 0.02 <= h / size[0] <= 1 / SCALE[0] + 0.02
        assert 1 / SCALE[1] - 0.02 <= w / size[1] <= 1 / SCALE[0] + 0.02
        assert 0 <= top <= size[0] - h and 0 <= left <= size[1] - w
        shrunk = F.interpolate(image.float()[None], size=(h, w), mode="bilinear", antialias=True,
                               align_corners=False)[0]
        seam = int(FEATHER[1] * min(h, w)) + 1
        inner = out[:, top + seam:top + h - seam, left + seam:left + w - seam].float()
        assert (inner - shrunk[:, seam:h - seam, seam:w - seam]).abs().max() <= 1


def test_the_surround_is_not_the_photo():
    """Past the cut lies made-up content: far from what the photo held there, on most draws."""
    jitter = SurroundJitter(1.0)
    image = _photo(1)
    torch.manual_seed(0)
    differs = 0
    for _ in range(40):
        out, (top, left, h, w) = jitter.apply(image)
        outside = torch.ones(image.shape[1:], dtype=torch.bool)
        outside[top:top + h, left:left + w] = False
        differs += bool((out.float() - image.float())[:, outside].abs().mean() > 8)
    assert differs >= 30


def test_the_surround_follows_its_probability_and_the_global_seed():
    image = _photo(2)
    assert SurroundJitter(0.0)(image) is image
    jitter = SurroundJitter(0.3)
    torch.manual_seed(5)
    changed = sum(not torch.equal(jitter(image), image) for _ in range(400))
    assert 80 <= changed <= 160
    torch.manual_seed(11)
    first = jitter.apply(image)
    torch.manual_seed(11)
    again = jitter.apply(image)
    assert torch.equal(first[0], again[0]) and first[1] == again[1]


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="probability"):
        SurroundJitter(1.5)
    with pytest.raises(ValueError, match="uint8"):
        SurroundJitter(1.0)(torch.zeros(3, 16, 16))


def test_the_setting_is_validated_off_by_default_and_on_in_general():
    assert load_config(None, []).aug.surround == 0.0
    assert load_config("public", []).aug.surround == 0.0
    assert load_config("general", []).aug.surround == 0.5
    assert load_config("public", ["aug.surround=0.25"]).aug.surround == 0.25
    with pytest.raises(ConfigError, match="surround"):
        load_config("general", ["aug.surround=2"])
