"""Where the README recipe's training time goes, measured on the recipe itself (``public`` preset: Lite0 at
128 px, first 4 stages frozen, ``wild`` augmentation, batch 64, one loader worker) and on a public set
(``maskcls data build-public`` output).

It builds the run exactly as ``maskcls train public data.root=DATA`` does (:class:`maskcls.engine.run.Run`),
then measures, each with the load average beside it (the CPU may be shared):

* augmentation: every stage of the ``wild`` transform, ms per image, in this process on one thread;
* one training step under ``torch.profiler``: loading a batch (cache read + augmentation + collation, the
  DataLoader with the recipe's workers), forward + loss, backward, optimizer, and validation forward;
* the steady-state throughput of the real loop (``Trainer.train_epoch`` over the recipe's loader) over
  ``--steps`` batches, as the recipe is and with ``aug.batched=true``;
* ``wild`` on one batch: per photo on one thread (as the loader worker runs it) and batched (``BatchWild``).

Figures go to ``benchmarks/results.json`` and ``RESULTS.md`` under the section ``speed-recipe``::

    python benchmarks/speed_recipe.py --data data/public [--steps 30] [--cache DIR]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load() -> float:
    """The 1-minute load average (other processes share the CPU when it is above the core count)."""
    return round(os.getloadavg()[0], 2)


def build_run(data: Path, cache: Path, overrides: list[str]):
    from maskcls.config import load_config
    from maskcls.engine.run import Run

    cfg = load_config("public", [f"data.root={data}", f"cache.dir={cache}", "train.loggers=[]", *overrides])
    folder = cache / "speed-recipe-run"
    folder.mkdir(parents=True, exist_ok=True)
    run = Run(cfg, folder, None, lambda message: print(message, flush=True))
    run.setup()
    return run


def augmentation_stages(run, count: int) -> list[dict]:
    """ms per image of every stage of the train transform, applied in turn to cached photos (one thread)."""
    import numpy as np
    import torch

    stages = list(run.train_set.transform.transforms)
    cache, indices = run.cache, run.train_set.indices[:count]
    images = [torch.from_numpy(np.array(cache[int(i)].transpose(2, 0, 1), order="C")) for i in indices]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    seconds = [0.0] * len(stages)
    try:
        for image in images:
            value = image
            for k, stage in enumerate(stages):
                started = time.perf_counter()
                value = stage(value)
                seconds[k] += time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    return [{"stage": _stage_name(stage), "ms_per_image": round(1000 * s / len(images), 3)}
            for stage, s in zip(stages, seconds)]


def _stage_name(stage) -> str:
    text = repr(stage).replace("\n", " ")
    text = " ".join(text.split())
    return text if len(text) <= 90 else text[:87] + "..."


def augmentation_batch(run, batches: int = 3) -> dict:
    """ms per batch of the recipe's batch size: the per-photo transform (one thread, as a loader worker runs it)
    against :class:`~maskcls.vision.batch_augment.BatchWild` on the collated uint8 batch (this process's threads)."""
    import numpy as np
    import torch

    from maskcls.vision.batch_augment import BatchWild
    from maskcls.vision.transforms import build_transforms

    size = run.local_batch
    per_photo = build_transforms("wild", run.model.preprocess, True)
    batched = BatchWild(run.model.preprocess)
    indices = run.train_set.indices[: size * batches]
    stacked = torch.from_numpy(np.stack([run.cache[int(i)].transpose(2, 0, 1) for i in indices]))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    started = time.perf_counter()
    for image in stacked:
        per_photo(image.clone())
    photo_ms = 1000 * (time.perf_counter() - started) / batches
    torch.set_num_threads(threads)
    started = time.perf_counter()
    for k in range(batches):
        batched(stacked[k * size:(k + 1) * size])
    batch_ms = 1000 * (time.perf_counter() - started) / batches
    return {"batch": size, "per_photo_ms_one_thread": round(photo_ms, 1), "batched_ms": round(batch_ms, 1),
            "batched_threads": threads, "load": load()}


def profile_steps(run, steps: int) -> dict:
    """Time of loading, forward, backward, optimizer and validation forward per batch, from torch.profiler."""
    import torch
    from torch.profiler import ProfilerActivity, profile, record_function

    from maskcls.engine.run import plan_phases

    phase = plan_phases(run.cfg)[0]
    loader = run.train_loader(run.train_set, 0)
    trainer = run.make_trainer(phase, len(loader))
    trainer.model.train()
    batches = iter(loader)
    next(batches)  # the loader's worker starts
    labels = ("load batch", "forward+loss", "backward", "optimizer", "validation forward")
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            with record_function("load batch"):
                inputs, targets = next(batches)
            inputs = trainer._to_device(inputs)
            targets = {k: v.to(trainer.device) for k, v in targets.items()}
            with record_function("forward+loss"):
                loss = trainer.objective(trainer.forward(inputs), targets)
            with record_function("backward"):
                loss.backward()
            with record_function("optimizer"):
                trainer.optimizer.step()
                trainer.optimizer.zero_grad(set_to_none=True)
            with record_function("validation forward"), torch.no_grad():
                trainer.model.eval()
                trainer.forward(inputs)
                trainer.model.train()
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in labels}
    top = sorted((e for e in prof.key_averages() if e.key not in labels and not e.key.startswith("ProfilerStep")),
                 key=lambda e: -e.self_cpu_time_total)[:8]
    batch = run.local_batch
    return {"steps": steps, "batch": batch,
            "ms_per_batch": {label: round(1000 * totals.get(label, 0.0) / steps, 1) for label in labels},
            "top_ops": [{"op": e.key, "self_ms_per_batch": round(e.self_cpu_time_total / 1000 / steps, 1)}
                        for e in top]}


