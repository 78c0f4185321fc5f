"""The time-to-equal-F1 bookkeeping of the benchmarks: the engine's clock from ``metrics.csv`` and the ratio."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench import _engine_curve, equal_f1  # noqa: E402

HEADER = "epoch,phase,macro_f1,seconds"


def _metrics(folder: Path, rows: list[str], header: str = HEADER) -> Path:
    folder.mkdir()
    (folder / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    return folder


def test_the_process_clock_is_the_time_where_every_row_has_it(tmp_path: Path) -> None:
    run = _metrics(tmp_path / "run", ["1,full,0.5854,150,170.1", "2,full,0.62,146,325.6"], HEADER + ",process_s")
    curve = _engine_curve(run, wall_seconds=600.0)
    assert [c["elapsed_seconds"] for c in curve] == [170.1, 325.6]
    assert {c["clock"] for c in curve} == {"process"}
    result = equal_f1([{"val_f1": 0.5816, "elapsed_train_seconds": 344.0}], curve)
    assert result["maskcls_epoch"] == "1 (full)" and result["speedup"] == pytest.approx(344.0 / 170.1)


@pytest.mark.parametrize("clock", [("", ""), ("170.1", ""), ("400.0", "90.0")])  # none, one row's, restarted
def test_without_a_whole_rising_clock_the_time_outside_epochs_is_counted_up_front(tmp_path: Path,
                                                                                  clock: tuple[str, str]) -> None:
    run = _metrics(tmp_path / "run", [f"1,full,0.50,150,{clock[0]}", f"2,full,0.60,146,{clock[1]}"],
                   HEADER + ",process_s")
    curve = _engine_curve(run, wall_seconds=600.0)
    assert [c["elapsed_seconds"] for c in curve] == [600.0 - 146, 600.0]
    assert {c["clock"] for c in curve} == {"upfront"}
    assert equal_f1([{"val_f1": 0.7, "elapsed_train_seconds": 10.0}], curve)["speedup"] is None
