"""Training from several sources: crops and face folders with partial labels, the development hold-out left out."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from helpers import write_photo

from maskcls.config import ConfigError, load_config
from maskcls.data.devsplit import is_dev, realmask_dev_files
from maskcls.data.records import DataError
from maskcls.data.sources import load_sources
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.run import train
from maskcls.vision.sampling import draw_weights


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def crowd_crops(root: Path, n: int = 40) -> Path:
    """Crops as ``import-boxes`` cuts them from the shared crowd photos (``maksssksksss<k>.png``)."""
    rows = []
    for k in range(n):
        name = f"images/maksssksksss{k}_0.jpg"
        write_photo(root / name, color=(10 * (k % 20), 90, 40), size=(24, 24))
        rows.append([name, k % 3, ["mask", "incorrect", "normal"][k % 3], f"maksssksksss{k}.png", 0, 0, 0, 24, 24])
    _write_csv(root / "labels.csv", ["file", "mask", "mask_name", "source", "box", "x0", "y0", "x1", "y1"], rows)
    return root


def realmask_like(root: Path, n: int = 40) -> Path:
    """A folder in the shared realmask format (``file,mask,gender,age,source,repo``)."""
    rows = []
    for k in range(n):
        name = f"images/web_{k:03d}.jpg"
        write_photo(root / name, color=(5 * k % 255, 30, 200), size=(24, 24))
        gender, age = (("female", 41) if k % 4 == 0 else ("", ""))
        rows.append([name, ["mask", "normal", "incorrect"][k % 3], gender, age, "stock_photos", "someone/repo"])
    _write_csv(root / "labels.csv", ["file", "mask", "gender", "age", "source", "repo"], rows)
    return root


def utk_faces(root: Path, n: int = 40) -> Path:
    """UTKFace-named chips (``<age>_<gender>_<race>_<date>.jpg.chip.jpg``)."""
    for k in range(n):
        write_photo(root / f"{20 + k}_{k % 2}_{k % 5}_2017011{k:07d}.jpg.chip.jpg", color=(200, 3 * k, 90),
                    size=(24, 24))
    write_photo(root / "55_0_0_20170116232725357jpg.chip.jpg", size=(24, 24))  # as UTKFace misspells some
    return root


@pytest.fixture(scope="module")
def comp(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=3, seed=1, size=(48, 64))
    return root


def sources_config(comp: Path, tmp_path: Path, *overrides: str):
    crops, real = crowd_crops(tmp_path / "crops"), realmask_like(tmp_path / "real")
    faces = utk_faces(tmp_path / "faces")
    tree = {
        "data": {"root": str(comp), "sources": [
            {"kind": "crops", "root": str(crops), "weight": 0.5},
            {"kind": "crops", "root": str(real), "name": "realmask", "limit": 20},
            {"kind": "faces", "root": str(faces)},
        ]},
        "model": {"backbone": "test_efficientnet", "pretrained": False, "img_size": 32},
        "train": {"batch_size": 32, "epochs": 1, "loggers": [], "cache_dir": str(tmp_path / "cache")},
        "split": {"val_fraction": 0.25},
    }
    path = tmp_path / "cfg.yaml"
    import yaml

    path.write_text(yaml.safe_dump(tree))
    return load_config(path, list(overrides))


def test_every_source_leaves_the_development_hold_out_out(comp, tmp_path):
    cfg = sources_config(comp, tmp_path)
    parts = load_sources(cfg.data)
    assert [p.config.kind for p in parts] == ["competition", "crops", "crops", "faces"]
    assert [p.name for p in parts[1:]] == ["crops", "realmask", "faces"]
    crops, real, faces = parts[1:]
    assert crops.holdout == "facemask" and real.holdout == "realmask" and faces.holdout == "utkface"
    dev_photos = [k for k in range(40) if is_dev("facemask", f"maksssksksss{k}.png")]
    assert dev_photos and crops.dev_left_out == len(dev_photos)
    assert all(not is_dev("facemask", Path(r.path).name.rsplit("_", 1)[0] + ".png") for r in crops.records)
    real_dev = realmask_dev_files(tmp_path / "real")
    assert real_dev and not {str(Path(r.path).relative_to(tmp_path / "real")) for r in real.records} & real_dev
    assert len(real.records) == 20  # limit
    assert faces.dev_left_out and all(not is_dev("utkface", Path(r.path).name) for r in faces.records)
    # Partial labels: crops have the mask (realmask gender/age where given), faces gender and age only.
    assert all(r.mask is not None and r.gender is None and r.age is None for r in crops.records)
    assert any(r.gender is not None for r in real.records) and any(r.gender is None for r in real.records)
    assert all(r.mask is None and r.gender is not None and r.age is not None for r in faces.records)


def test_faces_source_excludes_the_people_of_a_public_root(tmp_path):
    faces = utk_faces(tmp_path / "faces")
    names = sorted(p.name for p in faces.iterdir() if not is_dev("utkface", p.name))
    public = tmp_path / "public"
    (public / "train").mkdir(parents=True)
    _write_csv(public / "train" / "sources.csv", ["id", "source"], [["utk000001", str(faces / names[0])]])
    _write_csv(public / "eval_sources.csv", ["source"], [[str(faces / names[1])]])
    from maskcls.config import SourceConfig
    from maskcls.data.sources import load_source

    part = load_source(SourceConfig(kind="faces", root=faces, exclude=[public]))
    kept = {Path(r.path).name for r in part.records}
    assert part.excluded == 2 and names[0] not in kept and names[1] not in kept and len(kept) == len(names) - 2


def test_run_trains_on_every_source_and_validates_on_competition_people(comp, tmp_path):
    folder = train(sources_config(comp, tmp_path), tmp_path / "runs", log=lambda _m: None)
    summary = json.loads((folder / "sources.json").read_text())["sources"]
    by_name = {s["name"]: s for s in summary}
    assert set(by_name) == {comp.name, "crops", "realmask", "faces"}
    assert by_name[comp.name]["val_photos"] > 0
    assert all(by_name[n]["val_photos"] == 0 and by_name[n]["train_photos"] > 0 for n in ("crops", "realmask", "faces"))
    assert by_name["faces"]["train_labels"]["mask"] == {"missing": by_name["faces"]["train_photos"]}
    assert by_name["crops"]["train_labels"]["gender"] == {"missing": by_name["crops"]["train_photos"]}
    assert by_name["crops"]["dev_left_out"] > 0 and by_name["crops"]["weight"] == 0.5
    assert "Training sources" in (folder / "report.html").read_text()
    predictions = (folder / "val_predictions.csv").read_text()
    assert "crops" not in predictions and "faces" not in predictions


def test_source_weights_set_each_sources_share_of_the_draws():
    sources = np.array([0] * 90 + [1] * 10)
    labels = np.array([0] * 60 + [1] * 30 + [-1] * 10)
    assert draw_weights(labels, sources, [None, None], False) is None
    weights = draw_weights(labels, sources, [None, 1.0], False)  # unset counts 1: half each
    assert weights[sources == 1].sum() == pytest.approx(0.5) and weights.sum() == pytest.approx(1.0)
    weights = draw_weights(labels, sources, [3.0, 1.0], True)
    assert weights[sources == 0].sum() == pytest.approx(0.75)
    assert weights[labels == 0].sum() == pytest.approx(weights[labels == 1].sum())  # balanced within source 0
    weights = draw_weights(labels, sources, [None, None], True)
    assert weights[sources == 1].sum() == pytest.approx(0.1)


def test_sources_need_a_competition_source_and_distinct_names(tmp_path):
    crops = crowd_crops(tmp_path / "crops", 4)
    cfg = load_config(None, [f"data.sources=[{{kind: crops, root: {crops}}}]"])
    with pytest.raises(DataError, match="competition source"):
        load_sources(cfg.data)
    with pytest.raises(ConfigError, match="share a name"):
        load_config(None, [f"data.sources=[{{kind: crops, root: {crops}}}, {{kind: crops, root: {crops}}}]"])
    with pytest.raises(ConfigError, match="kind"):
        load_config(None, [f"data.sources=[{{kind: photos, root: {crops}}}]"])


def test_faces_source_leaves_out_the_runs_own_public_people(tmp_path):
    faces = utk_faces(tmp_path / "faces")
    names = sorted(p.name for p in faces.iterdir() if not is_dev("utkface", p.name))
    public = tmp_path / "public"
    make_synthetic(public, people=4, eval_people=1, seed=2, size=(32, 40))
    _write_csv(public / "train" / "sources.csv", ["id", "source"], [["x", str(faces / names[0])]])
    _write_csv(public / "eval_sources.csv", ["source"], [[str(faces / names[1])]])
    cfg = load_config(None, [f"data.root={public}", f"data.sources=[{{kind: faces, root: {faces}}}]"])
    faces_part = load_sources(cfg.data)[1]
    assert faces_part.excluded == 2 and {names[0], names[1]}.isdisjoint(Path(r.path).name for r in faces_part.records)


def test_faces_source_of_only_the_public_sets_people_adds_nothing_and_says_so(tmp_path):
    faces = utk_faces(tmp_path / "faces")
    names = sorted(p.name for p in faces.iterdir() if not is_dev("utkface", p.name))
    public = tmp_path / "public"
    make_synthetic(public, people=10, eval_people=1, seed=2, size=(32, 40))
    _write_csv(public / "train" / "sources.csv", ["id", "source"], [["x", str(faces / n)] for n in names[1:]])
    _write_csv(public / "eval_sources.csv", ["source"], [[str(faces / names[0])]])
    cfg = load_config(None, [f"data.root={public}", f"data.sources=[{{kind: faces, root: {faces}}}]"])
    faces_part = load_sources(cfg.data)[1]
    assert faces_part.records == [] and faces_part.excluded == len(names)
    logged: list[str] = []
    from maskcls.engine.run import prepare_data

    data = prepare_data(cfg, log=logged.append)
    assert any("adds nothing" in line and str(public) in line for line in logged)
    assert len(data.sources[1].records) == 0
    # A folder that the user's own exclude empties is still an error.
    cfg = load_config(None, [f"data.root={public}",
                             f"data.sources=[{{kind: faces, root: {faces}, exclude: [{public}]}}]"])
    with pytest.raises(DataError, match="no photo left"):
        load_sources(cfg.data)


def test_crop_ages_as_sources_write_them():
    from maskcls.data.sources import parse_age
    from maskcls.labels import DEFAULT_AGE_BANDS as B

    assert parse_age("41", B) == 41 and parse_age("", B) is None
    assert parse_age("0-18 (source bin)", B) == 8 and parse_age("child", B) == 10
    assert parse_age("18-55 (source bin)", B) is None and parse_age("55-100 (source bin)", B) is None
    assert parse_age("student (est.)", B) is None and parse_age("18-55;55-100 (source bin)", B) is None


def test_a_new_competition_root_rebuilds_only_its_own_cached_photos(comp, tmp_path):
    other = tmp_path / "other"
    make_synthetic(other, people=8, eval_people=0, seed=5, size=(48, 64))
    lines: dict[str, list[str]] = {"first": [], "second": []}
    train(sources_config(comp, tmp_path), tmp_path / "runs", log=lines["first"].append)
    again = load_config(tmp_path / "cfg.yaml", [f"data.root={other}", "name=other"])  # the same source folders
    train(again, tmp_path / "runs", log=lines["second"].append)
    first, second = ([line for line in lines[key] if line.startswith("image cache")] for key in ("first", "second"))
    assert len(first) == len(second) == 1
    assert re.search(rf"built in [\d.]+s \({comp.name} \d+ built, crops \d+ built, realmask 20 built, faces \d+ built\)",
                     first[0]), first
    assert re.search(r"built in [\d.]+s \(other \d+ built, crops \d+ reused, realmask 20 reused, faces \d+ reused\)",
                     second[0]), second
