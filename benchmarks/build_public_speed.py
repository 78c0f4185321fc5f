"""Time ``maskcls data build-public`` (sampling, import, six masks drawn per person over every core) and its CPU
seconds per person, with the load average beside it, into the ``speed-build-public`` section of RESULTS.md::

    python benchmarks/build_public_speed.py --src ../shared/data/utkface --people 150 [--workers N] [--keep DIR]

The CPU seconds (all processes: this one and the pool's workers) divided by the cores give what the build would
take on an idle machine, when the work spreads evenly; the wall time is what it took with the load there was.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    from maskcls.synth.public import build_public
    from maskcls.parallel import worker_count

    from idle import busy_words, steal_jiffies, stolen_share, stolen_words, wait_idle

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=Path("../shared/data/utkface"))
    parser.add_argument("--people", type=int, default=150)
    parser.add_argument("--eval-people", type=int, default=0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--keep", type=Path, default=None,
                        help="Build into this new folder and keep it (default: a temporary folder, removed).")
    args = parser.parse_args(argv)
    os.environ.setdefault("MASKCLS_PROGRESS", "0")
    if args.keep is not None and args.keep.exists():
        parser.error(f"{args.keep}: exists (the build never writes into an existing folder)")
    work = Path(tempfile.mkdtemp(prefix="maskcls-build-public-"))
    target = args.keep if args.keep is not None else work / "public"
    try:
        busy = wait_idle()
        clock = steal_jiffies()
        before = os.getloadavg()[0]
        started = time.perf_counter()
        result = build_public(args.src, target, people=args.people, eval_people=args.eval_people,
                              workers=args.workers)
        wall = time.perf_counter() - started
        stolen = stolen_share(clock)
        after = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    cpu = sum(u.ru_utime + u.ru_stime for u in usage)
    people = args.people + args.eval_people
    cores, workers = os.cpu_count() or 1, worker_count(args.workers)
    figures = {"people": people, "complete": result.synth.complete + result.eval_people,
               "photos_drawn": result.synth.written + (result.eval_synth.written if result.eval_synth else 0),
               "workers": workers, "cores": cores, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
               "cpu_s_per_person": round(cpu / people, 3), "busy_before": None if busy is None else round(busy, 3),
               "stolen": None if stolen is None else round(stolen, 4),
               "load_before": round(before, 2),
               "load_after": round(after, 2),
               "phase_s": {phase: round(took, 1) for phase, took in result.seconds.items()},
               "idle_estimate_3000_people_min": round(cpu / people * 3000 / cores / 60, 1)}
    markdown = "\n".join([
        "## `build-public` speed (`benchmarks/build_public_speed.py`)", "",
        f"{people} people ({figures['complete']} complete, {figures['photos_drawn']:,} masked photos drawn) with "
        f"{workers} worker processes on {cores} cores: **{wall:.1f} s wall**, {busy_words(busy)} (1-minute load "
        f"average {before:.1f}–{after:.1f}; {stolen_words(stolen)}), "
        f"{cpu:.1f} CPU-s in all processes = "
        f"{figures['cpu_s_per_person']:.3f} CPU-s a person (the workers' start-up included); wall by phase: "
        + ", ".join(f"{phase} {took:.1f} s" for phase, took in result.seconds.items()) + ". Spread evenly over "
        f"{cores} idle cores that is {figures['idle_estimate_3000_people_min']:.1f} min for 2,700 + 300 people"
        + (f"; this run measured it: **{wall / 60:.1f} min wall**." if people >= 3000 and busy is not None and busy < 0.1
           else ": an estimate from CPU time, not a measured idle run.")])
    print(markdown)
    from results_io import record_section

    record_section("speed-build-public", figures, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
