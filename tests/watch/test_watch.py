"""``maskcls watch`` end to end on a scene made from photos: real RetinaFace, ByteTrack, smoothing and decisions
(a fake classifier that reads the mask off the face, see ``watch_helpers``), its logs, video and thumbnails, bad
sources, and Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from watch_helpers import EXPECTED, FPS, SCENE, MaskReader, scene_frames, write_frames, write_video

from maskcls.faces.detect import create_detector
from maskcls.watch.config import WatchConfig
from maskcls.watch.events import COLUMNS
from maskcls.watch.run import watch

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("scene") / "gate.mp4", scene_frames())


def read_events(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "events.jsonl").read_text(encoding="utf-8").splitlines()]


def test_one_track_per_person_and_the_right_decisions(scene_video, tmp_path):
    result = watch(str(scene_video), MaskReader(), create_detector("retinaface"), WatchConfig(), tmp_path / "out",
                   log=lambda _m: None)
    events = read_events(result.folder)
    exits = sorted((e for e in events if e["event"] == "exit"), key=lambda e: e["first_time"])
    assert len(exits) == len(SCENE) == result.people  # one track per person, no split or merged track
    assert [e["history"].split(">") for e in exits] == EXPECTED
    assert [e["decision"] for e in exits] == ["pass", "stop", "stop"]
    # Decision events come in time order, one per change, each with the track's smoothed probabilities.
    changes = [(e["track"], e["decision"]) for e in events if e["event"] == "decision"]
    assert sorted(changes) == sorted((e["track"], d) for e in exits for d in e["history"].split(">"))
    b = exits[1]
    took_off = next(e for e in events if e["event"] == "decision" and e["track"] == b["track"] and e["decision"] == "stop")
    assert 4.8 <= took_off["time"] <= 6.5  # the mask comes off at 4.8 s; a few classified frames later it is stop
    assert b["first_time"] < 3.8 and b["last_time"] > 7.5 and exits[0]["last_time"] < 4.0
    assert all(e["thumbnail"] == "" for e in exits) and not (result.folder / "faces").exists()
    assert exits[0]["p_pass"] > 0.9 and exits[2]["p_stop"] > 0.9 and 60 < exits[0]["face_px"] < 120
    with open(result.folder / "events.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["event"] for r in rows] == [e["event"] for e in events] and list(rows[0]) == list(COLUMNS)
    counters = (result.folder / "counters.csv").read_text().splitlines()
    assert counters == ["minute,entered,pass,warn,stop,uncertain,pending", "0,3,1,0,2,0,0"]
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["frames"] == result.frames == len(scene_frames()) and not summary["interrupted"]


def test_detection_every_third_frame_classifies_only_those(tmp_path):
    frames = write_frames(tmp_path / "frames", scene_frames()[:30])
    engine = MaskReader()
    result = watch(str(frames), engine, create_detector("retinaface"), WatchConfig(), tmp_path / "out", fps=FPS,
                   log=lambda _m: None)
    assert result.frames == 30 and engine.calls <= 10  # 10 detection frames, at most one face on each


def test_video_and_thumbnails_only_when_asked(tmp_path):
    import av

    frames = write_frames(tmp_path / "frames", scene_frames()[:40])
    result = watch(str(frames), MaskReader(), create_detector("retinaface"), WatchConfig(), tmp_path / "out",
                   fps=FPS, video=True, store_faces=True, log=lambda _m: None)
    exits = [e for e in read_events(result.folder) if e["event"] == "exit"]
    assert len(exits) == 2  # A, and B who has come in by frame 40
    thumbnails = [result.folder / e["thumbnail"] for e in exits]
    assert all(t.is_file() and t.parent.name == "faces" for t in thumbnails)
    assert sorted(p.name for p in (result.folder / "faces").iterdir()) == sorted(t.name for t in thumbnails)
    with av.open(str(result.folder / "annotated.mp4")) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 40 and decoded[0].shape == (480, 640, 3)
    with av.open(str(result.folder / "annotated.mp4")) as container:
        assert container.streams.video[0].average_rate == FPS  # the source's frame rate
    # Frame 20: person A is decided `pass`; the box edge is drawn in its green.
    box_pixels = decoded[20].reshape(-1, 3).astype(int)
    assert (np.abs(box_pixels - (0x1A, 0x98, 0x50)).max(axis=1) < 40).sum() > 200


def test_unreadable_sources_give_one_line(tmp_path, capsys):
    from serve_helpers import make_run

    from maskcls.cli import main

    run = make_run(tmp_path / "run", "train.crop=face")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "frame-1.jpg").write_bytes(b"not a jpeg")
    cases = {str(broken): str(broken), str(tmp_path / "missing.mp4"): "no such video file",
             str(tmp_path / "empty"): "no frames", str(tmp_path / "notes"): "unreadable frame",
             "http://127.0.0.1:9/stream.mjpg": "cannot open the stream", "7": "camera 7: cannot open it"}
    for source, expected in cases.items():
        with pytest.raises(SystemExit) as exit_info:
            main(["watch", source, str(run), "--engine", "torch", "--out", str(tmp_path / "out")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 1 and err.startswith("maskcls: error: ") and expected in err, err
        assert err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()  # nothing is written for a source that never opened


def test_ctrl_c_closes_the_log_with_complete_lines(tmp_path):
    from serve_helpers import make_run

    run = make_run(tmp_path / "run", "train.crop=face")
    frames = scene_frames()
    video = write_video(tmp_path / "long.mp4", frames * 6)  # about 9 s of stream, 6 times over
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(PROJECT / "src")}
    process = subprocess.Popen([sys.executable, "-m", "maskcls", "watch", str(video), str(run), "--engine", "torch",
                                "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                               # Ctrl-C restored: a suite run as a background job passes SIGINT down ignored.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = out / "events.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and '"exit"' in log.read_text()):  # A has left; B is in view
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out_text, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    assert "interrupted: watched" in out_text.decode() and "events:" in out_text.decode(), out_text.decode()
    text = log.read_text(encoding="utf-8")
    events = [json.loads(line) for line in text.splitlines()]  # every line complete
    assert text.endswith("\n")
    with open(out / "events.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == list(COLUMNS) and all(len(r) == len(COLUMNS) for r in rows) and len(rows) == len(events) + 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] and summary["frames"] < len(frames) * 6
    exits = [e["track"] for e in events if e["event"] == "exit"]
    assert len(exits) >= 2 and len(set(exits)) == len(exits)  # A, and B given their exit line at Ctrl-C
    assert (out / "counters.csv").read_text().startswith("minute,entered,")


def test_an_http_stream(tmp_path):
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    write_video(tmp_path / "gate.ts", scene_frames()[:30])  # MPEG-TS, as streams are sent (no seeking)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/gate.ts"
        result = watch(url, MaskReader(), create_detector("retinaface"), WatchConfig(), tmp_path / "out",
                       log=lambda _m: None)
    finally:
        server.shutdown()
        server.server_close()
    assert result.frames == 30
    assert [e["history"] for e in read_events(result.folder) if e["event"] == "exit"][0] == "pass"


def test_the_command_on_a_run_with_its_onnx_export(tmp_path, capsys):
    from serve_helpers import make_run

    from maskcls.cli import main

    run = make_run(tmp_path / "run", "train.crop=face", "train.face_margin=0.3")
    frames = write_frames(tmp_path / "frames", scene_frames()[:12])
    with pytest.raises(SystemExit) as exit_info:
        main(["watch", str(frames), str(run), "--fps", "10", "--out", str(tmp_path / "out"), "--video",
              "--set", "decide.window=2", "--set", "decide.min_frames=1"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0, out
    assert "model run (onnx, uncalibrated), detector retinaface every 3 frame(s)" in out
    assert "watched 12 frames" in out and (run / "export" / "model.onnx").is_file()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["frames"] == 12 and summary["config"]["decide"]["window"] == 2
    assert (tmp_path / "out" / "annotated.mp4").stat().st_size > 0
