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
) -> None:
    """Predict with one run or an ensemble: an eval folder becomes a submission in info.csv order (plus
    <stem>_probs.npy and <stem>_probs.csv for later ensembling); photos get mask / gender / age band printed."""
    from maskcls.cli.render import console, err_console
    from maskcls.inference.engine import load_members
    from maskcls.inference.ensemble import Ensemble
    from maskcls.inference.targets import is_eval_root, predict_eval, predict_photos
    from maskcls.inference.tta import Tta

    run_list = [Path(r) for r in runs.split(",") if r.strip()]
    ensemble = Ensemble.parse(len(run_list), vote, weights, tasks)
    views = Tta.parse(tta, crop_scale)
    engines, groups = load_members(run_list, engine)
    members = f"{len(engines)} model(s) from {len(run_list)} run(s), {ensemble.describe()}, TTA {views.describe()}"
    if is_eval_root(target):
        result = predict_eval(engines, groups, target, out or Path("submission.csv"), ensemble, views, batch_size,
                              skip_bad, force)
        for message in result.skipped.values():
            err_console.print(f"skipped (fallback prediction): {message}", highlight=False, soft_wrap=True)
        console.print(f"submission: {result.out} ({len(result.names)} rows in info.csv order; {members})",
                      highlight=False)
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


def _print_photos(result, bands, members: str) -> None:
    from rich.table import Table

    from maskcls.cli.render import console
    from maskcls.inference.targets import photo_rows

    table = Table(title=f"predictions ({members})", title_justify="left")
    for column in ("photo", "class", "mask", "gender", "age band"):
        table.add_column(column, justify="right" if column == "class" else "left")
    for row in photo_rows(result, bands):
        table.add_row(str(row["path"]), f"{row['class']} ({row['p_class']:.2f})",
                      f"{row['mask']} ({row['p_mask']:.2f})", f"{row['gender']} ({row['p_gender']:.2f})",
                      f"{row['age']} ({row['p_age']:.2f})")
    console.print(table)
