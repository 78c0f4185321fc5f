import pytest
import torch

from maskcls.config import ConfigError, load_config
from maskcls.vision.occlusion import TOP, LowerFaceOcclusion


def _changed_rows(before: torch.Tensor, after: torch.Tensor) -> torch.Tensor:
    return (before != after).any(0).any(1).nonzero().flatten()


@pytest.mark.parametrize("margin", [0.0, 0.5])
def test_the_occluder_covers_the_lower_face_and_leaves_the_eyes(margin):
    torch.manual_seed(0)
    image = torch.full((3, 100, 80), 7, dtype=torch.uint8)  # a colour the paint is unlikely to hit pixel for pixel
    occlude = LowerFaceOcclusion(1.0, margin=margin)
    # The landmark square at margin 0 spans [margin, 1 + margin] / (1 + 2 margin) of the cut.
    first_row = (TOP[0] + margin) / (1 + 2 * margin) * 100
    for _ in range(20):
        out = occlude(image)
        assert out.dtype == torch.uint8 and out.shape == image.shape
        rows = _changed_rows(image, out)
        assert len(rows) and rows.min() >= first_row - 6  # the top edge may bulge a little above its corners
        if margin == 0:
            assert ((out != image).any(0)[60:90].float().mean()) > 0.5  # nose to chin mostly hidden
        else:  # the cut's margin, around the square, is left
            assert rows.max() <= (1.05 + margin) / (1 + 2 * margin) * 100 + 1
    assert torch.equal(image, torch.full((3, 100, 80), 7, dtype=torch.uint8))  # painted on a copy


def test_the_occluder_follows_its_probability_and_the_global_seed():
    image = torch.full((3, 32, 32), 7, dtype=torch.uint8)
    assert torch.equal(LowerFaceOcclusion(0.0)(image), image)
    torch.manual_seed(3)
    hits = sum(not torch.equal(LowerFaceOcclusion(0.3)(image), image) for _ in range(400))
    assert 80 < hits < 160
    torch.manual_seed(5)
    first = LowerFaceOcclusion(1.0)(image)
    torch.manual_seed(5)
    assert torch.equal(first, LowerFaceOcclusion(1.0)(image))
    with pytest.raises(ValueError, match="probability"):
        LowerFaceOcclusion(1.5)
    with pytest.raises(ValueError, match="uint8"):
        LowerFaceOcclusion(1.0)(image.float())


def test_the_occluder_needs_the_landmark_face_cut():
    assert load_config("general", ["aug.occlude_worn=0.5"]).aug.occlude_worn == 0.5
    with pytest.raises(ConfigError, match="occlude_worn"):
        load_config("general", ["aug.occlude_worn=0.5", "input.face_frame=box"])
    with pytest.raises(ConfigError, match="occlude_worn"):
        load_config(None, ["aug.occlude_worn=0.5"])
    with pytest.raises(ConfigError, match="occlude_worn"):
        load_config("general", ["aug.occlude_worn=2"])
