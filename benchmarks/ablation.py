"""The ablation table: the README recipe (the ``public`` preset) once as the base, then each trick alone on the same
people, the same split and the same epochs, with two training seeds, scored in-distribution (the public set's
``eval/`` people, whom no row trains on) and on the out-of-distribution suite (:mod:`maskcls.ood.suite`)::

    .venv/bin/python benchmarks/ablation.py                      # every row, 2 seeds, the small scale below
    .venv/bin/python benchmarks/ablation.py --rows base focal    # some rows (finished ones are kept and reused)
    .venv/bin/python benchmarks/ablation.py --people 2700 --epochs 4 --suite-people 1000   # full scale (GPU)

Each (row, seed) is trained once into ``<work>/runs`` and its figures kept in ``<work>/results/<row>-s<seed>.json``,
so an interrupted table continues where it stopped. Photos go through each run's own preprocessing
(:class:`maskcls.ood.predictors.RunPredictor`); the inputs of one preprocessing setting are computed once (the face
detector is the slow part) and shared by every row. The table goes to the ``ablation`` section of
``benchmarks/RESULTS.md`` and ``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path.insert(0, str(HERE))
SHARED = Path(os.environ.get("MASKCLS_SHARED_DATA", PROJECT.parent / "shared" / "data"))
MASKCLS = [sys.executable, "-m", "maskcls"]
#: Every ≥ 60 class of the 18 (mask × 6 + gender × 3 + 2).
OLD_CLASSES = (2, 5, 8, 11, 14, 17)
#: Suite rows scored (the crowd crops at margin 0.25, as the acceptance figures of the suite use them).
SUITE_ROWS = ("crowd_m25", "utk_reframed", "utk_masked", "realmask", "realmask_grey")


@dataclass(frozen=True)
class Row:
    """One line of the table.

    Attributes:
        name: the row's key (file names) and label.
        overrides: config overrides on top of the base.
        kind: ``train`` (one run), ``tta`` (the base runs predicted with flip TTA), ``kfold`` (5 folds, soft vote),
            ``tasks`` (two task-specific members combined task by task) or ``self_training`` (the last round).
        note: what the row changes, for the table.
    """

    name: str
    note: str
    overrides: tuple[str, ...] = ()
    kind: str = "train"
    members: tuple[tuple[str, ...], ...] = field(default=())


def oversample(times: int) -> str:
    return "train.oversample={" + ", ".join(f"{c}: {times}" for c in OLD_CLASSES) + "}"


ROWS: tuple[Row, ...] = (
    Row("base", "the `public` preset as it is"),
    Row("age58", "training-only age shift 60 → 58", ("data.train_old_threshold=58",)),
    Row("weighted_sampler", "WeightedRandomSampler by class", ("train.sampler=weighted",)),
    Row("class_weights", "class-weighted loss", ("train.class_weights=true",)),
    Row("focal", "focal loss (γ 2)", ("train.loss=focal",)),
    Row("focal_f1", "0.6·focal + 0.4·F1 loss", ("train.loss=0.6*focal+0.4*f1",)),
    Row("no_smoothing", "label smoothing off (the base has 0.05)", ("train.label_smoothing=0",)),
    Row("arcface", "ArcFace heads (s 30, m 0.3), plain softmax at inference", ("model.arcface=true",)),
    Row("cutmix_vertical", "CutMix of the left/right half, p 0.5", ("aug.cutmix=0.5", "aug.cutmix_vertical=true")),
    Row("mixup", "MixUp (α 0.2), p 0.5", ("aug.mixup=0.5",)),
    Row("autoaugment", "AutoAugment (ImageNet policy) instead of `wild`", ("aug.preset=autoaugment",)),
    Row("trivialaugment", "TrivialAugmentWide instead of `wild`", ("aug.preset=trivialaugment",)),
    Row("randaugment", "RandAugment instead of `wild`", ("aug.preset=randaugment",)),
    Row("undersample", "2 of the 5 `mask*` photos a person, drawn anew each epoch", ("train.undersample_masks=2",)),
    Row("oversample_2x", "≥ 60 photos repeated 2× (with the augmentation)", (oversample(2),)),
    Row("soft_sharing", "task towers after stage 4, L2-linked (1e-3)",
        ("model.sharing=soft", "model.shared_stages=4", "model.tower_l2=0.001")),
    Row("self_training", "1 round on the eval photos pseudo-labelled above the default thresholds, "
        "sampling weight 0.5 (transductive, as teams did)",
        kind="self_training"),
    Row("ema", "EMA of the weights (decay 0.9: this scale has few steps)", ("train.ema=0.9",)),
    Row("tta_flip", "the base runs, predicted with the horizontal flip averaged in", kind="tta"),
    Row("kfold5", "5-fold soft vote (each fold trains on 4/5 of the people)", ("split.kind=kfold", "split.n_splits=5"),
        kind="kfold"),
    Row("task_ensemble", "mask from a mask-only member; gender and age from a member trained on `normal` and "
        "correctly masked photos only", kind="tasks",
        members=(("model.task_weights={mask: 1.0, gender: 0.0, age: 0.0}",),
                 ("model.task_weights={mask: 0.0, gender: 1.0, age: 1.5}", "data.train_mask_states=[wear, not_wear]"))),
)


# --- data ----------------------------------------------------------------------------------------------------------

def run_step(args: list, log: Path) -> None:
    """Run a maskcls command, its output appended to ``log``; a failure stops the table with the log's tail."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(f"$ {' '.join(map(str, args))}\n")
        handle.flush()
        env = {**os.environ, "MASKCLS_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
        code = subprocess.call([str(a) for a in args], stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=PROJECT)
    if code:
        tail = log.read_text(encoding="utf-8").splitlines()[-15:]
        raise SystemExit("ablation: a step failed:\n" + "\n".join(tail))


def prepare(args: argparse.Namespace) -> tuple[Path, Path, Path]:
    """The public set, the crowd crops of the training photos and the suite (each made once, then reused)."""
    from maskcls.ood.suite import SuiteOptions, ensure_suite

    work = args.work
    data = work / f"public-{args.people}-{args.eval_people}"
    log = work / "prepare.log"
    if not (data / "eval_gt.csv").is_file():
        print(f"ablation: building the public set ({args.people} + {args.eval_people} people) in {data}", flush=True)
        run_step([*MASKCLS, "data", "build-public", args.shared / "utkface", data, "--people", args.people,
                  "--eval-people", args.eval_people], log)
    crops = work / "facemask-crops"
    if not (crops / "labels.csv").is_file():
        print(f"ablation: cutting the crowd crops of the training photos into {crops}", flush=True)
        run_step([*MASKCLS, "data", "import-boxes", args.shared / "facemask" / "images",
                  args.shared / "facemask" / "boxes.csv", crops, "--split", "train", "--margin", "0"], log)
    suite, _ = ensure_suite(args.suite, SuiteOptions(args.shared, args.suite_people, 0))
    return data, crops, suite


def base_overrides(args: argparse.Namespace, data: Path, crops: Path, seed: int) -> list[str]:
    """The README recipe at this scale: the ``public`` preset on this public set, its real-mask sources cut to the
    same share of the epoch as at full scale, the same split for every row and seed."""
    return [f"data.root={data}",
            "data.sources=[{kind: crops, root: " + str(args.shared / "realmask") + f", name: realmask, weight: 0.3, "
            f"limit: {args.realmask_limit}}}, {{kind: crops, root: {crops}, name: facemask-crops, weight: 0.2, "
            f"limit: {args.crops_limit}}}]",
            f"train.epochs={args.epochs}", f"seed={seed}", "split.seed=42", "train.loggers=[]",
            f"cache.dir={args.work / 'cache'}"]


# --- scoring -------------------------------------------------------------------------------------------------------

class Inputs:
    """Model inputs of photo files under one preprocessing setting, computed once and kept in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.memory: dict[str, tuple[dict[str, int], np.ndarray, np.ndarray]] = {}

    def get(self, predictor, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        from maskcls.fileio import atomic_write

        key = hashlib.sha1(repr(predictor.spec).encode()).hexdigest()[:16]
        if key not in self.memory:
            path = self.folder / f"{key}.npz"
            if path.is_file():
                with np.load(path) as saved:
                    names = [str(p) for p in saved["paths"]]
                    self.memory[key] = ({p: i for i, p in enumerate(names)}, saved["entries"], saved["no_face"])
            else:
                self.memory[key] = ({}, np.zeros((0, *predictor.spec.shape), np.uint8), np.zeros(0, bool))
        index, entries, no_face = self.memory[key]
        missing = [p for p in dict.fromkeys(str(p) for p in paths) if p not in index]
        if missing:
            new, new_no_face = predictor.entries([Path(p) for p in missing])
            start = len(entries)
            index.update({p: start + i for i, p in enumerate(missing)})
            entries, no_face = np.concatenate([entries, new]), np.concatenate([no_face, new_no_face])
            self.memory[key] = (index, entries, no_face)
            self.folder.mkdir(parents=True, exist_ok=True)
            names = sorted(index, key=index.get)
            with atomic_write(self.folder / f"{key}.npz", "wb") as handle:
                np.savez(handle, paths=np.array(names), entries=entries, no_face=no_face)
        rows = [index[str(p)] for p in paths]
        return entries[rows], no_face[rows]


class RowPredictor:
    """The predictor of one row and seed: one run, a k-fold parent, flip TTA or two task members combined."""

    def __init__(self, name: str, runs: list[Path], inputs: Inputs, tta: bool = False,
                 tasks: dict[str, list[float]] | None = None) -> None:
        from maskcls.ood.predictors import RunPredictor

        self.name, self.inputs, self.tasks = name, inputs, tasks
        # ONNX Runtime: about 3× eager PyTorch on this CPU (RESULTS.md, inference), the same probabilities.
        self.members = [RunPredictor(run, engine="onnx") for run in runs]
        self.tta = tta

    def entries(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        return self.inputs.get(self.members[0], paths)

    def probs(self, paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
        from maskcls.inference.ensemble import combine_tasks
        from maskcls.inference.tta import Tta, mean_probs

        views = Tta(flip=self.tta)
        per_member, no_face = [], None
        for member in self.members:
            entries, flags = self.inputs.get(member, paths)
            no_face = flags if no_face is None else no_face | flags
            probs = np.zeros((len(entries), 18), dtype=np.float64)
            for start in range(0, len(entries), 128):
                batch = np.ascontiguousarray(entries[start:start + 128])
                shown = views.views(batch, member.spec.interpolation)
                probs[start:start + len(batch)] = np.mean([mean_probs(e, shown) for e in member.engines], axis=0)
            per_member.append(probs)
        if self.tasks:
            return combine_tasks(np.stack(per_member), self.tasks).astype(np.float64), no_face
        return np.mean(per_member, axis=0), no_face

    def predict_files(self, paths: list[Path]) -> dict[str, np.ndarray]:
        from maskcls.ood.predictors import task_marginals

        probs, no_face = self.probs(list(paths))
        return {**task_marginals(probs), "no_face": no_face}


def eval_photos(data: Path) -> tuple[list[Path], np.ndarray]:
    with open(data / "eval_gt.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [data / "eval" / "images" / r["ImageID"] for r in rows], np.array([int(r["ans"]) for r in rows])


def score(predictor: RowPredictor, data: Path, suite: Path) -> dict:
    """18-class and per-task F1 on the eval people, and the suite's headline figures."""
    from maskcls.labels import DEFAULT_AGE_BANDS
    from maskcls.metrics import score_labels
    from maskcls.ood.score import headline, score_suite

    paths, truth = eval_photos(data)
    probs, _ = predictor.probs(paths)
    result = score_labels(truth, probs.argmax(1), DEFAULT_AGE_BANDS)
    suite_results = score_suite(suite, [predictor], SUITE_ROWS)
    figures = {"macro_f1": result.macro_f1, **{f"{t}_f1": v for t, v in result.task_f1.items()}}
    figures.update({f"ood_{k}": v for k, v in headline(suite_results)[predictor.name].items() if v is not None})
    return figures


# --- training ------------------------------------------------------------------------------------------------------

def run_time(run: Path) -> tuple[float, float]:
    """Training seconds (epochs only) and the images/s of the last epoch of a run folder (or of its folds)."""
    files = [run / "metrics.csv"] if (run / "metrics.csv").is_file() else sorted(run.glob("fold*/metrics.csv"))
    seconds, rates = 0.0, []
    for path in files:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        seconds += sum(float(r["seconds"]) for r in rows)
        rates.append(float(rows[-1]["images_per_s"]))
    return seconds, float(np.mean(rates)) if rates else float("nan")


def train_one(args: argparse.Namespace, overrides: list[str], name: str, kind: str = "train") -> Path:
    """Train one run (a k-fold parent, a self-training run) in a new folder of ``<work>/runs`` and return it."""
    runs = args.work / "runs"
    folder = runs / name
    done = {"kfold": "oof_metrics.json", "self_training": "round1/report.html"}.get(kind, "report.html")
    if (folder / done).is_file():
        return folder
    if folder.exists():  # an interrupted try: never resumed into, never overwritten
        folder.rename(folder.with_name(f"{name}.stale-{int(time.time())}"))
    kfold = ["--kfold"] if kind == "kfold" else []
    run_step([*MASKCLS, "train", "public", *overrides, f"name={name}", "--runs", runs, *kfold],
             args.work / "train.log")
    return folder


def measure(args: argparse.Namespace, row: Row, seed: int, data: Path, crops: Path, suite: Path,
            inputs: Inputs) -> dict:
    """Train what a row needs for one seed, score it and return its figures."""
    base = base_overrides(args, data, crops, seed)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    tasks = None
    if row.kind == "tta":
        runs = [train_one(args, base, f"base-s{seed}")]
    elif row.kind == "tasks":
        runs = [train_one(args, base + list(m), f"{row.name}-m{i}-s{seed}") for i, m in enumerate(row.members)]
        tasks = {"mask": [1.0, 0.0], "gender": [0.0, 1.0], "age": [0.0, 1.0]}
    elif row.kind == "self_training":
        parent = train_one(args, base + [f"self_training.folder={data / 'eval' / 'images'}", "self_training.rounds=1",
                                         "self_training.weight=0.5"], f"{row.name}-s{seed}", row.kind)
        runs = [parent / "round1"]
    else:
        runs = [train_one(args, base + list(row.overrides), f"{row.name}-s{seed}", row.kind)]
    wall = time.perf_counter() - started
    folders = runs if row.kind != "self_training" else [runs[0].parent]
    seconds = [run_time(r) for r in folders]
    if row.kind == "self_training":
        seconds.append(run_time(runs[0]))
    predictor = RowPredictor(f"{row.name}-s{seed}", runs, inputs, tta=row.kind == "tta", tasks=tasks)
    figures = score(predictor, data, suite)
    figures.update({"train_minutes": sum(s for s, _ in seconds) / 60 if row.kind != "tta" else 0.0,
                    "images_per_s": float(np.nanmean([r for _, r in seconds])), "wall_minutes": wall / 60,
                    "load_at_start": round(load, 2), "runs": [str(r) for r in runs]})
    return figures


# --- the table -----------------------------------------------------------------------------------------------------

COLUMNS = (("macro_f1", "18-class F1"), ("mask_f1", "mask"), ("gender_f1", "gender"), ("age_f1", "age"),
           ("ood_crowd_m25_ge32_mask_f1", "crowd ≥32 mask"), ("ood_crowd_m25_ge32_incorrect_f1", "crowd incorrect"),
           ("ood_utk_reframed_gender_f1", "re-framed gender"), ("ood_utk_reframed_age_f1", "re-framed age"),
           ("ood_utk_masked_mask_f1", "re-masked mask"), ("ood_realmask_worn_f1", "realmask worn"),
           ("ood_realmask_none_f1", "realmask none"), ("ood_realmask_grey_mask_f1", "grey wrongly-worn mask"))


def summarise(results: dict[str, list[dict]]) -> dict[str, dict]:
    """Mean, half the seed-to-seed range and the change against the base, per row and figure."""
    out: dict[str, dict] = {}
    base = results.get("base", [])
    for name, seeds in results.items():
        entry: dict = {"seeds": len(seeds)}
        for key in [k for k, _ in COLUMNS] + ["train_minutes", "images_per_s"]:
            values = [s[key] for s in seeds if s.get(key) is not None]
            if not values:
                continue
            mean = float(np.mean(values))
            entry[key] = {"mean": round(mean, 4), "spread": round((max(values) - min(values)) / 2, 4),
                          "values": [round(v, 4) for v in values]}
            base_values = [s[key] for s in base if s.get(key) is not None]
            if base_values and name != "base":
                entry[key]["delta"] = round(mean - float(np.mean(base_values)), 4)
        out[name] = entry
    return out


def markdown(args: argparse.Namespace, summary: dict, meta: dict) -> str:
    rows_by_name = {r.name: r for r in ROWS}
    head = ["row", "what changes"] + [label for _, label in COLUMNS] + ["train min", "img/s"]
    lines = ["## Ablation: one trick at a time (`benchmarks/ablation.py`)", "",
             f"Small scale, measured on this 2-core CPU on {meta['when']}: the README recipe (`public` preset) on "
             f"{args.people} public-set people (a fifth of them validate; the same split for every row), "
             f"{args.realmask_limit} realmask photos and {args.crops_limit} crowd crops as its real-mask sources, "
             f"{args.epochs} epochs, seeds {', '.join(map(str, args.seeds))}. In-distribution columns: the "
             f"{meta['eval_photos']:,} eval photos of {args.eval_people} other people; the suite columns: "
             f"{meta['suite_photos']:,} photos of the out-of-distribution suite ({args.suite_people} held-out UTKFace "
             "people). Each cell is the mean over the seeds ± half their difference (what a seed alone moves), then "
             "the change against the base. Training minutes count the epochs only (load average at each start in "
             "`results.json`); photos are scored through each run's ONNX export (ONNX Runtime). Full scale on a GPU machine: "
             "`python benchmarks/ablation.py --people 2700 --eval-people 300 --epochs 4 --suite-people 1000 "
             "--realmask-limit 100000 --crops-limit 100000`.", "",
             "| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    for name, entry in summary.items():
        cells = [name, rows_by_name[name].note if name in rows_by_name else ""]
        for key, _ in COLUMNS:
            fig = entry.get(key)
            if fig is None:
                cells.append("—")
                continue
            cell = f"{fig['mean']:.3f} ±{fig['spread']:.3f}"
            if "delta" in fig:
                cell += f" ({fig['delta']:+.3f})"
            cells.append(cell)
        for key, fmt in (("train_minutes", "{:.1f}"), ("images_per_s", "{:.0f}")):
            fig = entry.get(key)
            cells.append(fmt.format(fig["mean"]) if fig else "—")
        lines.append("| " + " | ".join(cells) + " |")
    if args.note:
        lines += ["", args.note]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", nargs="+", choices=[r.name for r in ROWS], help="Only these rows (default: all).")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--people", type=int, default=100, help="Public-set training people (a fifth validate).")
    parser.add_argument("--eval-people", type=int, default=150, help="Public-set eval people (scored, never trained).")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--realmask-limit", type=int, default=120)
    parser.add_argument("--crops-limit", type=int, default=80)
    parser.add_argument("--suite-people", type=int, default=200, help="Held-out UTKFace people in the suite.")
    parser.add_argument("--work", type=Path, default=PROJECT / "data" / "ablation")
    parser.add_argument("--suite", type=Path, default=None, help="Suite folder (default <work>/ood-suite).")
    parser.add_argument("--shared", type=Path, default=SHARED)
    parser.add_argument("--note", default="", help="A paragraph on what the figures say, printed under the table.")
    parser.add_argument("--no-write", action="store_true", help="Print the table without touching RESULTS.md.")
    parser.add_argument("--table-only", action="store_true",
                        help="Train and score nothing: write the table from the rows already measured.")
    args = parser.parse_args(argv)
    if not (args.shared / "utkface").is_dir():
        print(f"ablation: {args.shared}/utkface not found; nothing to measure", file=sys.stderr)
        return 1
    args.work = args.work.resolve()
    args.suite = args.suite or args.work / "ood-suite"
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results").mkdir(exist_ok=True)
    os.environ.setdefault("MASKCLS_PROGRESS", "0")
    data, crops, suite = prepare(args)
    inputs = Inputs(args.work / "inputs")
    chosen = [r for r in ROWS if args.rows is None or r.name in args.rows]
    from maskcls.fileio import write_text

    for seed in [] if args.table_only else args.seeds:
        for row in chosen:
            path = args.work / "results" / f"{row.name}-s{seed}.json"
            if path.is_file():
                continue
            print(f"ablation: {row.name}, seed {seed}", flush=True)
            try:
                figures = measure(args, row, seed, data, crops, suite, inputs)
            except SystemExit as failure:  # one row's failure is reported; the others still run
                print(f"ablation: {row.name} s{seed} failed, left out of the table: {failure}", flush=True)
                continue
            write_text(path, json.dumps(figures, indent=1) + "\n")
            print(f"ablation: {row.name} s{seed}: F1 {figures['macro_f1']:.4f}, "
                  f"{figures['train_minutes']:.1f} train min", flush=True)
    results: dict[str, list[dict]] = {}
    for row in ROWS:
        found = [json.loads((args.work / "results" / f"{row.name}-s{s}.json").read_text(encoding="utf-8"))
                 for s in args.seeds if (args.work / "results" / f"{row.name}-s{s}.json").is_file()]
        if found:
            results[row.name] = found
    from maskcls.ood.suite import read_manifest

    manifest = read_manifest(suite) or {"rows": {}}
    meta = {"when": time.strftime("%Y-%m-%d"), "eval_photos": len(eval_photos(data)[0]),
            "suite_photos": sum(n for r, n in manifest["rows"].items() if r in SUITE_ROWS)}
    summary = summarise(results)
    text = markdown(args, summary, meta)
    print(text)
    if not args.no_write:
        from results_io import record_section

        record_section("ablation", {"scale": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                                    "meta": meta, "rows": summary, "runs": results}, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
