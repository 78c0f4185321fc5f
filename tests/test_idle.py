"""The benchmarks' idle and stolen-time readings come from /proc/stat's first line."""

import importlib.util
from pathlib import Path

SPEC = importlib.util.spec_from_file_location("idle", Path(__file__).resolve().parents[1] / "benchmarks" / "idle.py")
idle = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(idle)


def _stat(path: Path, user: int, idle_j: int, steal: int) -> None:
    # cpu user nice system idle iowait irq softirq steal guest guest_nice
    path.write_text(f"cpu  {user} 0 0 {idle_j} 0 0 0 {steal} 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\n")


def test_busy_and_stolen_shares_read_the_deltas(tmp_path: Path, monkeypatch) -> None:
    stat = tmp_path / "stat"
    monkeypatch.setattr(idle, "STAT", stat)
    _stat(stat, 100, 900, 10)
    before = idle.steal_jiffies()
    monkeypatch.setattr(idle.time, "sleep", lambda _seconds: _stat(stat, 130, 960, 20))
    share = idle.busy_share(1.0)  # +30 user, +60 idle, +10 steal: busy 40 of 100
    assert abs(share - 0.4) < 1e-9
    assert abs(idle.stolen_share(before) - 0.1) < 1e-9
    assert idle.busy_words(0.02).endswith("(idle)") and "shared" in idle.busy_words(0.5)
    assert idle.stolen_words(0.1) == "10.0% of the CPU time stolen by the hypervisor"


def test_missing_proc_stat_reads_as_none(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(idle, "STAT", tmp_path / "absent")
    monkeypatch.setattr(idle.time, "sleep", lambda _s: None)
    assert idle.busy_share() is None and idle.wait_idle() is None and idle.steal_jiffies() is None
    assert idle.stolen_share(None) is None and "not read" in idle.busy_words(None)
