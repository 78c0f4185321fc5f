"""The WebSocket ``/v1/watch`` on a real uvicorn server: the gate scene streamed frame by frame at its own pace
gives one track per person and the decisions of ``maskcls watch``; bad frames are answered and the stream goes on."""

from __future__ import annotations

import json
import time

from PIL import Image
from serve_helpers import encode
from watch_helpers import EXPECTED, FPS, SCENE, scene_frames


def connect(base: str):
    from websockets.sync.client import connect as ws_connect

    return ws_connect(base.replace("http://", "ws://") + "/v1/watch", open_timeout=20, max_size=2 ** 22)


def test_the_stream_tracks_and_decides_per_person(gate_api):
    answers = []
    with connect(gate_api) as socket:
        started = time.monotonic()
        for index, frame in enumerate(scene_frames()):
            time.sleep(max(0.0, started + index / FPS - time.monotonic()))  # the camera's pace
            # Lossless, the pixels `maskcls watch` reads: with JPEG q92 one person's track split in two on one of our
            # machines (4 tracks), a tracker sensitivity to compression noise that is a matter of its own.
            socket.send(encode(Image.fromarray(frame), "PNG"))
            answers.append(json.loads(socket.recv(timeout=30)))
    assert [a["frame"] for a in answers] == list(range(len(answers)))
    assert all("error" not in a for a in answers) and answers[0]["width"] == 640
    assert [a["detected"] for a in answers[:6]] == [True, False, False, True, False, False]
    events = [e for a in answers for e in a["events"]]
    ids = sorted({p["id"] for a in answers for p in a["people"]})
    assert len(ids) == len(SCENE)  # one track per person
    histories = {}
    for answer in answers:
        for person in answer["people"]:
            histories[person["id"]] = person["history"]
            assert person["label"] and set(person["mask"]) == {"worn", "incorrect", "none"}
    assert [histories[i] for i in ids] == EXPECTED
    assert [(e["id"], e["decision"]) for e in events if e["event"] == "decision"] == sorted(
        [(i, d) for i in ids for d in histories[i]], key=lambda pair: next(
            a["frame"] for a in answers for e in a["events"] if (e["id"], e["decision"]) == pair))
    assert any(e["event"] == "exit" and e["id"] == ids[0] and e["history"] == ["pass"] for e in events)


def test_bad_frames_are_answered_and_the_stream_goes_on(gate_api):
    with connect(gate_api) as socket:
        socket.send(b"not an image")
        bad = json.loads(socket.recv(timeout=30))
        assert bad["frame"] == 0 and "frame 0: not an image" in bad["error"]
        socket.send("hello")
        assert "binary message" in json.loads(socket.recv(timeout=30))["error"]
        socket.send(encode(Image.fromarray(scene_frames()[10]), "PNG"))
        good = json.loads(socket.recv(timeout=30))
        assert good["frame"] == 1 and "error" not in good and good["people"] == []  # not yet confirmed
        socket.send(b"\xff" * (1024 * 1024 + 1))
        assert "over the limit" in json.loads(socket.recv(timeout=30))["error"]
