"""Progress in logs: plain lines at every 10 % and every 30 s without a terminal, and a real run into a file."""

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import maskcls

from maskcls.progress import LineReporter, progress_mode, reporter, track


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_every_tenth_with_rate_fields_and_eta():
    clock, out = Clock(), io.StringIO()
    lines = LineReporter("epoch 1/2 train", 20, "img", stream=out, clock=clock, quiet_s=0)
    for _ in range(20):
        clock.now += 0.5
        lines.update(items=8, loss=1.25)
    lines.finish()
    text = out.getvalue().splitlines()
    assert len(text) == 10  # 2/20, 4/20 ... 20/20 and no extra closing line
    assert text[0] == "epoch 1/2 train: 2/20 (10%)  16.0 img/s  loss 1.2500  ETA 0:00:09"
    assert text[-1].startswith("epoch 1/2 train: 20/20 (100%)") and text[-1].endswith("done in 0:00:10")


def test_a_line_every_30_seconds_when_steps_are_slow_and_none_for_quick_work():
    clock, out = Clock(), io.StringIO()
    lines = LineReporter("caching images", 1000, stream=out, clock=clock, quiet_s=5)
    for _ in range(50):  # 12 s a step: 50 steps are 5 % of the work, so only the 30 s rule writes (every 3rd step)
        clock.now += 12
        lines.update()
    text = out.getvalue().splitlines()
    assert len(text) == 16 and all(re.match(r"caching images: \d+/1000 \(\d+%\)  0\.1 it/s  ETA ", t) for t in text)
    quick, out = LineReporter("decoding photos", 10, stream=io.StringIO(), clock=Clock(), quiet_s=5), None
    for _ in range(10):
        quick.update()
    quick.finish()
    assert quick.stream.getvalue() == ""  # finished inside the quiet time


def test_unknown_totals_and_the_modes(monkeypatch):
    clock, out = Clock(), io.StringIO()
    lines = LineReporter("reading", None, stream=out, clock=clock, quiet_s=0)
    clock.now = 31
    lines.update()
    lines.finish()
    assert out.getvalue().splitlines() == ["reading: 1  0.0 it/s", "reading: 1  0.0 it/s"]
    for flag, mode in (("0", "off"), ("lines", "lines"), ("1", "bar")):
        monkeypatch.setenv("MASKCLS_PROGRESS", flag)
        assert progress_mode() == mode
    monkeypatch.delenv("MASKCLS_PROGRESS")
    assert progress_mode() == "lines"  # pytest's stderr is not a terminal


def test_track_and_reporter_write_lines_without_a_terminal(monkeypatch, capsys):
    monkeypatch.setenv("MASKCLS_PROGRESS", "lines")
    monkeypatch.setenv("MASKCLS_PROGRESS_QUIET", "0")
    assert list(track(range(4), "counting")) == [0, 1, 2, 3]
    with reporter("steps", 2, "img", {"loss": 0.0}) as update:
        update(items=3, loss=0.5)
        update(items=3, loss=0.25)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("counting: 1/4 (25%)") and err[3].startswith("counting: 4/4 (100%)")
    assert err[4].startswith("steps: 1/2 (50%)") and "loss 0.5000" in err[4] and "loss 0.2500" in err[5]
    monkeypatch.setenv("MASKCLS_PROGRESS", "0")
    assert list(track(range(3), "silent")) == [0, 1, 2] and capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    from maskcls.data.synthetic import make_synthetic

    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=3, seed=1, size=(48, 64))
    return root


def test_a_training_run_redirected_to_a_file_shows_progress_lines(data_root, tmp_path):
    log = tmp_path / "train.log"
    args = [sys.executable, "-m", "maskcls", "train", "baseline", f"data.root={data_root}",
            "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32", "train.epochs=1",
            "train.batch_size=8", "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}",
            "--runs", str(tmp_path / "runs")]
    env = {"PATH": "/usr/bin:/bin", "MASKCLS_PROGRESS_QUIET": "0", "COLUMNS": "200",  # no MASKCLS_PROGRESS
           "PYTHONPATH": str(Path(maskcls.__file__).parents[1])}  # this checkout's code, not the editable install
    with log.open("w") as handle:
        done = subprocess.run(args, stdout=handle, stderr=subprocess.STDOUT, env=env)
    text = log.read_text()
    assert done.returncode == 0, text
    steps = re.findall(r"^epoch 1/1 \w+: (\d+)/(\d+) \(\d+%\)  [\d.]+ img/s  loss [\d.]+  (?:ETA|done in) [\d:]+$",
                       text, re.MULTILINE)
    assert len(steps) >= 5 and steps[-1][0] == steps[-1][1]  # the epoch's steps, up to its last
    assert re.search(r"^caching images: \d+/\d+ \(100%\)", text, re.MULTILINE)
    assert re.search(r"^validating: (\d+)/\1 \(100%\)", text, re.MULTILINE)  # validation reports too
    predicted = subprocess.run([sys.executable, "-m", "maskcls", "predict", str(tmp_path / "runs" / "baseline"),
                                str(data_root), "--out", str(tmp_path / "sub.csv"), "--batch-size", "4"],
                               capture_output=True, text=True, env=env)
    assert predicted.returncode == 0, predicted.stderr
    assert re.search(r"^predicting \(.*\): \d+/\d+ \(100%\)", predicted.stderr, re.MULTILINE)
