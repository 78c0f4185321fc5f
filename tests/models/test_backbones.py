"""Backbone factory: the bundled weights really classify, preprocessing comes from the registry, checkpoints load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as F
from PIL import Image
from skimage import data

from maskcls.errors import MaskclsError
from maskcls.models import OFFLINE_WEIGHTS, Preprocess, backbone_stages, create_backbone, list_offline

ESPRESSO = 967
INTERPOLATION = {"bicubic": F.InterpolationMode.BICUBIC, "bilinear": F.InterpolationMode.BILINEAR}


def prepare(image: Image.Image, preprocess: Preprocess) -> torch.Tensor:
    """Evaluation preprocessing driven only by ``preprocess``: resize, centre crop, normalise."""
    resized = F.resize(image, preprocess.resize_size, interpolation=INTERPOLATION[preprocess.interpolation])
    cropped = F.center_crop(resized, list(preprocess.size))
    return F.normalize(F.to_tensor(cropped), preprocess.mean, preprocess.std)[None]


@pytest.mark.parametrize("name", ["efficientnet_lite0", "tf_efficientnet_lite0", "mobilenetv2_100"])
def test_offline_weights_classify_coffee_as_espresso(name: str) -> None:
    model, preprocess = create_backbone(name, pretrained=True, num_classes=1000)
    with torch.no_grad():
        probs = model.eval()(prepare(Image.fromarray(data.coffee()), preprocess)).softmax(-1)
    assert probs.argmax(-1).item() == ESPRESSO
    assert probs[0, ESPRESSO] > 0.5


def test_offline_registry_lists_every_bundled_name() -> None:
    expected = {f"{prefix}efficientnet_lite{i}" for prefix in ("", "tf_") for i in range(3)} | {"mobilenetv2_100"}
    expected |= {"dlib_age", "dlib_gender"}
    assert set(list_offline()) == expected
    assert all(OFFLINE_WEIGHTS[name].path().is_file() for name in expected)


def test_lite_preprocess_is_half_mean_std_bicubic_and_img_size_overrides() -> None:
    model, preprocess = create_backbone("efficientnet_lite1", pretrained=True)
    assert model.num_features == 1280
    assert preprocess.mean == preprocess.std == (0.5, 0.5, 0.5)
    assert preprocess.interpolation == "bicubic"
    assert preprocess.size == (240, 240)
    _, resized = create_backbone("efficientnet_lite1", pretrained=False, img_size=192)
    assert resized.size == (192, 192)
    assert resized.mean == (0.5, 0.5, 0.5)


def test_mobilenet_preprocess_is_torchvision_imagenet() -> None:
    _, preprocess = create_backbone("mobilenetv2_100", pretrained=False)
    assert preprocess == Preprocess((224, 224), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), "bilinear", 0.875)
    assert preprocess.resize_size == 256


def test_random_backbone_returns_pooled_features() -> None:
    model, _ = create_backbone("test_efficientnet", pretrained=False)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, model.num_features)


@pytest.mark.parametrize("wrap", ["raw", "state_dict", "module", "classifier"])
def test_checkpoint_round_trip(tmp_path: Path, wrap: str) -> None:
    source, _ = create_backbone("test_efficientnet", pretrained=False)
    state = source.state_dict()
    saved = {
        "raw": state,
        "state_dict": {"state_dict": state, "epoch": 3},
        "module": {f"module.{key}": value for key, value in state.items()},
        "classifier": {**{f"backbone.{k}": v for k, v in state.items()}, "head.fc.weight": torch.zeros(18, 4)},
    }[wrap]
    path = tmp_path / "backbone.pt"
    torch.save(saved, path)
    loaded, _ = create_backbone("test_efficientnet", pretrained=str(path))
    for key, value in loaded.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_safetensors_checkpoint(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source, _ = create_backbone("test_efficientnet", pretrained=False)
    path = tmp_path / "backbone.safetensors"
    save_file({key: value.contiguous() for key, value in source.state_dict().items()}, str(path))
    loaded, _ = create_backbone("test_efficientnet", pretrained=str(path))
    assert torch.equal(loaded.conv_stem.weight, source.conv_stem.weight)


def test_checkpoint_errors_name_the_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint")
    with pytest.raises(MaskclsError, match="garbage.pt"):
        create_backbone("test_efficientnet", pretrained=str(garbage))
    other = tmp_path / "resnet.pth"
    torch.save(create_backbone("test_resnet", pretrained=False)[0].state_dict(), other)
    with pytest.raises(MaskclsError, match=r"resnet\.pth: does not fit"):
        create_backbone("test_efficientnet", pretrained=str(other))
    with pytest.raises(MaskclsError, match="not found"):
        create_backbone("test_efficientnet", pretrained=str(tmp_path / "absent.pt"))


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(MaskclsError, match="efficientnet_lite0"):
        create_backbone("efficientnet_lite9", pretrained=False)


def test_pretrained_without_offline_weights_refuses_to_download() -> None:
    with pytest.raises(MaskclsError, match="pretrained=false") as info:
        create_backbone("test_resnet", pretrained=True)
    assert "\n" not in str(info.value)
    assert "efficientnet_lite0" in str(info.value)


@pytest.mark.parametrize(
    ("name", "count"), [("efficientnet_lite0", 9), ("mobilenetv2_100", 9), ("resnet18", 5), ("test_efficientnet", 7)]
)
def test_backbone_stages_cover_every_parameter_in_order(name: str, count: int) -> None:
    model, _ = create_backbone(name, pretrained=False)
    stages = backbone_stages(model)
    assert len(stages) == count
    staged = [id(param) for stage in stages for param in stage.parameters()]
    assert staged == [id(param) for param in model.parameters()]
