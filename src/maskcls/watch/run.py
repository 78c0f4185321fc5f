"""``maskcls watch``: a stream watched to the end (or Ctrl-C), with its event log, counters, optional annotated
video and thumbnails in a new output folder, and the throughput printed as it runs."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from maskcls.errors import MaskclsError
from maskcls.watch.config import WatchConfig

#: Seconds between two throughput lines.
REPORT_EVERY = 2.0


@dataclass
class WatchResult:
    """What a watch did.

    Attributes:
        folder: the output folder.
        frames: frames processed.
        seconds: wall-clock seconds spent on them.
        people: tracks (people) seen.
        decisions: final decision → people.
        interrupted: stopped by Ctrl-C.
    """

    folder: Path
    frames: int
    seconds: float
    people: int
    decisions: dict[str, int]
    interrupted: bool

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def load_watch_engine(model: str | Path, engine: str = "onnx"):
    """The engine of ``model`` (a run folder or an exported ``.onnx``), calibrated when the run has a temperature.

    Raises:
        MaskclsError: for a path that is no run or export, or a k-fold run (watch one fold, or an export of one).
    """
    from maskcls.inference.loading import load_engine, member_folders

    model = Path(model)
    if model.suffix == ".onnx":
        return load_engine(model, "onnx")
    folders = member_folders(model)
    if len(folders) > 1:
        raise MaskclsError(f"{model}: a k-fold run; watch one of its folds ({folders[0]}) or an export")
    return load_engine(folders[0], engine, "cpu")


def watch(source: str, engine, detector, cfg: WatchConfig, out: Path, *, fps: float | None = None,
          video: bool = False, store_faces: bool = False, max_frames: int | None = None,
          log: Callable[[str], None] = print) -> WatchResult:
    """Watch ``source`` until it ends, ``max_frames`` frames were read, or Ctrl-C (the result then says
    ``interrupted``).

    The logs are closed and every person still in view gets their ``exit`` event whatever ends the watch (a
    stream breaking off or Ctrl-C included); an error is raised again after that.

    Raises:
        MaskclsError: for a source that cannot be opened or read (before anything is written), or that breaks off.
    """
    from maskcls.fileio import unique_dir, write_text
    from maskcls.watch.events import EventLog
    from maskcls.watch.pipeline import Watcher
    from maskcls.watch.sources import open_source

    frames = open_source(source, fps)
    first = next(iter(frames), None)  # opens the source: a bad one fails here, before any output exists
    if first is None:
        raise MaskclsError(f"{source}: no frame in it")
    folder = unique_dir(out)
    watcher = Watcher(engine, detector, cfg, store_faces=store_faces)
    events = EventLog(folder, engine.cfg.data.bands(), store_faces)
    writer = None
    decisions: dict[str, int] = {}
    count, started, interrupted = 0, time.perf_counter(), False
    last_report = started

    def leave(person) -> None:
        events.exit(person)
        decisions[person.decision] = decisions.get(person.decision, 0) + 1

    held = None  # the first annotated frame, until the second one gives the stream's frame rate

    try:
        for frame in _chain(first, frames):
            step = watcher.step(frame)
            for person in step.entered:
                events.entered(person)
            for person in step.changes:
                events.decision(person, frame.time, frame.index)
            for person in step.left:
                leave(person)
            if video:
                from maskcls.watch.annotate import VideoWriter, annotate

                image = annotate(frame.image, step.people)
                if writer is None and held is None:
                    held = image
                else:
                    if writer is None:
                        gap = frame.time - first.time
                        writer = VideoWriter(folder / "annotated.mp4", fps or (1.0 / gap if gap > 0 else 25.0))
                        writer.write(held)
                        held = None
                    writer.write(image)
            count += 1
            now = time.perf_counter()
            if now - last_report >= REPORT_EVERY:
                last_report = now
                log(f"watch: {count} frames, {count / (now - started):.1f} frames/s, {len(step.people)} in view, "
                    f"left so far: {_counts(decisions)}")
            if max_frames is not None and count >= max_frames:
                break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        for person in watcher.finish():
            leave(person)
        events.close()
        if held is not None:  # a stream of one frame
            from maskcls.watch.annotate import VideoWriter

            writer = VideoWriter(folder / "annotated.mp4", fps or 25.0)
            writer.write(held)
        if writer is not None:
            writer.close()
        seconds = time.perf_counter() - started
        result = WatchResult(folder, count, seconds, sum(decisions.values()), decisions, interrupted)
        write_text(folder / "summary.json", json.dumps({
            "source": source, "model": engine.name, "frames": count, "seconds": round(seconds, 3),
            "frames_per_second": round(result.fps, 2), "people": result.people, "decisions": decisions,
            "events": events.events, "interrupted": interrupted, "stored_faces": store_faces,
            "temperature": getattr(engine, "temperature", None), "config": cfg.model_dump(mode="json")},
            indent=1) + "\n")
    return result


def _chain(first, rest):
    yield first
    yield from rest


def _counts(decisions: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())) or "none"
