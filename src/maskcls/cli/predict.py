"""``maskcls predict``: runs (an ensemble, k-fold runs expanded) over an eval folder, a photo or a folder of photos."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def predict(
    runs: str = typer.Argument(..., help="Run folder(s), comma-separated: RUN[,RUN...]; a k-fold run stands for its folds."),
    target: Path = typer.Argument(..., help="Competition root or eval folder (info.csv + images/), a photo, or a folder of photos."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Submission CSV (default submission.csv) or, for photos, a CSV of the predictions."),
    engine: str = typer.Option("torch", "--engine", help="torch or onnx."),
    tta: str = typer.Option("none", "--tta", help="Test-time views averaged: none, flip, crops5 or flip+crops5."),
    crop_scale: float = typer.Option(0.875, "--crop-scale", help="Side of a crops5 view, as a share of the input."),
    vote: str = typer.Option("soft", "--vote", help="soft (weighted mean of probabilities) or hard (weighted majority)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="One weight per RUN, e.g. 0.6,0.4 (default equal)."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Task-level combination, e.g. mask=0,gender=1,age=0:0.3+1:0.7 (RUN positions from 0)."),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="Unreadable images get a fallback prediction (the prior of the readable rows) and are listed."),
    force: bool = typer.Option(False, "--force", help="Replace earlier outputs instead of refusing."),
    batch_size: int = typer.Option(64, "--batch-size", min=1),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Folder for the decoded-image cache (default: each run's cache.dir, else $MASKCLS_CACHE or ~/.cache/maskcls)."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: predict only the K-th of N contiguous parts of info.csv (1-based), for several machines; join them with predict-merge."),
    face_detector: Optional[str] = typer.Option(None, "--face-detector", help="Cut the faces of crop=face runs with this detector instead of their own input.face_detector: retinaface, mtcnn, haar or retinaface+mtcnn (MTCNN only where RetinaFace finds no face)."),
) -> None:
    """Predict with one run or an ensemble: an eval folder becomes a submission in info.csv order (plus
    <stem>_probs.npy and <stem>_probs.csv for later ensembling); photos get mask / gender / age band printed."""
    from maskcls.cli.render import console, err_console
    from maskcls.errors import MaskclsError
    from maskcls.inference.loading import load_members
    from maskcls.inference.ensemble import Ensemble
    from maskcls.inference.targets import is_eval_root, predict_eval, predict_photos
    from maskcls.inference.tta import Tta

    from maskcls.faces.detect import create_detector
    from maskcls.inference.contract import cache_spec
    from maskcls.inference.shards import parse_shard
    from maskcls.vision.preprocess import needs_face

    part = parse_shard(shard) if shard is not None else None
    if part is not None and not is_eval_root(target):
        raise MaskclsError(f"{target}: --shard splits an eval folder's info.csv; this is not one")
    run_list = [Path(r) for r in runs.split(",") if r.strip()]
    ensemble = Ensemble.parse(len(run_list), vote, weights, tasks)
    views = Tta.parse(tta, crop_scale)
    if face_detector is not None:
        try:
            create_detector(face_detector)  # an unknown name fails here, before any run is loaded
        except MaskclsError as exc:
            raise MaskclsError(f"{face_detector}: {exc}") from None
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise MaskclsError(f"{cache_dir}: --cache-dir is not a folder")
    engines, groups = load_members(run_list, engine)
    for member in engines if cache_dir is not None else ():
        member.cfg.cache.enabled, member.cfg.cache.dir = True, cache_dir
    for member in engines if face_detector is not None else ():
        member.cfg.input.face_detector = face_detector  # part of the cache key: other crops, other entries
    members = f"{len(engines)} model(s) from {len(run_list)} run(s), {ensemble.describe()}, TTA {views.describe()}"
    if face_detector is not None and any(needs_face(cache_spec(member)) for member in engines):
        members += f", faces by {face_detector}"
    if is_eval_root(target):
        result = predict_eval(engines, groups, target, out or Path("submission.csv"), ensemble, views, batch_size,
                              skip_bad, force, shard=part)
        for message in result.skipped.values():
            err_console.print(f"skipped (fallback prediction): {message}", highlight=False, soft_wrap=True)
        what = f"shard {part} of info.csv, {len(result.names)} rows" if part else f"{len(result.names)} rows"
        console.print(f"submission: {result.out} ({what} in info.csv order; {members})", highlight=False,
                      soft_wrap=True)
        if result.skipped:
            console.print(f"{len(result.skipped)} unreadable image(s) got the fallback prediction, listed in "
                          f"{result.out.with_name(result.out.stem + '_skipped.txt')}", highlight=False)
        if result.no_face:
            err_console.print(f"{len(result.no_face)} photo(s) without a detected face were centre-cropped (the "
                              f"run cuts faces), listed in {result.out.with_name(result.out.stem + '_no_face.txt')}",
                              highlight=False, soft_wrap=True)
        return
    result = predict_photos(engines, groups, target, ensemble, views, batch_size, skip_bad)
    for message in result.skipped.values():
        err_console.print(f"skipped: {message}", highlight=False, soft_wrap=True)
    for path in result.no_face.values():
        err_console.print(f"no face detected (centre-cropped): {path}", highlight=False, soft_wrap=True)
    _print_photos(result, engines[0].cfg.data.bands(), members)
    if out is not None:
        from maskcls.inference.targets import write_photo_csv

        write_photo_csv(out, result, engines[0].cfg.data.bands(), force)
        console.print(f"predictions: {out}")


def predict_merge(
    parts: list[Path] = typer.Argument(..., help="The shards' submission CSVs (predict --shard K/N), in any order."),
    out: Path = typer.Option(Path("submission.csv"), "--out", "-o", help="The whole submission."),
    info: Optional[Path] = typer.Option(None, "--info", help="info.csv to check the rows against (default: the one the shards name, if present)."),
    force: bool = typer.Option(False, "--force", help="Replace an earlier output instead of refusing."),
) -> None:
    """Join the shards of a prediction into one submission, after checking that every shard is there once and
    that the rows are info.csv's, in its order."""
    from maskcls.cli.render import console
    from maskcls.inference.shards import merge_shards

    path, rows = merge_shards(parts, out, info, force)
    console.print(f"submission: {path} ({rows} rows from {len(parts)} shards, in info.csv order)", highlight=False,
                  soft_wrap=True)


def _print_photos(result, bands, members: str) -> None:
    from rich.table import Table

    from maskcls.cli.render import console
    from maskcls.inference.targets import photo_rows

    table = Table(title=f"predictions ({members})", title_justify="left")
    for column in ("photo", "class", "mask", "gender", "age band"):
        table.add_column(column, justify="right" if column == "class" else "left",
                         overflow="fold" if column == "photo" else "ellipsis")  # whole paths, wrapped
    for row in photo_rows(result, bands):
        table.add_row(str(row["path"]), f"{row['class']} ({row['p_class']:.2f})",
                      f"{row['mask']} ({row['p_mask']:.2f})", f"{row['gender']} ({row['p_gender']:.2f})",
                      f"{row['age']} ({row['p_age']:.2f})")
    console.print(table)
