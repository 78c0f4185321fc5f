"""``maskcls bench ood``: score runs (and other predictors) on the out-of-distribution suite."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="Benchmarks any run can be scored on.", no_args_is_help=True)


@app.command("ood")
def ood(
    runs: Optional[list[str]] = typer.Argument(None, help="Run folders (a k-fold parent averages its folds); RUN,RUN,... is one ensemble, combined as --weights and --tasks say."),
    suite: Path = typer.Option(Path("data/ood-suite"), "--suite", help="The suite folder (built here when missing or stale)."),
    shared: Optional[Path] = typer.Option(None, "--shared", help="Shared data folder (default $MASKCLS_SHARED_DATA or ../shared/data beside the project)."),
    people: int = typer.Option(1000, "--people", min=0, help="Held-out UTKFace people in the suite (0: all)."),
    seed: int = typer.Option(0, "--seed"),
    rebuild: bool = typer.Option(False, "--rebuild", help="Build the suite again even if it is up to date."),
    crop: Optional[str] = typer.Option(None, "--crop", help="Score the runs with this crop instead of their own (none, center, face)."),
    face_margin: Optional[float] = typer.Option(None, "--face-margin", min=0.0, help="Score the runs with this face margin instead of their own."),
    face_frame: Optional[str] = typer.Option(None, "--face-frame", help="Score the runs with this input.face_frame instead of their own (box or landmarks)."),
    face_detector: Optional[str] = typer.Option(None, "--face-detector", help="Score the runs with this input.face_detector instead of their own (retinaface, mtcnn, haar or retinaface+mtcnn)."),
    face_fallback: Optional[str] = typer.Option(None, "--face-fallback", help="Score the runs with this input.face_fallback instead of their own (a score in [0, 1], or off)."),
    face_min_side: Optional[int] = typer.Option(None, "--face-min-side", min=0, help="Score the runs with this input.face_min_side instead of their own (photos with a shorter side under it are detected enlarged; 0: never)."),
    face_retry: Optional[float] = typer.Option(None, "--face-retry", min=0.0, help="Score the runs with this input.face_retry instead of their own (a photo without a face is detected again this many times as large; 0: never)."),
    weights: Optional[str] = typer.Option(None, "--weights", help="Run weights of every RUN,RUN ensemble, e.g. 0.6,0.4."),
    tasks: Optional[str] = typer.Option(None, "--tasks", help="Task-level combination of every RUN,RUN ensemble, e.g. mask=0,gender=1,age=0:0.5+1:0.5 (positions from 0), as in maskcls predict."),
    predictor: Optional[list[str]] = typer.Option(None, "--predictor", help="Also score module:attribute (an object or factory with .name and .predict(images)); repeatable."),
    tta: str = typer.Option("none", "--tta", help="Test-time views the runs average per photo, as in maskcls predict: none, flip, crops5 or flip+crops5 (--predictor objects predict as they are)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the figures here (default: <suite>/scores/<time>.json)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write the markdown report here (default: beside the JSON, .md)."),
    errors: int = typer.Option(12, "--errors", min=0, help="Photos a grid of the largest losses shows, per predictor, row and task, in <json>.errors/index.html (0: no page); every photo's prediction goes to <json>.predictions.csv."),
) -> None:
    """Score runs on held-out real crowd crops, re-framed and re-masked UTKFace people and real masked photos."""
    import json
    import time

    from rich.table import Table

    from maskcls.cli.render import console, err_console
    from maskcls.errors import MaskclsError
    from maskcls.fileio import write_text
    from maskcls.inference.ensemble import Ensemble
    from maskcls.inference.tta import Tta
    from maskcls.ood.errors import error_paths, error_report, write_predictions
    from maskcls.ood.predictors import EnsemblePredictor, RunPredictor, load_predictor
    from maskcls.ood.score import markdown, score_suite, tables
    from maskcls.ood.suite import SuiteOptions, default_shared, ensure_suite

    if not runs and not predictor:
        raise MaskclsError("bench ood: name at least one run folder or --predictor")
    changes = {key: value for key, value in (("crop", crop), ("face_margin", face_margin), ("face_frame", face_frame),
                                                      ("face_detector", face_detector),
                                                      ("face_min_side", face_min_side),
                                                      ("face_retry", face_retry)) if value is not None}
    if face_fallback is not None:
        changes["face_fallback"] = _fallback(face_fallback)
    views = Tta.parse(tta)
    predictors = []
    for text in runs or []:
        parts = [Path(part) for part in text.split(",") if part]
        if len(parts) > 1:
            ensemble = Ensemble.parse(len(parts), "soft", weights, tasks)
            predictors.append(EnsemblePredictor(parts, ensemble, changes, tta=views))
        elif parts:
            predictors.append(RunPredictor(parts[0], changes, tta=views))
    if (weights or tasks) and not any(isinstance(p, EnsemblePredictor) for p in predictors):
        raise MaskclsError("bench ood: --weights and --tasks combine runs given as RUN,RUN")
    predictors += [load_predictor(target) for target in predictor or []]
    options = SuiteOptions(shared=shared or default_shared(), people=people, seed=seed)
    start = time.perf_counter()
    folder, built = ensure_suite(suite, options, force=rebuild)
    took = time.perf_counter() - start
    err_console.print(f"suite {folder}: " + (f"built in {took:.0f} s" if built else "up to date"))
    collected: dict = {}
    results = score_suite(folder, predictors, collect=collected)
    for title, columns, rows in tables(results):
        table = Table(title=title, title_justify="left")
        for column in columns:
            left = column in ("predictor", "photos", "source", "face size")
            table.add_column(column, justify="left" if left else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    json_out = json_out or folder / "scores" / f"{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = report or json_out.with_suffix(".md")
    write_text(json_out, json.dumps(results, indent=1, default=str) + "\n")
    write_text(report, "# Out-of-distribution suite\n\n" + markdown(results) + "\n")
    predictions, error_folder = error_paths(json_out)
    write_predictions(predictions, collected)
    console.print(f"figures written to {json_out}, report to {report}, every photo's prediction to {predictions}")
    if errors:
        page = error_report(error_folder, folder, collected, top=errors)
        console.print(f"the largest losses: {page}")


def _fallback(text: str) -> float | None:
    """``--face-fallback``: ``off`` (none) or a score in [0, 1]."""
    from maskcls.errors import MaskclsError

    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise MaskclsError(f"bench ood: --face-fallback must be off or a score in [0, 1], not {text!r}")
    return value
