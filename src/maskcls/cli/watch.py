"""``maskcls watch``: a video, a folder of frames, a camera or a stream URL, one decision per person, an event log."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer


def watch(
    source: str = typer.Argument(..., help="Video file, folder of frames, camera index (0) or rtsp:// / http:// URL."),
    model: Path = typer.Argument(..., help="Run folder or exported model.onnx."),
    out: Path = typer.Option(Path("watch"), "--out", "-o", help="Output folder (a new -N folder if it exists)."),
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="Watch config YAML (detect, track, decide, "
                                                                       "portrait sections)."),
    overrides: List[str] = typer.Option([], "--set", help="key=value over the watch config, e.g. "
                                                          "decide.uncertain_below=0.8 (repeatable)."),
    engine: str = typer.Option("onnx", "--engine", help="onnx (exported on first use) or torch, for a run folder."),
    fps: Optional[float] = typer.Option(None, "--fps", help="Frame rate of a folder of frames (default 10)."),
    video: bool = typer.Option(False, "--video", help="Also write annotated.mp4 (boxes and Korean/English labels)."),
    store_faces: bool = typer.Option(False, "--store-faces/--no-store-faces",
                                     help="Write a thumbnail of each person's face (off by default, for privacy)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Stop after this many frames."),
) -> None:
    """Detect faces every k-th frame, track them (ByteTrack), smooth each person's calibrated probabilities and
    decide once per person: pass (mask worn), warn (worn incorrectly), stop (no mask) or uncertain. Writes
    events.jsonl, events.csv, counters.csv (per minute) and summary.json; Ctrl-C closes them cleanly (exit 130)."""
    from maskcls.cli.render import console
    from maskcls.faces.detect import create_detector
    from maskcls.inference.contract import cache_spec
    from maskcls.watch.config import load_watch_config
    from maskcls.watch.run import load_watch_engine, watch as run_watch

    cfg = load_watch_config(config, overrides)
    loaded = load_watch_engine(model, engine)
    detector = create_detector(cfg.detect.detector or cache_spec(loaded).face_detector, cfg.detect.score_threshold)
    temperature = getattr(loaded, "temperature", None)
    console.print(f"model {loaded.name} ({engine if model.suffix != '.onnx' else 'onnx'}, "
                  f"{'T=' + format(temperature, '.3f') if temperature else 'uncalibrated'}), detector {detector.name} "
                  f"every {cfg.detect.every} frame(s)", highlight=False, soft_wrap=True)
    result = run_watch(source, loaded, detector, cfg, out, fps=fps, video=video, store_faces=store_faces,
                       max_frames=max_frames, log=lambda m: console.print(m, highlight=False, soft_wrap=True))
    stopped = "interrupted: " if result.interrupted else ""
    console.print(f"{stopped}watched {result.frames} frames in {result.seconds:.1f} s ({result.fps:.1f} frames/s): "
                  f"{result.people} people, {', '.join(f'{k} {v}' for k, v in sorted(result.decisions.items())) or 'no decision'}",
                  highlight=False, soft_wrap=True)
    console.print(f"events: {result.folder / 'events.jsonl'} (and events.csv, counters.csv, summary.json)",
                  highlight=False, soft_wrap=True)
    if result.interrupted:
        raise typer.Exit(130)
