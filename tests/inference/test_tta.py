"""Test-time augmentation: views, their geometry, and averaging in probability space."""

import numpy as np
import pytest

from maskcls.config import Config
from maskcls.errors import MaskclsError
from maskcls.inference.tta import Tta, crop_boxes, hflip, mean_probs
from maskcls.models.backbones import Preprocess

PRE = Preprocess((32, 32), (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "bilinear", 1.0)


class LeftRightEngine:
    """An engine whose class is 0 when the left half is brighter, 1 otherwise (probabilities 0.9 / 0.1)."""

    name, cfg, preprocess = "stub", Config(), PRE

    def __init__(self) -> None:
        self.calls = 0

    def probs(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        half = images.shape[2] // 2
        left = images[:, :, :half].mean((1, 2, 3)) > images[:, :, half:].mean((1, 2, 3))
        out = np.zeros((len(images), 18), dtype=np.float32)
        out[:, 0] = np.where(left, 0.9, 0.1)
        out[:, 1] = 1 - out[:, 0]
        return out


def tta_probs(engine, images: np.ndarray, tta: Tta = Tta()) -> np.ndarray:
    """The engine's probabilities averaged over the views of ``tta``, as ``predict`` averages them."""
    return mean_probs(engine, tta.views(images, engine.preprocess.interpolation))


def test_parse_and_views():
    assert Tta.parse("none").n_views == 1 and Tta.parse("flip").n_views == 2
    assert Tta.parse("crops5").n_views == 5 and Tta.parse("crops5+flip").describe() == "flip+crops5"
    with pytest.raises(MaskclsError, match="unknown view 'rotate'"):
        Tta.parse("flip+rotate")
    images = np.random.default_rng(0).integers(0, 256, (3, 20, 16, 3), dtype=np.uint8)
    views = Tta.parse("flip+crops5", scale=0.75).views(images)
    assert len(views) == 10 and all(v.shape == images.shape and v.dtype == np.uint8 for v in views)
    assert np.array_equal(views[1], hflip(views[0]))
    assert np.array_equal(hflip(images)[:, :, 0], images[:, :, -1])


def test_crop_boxes_are_centre_and_corners():
    boxes = crop_boxes(20, 16, 0.75)
    assert boxes == [(2, 2, 17, 14), (0, 0, 15, 12), (0, 4, 15, 16), (5, 0, 20, 12), (5, 4, 20, 16)]
    # A constant image stays constant through crop and resize.
    flat = np.full((1, 20, 16, 3), 77, dtype=np.uint8)
    assert all((v == 77).all() for v in Tta(crops=5).views(flat))


def test_flip_of_a_symmetric_input_changes_nothing_and_of_an_asymmetric_one_averages():
    engine = LeftRightEngine()
    symmetric = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    symmetric[:, 2:6, 2:6] = 200
    assert np.array_equal(hflip(symmetric), symmetric)
    asymmetric = np.zeros((1, 8, 8, 3), dtype=np.uint8)
    asymmetric[:, :, :4] = 200
    plain = tta_probs(engine, asymmetric)
    assert plain[0, 0] == pytest.approx(0.9)
    flipped = tta_probs(engine, asymmetric, Tta(flip=True))
    assert flipped[0, 0] == pytest.approx(0.5) and flipped[0, 1] == pytest.approx(0.5)
    assert np.allclose(flipped.sum(1), 1)


def test_flip_of_a_symmetric_input_with_a_real_model(tmp_path):
    import torch

    from maskcls.config import ModelConfig
    from maskcls.inference.predictor import Predictor
    from maskcls.models.classifier import build_classifier

    torch.manual_seed(0)
    model = build_classifier(ModelConfig(backbone="test_efficientnet", pretrained=False, img_size=32, head="class18"))
    predictor = Predictor(model, Config(), torch.device("cpu"), "tiny")
    rng = np.random.default_rng(0)
    half = rng.integers(0, 256, (4, 32, 16, 3), dtype=np.uint8)
    symmetric = np.concatenate([half, half[:, :, ::-1]], axis=2)
    plain, flipped = predictor.probs(symmetric), tta_probs(predictor, symmetric, Tta(flip=True))
    assert np.allclose(plain, flipped, atol=1e-6)
    asymmetric = rng.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    assert not np.allclose(predictor.probs(asymmetric), tta_probs(predictor, asymmetric, Tta(flip=True)), atol=1e-6)
