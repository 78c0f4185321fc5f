"""``/v1/watch``: the webcam of the live page as a stream, with the tracking and per-person decisions of
``maskcls watch`` (:class:`maskcls.watch.pipeline.Watcher`) — one watcher per WebSocket connection.

Protocol: the client sends each frame as one binary message (a JPEG, PNG or WebP image); the server answers each
with one JSON text message::

    {"frame": 12, "time": 1.23, "width": 640, "height": 480, "detected": true, "milliseconds": 21.4,
     "people": [{"id": 0, "box": {"x0": …, "y0": …, "x1": …, "y1": …}, "decision": "pass",
                 "label": "통과 / Pass · 마스크 착용", "mask": {"worn": 0.96, "incorrect": 0.02, "none": 0.02},
                 "classified": 4, "history": ["pass"]}],
     "events": [{"event": "decision" | "exit", "id": 0, "decision": "pass", "history": ["pass"], "time": 1.23}]}

``decision`` is ``pending`` until the rule of :class:`~maskcls.watch.config.DecideConfig` decides. Time is the
server's clock since the connection opened. A frame that cannot be decoded (or is over the upload cap) is answered
``{"frame": n, "error": "<one line>"}`` and the stream goes on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from maskcls.errors import MaskclsError

if TYPE_CHECKING:
    from maskcls.serve.app import Service
    from maskcls.watch.config import WatchConfig


class StreamSession:
    """The watcher of one connection."""

    def __init__(self, service: "Service", cfg: "WatchConfig") -> None:
        from maskcls.watch.pipeline import Watcher

        self.service = service
        self.watcher = Watcher(service.engine, service.detector, cfg, lock=service.lock)
        self.started = time.monotonic()
        self.index = 0

    def frame(self, data: bytes) -> dict:
        """The answer to one frame's bytes (runs in a worker thread)."""
        from maskcls.serve.classify import decode_photo
        from maskcls.watch.sources import Frame

        index = self.index
        self.index += 1
        started = time.perf_counter()
        try:
            if len(data) > self.service.max_bytes:
                raise MaskclsError(f"frame {index}: {len(data):,} bytes is over the limit of "
                                   f"{self.service.max_bytes:,} bytes")
            with self.service.slots:
                photo = decode_photo(data, f"frame {index}")
                now = time.monotonic() - self.started
                step = self.watcher.step(Frame(index, now, np.asarray(photo.image, dtype=np.uint8)))
        except MaskclsError as exc:
            return {"frame": index, "error": str(exc)}
        events = [_event("decision", person, now) for person in step.changes]
        events += [_event("exit", person, now) for person in step.left]
        return {"frame": index, "time": round(now, 3), "width": photo.size[0], "height": photo.size[1],
                "detected": step.detected, "people": [_person(p) for p in step.people], "events": events,
                "milliseconds": round(1000 * (time.perf_counter() - started), 2)}


def _person(person) -> dict:
    from maskcls.watch.decide import LABELS

    worn, incorrect, none = (round(float(p), 4) for p in person.smoother.mask)
    return {"id": person.id, "box": dict(zip(("x0", "y0", "x1", "y1"), (round(float(v), 1) for v in person.box))),
            "decision": person.decision, "label": LABELS[person.decision],
            "mask": {"worn": worn, "incorrect": incorrect, "none": none}, "classified": person.smoother.classified,
            "history": [d for _, d in person.history]}


def _event(kind: str, person, now: float) -> dict:
    return {"event": kind, "id": person.id, "decision": person.decision, "history": [d for _, d in person.history],
            "time": round(now, 3)}
