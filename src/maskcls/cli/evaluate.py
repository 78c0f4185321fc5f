"""``maskcls evaluate``: mask-status F1 of a run on a labelled folder of face crops."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate(
    run: Path = typer.Argument(..., help="Run folder (config.yaml + best.pt)."),
    folder: Path = typer.Argument(..., help="Folder with labels.csv (file,mask), e.g. from `maskcls data import-boxes`."),
    batch_size: int = typer.Option(64, "--batch-size"),
    save: bool = typer.Option(True, "--save/--no-save", help="Write score.json, predictions.csv, confusion.png under RUN/evaluations/."),
) -> None:
    """Score mask status (worn / incorrect / none) of a run on real face crops: macro F1 over the 3 states."""
    from rich.table import Table

    from maskcls.cli.render import console
    from maskcls.inference.evaluate import evaluate_crops, save_evaluation

    score, predictions = evaluate_crops(run, folder, batch_size=batch_size)
    table = Table(title=f"mask status on {folder} ({score.count:,} crops)", title_justify="left")
    for column in ("state", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "state" else "right")
    for name, stats in score.per_state.items():
        table.add_row(name, f"{stats['precision']:.3f}", f"{stats['recall']:.3f}", f"{stats['f1']:.3f}", f"{int(stats['support'])}")
    console.print(table)
    for message in score.skipped:
        console.print(f"[yellow]skipped unreadable crop:[/] {message}")
    if score.no_face:
        console.print(f"[yellow]{len(score.no_face):,} crop(s) without a detected face[/] were centre-cropped "
                      "(listed in score.json)" if save else f"[yellow]{len(score.no_face):,} crop(s) without a "
                      "detected face[/] were centre-cropped")
    console.print(f"mask macro F1 {score.macro_f1:.4f}, accuracy {score.accuracy:.4f}")
    if save:
        console.print(f"written to {save_evaluation(run, score, predictions)}")
