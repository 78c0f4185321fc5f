"""Inference speed on this CPU: eager PyTorch vs ONNX Runtime, images/s at batch 1 and batch 32.

Both engines run the same module, :class:`maskcls.inference.export.ExportModule` (uint8 NHWC photos → scale,
normalise, network, 18-class probabilities): eagerly under ``torch.inference_mode``, and exported to ONNX. Both get
the same number of threads (``torch.set_num_threads`` and ONNX Runtime's intra-op threads). Eager runs twice, with
the weights in the default layout and in channels_last; its better figure is the one compared.

Each measurement calls an engine on one fixed batch of random photos until ``--seconds`` have passed, after a
warm-up; repeats are interleaved across engines so drifts of the machine hit all of them alike, and the median
of the repeats is reported.

    .venv/bin/python benchmarks/bench_inference.py                      # efficientnet_lite0 at 224 px, untrained head
    .venv/bin/python benchmarks/bench_inference.py --run runs/fast-cpu  # a trained run's model
    .venv/bin/python benchmarks/bench_inference.py --json bench.json    # also write the figures
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from maskcls.errors import MaskclsError
from maskcls.fileio import write_text
from maskcls.inference.export import ExportModule, onnx_bytes
from maskcls.parallel import cpu_count, onnx_session

Engine = Callable[[np.ndarray], np.ndarray]
EAGER, EAGER_CL, ORT = "eager", "eager channels_last", "onnxruntime"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="Run folder to benchmark (default: an untrained classifier).")
    parser.add_argument("--backbone", default="efficientnet_lite0", help="Backbone without --run (bundled weights).")
    parser.add_argument("--size", type=int, default=224, help="Input side in pixels without --run.")
    parser.add_argument("--head", default="multitask", help="Head without --run.")
    parser.add_argument("--batches", default="1,32", help="Comma-separated batch sizes.")
    parser.add_argument("--seconds", type=float, default=2.0, help="Duration of one measurement.")
    parser.add_argument("--repeats", type=int, default=5, help="Measurements per engine and batch size (median).")
    parser.add_argument("--threads", type=int, default=None, help="Threads of both engines (default: all cores).")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset of the export.")
    parser.add_argument("--json", type=Path, help="Write the figures to this JSON file (never overwritten).")
    return parser.parse_args(argv)


def build_module(args: argparse.Namespace) -> tuple[ExportModule, str]:
    """The wrapped module to time, and a description of it."""
    if args.run is not None:
        from maskcls.runs import RunFolder

        model, cfg = RunFolder(args.run).require_run().load_model("cpu")
        return ExportModule(model, cfg.data.age_thresholds), f"run {args.run} ({cfg.model.backbone})"
    from maskcls.config import ModelConfig
    from maskcls.models.backbones import OFFLINE_WEIGHTS
    from maskcls.models.classifier import build_classifier

    pretrained = args.backbone in OFFLINE_WEIGHTS
    model = build_classifier(ModelConfig(backbone=args.backbone, pretrained=pretrained, img_size=args.size,
                                         head=args.head))
    weights = "bundled ImageNet weights" if pretrained else "random weights"
    return ExportModule(model), f"{args.backbone} ({weights}, untrained {args.head} head)"


def eager_engine(module: ExportModule) -> Engine:
    """The module called eagerly on a numpy batch, as a user of PyTorch would."""

    def run(images: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return module(torch.from_numpy(images)).numpy()

    return run


def measure(engine: Engine, images: np.ndarray, seconds: float) -> float:
    """Images/s of calling ``engine`` on ``images`` for at least ``seconds`` (and at least once)."""
    calls, start = 0, time.perf_counter()
    while True:
        engine(images)
        calls += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls * len(images) / elapsed


def cpu_seconds() -> tuple[float, float] | None:
    """``(busy CPU seconds of the whole machine, CPU seconds of this process)`` so far; ``None`` off Linux."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    own = os.times()
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), own.user + own.system


