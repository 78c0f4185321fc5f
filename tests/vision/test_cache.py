import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

import maskcls.vision.cache as cache_module
from maskcls.data.images import load_rgb
from maskcls.vision.cache import CacheSpec, ImageCache, cache_key, default_cache_dir


@pytest.fixture
def draft_sizes(monkeypatch) -> list:
    """The sizes every JPEG draft decode asks for, recorded while the test runs."""
    requested = []
    original = JpegImageFile.draft

    def spy(self, mode, size):
        requested.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImageFile, "draft", spy)
    return requested

SPEC = CacheSpec(size=(16, 12))


def gradient(width: int, height: int, shift: int = 0) -> Image.Image:
    """A smooth colour gradient (JPEG keeps it close, resizing keeps it meaningful)."""
    x = np.linspace(0, 200, width)[None, :]
    y = np.linspace(0, 120, height)[:, None]
    rgb = np.stack([x + 0 * y + shift, y + 0 * x + shift, (x + y) / 2], axis=-1)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


@pytest.fixture
def photos(tmp_path: Path) -> list[Path]:
    """Six 40×30 photos: four JPEGs, a PNG and a corrupt JPEG (index 5)."""
    folder = tmp_path / "photos"
    folder.mkdir()
    paths = []
    for i in range(4):
        paths.append(folder / f"p{i}.jpg")
        gradient(40, 30, shift=10 * i).save(paths[-1], quality=95)
    paths.append(folder / "p4.png")
    gradient(40, 30, shift=50).save(paths[-1])
    paths.append(folder / "bad.jpg")
    paths[-1].write_bytes(paths[0].read_bytes()[:50])
    return paths


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """Every photo the cache decodes, in call order."""
    calls: list[Path] = []
    original = cache_module.load_image_info

    def spy(path, spec):
        calls.append(Path(path))
        return original(path, spec)

    monkeypatch.setattr(cache_module, "load_image_info", spy)
    return calls


def reference(path: Path, spec: CacheSpec, box=None) -> np.ndarray:
    height, width = spec.size
    return np.asarray(load_rgb(path).resize((width, height), Image.Resampling.BICUBIC, box=box))


def test_build_shape_and_pixels_match_a_direct_resize(photos, tmp_path):
    cache = ImageCache.open(photos, SPEC, tmp_path / "cache", workers=2)
    assert len(cache) == 6 and cache.array.shape == (6, 16, 12, 3) and cache.array.dtype == np.uint8
    assert cache[0].shape == (16, 12, 3)
    for i in range(5):
        assert np.abs(cache[i].astype(int) - reference(photos[i], SPEC)).max() <= 1
    assert not cache.reused
    assert cache.path == tmp_path / "cache" / f"{cache.key}.u8"
    meta = json.loads((tmp_path / "cache" / f"{cache.key}.json").read_text())
    assert meta["count"] == 6 and meta["shape"] == [6, 16, 12, 3] and meta["spec"]["crop"] == "none"


def test_center_crop_keeps_the_middle(photos, tmp_path):
    spec = CacheSpec(size=(16, 16), crop="center")
    cache = ImageCache.open(photos[:1], spec, tmp_path / "cache")
    expected = reference(photos[0], spec, box=(5, 0, 35, 30))  # 40×30 → centred 30×30
    assert np.abs(cache[0].astype(int) - expected).max() <= 1


def test_second_open_reuses_without_decoding(photos, tmp_path, decodes):
    first = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert len(decodes) == 6
    stamp = first.path.stat().st_mtime_ns
    second = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert len(decodes) == 6 and second.reused
    assert second.path.stat().st_mtime_ns == stamp
    assert np.array_equal(first.array, second.array)
    assert second.errors == first.errors


def test_corrupt_photo_is_an_error_entry_not_an_exception(photos, tmp_path):
    cache = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert list(cache.errors) == [5]
    assert str(photos[5]) in cache.errors[5]
    assert not cache[5].any()
    assert ImageCache.open(photos, SPEC, tmp_path / "cache").errors == cache.errors  # kept in the sidecar


