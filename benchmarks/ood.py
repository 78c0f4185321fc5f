"""The out-of-distribution section of ``make bench``: runs scored on photos no run trains on, framed otherwise.

Builds (or reuses) the suite of :mod:`maskcls.ood.suite` from the development hold-out of ``../shared/data``,
scores each run as it is and, with ``--face-cut`` (the default), the same run predicting with ``crop: face`` and
``face_margin: 0`` instead of its own settings (no retraining), plus any ``--peer`` predictor (``module:attribute``
of an object with ``.name`` and ``.predict(images)``), and writes the ``ood`` section of ``benchmarks/RESULTS.md``
and ``benchmarks/results.json`` through :func:`results_io.record_section`.

    .venv/bin/python benchmarks/ood.py runs/public                  # one run
    .venv/bin/python benchmarks/ood.py --bench-work data/bench      # the best run of the latest make bench
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent


def latest_bench_run(work: Path) -> Path | None:
    """The ``best`` run of the newest ``bench-*.json`` in ``work`` (written by ``benchmarks/bench.py``)."""
    for path in sorted(work.glob("bench-*.json"), reverse=True):
        try:
            run = json.loads(path.read_text(encoding="utf-8"))["quality"]["best"]["run"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if Path(run, "best.pt").is_file():
            return Path(run)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="Run folders (default: the latest make bench's best run).")
    parser.add_argument("--bench-work", type=Path, default=PROJECT / "data" / "bench", help="make bench's work folder.")
    parser.add_argument("--suite", type=Path, default=PROJECT / "data" / "ood-suite")
    parser.add_argument("--shared", type=Path,
                        help="Shared data folder (default $MASKCLS_SHARED_DATA or ../shared/data).")
    parser.add_argument("--people", type=int, default=1000, help="Held-out UTKFace people in the suite (0: all).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--face-cut", action=argparse.BooleanOptionalAction, default=True,
                        help="Also score each run predicting with crop=face, face_margin=0.")
    parser.add_argument("--peer", action="append", default=[],
                        help="module:attribute of another predictor; repeatable.")
    parser.add_argument("--from-json", type=Path, nargs="+",
                        help="Write the section from score JSONs of `maskcls bench ood --json` (same suite) instead "
                             "of scoring here (e.g. runs scored in parallel).")
    parser.add_argument("--note", default="", help="A paragraph on the runs scored (how they were trained).")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)

    from maskcls.errors import MaskclsError
    from maskcls.ood.predictors import RunPredictor, load_predictor
    from maskcls.ood.score import score_suite
    from maskcls.ood.suite import SuiteOptions, default_shared, ensure_suite

    runs = list(args.runs)
    start = time.perf_counter()
    if args.from_json:
        results = merge_scores(args.from_json)
        return write_section(args, results, False)
    if not runs and not args.peer:
        found = latest_bench_run(args.bench_work)
        if found is None:
            print(f"ood: no run given and no finished make bench run in {args.bench_work}", file=sys.stderr)
            return 1
        runs = [found]
    try:
        predictors = []
        for run in runs:
            predictors.append(RunPredictor(run))
            if args.face_cut:
                predictors.append(RunPredictor(run, {"crop": "face", "face_margin": 0.0}))
        predictors += [load_predictor(target) for target in args.peer]
        suite, built = ensure_suite(args.suite, SuiteOptions(args.shared or default_shared(), args.people, args.seed))
        build_seconds = time.perf_counter() - start
        print(f"ood: suite {suite} " + (f"built in {build_seconds:.0f} s" if built else "up to date"), flush=True)
        results = score_suite(suite, predictors)
    except MaskclsError as exc:
        print(f"ood: error: {exc}", file=sys.stderr)
        return 1
    return write_section(args, results, built)


def merge_scores(paths: list[Path]) -> dict:
    """One result of several ``maskcls bench ood --json`` files of the same suite (predictors side by side)."""
    merged: dict | None = None
    for path in paths:
        results = json.loads(path.read_text(encoding="utf-8"))
        if merged is None:
            merged = results
            continue
        # A suite is deterministic from its options, so a rebuild with the same options and rows is the same suite.
        if _recipe(results["manifest"]) != _recipe(merged["manifest"]):
            raise SystemExit(f"ood: {path}: scored on another suite than {paths[0]}")
        merged["predictors"].update(results["predictors"])
        merged["seconds"].update(results["seconds"])
    return merged


def _recipe(manifest: dict) -> dict:
    """What a suite build holds: its manifest without the time it was built."""
    return {key: value for key, value in manifest.items() if key != "built"}


def write_section(args: argparse.Namespace, results: dict, built: bool) -> int:
    """The ``ood`` section of RESULTS.md and results.json."""
    from maskcls.ood.score import headline, markdown
    from results_io import RESULTS_JSON, record_section

    names = list(results["predictors"])
    timing = ", ".join(f"`{n}` {results['seconds'][n] / 60:.1f} min" for n in names)
    command = "python benchmarks/ood.py " + " ".join(str(a) for a in (sys.argv[1:] if sys.argv else []))
    intro = [
        "## Out-of-distribution suite",
        "",
        "Written by `benchmarks/ood.py` (run by `make bench`; any run: `maskcls bench ood RUN`). "
        "Every photo comes from the development hold-out of `../shared/data` (`maskcls.data.devsplit`), which "
        "training must leave out: real crowd crops of held-out facemask photos, held-out UTKFace people as they "
        "are, re-framed into larger frames (face 30–60 % of the width; border extended, blurred or another "
        "backdrop; downscaled, JPEG 35–89) "
        "and masked by the evaluation-only renderer (`maskcls.ood.eval_masks`: textured templates warped to the "
        "5 landmarks; worn, under the nose, on the chin), and held-out realmask photos by source. "
        "`(crop=face, margin 0)` rows are the same run predicting with the face cut out by the detector instead of "
        "its own crop setting, without retraining.",
        "",
        f"Scoring time on this machine: {timing} (suite {'built' if built else 'reused'}).",
        "",
    ] + ([args.note, ""] if args.note else [])
    figures = {"predictors": names, "headline": headline(results), "results": results,
               "command": command}
    record_section("ood", figures, "\n".join(intro) + "\n" + markdown(results, heading="###"), md_path=args.out,
                   json_path=RESULTS_JSON if args.out == HERE / "RESULTS.md" else args.out.with_suffix(".json"))
    print(markdown(results, heading="###"))
    print(f"ood: written the ood section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
