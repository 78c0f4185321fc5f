"""``maskcls score``: the official metric of a submission."""

from __future__ import annotations

from pathlib import Path

import typer

from maskcls.cli.options import AgeBandsOpt, age_bands


def score(
    ground_truth: Path = typer.Argument(..., help="Ground truth CSV (ImageID,ans)."),
    submission: Path = typer.Argument(..., help="Submission CSV (ImageID,ans), same rows in the same order."),
    as_json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    bands: str = AgeBandsOpt,
) -> None:
    """Macro F1 over all 18 classes (the competition's metric), accuracy, per-task F1 and a per-class table."""
    from maskcls.metrics import score_files

    result = score_files(ground_truth, submission, age_bands(bands))
    if as_json:
        import json

        typer.echo(json.dumps(result.to_dict(), indent=1))
        return
    import pandas as pd

    from maskcls.cli.render import console, counts_table, frame_table

    table = pd.DataFrame(result.per_class)[["class", "name", "precision", "recall", "f1", "support", "predicted"]]
    console.print(frame_table("per class", table.round(4)))
    headline = {"images": result.n, "macro F1 (18 classes)": f"{result.macro_f1:.4f}", "accuracy": f"{result.accuracy:.4f}"}
    headline |= {f"{task} macro F1": f"{value:.4f}" for task, value in result.task_f1.items()}
    console.print(counts_table("score", headline))
