"""Temperature scaling: the fit recovers a known temperature, keeps the predicted classes, lowers the ECE; the
run folder stores it; every engine loaded from the run (torch, ONNX, export) applies it; analyze reports ECE."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from maskcls.errors import MaskclsError
from maskcls.inference.calibration import calibrate, calibrate_run, ece, read_calibration, scale


def overconfident(n: int = 3000, temperature: float = 2.5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(z), reported as softmax(z * temperature): over-confident by ``temperature``."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, 18))
    true = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(18, p=p) for p in true])
    reported = np.exp(logits * temperature)
    return (reported / reported.sum(axis=1, keepdims=True)).astype(np.float32), labels


def test_the_fit_recovers_the_temperature_and_lowers_the_ece():
    probs, labels = overconfident()
    fitted = calibrate(probs, labels, "synthetic")
    assert fitted.temperature == pytest.approx(2.5, rel=0.1)
    assert fitted.ece_after < fitted.ece_before / 3 and fitted.nll_after < fitted.nll_before
    after = scale(probs, fitted.temperature)
    assert np.array_equal(after.argmax(axis=1), probs.argmax(axis=1)) and np.allclose(after.sum(axis=1), 1, atol=1e-5)
    assert ece(after, labels) == pytest.approx(fitted.ece_after, abs=1e-4)


def write_val_predictions(folder, probs, labels) -> None:
    with open(folder / "val_predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "true", "pred", *[f"p{i}" for i in range(18)]])
        for i, (row, label) in enumerate(zip(probs, labels)):
            writer.writerow([f"img{i}.jpg", label, int(np.argmax(row)), *[f"{p:.6f}" for p in row]])


def test_a_run_stores_its_temperature_and_every_engine_applies_it(tmp_path):
    from serve_helpers import make_run

    from maskcls.inference.loading import load_engine
    from maskcls.runs import RunFolder
    from maskcls.inference.onnx_engine import OnnxEngine
    from maskcls.inference.predictor import Predictor

    run = make_run(tmp_path / "run")
    images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    raw = Predictor.from_run(run, "cpu").probs(images)
    assert np.allclose(load_engine(run, "torch", "cpu").probs(images), raw)  # no calibration.json: unchanged
    probs, labels = overconfident(600, 2.0)
    write_val_predictions(run, probs, labels)
    ((folder, fitted),) = calibrate_run([run])
    assert folder == run and read_calibration(run)["temperature"] == fitted.temperature
    expected = scale(raw, fitted.temperature)
    torch_engine = load_engine(run, "torch", "cpu")
    assert torch_engine.temperature == fitted.temperature and np.allclose(torch_engine.probs(images), expected, atol=1e-5)
    assert np.allclose(load_engine(run, "onnx").probs(images), expected, atol=1e-4)
    export = RunFolder(run).export_path
    assert json.loads(export.with_suffix(".json").read_text())["calibration"]["temperature"] == fitted.temperature
    assert np.allclose(load_engine(export, "onnx").probs(images), expected, atol=1e-4)
    assert np.allclose(OnnxEngine.from_file(export).probs(images), raw, atol=1e-4)  # the bare engine stays raw


def test_a_broken_calibration_file_is_one_line(tmp_path):
    (tmp_path / "calibration.json").write_text("{\"temperature\": -1}")
    with pytest.raises(MaskclsError, match="not positive"):
        read_calibration(tmp_path)
    (tmp_path / "calibration.json").write_text("{")
    with pytest.raises(MaskclsError, match="unreadable calibration"):
        read_calibration(tmp_path)


def test_analyze_reports_ece_before_and_after(tmp_path):
    from serve_helpers import make_run

    from maskcls.inference.analysis import analyze_run

    run = make_run(tmp_path / "run")
    write_val_predictions(run, *overconfident(400, 2.0))
    messages = []
    folder = analyze_run(run, images=0, gradcam=0, log=messages.append)
    html = (folder / "report.html").read_text()
    assert "Calibration" in html and "not stored" in html
    line = next(m for m in messages if m.startswith("analysis: ECE"))
    before, after = (float(w) for w in line.replace(",", "").split() if w.replace(".", "").isdigit())
    assert after < before
    calibrate_run([run])
    html = (analyze_run(run, images=0, gradcam=0, log=messages.append) / "report.html").read_text()
    assert "stored temperature" in html


def test_the_calibrate_command(tmp_path, capsys):
    from serve_helpers import make_run

    from maskcls.cli import main

    run = make_run(tmp_path / "run")
    write_val_predictions(run, *overconfident(300, 2.0))
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", str(run)])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0 and "calibration.json: T=" in out and "ECE" in out
    with pytest.raises(SystemExit) as exit_info:
        main(["calibrate", str(tmp_path / "nothing")])
    assert exit_info.value.code == 1 and capsys.readouterr().err.startswith("maskcls: error: ")
