"""``maskcls watch`` throughput: frames/s of a 640×480 video with detection every k-th frame, with the ONNX engine.

The video is the gate scene the watch tests build from photos (``tests/watch_helpers.py``: people walking in and
out, one taking the mask off), encoded as H.264 and repeated; the whole watch runs on it — PyAV decoding,
RetinaFace (on a 320 px copy, ``detect.max_side``), ByteTrack, face crops, the classifier on ONNX Runtime,
smoothing, decisions and the event log — and the figure is frames read ÷ wall-clock seconds. Rows: detection every
3rd frame (the target), every frame, and every 3rd frame with RetinaFace on the full 640×480 frame.

The model is a run folder given with ``--run``, or by default the ``public`` preset's network (EfficientNet-Lite0 at
128 px, ``crop=face``, multi-task head) with its bundled ImageNet weights and an untrained head: speed does not
depend on training. The figures go to the ``watch`` section of benchmarks/RESULTS.md and results.json.

    .venv/bin/python benchmarks/bench_watch.py
    taskset -c 0,1 .venv/bin/python benchmarks/bench_watch.py --note "2 cores of ..."   # pinned to 2 cores
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from results_io import record_section  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="Run folder (default: the public preset's network, untrained head).")
    parser.add_argument("--loops", type=int, default=3, help="Times the 92-frame scene is repeated in the video.")
    parser.add_argument("--repeats", type=int, default=3, help="Watches per row (the median is reported).")
    parser.add_argument("--note", default="", help="Where it ran, for the table (e.g. the machine).")
    parser.add_argument("--no-record", action="store_true", help="Print only; leave RESULTS.md alone.")
    return parser.parse_args(argv)


def build_run(folder: Path) -> Path:
    """A run folder of the public preset's network: bundled ImageNet weights, untrained head."""
    import torch

    from maskcls.config import dump_config, load_config
    from maskcls.runs import save_checkpoint
    from maskcls.fileio import write_text
    from maskcls.models.classifier import build_classifier

    cfg = load_config("public", ["name=watch-bench", "input.crop=face", "train.loggers=[]"])
    torch.manual_seed(0)
    model = build_classifier(cfg.model, tuple(cfg.data.age_thresholds))
    folder.mkdir(parents=True)
    write_text(folder / "config.yaml", dump_config(cfg))
    save_checkpoint(folder / "best.pt", {"model": model.state_dict(), "epoch": 0, "macro_f1": None})
    return folder


def main(argv: list[str] | None = None) -> dict:
    import statistics

    from watch_helpers import scene_frames, write_video

    from maskcls.faces.detect import create_detector
    from maskcls.inference.contract import cache_spec
    from maskcls.parallel import cpu_count
    from maskcls.watch.config import load_watch_config
    from maskcls.watch.run import load_watch_engine, watch

    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="maskcls-watch-bench-") as tmp:
        tmp = Path(tmp)
        run = args.run or build_run(tmp / "watch-bench")
        engine = load_watch_engine(run, "onnx")  # exported on first use
        video = write_video(tmp / "gate.mp4", scene_frames() * args.loops)
        rows = {"every 3rd frame (320 px detection)": [], "every frame (320 px detection)": [],
                "every 3rd frame (640 px detection)": []}
        settings = {"every 3rd frame (320 px detection)": ["detect.every=3"],
                    "every frame (320 px detection)": ["detect.every=1"],
                    "every 3rd frame (640 px detection)": ["detect.every=3", "detect.max_side=640"]}
        detector = create_detector(cache_spec(engine).face_detector)
        people = {}
        for repeat in range(args.repeats):  # interleaved, so drifts of a shared machine hit every row alike
            for row, overrides in settings.items():
                cfg = load_watch_config(None, overrides)
                result = watch(str(video), engine, detector, cfg, tmp / "out", log=lambda _m: None)
                rows[row].append(result.fps)
                people[row] = result.people
                print(f"{row}: {result.frames} frames in {result.seconds:.2f} s = {result.fps:.1f} frames/s, "
                      f"{result.people} people, {result.decisions}", flush=True)
    figures = {row: round(statistics.median(values), 1) for row, values in rows.items()}
    info = {"frames_per_second": figures, "frame_size": [640, 480], "frames": 92 * args.loops,
            "engine": "onnxruntime", "model": engine.name if args.run else "public preset network, untrained head",
            "input": list(engine.preprocess.size), "cores": cpu_count(), "load_average": os.getloadavg()[0],
            "cpu": platform.processor() or platform.machine(), "note": args.note, "repeats": args.repeats,
            "people_per_watch": people}
    lines = ["## `maskcls watch` throughput (benchmarks/bench_watch.py)", "",
             f"A 640×480 H.264 video of the gate scene ({92 * args.loops} frames: people walking in and out, one "
             f"taking the mask off), watched end to end: PyAV decoding, RetinaFace, ByteTrack, face crops, "
             f"{'run ' + engine.name if args.run else 'the public preset network (EfficientNet-Lite0, 128 px; untrained head: speed only)'} "
             f"on ONNX Runtime, smoothing, decisions and the event log. Median of {args.repeats} watches, "
             f"{cpu_count()} cores{', ' + args.note if args.note else ''}; load average "
             f"{os.getloadavg()[0]:.1f} when it ended.", "",
             "| detection | frames/s |", "| --- | ---: |"]
    lines += [f"| {row} | {value:.1f} |" for row, value in figures.items()]
    if not args.no_record:
        record_section("watch", info, "\n".join(lines))
    print("\n".join(lines))
    return info


if __name__ == "__main__":
    main()