def test_a_missing_photo_is_an_error_entry(photos, tmp_path):
    gone = photos[0].with_name("gone.jpg")
    cache = ImageCache.open([photos[1], gone], SPEC, None)
    assert list(cache.errors) == [1] and str(gone) in cache.errors[1]


def test_changing_a_setting_rebuilds_and_leaves_the_old_cache(photos, tmp_path, decodes):
    base = ImageCache.open(photos, SPEC, tmp_path / "cache")
    for spec in (CacheSpec(size=(20, 12)), CacheSpec(size=(16, 12), crop="center"),
                 CacheSpec(size=(16, 12), interpolation="bilinear")):
        decodes.clear()
        other = ImageCache.open(photos, spec, tmp_path / "cache")
        assert other.key != base.key and len(decodes) == 6 and not other.reused
        assert other.array.shape == (6, *spec.shape)
    assert base.path.exists() and len(list((tmp_path / "cache").glob("*.u8"))) == 4


def test_rewriting_a_photo_rebuilds_with_the_new_pixels(photos, tmp_path, decodes):
    before = ImageCache.open(photos, SPEC, tmp_path / "cache")
    Image.new("RGB", (40, 30), (250, 10, 10)).save(photos[2], quality=95)
    stat = photos[2].stat()
    os.utime(photos[2], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    decodes.clear()
    after = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert after.key != before.key and len(decodes) == 6
    assert np.abs(after[2].astype(int) - [250, 10, 10]).max() <= 6
    assert np.array_equal(after[1], before[1])


def test_touching_a_photo_changes_the_key(photos):
    key = cache_key(photos, SPEC)
    stat = photos[0].stat()
    os.utime(photos[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert cache_key(photos, SPEC) != key
    assert cache_key(photos[::-1], SPEC) != cache_key(photos, SPEC)


def test_an_interrupted_build_is_rebuilt(photos, tmp_path, decodes):
    cache = ImageCache.open(photos, SPEC, tmp_path / "cache")
    sidecar = tmp_path / "cache" / f"{cache.key}.json"
    sidecar.unlink()  # as if the process died after the array and before the sidecar
    decodes.clear()
    again = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert len(decodes) == 6 and not again.reused and sidecar.exists()


def test_a_truncated_array_is_rebuilt(photos, tmp_path, decodes):
    cache = ImageCache.open(photos, SPEC, tmp_path / "cache")
    expected = np.array(cache.array)
    with open(cache.path, "r+b") as handle:
        handle.truncate(100)
    decodes.clear()
    again = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert len(decodes) == 6 and np.array_equal(again.array, expected)


def test_a_failed_build_leaves_no_files(photos, tmp_path, monkeypatch):
    def explode(path, spec):
        raise RuntimeError("boom")

    monkeypatch.setattr(cache_module, "load_image_info", explode)
    with pytest.raises(RuntimeError):
        ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_in_memory_cache_has_the_same_entries(photos, tmp_path):
    on_disk = ImageCache.open(photos, SPEC, tmp_path / "cache")
    in_memory = ImageCache.open(photos, SPEC, None, workers=1)
    assert in_memory.path is None and not isinstance(in_memory.array, np.memmap)
    assert np.array_equal(in_memory.array, on_disk.array) and in_memory.errors == on_disk.errors
    assert len(ImageCache.open([], SPEC, tmp_path / "cache")) == 0


def test_pickling_maps_the_file_instead_of_copying_it(photos, tmp_path):
    cache = ImageCache.open(photos, CacheSpec(size=(64, 64)), tmp_path / "cache")
    blob = pickle.dumps(cache)
    assert len(blob) < cache.array.nbytes / 10
    restored = pickle.loads(blob)
    assert np.array_equal(restored.array, cache.array) and restored.errors == cache.errors


def test_big_jpegs_decode_at_reduced_scale_close_to_full_decode(tmp_path, draft_sizes):
    path = tmp_path / "big.jpg"
    gradient(640, 480).save(path, quality=95)
    spec = CacheSpec(size=(32, 32))
    cache = ImageCache.open([path], spec, None)
    assert draft_sizes == [(43, 32)]  # covers the 32-pixel target on the short side: decoded at 1/8 (80×60)
    assert np.abs(cache[0].astype(int) - reference(path, spec)).mean() < 2


def test_spec_validation_and_key():
    assert CacheSpec((224, 224)).key() != CacheSpec((224, 224), crop="center").key()
    for bad in ({"size": (0, 4)}, {"size": (4, 4), "interpolation": "cubic"}, {"size": (4, 4), "crop": "eyes"},
                {"size": (4, 4), "face_margin": -0.1}, {"size": (4, 4), "face_detector": "yolo"},
                {"size": (4, 4), "face_pick": "first"}, {"size": (4, 4), "face_fallback": 1.2},
                {"size": (4, 4), "face_frame": "eyes"}):
        with pytest.raises(ValueError):
            CacheSpec(**bad)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKCLS_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("MASKCLS_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "maskcls"


# ---- crop=face ------------------------------------------------------------------------------------------
FACE = CacheSpec(size=(64, 48), crop="face")


@pytest.fixture(scope="module")
def astronaut_jpeg(tmp_path_factory) -> Path:
    """A real 512 × 512 photo with one face (scikit-image's astronaut) as a JPEG."""
    from skimage import data

    path = tmp_path_factory.mktemp("face") / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=95)
    return path


def face_box(path: Path, spec: CacheSpec):
    """The crop box ``spec`` should take around the face of a photo, computed step by step."""
    from maskcls.faces import create_detector, face_crop_box, pick_face

    image = load_rgb(path)
    face = pick_face(create_detector(spec.face_detector).detect(np.asarray(image)), image.size, spec.face_pick)
    return face_crop_box(face, image.size, spec.face_margin, spec.size[1] / spec.size[0], spec.face_frame)


def test_keys_of_other_crops_are_unchanged():
    # The exact strings of caches built before crop=face existed: they must stay valid.
    assert CacheSpec((224, 224)).key() == "v1:size=224x224:interpolation=bicubic:crop=none"
    assert CacheSpec((16, 12), crop="center").key() == "v1:size=16x12:interpolation=bicubic:crop=center"
    assert CacheSpec((224, 224), face_margin=0.1, face_pick="central").key() == CacheSpec((224, 224)).key()
    face_keys = {CacheSpec((224, 224), crop="face").key(), CacheSpec((224, 224), crop="face", face_margin=0.2).key(),
                 CacheSpec((224, 224), crop="face", face_detector="haar").key(),
                 CacheSpec((224, 224), crop="face", face_pick="central").key(),
                 CacheSpec((224, 224), crop="face", face_fallback=0.3).key(),
                 CacheSpec((224, 224), crop="face", face_frame="landmarks").key()}
    assert len(face_keys) == 6
    assert CacheSpec((224, 224), face_fallback=0.3).key() == CacheSpec((224, 224)).key()
    assert CacheSpec((224, 224), crop="face").key().startswith("v1:size=224x224:interpolation=bicubic:crop=face:")
    # Enlarging small photos before detection changed the faces found: face caches of before are not reused.
    assert ",min_side=160" in CacheSpec((224, 224), crop="face").key()
    assert ",min_side=0" in CacheSpec((224, 224), crop="face", face_min_side=0).key()
    assert CacheSpec((224, 224), face_min_side=0).key() == CacheSpec((224, 224)).key()  # no face crop: no detector
    # The retry changes only photos without a face; caches made without it keep their keys.
    assert ",retry=1.5" in CacheSpec((224, 224), crop="face").key()
    assert "retry" not in CacheSpec((224, 224), crop="face", face_retry=0).key()
    assert CacheSpec((224, 224), face_retry=0).key() == CacheSpec((224, 224)).key()


def test_face_crop_centres_the_face_and_records_fallbacks(astronaut_jpeg, photos, tmp_path, decodes):
    paths = [astronaut_jpeg, photos[0], photos[5]]  # a face, a gradient without one, a corrupt file
    cache = ImageCache.open(paths, FACE, tmp_path / "cache")
    assert cache.fallbacks == [1] and list(cache.errors) == [2]
    box = face_box(astronaut_jpeg, FACE)
    assert np.abs(cache[0].astype(int) - reference(astronaut_jpeg, FACE, box)).max() <= 1
    assert 170 < (box[0] + box[2]) / 2 < 280 and box[3] - box[1] < 300  # around the face, not the whole photo
    centre = reference(photos[0], FACE, box=(8.75, 0, 31.25, 30))  # 40×30 → centred 22.5×30 (3:4)
    assert np.abs(cache[1].astype(int) - centre).max() <= 1
    meta = json.loads((tmp_path / "cache" / f"{cache.key}.json").read_text())
    assert meta["fallbacks"] == [1] and meta["spec"]["face_detector"] == "retinaface"
    decodes.clear()
    again = ImageCache.open(paths, FACE, tmp_path / "cache")
    assert again.reused and not decodes and again.fallbacks == [1] and again.errors == cache.errors
    assert pickle.loads(pickle.dumps(again)).fallbacks == [1]
    assert ImageCache.open(paths, FACE, None).fallbacks == [1]


def test_landmark_frame_cuts_the_square_the_landmarks_place(astronaut_jpeg):
    spec = CacheSpec(size=(64, 64), crop="face", face_margin=0.0, face_frame="landmarks")
    box = face_box(astronaut_jpeg, spec)
    assert box != face_box(astronaut_jpeg, CacheSpec(size=(64, 64), crop="face", face_margin=0.0))
    assert np.abs(cache_module.load_image(astronaut_jpeg, spec).astype(int)
                  - reference(astronaut_jpeg, spec, box)).max() <= 1


def test_load_image_info_and_other_crops_never_fall_back(astronaut_jpeg, photos, tmp_path):
    entry, fell_back = cache_module.load_image_info(astronaut_jpeg, FACE)
    assert not fell_back and np.array_equal(entry, cache_module.load_image(astronaut_jpeg, FACE))
    assert cache_module.load_image_info(photos[0], FACE)[1]
    assert not cache_module.load_image_info(photos[0], SPEC)[1]
    assert ImageCache.open(photos, SPEC, tmp_path / "cache").fallbacks == []


def test_sidecars_from_before_face_crops_still_reuse(photos, tmp_path, decodes):
    cache = ImageCache.open(photos, SPEC, tmp_path / "cache")
    sidecar = tmp_path / "cache" / f"{cache.key}.json"
    meta = json.loads(sidecar.read_text())
    del meta["fallbacks"]
    sidecar.write_text(json.dumps(meta))
    decodes.clear()
    again = ImageCache.open(photos, SPEC, tmp_path / "cache")
    assert again.reused and not decodes and again.fallbacks == []


def test_face_crop_decodes_a_big_jpeg_at_full_scale(astronaut_jpeg, tmp_path, draft_sizes):
    big = tmp_path / "big.jpg"
    Image.open(astronaut_jpeg).resize((1024, 1024)).save(big, quality=95)
    spec = CacheSpec(size=(32, 32), crop="face")
    entry, fell_back = cache_module.load_image_info(big, spec)
    assert draft_sizes == [] and not fell_back  # a 1/8 draft would leave the face about 24 pixels wide
    assert np.abs(entry.astype(int) - reference(big, spec, face_box(big, spec))).max() <= 1


def test_face_crop_on_real_faces(shared_data, tmp_path):
    paths = sorted((shared_data / "utkface" / "images").glob("*.jpg"))[:12]
    cache = ImageCache.open(paths, CacheSpec(size=(64, 64), crop="face"), tmp_path / "cache")
    assert cache.fallbacks == [] and cache.errors == {}
