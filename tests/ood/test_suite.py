"""The out-of-distribution suite built from a tiny fake shared folder, and scored by fake predictors and a run."""

from __future__ import annotations

import csv
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import f1_score

from maskcls.data import devsplit
from helpers import train_tiny_run
from maskcls.errors import MaskclsError
from maskcls.faces.detect import Face
from maskcls.ood.eval_masks import TEMPLATE_POINTS
from maskcls.data.images import load_rgb
from maskcls.ood.score import figures, markdown, row_labels, score_suite, tables
from maskcls.ood.suite import SuiteOptions, ensure_suite, read_manifest, read_rows, size_bucket


def _names(dataset: str, name_of, want_dev: int, want_train: int) -> list[str]:
    """File names (``name_of(counter)``) of which ``want_dev`` are held out and ``want_train`` are not."""
    dev, train, i = [], [], 0
    while len(dev) < want_dev or len(train) < want_train:
        name = name_of(i)
        held = devsplit.is_dev(dataset, f"images/{name}") if dataset != "realmask" else \
            devsplit.bucket(f"realmask/{name}") < devsplit.DEV_FRACTION["realmask"]
        group, want = (dev, want_dev) if held else (train, want_train)
        if len(group) < want:
            group.append(name)
        i += 1
    return dev + train