def loop_throughput(run, steps: int) -> dict:
    """images/s of the real training loop (the recipe's loader and Trainer) over ``steps`` batches."""
    from maskcls.engine.run import plan_phases

    phase = plan_phases(run.cfg)[0]
    loader = run.train_loader(run.train_set, 1)
    trainer = run.make_trainer(phase, len(loader))

    class First:
        def __len__(self) -> int:
            return steps

        def __iter__(self):
            return itertools.islice(iter(loader), steps)

    trainer.train_epoch(First())  # warm-up: the worker starts, allocations settle
    before = load()
    stats = trainer.train_epoch(First())
    return {"steps": steps, "images": stats.images, "seconds": round(stats.seconds, 2),
            "images_per_s": round(stats.images_per_s, 1), "load_before": before, "load_after": load()}


def render(figures: dict) -> str:
    lines = ["## Training speed of the README recipe (`benchmarks/speed_recipe.py`)", "",
             f"`maskcls train public` settings on {figures['data']} ({figures['train_photos']:,} training photos), "
             f"{figures['machine']}. The CPU was shared with other work while this ran: the 1-minute load average "
             "is beside each figure (2.0 would be this machine's two cores fully busy), so the times are upper "
             "bounds for an idle machine.", ""]
    loop = figures["loop"]
    lines += ["| measure | value | load |", "|---|---:|---:|",
              f"| steady-state training loop, {loop['steps']} batches of {figures['profile']['batch']} | "
              f"{loop['images_per_s']:.1f} images/s | {loop['load_before']:.1f}–{loop['load_after']:.1f} |"]
    batched = figures["loop_batched"]
    lines.append(f"| the same with `aug.batched=true` (uint8 batches augmented in the training process) | "
                 f"{batched['images_per_s']:.1f} images/s | {batched['load_before']:.1f}–{batched['load_after']:.1f} |")
    aug = figures["augmentation_batch"]
    lines.append(f"| `wild` on a batch of {aug['batch']}: per photo, one thread (a loader worker) | "
                 f"{aug['per_photo_ms_one_thread']:.0f} ms | {aug['load']:.1f} |")
    lines.append(f"| `wild` on a batch of {aug['batch']}: batched (`BatchWild`, {aug['batched_threads']} threads) | "
                 f"{aug['batched_ms']:.0f} ms | {aug['load']:.1f} |")
    prof = figures["profile"]
    for label, ms in prof["ms_per_batch"].items():
        lines.append(f"| {label} (torch.profiler, per batch) | {ms:.0f} ms | {prof['load']:.1f} |")
    lines += ["", "Augmentation stages (`wild`), one thread, per image:", "", "| stage | ms/image |", "|---|---:|"]
    lines += [f"| `{s['stage']}` | {s['ms_per_image']:.2f} |" for s in figures["augmentation"]]
    total = sum(s["ms_per_image"] for s in figures["augmentation"])
    lines += [f"| **all stages** | **{total:.2f}** |", "",
              "Heaviest operators of a step (self CPU time per batch): " +
              ", ".join(f"`{o['op']}` {o['self_ms_per_batch']:.0f} ms" for o in prof["top_ops"][:6]) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="A public set (build-public output).")
    parser.add_argument("--cache", type=Path, default=Path("runs/bench-cache"), help="Image cache folder.")
    parser.add_argument("--steps", type=int, default=30, help="Batches timed in the loop and profiled.")
    parser.add_argument("--augment-images", type=int, default=300, help="Photos timed per augmentation stage.")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the recipe (for experiments).")
    args = parser.parse_args(argv)
    os.environ.setdefault("MASKCLS_PROGRESS", "0")
    run = build_run(args.data, args.cache, args.overrides)
    figures = {"data": str(args.data), "train_photos": int(len(run.train_set)), "overrides": args.overrides,
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
               "load_start": load()}
    figures["augmentation"] = augmentation_stages(run, args.augment_images)
    figures["augmentation_load"] = load()
    figures["profile"] = profile_steps(run, max(3, args.steps // 3))
    figures["profile"]["load"] = load()
    figures["augmentation_batch"] = augmentation_batch(run)
    figures["loop"] = loop_throughput(run, args.steps)
    batched = build_run(args.data, args.cache, [*args.overrides, "aug.batched=true"])
    figures["loop_batched"] = loop_throughput(batched, args.steps)
    print(render(figures))
    if not args.overrides:
        from results_io import record_section

        record_section("speed-recipe", figures, render(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
