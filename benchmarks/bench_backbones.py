"""Every offline backbone: its weights' source and licence, input size, parameters and images/s on this CPU.

Inference throughput of the backbone alone (pooled features, eval mode, ``torch.no_grad``, batch 32, float32,
contiguous memory), after two warm-up batches, on the threads given (default 2, the whole machine). Figures go to
the ``backbones`` section of ``benchmarks/results.json`` and ``RESULTS.md``; the README's backbone table quotes them.

    .venv/bin/python benchmarks/bench_backbones.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def measure(name: str, batch: int, seconds: float) -> dict:
    import torch

    from maskcls.models import OFFLINE_WEIGHTS, create_backbone

    model, preprocess = create_backbone(name, pretrained=True)
    model.eval()
    x = torch.randn(batch, 3, *preprocess.size)
    with torch.no_grad():
        for _ in range(2):
            model(x)
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds or done < 3 * batch:
            model(x)
            done += batch
        elapsed = time.perf_counter() - started
    source = OFFLINE_WEIGHTS[name]
    return {"name": name, "package": source.package, "file": source.file, "licence": source.licence,
            "input": f"{preprocess.size[0]}×{preprocess.size[1]}", "alignment": preprocess.alignment,
            "features": int(model.num_features), "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
            "images_per_s": round(done / elapsed, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time a backbone")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    import torch

    from maskcls.models import list_offline

    sys.path.insert(0, str(HERE))
    from results_io import record_section

    torch.set_num_threads(args.threads)
    rows = []
    for name in list_offline():
        rows.append(measure(name, args.batch, args.seconds))
        print(rows[-1], flush=True)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    figures = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "threads": args.threads,
               "batch": args.batch, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
               "load_average_1min": round(load, 1), "rows": rows}
    lines = ["## Offline backbones", "",
             f"Written by `benchmarks/bench_backbones.py` on {figures['date']} ({figures['machine']}, {args.threads} "
             f"threads, batch {args.batch}, pooled features, float32; 1-minute load average {figures['load_average_1min']} "
             f"while measuring: the cores were shared).", "",
             "| backbone | weights | licence | input | alignment | features | parameters (M) | images/s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| `{row['name']}` | `{row['package']}` `{row['file']}` | {row['licence']} | {row['input']} | "
                     f"{row['alignment']} | {row['features']} | {row['params_m']} | {row['images_per_s']} |")
    markdown = "\n".join(lines)
    print(markdown)
    if not args.no_record:
        record_section("backbones", figures, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