def _write_csv(path: Path, columns: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A fake ``shared/data``: 8 UTKFace chips, 6 crowd photos with 3 boxes each, 12 realmask photos."""
    root = tmp_path_factory.mktemp("shared") / "data"
    rng = np.random.default_rng(0)
    utk = _names("utkface", lambda i: f"{(22, 45, 70)[i % 3]}_{i % 2}_2_2017{i:09d}.jpg.chip.jpg", 5, 3)
    rows = []
    (root / "utkface" / "images").mkdir(parents=True)
    for name in utk:
        age, gender = name.split("_")[:2]
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(root / "utkface" / "images" / name,
                                                                                  format="JPEG")
        rows.append([f"images/{name}", age, ["male", "female"][int(gender)], "Asian"])
    _write_csv(root / "utkface" / "labels.csv", ["file", "age", "gender", "race"], rows)
    crowd = _names("facemask", lambda i: f"crowd{i}.jpg", 3, 3)
    boxes = []
    (root / "facemask" / "images").mkdir(parents=True)
    for name in crowd:
        Image.fromarray(rng.integers(0, 255, (150, 240, 3), dtype=np.uint8)).save(root / "facemask" / "images" / name)
        # Longer sides 20, 40 and 80 px: one face per size bucket.
        for b, (box, state) in enumerate((((10, 10, 30, 25), "mask"), ((60, 20, 90, 60), "incorrect"),
                                          ((120, 30, 200, 110), "normal"))):
            boxes.append([f"images/{name}", b, state, *box])
    _write_csv(root / "facemask" / "boxes.csv", ["image", "box", "mask", "x0", "y0", "x1", "y1"], boxes)
    real = []
    (root / "realmask" / "images").mkdir(parents=True)
    for k, name in enumerate(_names("realmask", lambda i: f"chandrikadeb7_face_mask_{i:04d}.jpg", 3, 3)):
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(root / "realmask" / "images" / name)
        real.append([f"images/{name}", ["mask", "normal"][k % 2], "", "", "chandrikadeb7_face_mask", "x/y"])
    for k in range(3):
        name = f"parisasuchdev_selfies_{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (50, 50, 3), dtype=np.uint8)).save(root / "realmask" / "images" / name)
        state = ["mask", "incorrect", "normal"][k]
        real.append([f"images/{name}", state, "female", "30", "parisasuchdev_selfies", "p/f"])
    for k in range(6):
        name = f"jamesnogra_face_mask_usage_{k}.jpg"
        Image.fromarray(rng.integers(0, 255, (64, 64), dtype=np.uint8)).save(root / "realmask" / "images" / name)
        state = ["mask", "incorrect", "normal"][k % 3]
        real.append([f"images/{name}", state, "", "", "jamesnogra_face_mask_usage", "j/i"])
    _write_csv(root / "realmask" / "labels.csv", ["file", "mask", "gender", "age", "source", "repo"], real)
    return root


class _FakeDetector:
    """One face filling most of a 64 × 64 chip, with the aligned landmarks scaled to it."""

    def detect(self, image, fallback=None, min_side=0, retry=0.0):
        scale = image.shape[1] / 112.0
        return [Face((6.0, 4.0, 58.0, 62.0), 0.99, (TEMPLATE_POINTS * scale).astype(np.float32))]


@pytest.fixture
def fake_detector(monkeypatch):
    import maskcls.faces.detect
    import maskcls.vision.preprocess

    monkeypatch.setattr(maskcls.faces.detect, "create_detector", lambda *a, **k: _FakeDetector())
    monkeypatch.setattr(maskcls.vision.preprocess, "create_detector", lambda *a, **k: _FakeDetector())


@pytest.fixture
def suite(shared, fake_detector, tmp_path) -> Path:
    folder, built = ensure_suite(tmp_path / "suite", SuiteOptions(shared, people=0, seed=1))
    assert built
    return folder


def test_suite_holds_only_held_out_photos(suite, shared):
    manifest = read_manifest(suite)
    assert manifest["rows"] == {"crowd_m0": 9, "crowd_m25": 9, "utk_asis": 5, "utk_reframed": 5, "utk_masked": 5,
                                "realmask": len(read_rows(suite, "realmask")),
                                "realmask_grey": len(read_rows(suite, "realmask_grey"))}
    dev_real = devsplit.realmask_dev_files(shared / "realmask")
    for row in ("realmask", "realmask_grey"):
        for entry in read_rows(suite, row):
            assert f"images/{Path(entry['file']).name}" in dev_real
    assert {Path(e["file"]).name for e in read_rows(suite, "realmask") if e["group"] == "parisasuchdev_selfies"} == \
        {f"parisasuchdev_selfies_{k}.jpg" for k in range(3)}  # held out whole
    assert all(e["group"] == devsplit.FRAME_RUN_SOURCE for e in read_rows(suite, "realmask_grey"))
    with (shared / "utkface" / "labels.csv").open() as handle:
        dev_utk = {r["file"].split("/")[1].split(".")[0] for r in csv.DictReader(handle)
                   if devsplit.is_dev("utkface", r["file"])}
    assert {e["file"].split("/")[1].split(".")[0] for e in read_rows(suite, "utk_asis")} == dev_utk
    assert [e["file"].split("/")[1] for e in read_rows(suite, "utk_asis")] == \
        [e["file"].split("/")[1] for e in read_rows(suite, "utk_masked")]  # the same people in all three rows
    sources = {e["file"].split("/")[1].rsplit("_", 1)[0] for e in read_rows(suite, "crowd_m0")}
    assert sources and all(devsplit.is_dev("facemask", f"images/{s}.jpg") for s in sources)


def test_crowd_margins_and_size_buckets(suite):
    expected = {"0": ("<32", 20, 30), "1": ("32-63", 40, 60), "2": (">=64", 80, 120)}
    for row, column in (("crowd_m0", 1), ("crowd_m25", 2)):
        for entry in read_rows(suite, row):
            bucket, side0, side25 = expected[entry["file"].rsplit("_", 1)[1].split(".")[0]]
            assert entry["group"] == bucket
            with Image.open(suite / entry["file"]) as crop:
                side = (side0, side25)[column - 1]
                assert crop.size == (min(side, 150), min(side, 150))
    assert [size_bucket(s) for s in (31.9, 32, 63.9, 64)] == ["<32", "32-63", "32-63", ">=64"]


def test_reframed_photos_are_larger_frames(suite):
    for entry in read_rows(suite, "utk_reframed"):
        with Image.open(suite / entry["file"]) as photo:
            share = float(entry["face_px"]) / photo.width
            assert 0.29 <= share <= 0.61 and photo.format == "JPEG"
    placements = {e["group"] for e in read_rows(suite, "utk_masked")}
    assert placements <= {"worn", "under_nose", "chin"}
    assert {e["mask"] for e in read_rows(suite, "utk_masked")} <= {"0", "1"}


def test_rebuilt_only_when_stale(suite, shared, tmp_path):
    stamp = (suite / "manifest.json").stat().st_mtime_ns
    assert ensure_suite(suite, SuiteOptions(shared, people=0, seed=1)) == (suite, False)
    assert (suite / "manifest.json").stat().st_mtime_ns == stamp
    assert ensure_suite(suite, SuiteOptions(shared, people=2, seed=1))[1]
    assert read_manifest(suite)["rows"]["utk_asis"] == 2
    other = tmp_path / "not-a-suite"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(MaskclsError, match="not an evaluation suite"):
        ensure_suite(other, SuiteOptions(shared))
    with pytest.raises(MaskclsError, match="not found"):
        ensure_suite(tmp_path / "s2", SuiteOptions(tmp_path / "nowhere"))


class _AlwaysNone:
    """Predicts no mask, male, under 30 for every photo; no age head when ``age`` is False."""

    def __init__(self, name="always-none", age=True):
        self.name, self.age = name, age

    def predict(self, images):
        n = len(images)
        out = {"mask": np.tile([0.1, 0.1, 0.8], (n, 1)), "gender": np.tile([0.9, 0.1], (n, 1))}
        if self.age:
            out["age"] = np.tile([0.7, 0.2, 0.1], (n, 1))
        return out


def test_scores_of_a_fake_predictor(suite):
    results = score_suite(suite, [_AlwaysNone(), _AlwaysNone("no-age", age=False)])
    figs = results["predictors"]["always-none"]
    assert figs["utk_asis"]["all"]["mask_f1"] == 1.0 and figs["utk_asis"]["all"]["mask_accuracy"] == 1.0
    truth = np.array([int(e["mask"]) for e in read_rows(suite, "crowd_m0")])
    expected = f1_score(truth, np.full_like(truth, 2), labels=sorted(set(truth)), average="macro", zero_division=0)
    assert figs["crowd_m0"]["all"]["mask_f1"] == pytest.approx(expected)
    assert figs["crowd_m0"][">=32"]["n"] == 6 and figs["crowd_m0"]["<32"]["n"] == 3
    assert figs["utk_masked"]["all"]["mask_f1"] == 0.0
    genders = np.array([e["gender"] == "female" for e in read_rows(suite, "utk_asis")], dtype=int)
    assert figs["utk_asis"]["all"]["gender_f1"] == pytest.approx(
        f1_score(genders, np.zeros_like(genders), labels=sorted(set(genders)), average="macro", zero_division=0))
    assert "age_f1" not in results["predictors"]["no-age"]["utk_asis"]["all"]
    text = markdown(results)
    assert "real crowd crops" in text and "held-out realmask photos" in text and "—" in text
    assert {t[0] for t in tables(results)} == {"real crowd crops (held-out facemask photos)", "held-out UTKFace people",
                                                "held-out realmask photos",
                                                "held-out UTKFace people: age-band calls by true age"}
    with pytest.raises(MaskclsError, match="share a name"):
        score_suite(suite, [_AlwaysNone(), _AlwaysNone()])


def test_figures_need_the_right_shapes(suite):
    class Bad:
        name = "bad"

        def predict(self, images):
            return {"mask": np.zeros((len(images), 2))}

    with pytest.raises(MaskclsError, match=r"\[N, 3\]"):
        score_suite(suite, [Bad()], rows=["utk_asis"])
    out = figures({"mask": np.array([0, 2]), "gender": np.array([-1, -1]), "age_band": np.array([-1, 1])},
                  {"mask": np.eye(3)[[0, 2]], "gender": np.eye(2)[[0, 1]], "age": np.eye(3)[[1, 1]]})
    assert out["mask_f1"] == 1.0 and "gender_f1" not in out and out["age_f1"] == 1.0 and out["age_n"] == 1


def test_age_calls_by_true_age_and_the_errors_near_a_band_bound():
    years = np.array([20, 28, 31, 31, 45, 58, 62, 70, -1])
    labels = {"mask": np.full(9, 2), "gender": np.full(9, -1), "age_band": np.digitize(np.maximum(years, 0), [30, 60]),
              "age_years": years}
    labels["age_band"][-1] = -1
    # wrong: 31 (called < 30), 45 (called >= 60), 62 (called 30-59); the unknown age is not counted
    called = np.array([0, 0, 0, 1, 2, 1, 1, 2, 0])
    out = figures(labels, {"mask": np.eye(3)[np.full(9, 2)], "age": np.eye(3)[called]})
    by = out["age_by_years"]
    assert by["<25"] == {"n": 1, "right": 1.0} and by["30-34"] == {"n": 2, "right": 0.5}
    assert by["35-54"] == {"n": 1, "right": 0.0} and by["60-64"] == {"n": 1, "right": 0.0} and ">=65" in by
    assert out["age_errors_near_boundary"] == pytest.approx(2 / 3)  # 31 and 62 are within 5 years, 45 is not
    assert row_labels([{"mask": "2", "gender": "", "age": "34"}, {"mask": "0", "gender": "", "age": "18-55"}])[
        "age_years"].tolist() == [34, -1]


def test_bench_ood_scores_a_tiny_run_and_a_predictor(suite, shared, tmp_path, monkeypatch, capsys):
    from maskcls.cli import main
    from maskcls.ood.predictors import RunPredictor, TaskPredictor

    run = train_tiny_run(tmp_path)
    root = tmp_path / "synthetic"
    predictor = RunPredictor(run)
    assert isinstance(predictor, TaskPredictor)
    out = predictor.predict([np.zeros((40, 30, 3), np.uint8), np.full((90, 120, 3), 200, np.uint8)])
    for task, classes in (("mask", 3), ("gender", 2), ("age", 3)):
        assert out[task].shape == (2, classes) and np.allclose(out[task].sum(1), 1, atol=1e-5)
    photos = sorted((root / "train" / "images").glob("*/*.jpg"))[:3]
    by_file = predictor.predict_files(photos)
    from maskcls.inference.batch import predict_paths
    from maskcls.inference.predictor import Predictor
    from maskcls.ood.predictors import task_marginals

    expected = task_marginals(predict_paths(Predictor.from_run(run), photos)[0])
    assert all(np.allclose(by_file[t], expected[t], atol=1e-5) for t in ("mask", "gender", "age"))
    face = RunPredictor(run, {"crop": "face", "face_margin": 0})
    assert face.name == f"{run.name} (crop=face, margin 0)" and face.spec.crop == "face"
    assert face.spec.face_fallback == 0.3  # the run's own (the config's default)
    blind = RunPredictor(run, {"crop": "face", "face_margin": 0, "face_fallback": None})
    assert blind.spec.face_fallback is None and blind.name == f"{run.name} (crop=face, margin 0, no fallback)"
    cascade = RunPredictor(run, {"crop": "face", "face_detector": "retinaface+mtcnn"})
    assert cascade.spec.face_detector == "retinaface+mtcnn" and cascade.name.endswith(", retinaface+mtcnn)")
    with pytest.raises(MaskclsError, match="unknown face detector 'yolo'"):
        RunPredictor(run, {"face_detector": "yolo"})
    from maskcls.inference.tta import Tta

    flipped = RunPredictor(run, tta=Tta(flip=True))
    assert flipped.name == f"{run.name} [tta flip]"
    entries, _ = predictor.entries(photos)
    mirror = predictor.probs(np.ascontiguousarray(entries[:, :, ::-1]))
    assert np.allclose(flipped.probs(entries), (predictor.probs(entries) + mirror) / 2, atol=1e-5)

    class LeftHalf:  # class 0 when the left half is the brighter, class 1 otherwise: a mirror swaps them
        def probs(self, batch):
            half = batch.shape[2] // 2
            left = batch[:, :, :half].mean(axis=(1, 2, 3)) > batch[:, :, half:].mean(axis=(1, 2, 3))
            out = np.zeros((len(batch), 18), np.float32)
            out[np.arange(len(batch)), np.where(left, 0, 1)] = 1.0
            return out

    flipped.engines = [LeftHalf()]
    lopsided = np.zeros((1, *entries.shape[1:]), np.uint8)
    lopsided[:, :, :4] = 255
    assert np.allclose(flipped.probs(lopsided)[0, :2], [0.5, 0.5])  # the photo and its mirror, averaged
    monkeypatch.setitem(sys.modules, "fake_peer", types.SimpleNamespace(Peer=_AlwaysNone))
    monkeypatch.setenv("MASKCLS_PROGRESS", "0")
    scores = tmp_path / "scores.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", str(run), "--suite", str(suite), "--shared", str(shared), "--people", "0", "--seed", "1",
              "--crop", "face", "--face-margin", "0", "--predictor", "fake_peer:Peer", "--json", str(scores)])
    assert exit_info.value.code in (0, None)
    printed = capsys.readouterr().out
    assert "held-out UTKFace people" in printed and "held-out realmask photos" in printed
    results = json.loads(scores.read_text())
    assert set(results["predictors"]) == {f"{run.name} (crop=face, margin 0)", "always-none"}
    assert results["predictors"][f"{run.name} (crop=face, margin 0)"]["utk_asis"]["all"]["no_face"] == 0
    assert scores.with_suffix(".md").read_text().startswith("# Out-of-distribution suite")
    every = list(csv.DictReader((tmp_path / "scores.predictions.csv").read_text().splitlines()))
    assert {line["predictor"] for line in every} == set(results["predictors"])
    assert (tmp_path / "scores.errors" / "index.html").is_file()
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", "--suite", str(suite)])
    assert exit_info.value.code == 1 and "name at least one run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", str(run), "--suite", str(suite), "--face-fallback", "1.5"])
    assert exit_info.value.code == 1 and "--face-fallback must be off or a score" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", str(run), "--suite", str(suite), "--tta", "spin"])
    assert exit_info.value.code == 1 and "unknown view 'spin'" in capsys.readouterr().err


def test_benchmark_script_writes_its_own_section(suite, shared, tmp_path, monkeypatch):
    import importlib.util

    benchmarks = Path(__file__).resolve().parents[2] / "benchmarks"
    monkeypatch.syspath_prepend(str(benchmarks))
    spec = importlib.util.spec_from_file_location("ood_bench", benchmarks / "ood.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "fake_peer", types.SimpleNamespace(Peer=_AlwaysNone))
    out = tmp_path / "RESULTS.md"
    out.write_text("# Benchmarks\n\n<!-- section:main -->\n## Main\n<!-- /section:main -->\n")
    assert module.main(["--suite", str(suite), "--shared", str(shared), "--people", "0", "--seed", "1",
                        "--peer", "fake_peer:Peer", "--out", str(out)]) == 0
    text = out.read_text()
    assert "## Main" in text and "<!-- section:ood -->" in text and "### held-out UTKFace people" in text
    figures = json.loads(out.with_suffix(".json").read_text())["ood"]
    assert figures["headline"]["always-none"]["utk_asis_gender_f1"] is not None
    assert module.main(["--bench-work", str(tmp_path / "none"), "--suite", str(suite)]) == 1
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for path, name in ((first, "one"), (second, "two")):
        results = score_suite(suite, [_AlwaysNone(name)], rows=["utk_asis"])
        path.write_text(json.dumps(results))
    rebuilt = json.loads(second.read_text())
    rebuilt["manifest"]["built"] = "a later build of the same options"
    second.write_text(json.dumps(rebuilt))
    assert module.main(["--from-json", str(first), str(second), "--out", str(out)]) == 0
    assert set(json.loads(out.with_suffix(".json").read_text())["ood"]["predictors"]) == {"one", "two"}
    rebuilt["manifest"]["options"]["seed"] = 2
    second.write_text(json.dumps(rebuilt))
    with pytest.raises(SystemExit, match="scored on another suite"):
        module.main(["--from-json", str(first), str(second), "--out", str(out)])


class _ConstantPeer:
    """A predictor class as ``--predictor module:Class`` names it (it must be instantiated, not used as is)."""

    name = "constant"

    def predict(self, images):
        return {"gender": np.full((len(images), 2), 0.5)}


def test_load_predictor_instantiates_a_class_and_takes_an_object_as_it_is() -> None:
    from maskcls.ood.predictors import load_predictor

    made = load_predictor(f"{__name__}:_ConstantPeer")
    assert isinstance(made, _ConstantPeer) and made.predict([0, 0])["gender"].shape == (2, 2)
    globals()["_PEER_OBJECT"] = _ConstantPeer()
    assert load_predictor(f"{__name__}:_PEER_OBJECT") is globals()["_PEER_OBJECT"]


def test_ensemble_predictor_takes_each_task_from_its_run(suite, shared, tmp_path, monkeypatch, capsys):
    from maskcls.cli import main
    from maskcls.inference.ensemble import Ensemble
    from maskcls.ood.predictors import EnsemblePredictor, RunPredictor, TaskPredictor

    first = train_tiny_run(tmp_path / "a")
    second = train_tiny_run(tmp_path / "b", overrides=["model.img_size=40", "seed=7", "name=other"])
    photos = [np.zeros((40, 30, 3), np.uint8), np.full((90, 120, 3), 200, np.uint8),
              np.random.default_rng(0).integers(0, 255, (64, 48, 3), dtype=np.uint8)]
    alone = [RunPredictor(run).predict(photos) for run in (first, second)]
    ensemble = EnsemblePredictor([first, second], Ensemble.parse(2, tasks="mask=0,gender=1,age=0:0.5+1:0.5"))
    assert isinstance(ensemble, TaskPredictor)
    assert ensemble.name.startswith(f"{first.name} + {second.name} (soft vote; mask from 0:1")
    out = ensemble.predict(photos)
    assert np.allclose(out["mask"], alone[0]["mask"], atol=1e-5)
    assert np.allclose(out["gender"], alone[1]["gender"], atol=1e-5)
    assert np.allclose(out["age"], (alone[0]["age"] + alone[1]["age"]) / 2, atol=1e-5)
    assert not np.allclose(alone[0]["gender"], alone[1]["gender"], atol=1e-3)  # the test can tell them apart
    monkeypatch.setenv("MASKCLS_PROGRESS", "0")
    scores = tmp_path / "scores.json"
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", f"{first},{second}", "--tasks", "mask=0,gender=1,age=1", "--suite", str(suite),
              "--shared", str(shared), "--people", "0", "--seed", "1", "--json", str(scores)])
    assert exit_info.value.code in (0, None)
    assert list(json.loads(scores.read_text())["predictors"]) == [f"{first.name} + {second.name} (soft vote; "
                                                                   "mask from 0:1; gender from 1:1; age from 1:1)"]
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "ood", str(first), "--tasks", "mask=0", "--suite", str(suite)])
    assert exit_info.value.code == 1 and "RUN,RUN" in capsys.readouterr().err


class _Bright:
    """Calls a photo female when it is bright, so its figures differ between framings of the same people."""

    name = "bright"

    def predict(self, images):
        bright = np.array([float(np.asarray(image).mean()) > 110 for image in images], dtype=float)
        return {"mask": np.tile([0.1, 0.1, 0.8], (len(images), 1)),
                "gender": np.stack([1 - bright, bright], axis=1), "age": np.stack([bright, 1 - bright, 0 * bright], 1)}


def test_paired_rows_give_the_same_peoples_figures_as_they_are(suite):
    results = score_suite(suite, [_Bright()], rows=["utk_asis", "utk_reframed", "utk_masked"])
    figs = results["predictors"]["bright"]
    asis = read_rows(suite, "utk_asis")
    outputs = _Bright().predict([np.asarray(load_rgb(suite / e["file"])) for e in asis])
    labels = row_labels(asis)
    by_name = {Path(e["file"]).name: i for i, e in enumerate(asis)}
    for row in ("utk_reframed", "utk_masked"):
        entries = read_rows(suite, row)
        assert figs[row]["all"]["as_they_are"]["gender_f1"] == figs["utk_asis"]["all"]["gender_f1"]
        for group in {e["group"] for e in entries}:
            index = np.array([by_name[Path(e["file"]).name] for e in entries if e["group"] == group])
            expected = figures({k: v[index] for k, v in labels.items()}, {k: v[index] for k, v in outputs.items()})
            same = figs[row][group]["as_they_are"]
            assert same == {"gender_f1": expected["gender_f1"], "age_f1": expected["age_f1"]}
    assert "as_they_are" not in figs["utk_asis"]["all"]
    cells = [r for t in tables(results) if t[0] == "held-out UTKFace people" for r in t[2]]
    assert any(" / " in r[7] for r in cells) and all(r[7] == "—" for r in cells if "as they are" in r[1])
    alone = score_suite(suite, [_Bright()], rows=["utk_reframed"])["predictors"]["bright"]
    assert "as_they_are" not in alone["utk_reframed"]["all"]  # nothing to pair with


def test_largest_losses_are_the_wrong_photos_by_loss():
    from maskcls.ood.errors import largest_losses, losses, wrong
    from maskcls.ood.score import RowPredictions

    entries = [{"file": f"x/{i}.jpg", "group": "g"} for i in range(5)]
    labels = {"mask": np.array([0, 0, 2, 1, 0]), "gender": np.array([-1, 1, 0, -1, 1]),
              "age_band": np.full(5, -1)}
    mask = np.array([[0.9, 0.05, 0.05], [0.2, 0.7, 0.1], [0.6, 0.1, 0.3], [0.1, 0.3, 0.6], [0.4, 0.5, 0.1]])
    row = RowPredictions(entries, labels, {"mask": mask, "gender": np.array([[0.5, 0.5]] * 5)})
    assert wrong(row, "mask").tolist() == [False, True, True, True, True]
    assert np.allclose(losses(row, "mask"), -np.log([0.9, 0.2, 0.3, 0.3, 0.4]))
    assert largest_losses(row, "mask", 10) == [1, 2, 3, 4]  # p(true) 0.2, then the ties 0.3 in order, then 0.4
    assert largest_losses(row, "mask", 2) == [1, 2]
    assert np.isnan(losses(row, "gender")[[0, 3]]).all()
    assert largest_losses(row, "gender", 5) == [1, 4]  # a tie is "male"; photos without a label are left out
    assert largest_losses(row, "age", 5) == [] and not wrong(row, "age").any()  # not predicted


def test_every_photos_prediction_and_the_error_page(suite, tmp_path):
    from maskcls.ood.errors import error_paths, error_report, predictions_csv

    collected: dict = {}
    results = score_suite(suite, [_Bright(), _AlwaysNone("no-age", age=False)], collect=collected)
    assert set(collected) == {"bright", "no-age"} and set(collected["bright"]) == set(results["predictors"]["bright"])
    lines = list(csv.DictReader(predictions_csv(collected).splitlines()))
    counts = {row: len(read_rows(suite, row)) for row in collected["bright"]}
    assert len(lines) == 2 * sum(counts.values())
    asis = read_rows(suite, "utk_asis")
    outputs = _Bright().predict([np.asarray(load_rgb(suite / e["file"])) for e in asis])
    mine = [line for line in lines if line["predictor"] == "bright" and line["row"] == "utk_asis"]
    assert [line["file"] for line in mine] == [e["file"] for e in asis]
    for line, p, entry in zip(mine, outputs["gender"], asis):
        assert float(line["p_gender_female"]) == pytest.approx(p[1], abs=1e-4)
        assert line["gender_true"] == entry["gender"] and line["gender_pred"] == ("female" if p[1] > 0.5 else "male")
    crowd = [line for line in lines if line["predictor"] == "no-age" and line["row"] == "crowd_m0"]
    assert all(line["mask_pred"] == "none" and line["age_pred"] == "" for line in crowd)
    assert error_paths(tmp_path / "s.json") == (tmp_path / "s.predictions.csv", tmp_path / "s.errors")
    page = error_report(tmp_path / "s.errors", suite, collected, top=3)
    text = page.read_text()
    wrong_crowd = sum(line["mask_true"] != "none" for line in crowd)
    assert f"crowd_m0: mask, {wrong_crowd} of {len(crowd)} photos wrong" in text
    grids = sorted(p.name for p in page.parent.glob("*.png"))
    assert "1-crowd_m0-mask.png" in grids and not any(g.startswith("1-") and g.endswith("-age.png") for g in grids)
    assert text.count("<img") == len(grids)
    error_report(tmp_path / "s.errors", suite, {"no-age": collected["no-age"]}, top=3)  # written again, fewer
    assert not any(p.name.startswith("1-") for p in page.parent.glob("*.png"))  # no grid of the first report left
