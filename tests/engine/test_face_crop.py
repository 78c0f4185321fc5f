"""A run with ``train.crop=face``: the settings reach the cache, and photos without a face are logged and listed."""

from pathlib import Path

import pytest
from PIL import Image

from maskcls.config import ConfigError, load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.run import train
from maskcls.inference.predictor import Predictor
from maskcls.vision.cache import CacheSpec

from helpers import run_cli


@pytest.fixture(scope="module")
def face_run(tmp_path_factory) -> tuple[Path, Path, Path, list[Path], list[str]]:
    """A 1-epoch ``crop=face`` run on 8 cartoon people, one photo of whom is a real face: (data root, run folder,
    the real photo, the training photos, the run's log lines)."""
    from skimage import data

    tmp_path = tmp_path_factory.mktemp("face-run")
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
        "input.face_min_side=0",  # and enlarged from 48 px to 160 it takes some for faces,
        "input.face_retry=0"])  # as it does at 1.5 times their size
    messages: list[str] = []
    folder = train(cfg, tmp_path / "runs", log=messages.append)
    return root, folder, real, photos, messages


def test_face_crop_run_lists_the_photos_without_a_face(face_run, tmp_path):
    root, folder, real, photos, messages = face_run
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


def test_predict_cuts_the_faces_with_another_detector_when_asked(face_run, tmp_path, capsys, monkeypatch):
    from maskcls.vision import preprocess

    _, folder, real, _, _ = face_run
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / real.name).write_bytes(real.read_bytes())
    asked: list[str] = []
    create = preprocess.create_detector
    monkeypatch.setattr(preprocess, "create_detector", lambda name, *a, **k: asked.append(name) or create(name, *a, **k))

    def cli(*args) -> tuple[int, str, str]:
        return run_cli(capsys, *args)

    code, out, err = cli("predict", folder, photos, "--out", tmp_path / "own.csv")
    assert code == 0, err
    assert set(asked) == {"retinaface"} and "faces by" not in out
    asked.clear()
    code, out, err = cli("predict", folder, photos, "--out", tmp_path / "haar.csv", "--face-detector", "haar")
    assert code == 0, err
    assert set(asked) == {"haar"} and "faces by haar" in " ".join(out.split())
    assert "no face detected" not in err  # Haar finds the astronaut's face too
    assert load_config(folder / "config.yaml").input.face_detector == "retinaface"  # the run folder is untouched
    code, _, err = cli("predict", folder, photos, "--face-detector", "dlib")
    assert code == 1 and err.startswith("maskcls: error: dlib: unknown face detector") and err.count("\n") == 1


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
