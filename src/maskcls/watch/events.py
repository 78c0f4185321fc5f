"""The event log of a watch: JSONL and CSV side by side, one complete line per event, and counters per minute.

Each line is written with one ``write`` and flushed at once, so a log cut short (Ctrl-C, a lost stream) holds only
complete lines. Events:

- ``decision``: a person's decision is made or changes (``pass`` → ``stop`` when a mask comes off);
- ``exit``: a person's track ends (they left, or the stream ended): first and last time, the decision and its
  history, the smoothed probabilities, the widest face and the thumbnail's path (empty unless faces are stored).

``counters.csv`` counts, per minute of stream time, the people who entered and the final decisions of those who
left; it is rewritten (atomically) whenever a minute closes and when the log closes.
"""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from maskcls.fileio import write_text
from maskcls.watch.decide import DECISIONS

COLUMNS = ("event", "track", "time", "frame", "first_time", "last_time", "decision", "history", "p_pass", "p_warn",
           "p_stop", "label", "class_name", "face_px", "thumbnail")
COUNTER_COLUMNS = ("minute", "entered", *DECISIONS, "pending")


class EventLog:
    """``events.jsonl``, ``events.csv`` and ``counters.csv`` in ``folder`` (and ``faces/`` when faces are stored).

    Args:
        folder: the watch's output folder (made by the caller).
        bands: the run's age bands (for class names).
        store_faces: write a thumbnail of each person's largest face.
    """

    def __init__(self, folder: Path, bands, store_faces: bool = False) -> None:
        self.folder, self.bands, self.store_faces = Path(folder), bands, store_faces
        self.jsonl = open(self.folder / "events.jsonl", "w", encoding="utf-8")
        self.csv = open(self.folder / "events.csv", "w", encoding="utf-8", newline="")
        self._write_csv(COLUMNS)
        self.counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTER_COLUMNS[1:], 0))
        self.minute = 0
        self.events = 0
        self.closed = False

    def decision(self, person, time: float, frame: int) -> dict:
        """Log a decision change of ``person``."""
        return self._log({"event": "decision", "track": person.id, "time": round(time, 3), "frame": frame,
                          "decision": person.decision, **self._probs(person), "face_px": round(person.face_px, 1)})

    def entered(self, person) -> None:
        """Count a person coming into view."""
        self._tick(person.first_time)
        self.counts[int(person.first_time // 60)]["entered"] += 1

    def exit(self, person) -> dict:
        """Log the end of ``person``'s track (with their thumbnail when faces are stored)."""
        from maskcls.labels import class_name

        self._tick(person.last_time)
        thumbnail = ""
        if self.store_faces and person.thumbnail is not None:
            thumbnail = str(self._thumbnail(person))
        label = int(np.argmax(person.smoother.probs))
        self.counts[int(person.last_time // 60)][person.decision] += 1
        return self._log({
            "event": "exit", "track": person.id, "time": round(person.last_time, 3), "frame": person.last_frame,
            "first_time": round(person.first_time, 3), "last_time": round(person.last_time, 3),
            "decision": person.decision, "history": ">".join(d for _, d in person.history),
            **self._probs(person), "label": label, "class_name": class_name(label, self.bands),
            "face_px": round(person.face_px, 1), "thumbnail": thumbnail,
            "probabilities": [round(float(p), 5) for p in person.smoother.probs]})

    def close(self) -> None:
        """Close both logs and write the counters (safe to call twice)."""
        if self.closed:
            return
        self.closed = True
        self.jsonl.close()
        self.csv.close()
        self._write_counters()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def _probs(self, person) -> dict:
        mask = person.smoother.mask
        return {"p_pass": round(float(mask[0]), 4), "p_warn": round(float(mask[1]), 4),
                "p_stop": round(float(mask[2]), 4)}

    def _log(self, record: dict) -> dict:
        self.jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.jsonl.flush()
        self._write_csv([record.get(column, "") for column in COLUMNS])
        self.events += 1
        return record

    def _write_csv(self, row) -> None:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(row)
        self.csv.write(buffer.getvalue())
        self.csv.flush()

    def _tick(self, time: float) -> None:
        minute = int(time // 60)
        if minute > self.minute:
            self.minute = minute
            self._write_counters()

    def _write_counters(self) -> None:
        last = max([self.minute, *self.counts])
        lines = [",".join(COUNTER_COLUMNS)]
        for minute in range(last + 1):
            counts = self.counts.get(minute, dict.fromkeys(COUNTER_COLUMNS[1:], 0))
            lines.append(",".join([str(minute), *(str(counts[c]) for c in COUNTER_COLUMNS[1:])]))
        write_text(self.folder / "counters.csv", "\n".join(lines) + "\n")

    def _thumbnail(self, person) -> Path:
        from PIL import Image

        from maskcls.fileio import atomic_write

        path = self.folder / "faces" / f"track-{person.id:05d}.jpg"
        with atomic_write(path, "wb") as handle:
            Image.fromarray(person.thumbnail).save(handle, format="JPEG", quality=90)
        return path.relative_to(self.folder)
