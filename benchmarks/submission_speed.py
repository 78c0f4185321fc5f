"""Time a competition-layout folder to a submission with a preset (check, train, predict), cold cache, and score
it, into the ``speed-submission`` section of RESULTS.md::

    python benchmarks/submission_speed.py data/public [--preset public] [--set train.epochs=3 ...]

Each step is the ``maskcls`` command a user types, run as a child process with its own wall clock; the training
gets a new, empty image cache so decoding and face cutting are counted, and its epochs' images/s come from the
run's ``metrics.csv``. The 1-minute load average is printed beside the times: above ~0.5 before the start, other
work shared the CPU and the times are upper bounds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROJECT = Path(__file__).resolve().parent.parent
MASKCLS = [sys.executable, "-m", "maskcls"]


def _step(argv: list[str], log) -> tuple[float, str]:
    """Run one command, its output appended to ``log`` as it comes; its wall seconds and output."""
    started = time.perf_counter()
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT,
                            env={**os.environ, "MASKCLS_PROGRESS": "lines"})
    lines = []
    for line in proc.stdout:
        lines.append(line)
        log.write(line)
        log.flush()
    if proc.wait() != 0:
        raise SystemExit(f"submission_speed: error: {' '.join(argv[2:4])} failed (exit {proc.returncode}); see {log.name}")
    return time.perf_counter() - started, "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="A competition-layout folder (train/, eval/).")
    parser.add_argument("--preset", default="public")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="A config override for the training, e.g. train.epochs=3 (repeatable).")
    parser.add_argument("--name", default="submission-speed", help="The run's name (runs/NAME, or NAME-N).")
    parser.add_argument("--log", type=Path, default=Path("logs/submission-speed.log"))
    parser.add_argument("--no-record", action="store_true", help="Print the figures, leave RESULTS.md alone.")
    args = parser.parse_args(argv)
    root = args.root
    if not (root / "train").is_dir() or not (root / "eval" / "info.csv").is_file():
        parser.error(f"{root}: not a competition-layout folder (train/ and eval/info.csv)")
    args.log.parent.mkdir(parents=True, exist_ok=True)
    people = sum(1 for p in (root / "train" / "images").iterdir() if p.is_dir() and not p.name.startswith("."))
    from idle import busy_words, steal_jiffies, stolen_share, stolen_words, wait_idle

    busy = wait_idle()
    clock = steal_jiffies()
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="maskcls-submission-") as work, args.log.open("w") as log:
        submission = Path(work) / "submission.csv"
        check_s, _ = _step([*MASKCLS, "data", "check", str(root)], log)
        train_s, out = _step([*MASKCLS, "train", args.preset, f"data.root={root}", f"name={args.name}",
                              f"cache.dir={Path(work) / 'cache'}", *args.overrides], log)
        found = re.findall(r"^run folder: (\S+)", out, re.M)
        if not found:
            raise SystemExit(f"submission_speed: error: {args.log}: the training printed no run folder")
        run = PROJECT / found[-1]
        cache = re.findall(r"^image cache \S+ \(([\d,]+) photos\) built in ([\d.]+)s", out, re.M)
        predict_s, _ = _step([*MASKCLS, "predict", str(run), str(root), "--out", str(submission)], log)
        stolen = stolen_share(clock)
        after = os.getloadavg()[0]
        score = None
        truth = root / "eval_gt.csv"
        if truth.is_file():
            _, text = _step([*MASKCLS, "score", str(truth), str(submission), "--json"], log)
            score = json.loads(text[text.index("{"):])
    with (run / "metrics.csv").open() as f:
        epochs = list(csv.DictReader(f))
    total = check_s + train_s + predict_s
    figures = {"root": str(root), "people": people, "preset": args.preset, "overrides": args.overrides, "run": str(run.relative_to(PROJECT)),
               "check_s": round(check_s, 1), "train_s": round(train_s, 1), "predict_s": round(predict_s, 1),
               "total_min": round(total / 60, 2), "busy_before": None if busy is None else round(busy, 3),
               "stolen": None if stolen is None else round(stolen, 4), "load_before": round(before, 2), "load_after": round(after, 2),
               "cache_photos": int(cache[-1][0].replace(",", "")) if cache else None,
               "cache_s": float(cache[-1][1]) if cache else None,
               "epoch_images_per_s": [float(e["images_per_s"]) for e in epochs],
               "epoch_seconds": [float(e["seconds"]) for e in epochs],
               "val_macro_f1": [float(e["macro_f1"]) for e in epochs]}
    if score is not None:
        figures["eval"] = {"macro_f1": score["macro_f1"], "accuracy": score["accuracy"], **score["task_f1"]}
    sets = " ".join(f"`{o}`" for o in args.overrides)
    lines = [
        "## Raw folder to submission (`benchmarks/submission_speed.py`)", "",
        f"`{root}` (competition layout, {people:,} people) with `maskcls train {args.preset}`{' ' + sets if sets else ''}, a new image "
        f"cache: `maskcls data check` {check_s:.0f} s + training {train_s / 60:.1f} min + `maskcls predict` "
        f"{predict_s:.0f} s = **{total / 60:.1f} min**; {busy_words(busy)}, {stolen_words(stolen)}, "
        f"1-minute load average {before:.1f} before, {after:.1f} after.",
        (f"The training's image cache ({figures['cache_photos']:,} photos, faces cut by the detector) took "
         f"{figures['cache_s']:.0f} s of it. " if cache else "")
        + f"Epochs: {', '.join(f'{v:.1f}' for v in figures['epoch_images_per_s'])} images/s, "
        f"{', '.join(f'{v:.0f}' for v in figures['epoch_seconds'])} s; validation macro F1 "
        f"{', '.join(f'{v:.4f}' for v in figures['val_macro_f1'])}."]
    if score is not None:
        lines.append(f"The submission scored against `eval_gt.csv`: 18-class macro F1 **{score['macro_f1']:.4f}** "
                     f"(accuracy {score['accuracy']:.4f}; "
                     + ", ".join(f"{t} {v:.3f}" for t, v in score["task_f1"].items()) + ").")
    lines.append(f"These are in-distribution figures only: `maskcls bench ood {figures['run']}` scores the run on the "
                 "out-of-distribution suite.")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_record:
        from results_io import record_section

        record_section("speed-submission", figures, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
