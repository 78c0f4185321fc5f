"""The decision rule and the watch config: pending, pass/warn/stop, uncertain, firm decisions kept, bad keys."""

from __future__ import annotations

import numpy as np
import pytest

from maskcls.config import ConfigError
from maskcls.watch.config import DecideConfig, load_watch_config
from maskcls.watch.decide import Smoother, mask_probs


def frame(worn: float, incorrect: float, none: float) -> np.ndarray:
    return np.repeat(np.array([worn, incorrect, none]) / 6, 6).astype(np.float32)


def feed(smoother: Smoother, frames) -> list[str]:
    return [d for d in (smoother.add(f) for f in frames) if d is not None]


def test_mask_marginals_sum_the_six_classes_of_each_status():
    probs = np.arange(18, dtype=np.float64) / np.arange(18).sum()
    assert np.allclose(mask_probs(probs), [probs[0:6].sum(), probs[6:12].sum(), probs[12:18].sum()])


def test_a_decision_waits_for_enough_confident_frames():
    smoother = Smoother(DecideConfig(window=5, min_frames=3))
    assert feed(smoother, [frame(0.1, 0.8, 0.1)] * 2) == [] and smoother.decision == "pending"
    assert feed(smoother, [frame(0.1, 0.8, 0.1)]) == ["warn"]


def test_doubtful_frames_are_uncertain_and_a_firm_decision_stays_firm():
    smoother = Smoother(DecideConfig(window=4, min_frames=3, confident=0.6, uncertain_below=0.7))
    assert feed(smoother, [frame(0.5, 0.1, 0.4)] * 4) == ["uncertain"]  # a full window, nothing confident
    assert feed(smoother, [frame(0.9, 0.05, 0.05)] * 4) == ["pass"]
    # Half the window says none: confident frames, but the mean is under 0.7 -> doubt, not reported after a pass.
    assert feed(smoother, [frame(0.05, 0.05, 0.9)] * 2) == [] and smoother.decision == "pass"
    assert feed(smoother, [frame(0.05, 0.05, 0.9)] * 2) == ["stop"]


def test_watch_config_is_typed():
    cfg = load_watch_config(None, ["detect.every=2", "decide.uncertain_below=0.8"])
    assert cfg.detect.every == 2 and cfg.decide.uncertain_below == 0.8
    with pytest.raises(ConfigError, match="decide.thresh"):
        load_watch_config(None, ["decide.thresh=0.5"])
    with pytest.raises(ConfigError, match="cannot exceed window"):
        load_watch_config(None, ["decide.min_frames=9"])
    with pytest.raises(ConfigError, match="unknown face detector"):
        load_watch_config(None, ["detect.detector=yolo"])


def test_watch_config_file_errors_name_the_file(tmp_path):
    path = tmp_path / "gate.yaml"
    path.write_text("decide:\n  window: 0\n")
    with pytest.raises(ConfigError, match=r"gate.yaml: decide.window"):  # the file first, as every config error
        load_watch_config(path)
    with pytest.raises(ConfigError, match="missing.yaml: file not found"):
        load_watch_config(tmp_path / "missing.yaml")
