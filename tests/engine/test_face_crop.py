"""A run with ``train.crop=face``: the settings reach the cache, and photos without a face are logged and listed."""

from pathlib import Path

import pytest
from PIL import Image

from maskcls.config import ConfigError, load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.run import train
from maskcls.inference.predictor import Predictor
from maskcls.vision.cache import CacheSpec


def test_face_crop_run_lists_the_photos_without_a_face(tmp_path):
    from skimage import data

    root = tmp_path / "data"
    make_synthetic(root, people=8, eval_people=1, seed=3, size=(48, 64))
    photos = sorted((root / "train" / "images").rglob("*.jpg"))
    real = photos[0]  # the cartoon faces are not faces to a detector; this one becomes a real face
    Image.fromarray(data.astronaut()).save(real, quality=90)
    cfg = load_config(None, [
        f"data.root={root}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
        "train.batch_size=32", "train.epochs=1", "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}",
        "train.crop=face", "train.face_margin=0.2", "train.face_pick=central",
        "input.face_fallback=null",  # RetinaFace scores some cartoons above 0.3: no fallback here
        "input.face_min_side=0"])  # and enlarged from 48 px to 160 it takes some for faces
    messages: list[str] = []
    folder = train(cfg, tmp_path / "runs", log=messages.append)
    total = len(list((root / "train" / "images").rglob("*.*")))
    assert f"face crop: {total - 1} of {total} photos had no face and were centre-cropped" in messages
    listed = (folder / "face_fallbacks.txt").read_text().splitlines()
    assert len(listed) == total - 1 and str(real) not in listed and all(Path(p).is_file() for p in listed)

    predictor = Predictor.from_run(folder)
    spec = CacheSpec.from_config(predictor.cfg.input, predictor.preprocess)
    assert (spec.crop, spec.face_margin, spec.face_pick, spec.size) == ("face", 0.2, "central", (32, 32))

    # Prediction reports the photos without a face instead of centre-cropping them silently.
    from maskcls.inference.batch import predict_paths
    from maskcls.inference.loading import load_members
    from maskcls.inference.targets import predict_eval, predict_photos

    no_face: dict[int, str] = {}
    predict_paths(predictor, [real, photos[1]], no_face=no_face)
    assert no_face == {1: str(photos[1])}
    engines, groups = load_members([folder], "torch")
    result = predict_photos(engines, groups, photos[1].parent)
    in_folder = sorted(photos[1].parent.glob("*.jpg"))
    assert sorted(result.no_face.values()) == sorted(str(p) for p in in_folder if p != real)
    out = tmp_path / "sub.csv"
    predicted = predict_eval(engines, groups, root, out)
    listing = (tmp_path / "sub_no_face.txt").read_text().splitlines()
    assert len(predicted.no_face) == len(listing) == len(predicted.names)  # cartoon eval faces: none detected


def test_face_settings_are_validated():
    assert load_config(None, ["input.crop=face"]).input.face_detector == "retinaface"
    with pytest.raises(ConfigError, match="input.face_detector: .*unknown face detector 'dlib'"):
        load_config(None, ["input.face_detector=dlib"])
    with pytest.raises(ConfigError, match="input.face_margin"):
        load_config(None, ["input.face_margin=-1"])
    with pytest.raises(ConfigError, match="input.face_pick"):
        load_config(None, ["input.face_pick=first"])
    with pytest.raises(ConfigError, match="input.crop"):
        load_config(None, ["input.crop=eyes"])
    with pytest.raises(ConfigError, match="input.crop"):  # the old key still reaches the check
        load_config(None, ["train.crop=eyes"])