def cpu_name() -> str:
    """The processor's model name, for the record."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def benchmark(args: argparse.Namespace) -> dict:
    """Time every engine at every batch size; print as it goes and return the figures."""
    import onnxruntime

    threads = args.threads or cpu_count()
    torch.set_num_threads(threads)
    module, what = build_module(args)
    height, width = module.preprocess.size
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(onnx_bytes(module, args.opset))
        session = onnx_session(path, threads)
    engines: dict[str, Engine] = {
        EAGER: eager_engine(module),
        ORT: lambda images: session.run(["probs"], {"images": images})[0],
    }
    rng = np.random.default_rng(0)
    sample = rng.integers(0, 256, (4, height, width, 3), dtype=np.uint8)
    parity = float(np.abs(engines[ORT](sample) - engines[EAGER](sample)).max())
    print(f"{what}, {height}x{width} px, {threads} threads, torch {torch.__version__}, "
          f"onnxruntime {onnxruntime.__version__}; parity max |dp| {parity:.1e}", flush=True)
    # A progress bar would redraw from another thread while timing on few cores, so each figure is printed instead.
    results = []
    start_wall, start_cpu = time.perf_counter(), cpu_seconds()
    for batch in (int(b) for b in args.batches.split(",")):
        images = rng.integers(0, 256, (batch, height, width, 3), dtype=np.uint8)
        runs: dict[str, list[float]] = {EAGER: [], EAGER_CL: [], ORT: []}
        for repeat in range(args.repeats + 1):  # repeat 0 warms up
            for name in runs:
                layout = torch.channels_last if name == EAGER_CL else torch.contiguous_format
                module.to(memory_format=layout)
                engine = engines[EAGER if name == EAGER_CL else name]
                figure = measure(engine, images, args.seconds if repeat else min(args.seconds, 1.0))
                if repeat:
                    runs[name].append(figure)
            if repeat:
                figures = "  ".join(f"{name} {values[-1]:.1f}" for name, values in runs.items())
                print(f"  batch {batch}, repeat {repeat}/{args.repeats}: images/s {figures}", flush=True)
        module.to(memory_format=torch.contiguous_format)
        for name, values in runs.items():
            results.append({"batch": batch, "engine": name, "images_per_s": statistics.median(values),
                            "runs": [round(v, 2) for v in values]})
    background = None
    if start_cpu is not None and (end_cpu := cpu_seconds()) is not None:
        # Other processes' share of all cores: the numbers are only fair on an otherwise idle machine.
        others = (end_cpu[0] - start_cpu[0]) - (end_cpu[1] - start_cpu[1])
        background = max(0.0, others / ((time.perf_counter() - start_wall) * (os.cpu_count() or 1)))
    return {
        "model": what, "input": [height, width], "threads": threads, "cpu": cpu_name(),
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__, "opset": args.opset,
        "seconds": args.seconds, "repeats": args.repeats, "parity_max_abs": parity,
        "background_cpu_share": background, "results": results,
        "ratio_ort_vs_best_eager": ratios(results),
    }


def ratios(results: list[dict]) -> dict[str, float]:
    """ONNX Runtime images/s over the better eager figure, per batch size."""
    out = {}
    for batch in sorted({r["batch"] for r in results}):
        figures = {r["engine"]: r["images_per_s"] for r in results if r["batch"] == batch}
        out[str(batch)] = figures[ORT] / max(figures[EAGER], figures[EAGER_CL])
    return out


def print_table(report: dict) -> None:
    print(f"\n{'batch':>5}  {'engine':<20} {'images/s':>9} {'ms/batch':>9}  runs")
    for r in report["results"]:
        ms = 1000 * r["batch"] / r["images_per_s"]
        print(f"{r['batch']:>5}  {r['engine']:<20} {r['images_per_s']:>9.1f} {ms:>9.1f}  {r['runs']}")
    print()
    if report["background_cpu_share"] is not None:
        share = report["background_cpu_share"]
        warning = "  (not idle: figures are disturbed)" if share > 0.05 else ""
        print(f"other processes used {100 * share:.0f}% of the CPUs while timing{warning}")
    for batch, ratio in report["ratio_ort_vs_best_eager"].items():
        print(f"batch {batch}: onnxruntime / best eager = {ratio:.2f}x")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the table and write the JSON; the exit status."""
    args = parse_args(argv)
    if args.json is not None and args.json.exists():
        print(f"bench_inference: error: {args.json}: already exists", file=sys.stderr)
        return 1
    try:
        report = benchmark(args)
    except MaskclsError as exc:
        print(f"bench_inference: error: {exc}", file=sys.stderr)
        return 1
    print_table(report)
    if args.json is not None:
        write_text(args.json, json.dumps(report, indent=1) + "\n")
        print(f"figures: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
