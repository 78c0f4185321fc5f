"""Time to equal quality at full scale: the plain PyTorch loop (``plain_loop.py``) trained on the training people
of a maskcls run and validated on its validation people (its ``split.json``), against that run's own curve, into
the ``time-to-f1`` section of RESULTS.md::

    python benchmarks/time_to_f1.py            # the run of the speed-submission section (submission_speed.py)
    python benchmarks/time_to_f1.py --run runs/NAME --wall SECONDS --root data/public
    python benchmarks/time_to_f1.py --again "its image caches built=runs/AGAIN"   # also: the same recipe again

The engine's clock counts everything its ``maskcls train`` process did (start-up, cache building, face cutting,
validation) up to the end of each epoch's validation (``metrics.csv``'s ``process_s``; a run without it has all
its time outside epochs counted up front); the plain loop's counts its training steps only (its JPEG decoding is
inside them), which favours the plain loop. Its wall clock with validation is printed beside it. Each ``--again
LABEL=RUN`` sets another run of the same recipe, split and seed against the same plain loop, e.g. one trained
with some of its image caches already built: each source's photos are cached on their own, keyed by those photos
and the input settings (not by the split), so a new competition root beside the shared crop folders rebuilds
only its own, and another seed, a resume or a fold of ``--kfold`` rebuilds nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
PROJECT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    from bench import _engine_curve, equal_f1
    from results_io import RESULTS_JSON, record_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="A maskcls run folder (default: the speed-submission section's).")
    parser.add_argument("--wall", type=float, help="Its `maskcls train` wall seconds (default: from that section).")
    parser.add_argument("--root", type=Path, help="Its competition root (default: from that section).")
    parser.add_argument("--again", action="append", default=[], metavar="LABEL=RUN",
                        help="Another run of the same recipe, split and seed, and what differed (repeatable).")
    parser.add_argument("--epochs", type=int, default=2, help="Plain-loop epochs.")
    parser.add_argument("--log", type=Path, default=Path("logs/time-to-f1.log"))
    parser.add_argument("--no-record", action="store_true", help="Print the figures, leave RESULTS.md alone.")
    args = parser.parse_args(argv)
    if args.run is None or args.wall is None or args.root is None:
        section = json.loads(RESULTS_JSON.read_text()).get("speed-submission") if RESULTS_JSON.is_file() else None
        if section is None:
            parser.error("no speed-submission section in results.json: give --run, --wall and --root")
        args.run = args.run or PROJECT / section["run"]
        args.wall = args.wall or section["train_s"]
        args.root = args.root or Path(section["root"])
    again = []
    for item in args.again:
        label, _, folder = item.rpartition("=")
        if not label or not folder:
            parser.error(f"--again {item!r}: expected LABEL=RUN")
        again.append((label, Path(folder)))
    for run in (args.run, *(folder for _, folder in again)):
        if not ((run / "split.json").is_file() and (run / "metrics.csv").is_file()):
            parser.error(f"{run}: not a finished run (split.json, metrics.csv)")
    again_curves = []
    for label, folder in again:
        curve = _engine_curve(folder, 0.0)
        if curve[0]["clock"] != "process":
            parser.error(f"{folder}: its metrics.csv has no process_s clock (trained before it was logged)")
        if json.loads((folder / "split.json").read_text()) != json.loads((args.run / "split.json").read_text()):
            parser.error(f"{folder}: another split than {args.run}'s")
        again_curves.append((label, folder, curve))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="maskcls-ttf1-") as work, args.log.open("w") as log:
        out = Path(work) / "plain.json"
        argv_plain = [sys.executable, str(HERE / "plain_loop.py"), str(args.root / "train"), "--split-file",
                      str(args.run / "split.json"), "--epochs", str(args.epochs), "--size", "128", "--out", str(out)]
        log.write(f"$ {' '.join(argv_plain)}\n")
        log.flush()
        started = time.perf_counter()
        proc = subprocess.run(argv_plain, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT,
                              env={**os.environ, "MASKCLS_PROGRESS": "0"})
        if proc.returncode != 0:
            raise SystemExit(f"time_to_f1: error: plain_loop.py failed (exit {proc.returncode}); see {args.log}")
        plain = json.loads(out.read_text())
    plain["process_seconds"] = round(time.perf_counter() - started, 1)
    curve = _engine_curve(args.run, args.wall)
    result = equal_f1(plain["epochs"], curve)
    best = max(plain["epochs"], key=lambda e: e["val_f1"])
    result |= {"run": str(args.run.resolve().relative_to(PROJECT)), "root": str(args.root),
               "engine_wall_s": args.wall, "plain_epochs": plain["epochs"], "plain_train_images": plain["train_images"],
               "engine_curve": curve, "plain_minutes_with_validation": best.get("elapsed_seconds", 0) / 60}
    lines = ["## Time to equal quality on a run's own people (`benchmarks/time_to_f1.py`)", "",
             f"The plain loop (`plain_loop.py`: JPEGs decoded every epoch, 18-way Lite0 at 128 px, CE, AdamW) on the "
             f"{plain['train_images']:,} training photos of `{result['run']}` (`{args.root}`), validated on that run's "
             f"validation people. Its best validation macro F1 was **{result['plain_f1']:.4f}**, after "
             f"{result['plain_minutes']:.1f} min of training steps ({result['plain_minutes_with_validation']:.1f} "
             f"min with its validation); epochs: "
             + ", ".join(f"{e['val_f1']:.4f} ({e['images_per_s']:.0f} img/s)" for e in plain["epochs"]) + "."]
    counted = ("its clock at the end of that epoch's validation: start-up, the image cache with its face cutting "
               "and the validations included" if curve[0]["clock"] == "process" else
               "cache, face cutting, validation and plots counted up front")
    if result["speedup"] is not None:
        lines.append(f"The run passed it at epoch {result['maskcls_epoch']}, {result['maskcls_minutes']:.1f} min into "
                     f"its `maskcls train` process ({counted}): "
                     f"**{result['speedup']:.2f}× faster to equal macro F1**; its best was {result['maskcls_best_f1']:.4f}.")
    else:
        lines.append(f"The run never reached it (best {result['maskcls_best_f1']:.4f}).")
    result["again"] = []
    for label, folder, again_curve in again_curves:
        other = equal_f1(plain["epochs"], again_curve)
        other |= {"label": label, "run": str(folder.resolve().relative_to(PROJECT)), "engine_curve": again_curve}
        result["again"].append(other)
        lines.append(f"The same recipe, split and seed again, {label} (`{other['run']}`): " + (
            f"epoch {other['maskcls_epoch']} at {other['maskcls_minutes']:.1f} min, **{other['speedup']:.2f}×**."
            if other["speedup"] is not None else f"never reached it (best {other['maskcls_best_f1']:.4f})."))
    lines.append(f"These are in-distribution figures only: `maskcls bench ood {result['run']}` scores the run on the "
                 "out-of-distribution suite.")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_record:
        record_section("time-to-f1", result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
