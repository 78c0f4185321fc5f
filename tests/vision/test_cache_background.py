"""``train.background``: cache keys, the cached entries, and inference (torch and ONNX) preprocessing alike."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from maskcls.config import load_config
from maskcls.faces.mediapipe_support import mediapipe_available
from maskcls.faces.segment import DEFAULT_FILL, SEGMENTATION_TAG
from maskcls.models.backbones import Preprocess
from maskcls.vision.cache import CacheSpec, ImageCache, load_image

PRE = Preprocess(size=(48, 40), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bilinear", crop_pct=1.0)


def test_background_is_in_the_key_only_when_not_kept():
    keep = CacheSpec((224, 224))
    assert keep.key() == "v1:size=224x224:interpolation=bicubic:crop=none"  # as before the option existed
    assert CacheSpec((224, 224), background="keep").key() == keep.key()
    removed = CacheSpec((224, 224), background="remove").key()
    assert removed == f"{keep.key()}:background=remove,{SEGMENTATION_TAG},guard=retinaface"
    assert CacheSpec((224, 224), background="remove", face_detector="haar").key() != removed  # the face guard's
    both = CacheSpec((224, 224), crop="face", background="blur").key()
    assert both.startswith(CacheSpec((224, 224), crop="face").key())
    assert both.endswith(f"background=blur,{SEGMENTATION_TAG},guard=retinaface")
    with pytest.raises(ValueError, match="unknown background"):
        CacheSpec((224, 224), background="erase")


def test_training_and_both_inference_engines_take_the_background_from_the_config(tmp_path):
    from maskcls.inference.contract import cache_spec
    from maskcls.inference.onnx_engine import OnnxEngine

    cfg = load_config(None, ["train.background=remove", "train.crop=face"])
    spec = CacheSpec.from_config(cfg.input, PRE)
    assert (spec.background, spec.crop, spec.size) == ("remove", "face", (48, 40))
    # The ONNX engine rebuilds its config from model.json, so it preprocesses as training did.
    meta = {"run": "r", "config": cfg.model_dump(mode="json"),
            "preprocess": {"size": [48, 40], "mean": [0.5] * 3, "std": [0.5] * 3, "interpolation": "bilinear",
                           "crop_pct": 1.0}}
    assert cache_spec(OnnxEngine(None, meta, tmp_path / "m.onnx")) == spec
    with pytest.raises(Exception, match="background"):
        load_config(None, ["train.background=erase"])


@pytest.mark.skipif(not mediapipe_available(), reason="mediapipe (optional extra) not installed")
def test_cache_with_background_removed_and_face_crop(shared_data, tmp_path):
    images = sorted((shared_data / "utkface" / "images").iterdir())[::2400][:3]
    photos = []
    for index, source in enumerate(images):  # copies: the cache key hashes paths and times
        photos.append(tmp_path / f"p{index}.jpg")
        shutil.copy(source, photos[-1])
    spec = CacheSpec((64, 48), crop="face", background="remove")
    cache = ImageCache.open(photos, spec, tmp_path / "cache", workers=2)
    assert not cache.reused and not cache.errors and not cache.fallbacks
    plain = ImageCache.open(photos, CacheSpec((64, 48), crop="face"), tmp_path / "cache")
    assert plain.key != cache.key
    fill = np.abs(cache.array.astype(int) - DEFAULT_FILL).max(axis=-1) <= 2
    plain_fill = np.abs(plain.array.astype(int) - DEFAULT_FILL).max(axis=-1) <= 2
    # Some backdrop became flat grey (measured 1.2 % of these tight UTKFace crops, 0.01 % before) …
    assert fill.mean() > 0.005 and plain_fill.mean() < 0.001
    centre = fill[:, 16:48, 12:36]
    assert centre.mean() < 0.01  # … but not the face in the middle of the crop
    for index, path in enumerate(photos):  # one photo on its own comes out as its cache entry
        assert np.array_equal(load_image(path, spec), cache[index])
    meta = json.loads(Path(cache.path).with_suffix(".json").read_text())
    assert meta["spec"]["background"] == "remove" and meta["spec"]["crop"] == "face"
    again = ImageCache.open(photos, spec, tmp_path / "cache")
    assert again.reused and np.array_equal(again.array, cache.array)
