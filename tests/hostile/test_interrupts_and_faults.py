"""Ctrl-C and unforeseen faults: ``maskcls: interrupted`` with what was kept (exit 130), a run stopped before its
first epoch resumes, and any exception at all is one line (the traceback only with ``MASKCLS_DEBUG=1``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from hostile_helpers import TINY, fails


def test_ctrl_c_says_what_was_kept_and_the_run_resumes(cli, root, tmp_path):
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MASKCLS_PROGRESS": "0", "COLUMNS": "400",
           "MASKCLS_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    # Enough epochs that the signal always lands mid-run (one tiny epoch can end before it arrives), and Ctrl-C
    # restored in the child: a suite started as a background job (`pytest &`) passes SIGINT down ignored.
    proc = subprocess.Popen([sys.executable, "-m", "maskcls", "train", *TINY, "train.epochs=40", f"data.root={root}",
                             "--runs", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    line = ""
    while "run folder:" not in line:
        line = proc.stdout.readline()
        assert line or proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    folder = runs / "run"
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"maskcls: interrupted; kept {folder} "
                                           f"(resume with `maskcls train --resume {folder}`)"), err
    assert (folder / "config.yaml").is_file() and not (folder / "best.pt").exists()  # nothing looks finished
    stopped_early = not (folder / "last.pt").exists()
    resumed = cli("train", "--resume", folder)
    assert resumed.code == 0, resumed.err
    if stopped_early:
        assert "from the start" in resumed.out
    assert (folder / "best.pt").is_file() and (folder / "report.html").is_file()


def test_ctrl_c_in_process_without_anything_kept(cli, root, monkeypatch):
    import maskcls.data.check as check

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(check, "inspect_images", interrupted)
    result = cli("data", "check", root)
    assert result.code == 130 and result.err.strip().startswith("maskcls: interrupted"), result.err
    assert "Traceback" not in result.err


@pytest.mark.parametrize("exc,needle,expected", [
    (RuntimeError("boom\nsecond line"), "RuntimeError: boom; second line", False),
    (OSError(28, "No space left on device", "/full/disk/file"), "/full/disk/file: No space left on device", True),
    (PermissionError(13, "Permission denied", "/locked"), "/locked: Permission denied", True),
    (MemoryError(), "out of memory", True),
    (UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"), "not UTF-8 text", False),
    (KeyError("x"), "KeyError: 'x'", False),
])
def test_any_exception_is_one_line(exc, needle, expected, cli, root, monkeypatch):
    import maskcls.data.check as check

    def broken(*_args, **_kwargs):
        raise exc

    monkeypatch.setattr(check, "scan_train", broken)
    result = cli("data", "check", root)
    assert result.code == 1 and "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("maskcls: error: ") and needle in lines[0], lines
    assert ("MASKCLS_DEBUG=1" in lines[0]) is not expected
    if not expected:
        monkeypatch.setenv("MASKCLS_DEBUG", "1")
        debug = cli("data", "check", root)
        assert debug.code == 1 and "Traceback" in debug.err and debug.err.strip().splitlines()[-1].startswith(
            "maskcls: error: ")


def test_error_prefix_is_never_doubled(cli, tmp_path):
    from maskcls.errors import MaskclsError, one_line

    assert one_line("error: error: x: y") == "x: y"
    assert one_line(str(MaskclsError("maskcls: error: a\nb"))) == "a; b"
    fails(cli("data", "check", tmp_path / "nope"), "nope: no such folder")


def test_usage_errors_keep_clicks_wording(cli):
    result = cli("data", "split")
    assert result.code == 2 and "Traceback" not in result.err and "Missing argument" in result.err
    result = cli("no-such-verb")
    assert result.code == 2 and "No such command" in result.err
