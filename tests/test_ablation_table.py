"""The ablation benchmark's bookkeeping: seed spreads and deltas, the table's rows, and the shared input memo."""

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
SPEC = importlib.util.spec_from_file_location("ablation", BENCH / "ablation.py")
ablation = importlib.util.module_from_spec(SPEC)
sys.modules["ablation"] = ablation  # dataclasses look their module up while the file runs
SPEC.loader.exec_module(ablation)


def test_every_trick_of_the_issue_has_a_row() -> None:
    names = {row.name for row in ablation.ROWS}
    wanted = {"base", "age58", "weighted_sampler", "class_weights", "focal", "focal_f1", "no_smoothing", "arcface",
              "cutmix_vertical", "mixup", "autoaugment", "trivialaugment", "randaugment", "undersample",
              "oversample_2x", "soft_sharing", "self_training", "ema", "tta_flip", "kfold5", "task_ensemble"}
    assert wanted <= names
    assert len(names) == len(ablation.ROWS)


def test_summary_means_spreads_and_deltas() -> None:
    results = {"base": [{"macro_f1": 0.5, "train_minutes": 1.0}, {"macro_f1": 0.6, "train_minutes": 3.0}],
               "focal": [{"macro_f1": 0.7}, {"macro_f1": 0.8}]}
    summary = ablation.summarise(results)
    assert summary["base"]["macro_f1"] == {"mean": 0.55, "spread": 0.05, "values": [0.5, 0.6]}
    assert summary["focal"]["macro_f1"]["delta"] == 0.2
    assert "delta" not in summary["base"]["macro_f1"]
    assert "train_minutes" not in summary["focal"]


def test_oversampling_names_every_old_class() -> None:
    override = ablation.oversample(5)
    assert override == "train.oversample={2: 5, 5: 5, 8: 5, 11: 5, 14: 5, 17: 5}"


@dataclass(frozen=True)
class _Spec:
    shape: tuple = (2, 2, 3)


class _CountingPredictor:
    spec = _Spec()

    def __init__(self) -> None:
        self.asked: list[str] = []

    def entries(self, paths):
        self.asked += [p.name for p in paths]
        values = np.stack([np.full((2, 2, 3), int(p.stem), np.uint8) for p in paths])
        return values, np.array([int(p.stem) % 2 == 1 for p in paths])


def test_inputs_are_computed_once_and_returned_in_the_asked_order(tmp_path: Path) -> None:
    predictor = _CountingPredictor()
    memo = ablation.Inputs(tmp_path)
    first, flags = memo.get(predictor, [Path("3.jpg"), Path("4.jpg")])
    assert [int(v[0, 0, 0]) for v in first] == [3, 4] and flags.tolist() == [True, False]
    again, _ = ablation.Inputs(tmp_path).get(predictor, [Path("4.jpg"), Path("5.jpg"), Path("3.jpg")])
    assert [int(v[0, 0, 0]) for v in again] == [4, 5, 3]
    assert predictor.asked == ["3.jpg", "4.jpg", "5.jpg"]  # the saved ones came from disk
