"""``maskcls data …``: check, split, and import data."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maskcls.cli.options import AgeBandsOpt, NoRelabelOpt, RelabelOpt, age_bands, relabel_files

app = typer.Typer(help="Check, split and import data in the competition layout.", no_args_is_help=True)


@app.command("check")
def check(
    root: Path = typer.Argument(..., help="Competition root (holding train/ and optionally eval/)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 if any error-level problem is found (e.g. a corrupt photo)."),
    decode: bool = typer.Option(True, "--decode/--no-decode", help="Decode every photo to find corrupt files."),
    problems_csv: Optional[Path] = typer.Option(None, "--problems-csv", help="Also write every problem to this CSV."),
    show_all: bool = typer.Option(False, "--all", help="Print every problem (default: the first 20 of each kind)."),
    relabel: Optional[list[Path]] = RelabelOpt,
    no_relabel: bool = NoRelabelOpt,
    bands: str = AgeBandsOpt,
) -> None:
    """Summarise a dataset and list every problem with its path."""
    from maskcls.cli.render import console, counts_table, print_problems
    from maskcls.data.check import check as run_check
    from maskcls.data.records import summarize_kinds

    report = run_check(root, relabel_files(relabel, no_relabel), decode=decode, bands=age_bands(bands))
    for title, counts in report.summary().items():
        if counts:
            console.print(counts_table(title, counts))
    problems = report.problems
    kinds = summarize_kinds(problems)
    if kinds:
        console.print(counts_table("problems by kind", kinds))
    print_problems(problems, None if show_all else 20)
    if not any(p.severity in ("error", "warning") for p in problems):
        console.print("[green]no errors or warnings[/]")
    if problems_csv is not None:
        _write_problems(problems_csv, problems)
        console.print(f"problems written to {problems_csv}")
    errors = [p for p in problems if p.severity == "error"]
    if strict and errors:
        typer.echo(f"maskcls: error: {len(errors)} error-level problem(s) in {root}, first: {errors[0]}", err=True)
        raise typer.Exit(1)


def _write_problems(path: Path, problems) -> None:
    import csv

    from maskcls.fileio import atomic_write

    with atomic_write(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.writer(handle)
        writer.writerow(["severity", "kind", "path", "message"])
        writer.writerows([p.severity, p.kind, str(p.path), p.message] for p in problems)


@app.command("split")
def split(
    root: Path = typer.Argument(..., help="Competition root."),
    out: Path = typer.Option(Path("split.json"), "--out", "-o", help="Split file to write."),
    kind: str = typer.Option("kfold", "--kind", help="kfold or holdout."),
    folds: int = typer.Option(5, "--folds", help="Number of folds (k-fold)."),
    val: float = typer.Option(0.2, "--val", help="Share of people in validation (hold-out)."),
    seed: int = typer.Option(42, "--seed"),
    force: bool = typer.Option(False, "--force", help="Replace an existing split file."),
    relabel: Optional[list[Path]] = RelabelOpt,
    no_relabel: bool = NoRelabelOpt,
    bands: str = AgeBandsOpt,
) -> None:
    """Split people (never photos) into stratified folds and save the split file runs reuse."""
    from maskcls.cli.render import console, frame_table
    from maskcls.data.check import left_out_people, load_dataset
    from maskcls.data.splits import fold_balance, make_holdout, make_split
    from maskcls.errors import MaskclsError

    if kind not in ("kfold", "holdout"):
        raise MaskclsError(f"--kind {kind!r}: expected kfold or holdout")
    if kind == "kfold" and folds < 2:
        raise MaskclsError(f"--folds {folds}: a k-fold split needs at least 2 folds")
    if kind == "holdout" and not 0.0 < val <= 0.5:
        raise MaskclsError(f"--val {val}: expected a share of people in validation above 0 and at most 0.5")
    if out.is_dir():
        raise MaskclsError(f"{out}: is a folder; --out takes the split file to write")
    if out.exists() and not force:
        raise MaskclsError(f"{out}: already exists (runs may refer to it); use --force or another --out")
    age = age_bands(bands)
    dataset = load_dataset(root, relabel_files(relabel, no_relabel))
    records = dataset.records
    left_out = left_out_people(dataset)
    for problem in left_out:
        console.print(f"left out of the split: {problem.path}: {problem.message}", highlight=False, soft_wrap=True)
    if not records:
        raise MaskclsError(f"{root}: no usable photo, nothing to split")
    result = make_split(records, folds, seed, bands=age) if kind == "kfold" else make_holdout(records, val, seed, age)
    result.save(out)
    title = f"{kind}: {result.n_splits} folds, seed {seed} — people and % of photos per gender/age stratum"
    console.print(frame_table(title, fold_balance(records, result, age)))
    console.print(f"split written to {out} ({len(dataset.people())} people"
                  + (f"; {len(left_out)} left out, named above)" if left_out else ")"), highlight=False)


@app.command("import-utkface")
def import_utkface(
    src: Path = typer.Argument(..., help="Folder of <age>_<gender>_<race>_*.jpg faces, or one with labels.csv."),
    dst: Path = typer.Argument(..., help="New competition root; DST/train is created."),
    link: bool = typer.Option(False, "--link", help="Hard-link photos instead of copying."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Import only the first N faces."),
) -> None:
    """Import UTKFace-style faces as the competition layout (one person a photo, as normal.jpg)."""
    from maskcls.cli.render import console, print_problems
    from maskcls.data.importers import import_utkface as run

    result = run(src, dst, link=link, limit=limit)
    print_problems(result.problems)
    console.print(f"imported {result.written:,} people into {result.out} ({len(result.problems)} skipped or noted)")


@app.command("import-boxes")
def import_boxes(
    photos: Path = typer.Argument(..., help="Folder of photos."),
    boxes: Path = typer.Argument(..., help="CSV image,box,mask,x0,y0,x1,y1 (mask: mask/incorrect/normal)."),
    dst: Path = typer.Argument(..., help="New folder for images/ and labels.csv."),
    margin: float = typer.Option(0.2, "--margin", help="Margin around each box, as a fraction of its side."),
    min_size: int = typer.Option(0, "--min-size", help="Skip (and list) faces smaller than this many pixels."),
    split: str = typer.Option("all", "--split", help="all photos, or only the train / dev photos of the shared crowd set's development hold-out (maskcls.data.devsplit)."),
) -> None:
    """Cut labelled face crops out of photos with face boxes."""
    from collections import Counter

    from maskcls.cli.render import console, counts_table, print_problems
    from maskcls.data.importers import import_boxes as run
    from maskcls.data.layout import read_csv_rows

    result = run(photos, boxes, dst, margin=margin, min_size=min_size, split=split)
    print_problems(result.problems)
    if result.left_out:
        console.print(f"{result.left_out:,} photos left out (--split {split})")
    labels = Counter(r["mask_name"] for r in read_csv_rows(dst / "labels.csv", ("mask_name",)))
    console.print(counts_table("face crops per mask status", dict(labels)))
    console.print(f"wrote {result.written:,} crops to {dst} ({len(result.problems)} skipped or noted)")


@app.command("synthetic")
def synthetic(
    dst: Path = typer.Argument(..., help="New folder for the synthetic competition layout."),
    people: int = typer.Option(60, "--people", help="Training people (7 photos each)."),
    eval_people: int = typer.Option(20, "--eval-people", help="People in the eval set."),
    seed: int = typer.Option(0, "--seed"),
    quirks: bool = typer.Option(False, "--quirks", help="Add what real archives hold (dot files, -1 ids, …)."),
) -> None:
    """Draw a small synthetic dataset (procedural faces, clearly not real people) in the competition layout."""
    from maskcls.cli.render import console
    from maskcls.data.synthetic import make_synthetic
    from maskcls.errors import MaskclsError

    if dst.exists() and any(dst.iterdir()):
        raise MaskclsError(f"{dst}: already exists and is not empty")
    info = make_synthetic(dst, people=people, eval_people=eval_people, seed=seed, quirks=quirks)
    console.print(f"synthetic data: {info.train_people} people, {info.eval_images} eval images in {dst}")


def _report_synth(result, label: str = "") -> None:
    from maskcls.cli.render import console, print_problems

    print_problems(result.problems, None)  # every failure, by path
    failed = result.failed
    share = result.complete / result.people if result.people else 0.0
    console.print(f"{label}{result.written:,} masked photos written; {result.complete:,} of {result.people:,} people "
                  f"({share:.1%}) have all 6 masked photos; {len(failed)} could not be completed"
                  + (f"; {result.mesh_fallbacks:,} drawn from 5 landmarks (no face mesh)" if result.mesh_fallbacks
                     else "")
                  + (f"; manifest {result.manifest}" if result.manifest else ""))


@app.command("synth-masks")
def synth_masks(
    root: Path = typer.Argument(..., help="Competition root (train/images/<person>/normal.* is required)."),
    detector: str = typer.Option("retinaface", "--detector", help="Face detector giving the landmarks."),
    seed: int = typer.Option(0, "--seed", help="Same seed, same masks."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: every core)."),
    nose_share: float = typer.Option(0.65, "--nose-share", help="Share of incorrect masks with the nose out (rest: chin)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write a gallery PNG of 50 results to this folder."),
    landmarks: str = typer.Option("five", "--landmarks", help="five (detector landmarks) or mesh (468-point face mesh; needs mediapipe)."),
) -> None:
    """Draw mask1..mask5 and incorrect_mask for every person with a normal photo (never overwrites a photo)."""
    from maskcls.cli.render import console
    from maskcls.synth.masks import synth_masks as run
    from maskcls.synth.masks import write_preview
    from maskcls.errors import MaskclsError

    if not 0.0 <= nose_share <= 1.0:
        raise MaskclsError(f"--nose-share {nose_share}: expected a share between 0 and 1")
    _report_synth(run(root, detector=detector, seed=seed, workers=workers, nose_share=nose_share, landmarks=landmarks))
    if preview is not None:
        console.print(f"preview written to {write_preview(root, preview, seed=seed)}")


@app.command("build-public")
def build_public(
    src: Path = typer.Argument(..., help="UTKFace folder (labels.csv or UTKFace file names), e.g. ../shared/data/utkface."),
    dst: Path = typer.Argument(..., help="New competition root (train/, and eval/ with --eval-people)."),
    people: int = typer.Option(2700, "--people", help="Training people."),
    distribution: str = typer.Option("competition", "--distribution", help="competition (its gender x age shares) or source."),
    eval_people: int = typer.Option(0, "--eval-people", help="Also build eval/ from this many other people."),
    prefer_race: str = typer.Option("Asian", "--prefer-race", help="Fill each stratum with this race first ('' for none)."),
    seed: int = typer.Option(0, "--seed"),
    copy: bool = typer.Option(False, "--copy", help="Copy original photos instead of hard-linking them."),
    detector: str = typer.Option("retinaface", "--detector"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: every core)."),
    preview: Optional[Path] = typer.Option(None, "--preview", help="Also write a gallery PNG of 50 results to this folder."),
) -> None:
    """Turn UTKFace into a complete competition-layout set: sample people, import, synthesize the 6 masked photos."""
    from maskcls.cli.render import console, counts_table
    from maskcls.synth.public import build_public as run
    from maskcls.synth.masks import write_preview
    from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES

    result = run(src, dst, people=people, distribution=distribution, eval_people=eval_people,
                 prefer_race=prefer_race or None, seed=seed, link=not copy, detector=detector, workers=workers)
    names = DEFAULT_AGE_BANDS.names()
    console.print(f"{result.dev_left_out:,} faces of {src} left out: the development hold-out (maskcls.data.devsplit)")
    console.print(counts_table("training people per gender / age band",
                               {f"{GENDER_NAMES[g]} {names[b]}": n for (g, b), n in sorted(result.strata.items())}))
    _report_synth(result.synth, "train: ")
    if result.eval_synth is not None:
        _report_synth(result.eval_synth, "eval: ")
        console.print(f"eval: {result.eval_people:,} people, {result.eval_images:,} photos in {dst / 'eval'} "
                      f"(answers in {dst / 'eval_gt.csv'})")
    console.print("time: " + ", ".join(f"{phase} {took:.1f} s" for phase, took in result.seconds.items()))
    if preview is not None:
        console.print(f"preview written to {write_preview(dst, preview, seed=seed)}")


@app.command("gallery")
def gallery(
    source: Path = typer.Argument(..., help="Competition root (each person's normal photo) or a folder of photos."),
    out: Path = typer.Option(..., "--out", "-o", help="PNG to write (never overwritten)."),
    count: int = typer.Option(30, "--n", help="Photos, one a row."),
    seed: int = typer.Option(0, "--seed", help="Which photos, and the masks drawn on them."),
    detector: str = typer.Option("retinaface", "--detector", help="Face detector for the crop and the masks."),
) -> None:
    """A PNG to look at: original, background removed and blurred, face crop, masks from 5 landmarks and mesh."""
    from maskcls.cli.render import console
    from maskcls.synth.gallery import write_gallery

    result = write_gallery(source, out, count=count, seed=seed, detector=detector)
    for what, paths in (("no face", result.no_face), ("no face mesh", result.no_mesh),
                        ("no person segmented (background kept)", result.no_person)):
        for path in paths:
            console.print(f"{what}: {path}", soft_wrap=True)
    console.print(f"gallery of {len(result.photos)} photos written to {result.path} ({len(result.no_face)} without a "
                  f"face, {len(result.no_mesh)} without a mesh, {len(result.no_person)} without a person)",
                  soft_wrap=True)
