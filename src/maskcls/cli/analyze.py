"""``maskcls analyze``: an error-analysis page of a run's validation predictions."""

from __future__ import annotations

from pathlib import Path

import typer


def analyze(
    run: Path = typer.Argument(..., help="Run folder (val_predictions.csv) or k-fold run folder (oof.csv)."),
    images: int = typer.Option(16, "--images", min=0, help="Photos in the grid of the largest losses."),
    gradcam: int = typer.Option(4, "--gradcam", min=0, help="Grad-CAM overlays of this many top losses and random correct photos."),
    seed: int = typer.Option(0, "--seed", help="Picks the random correct photos."),
    device: str = typer.Option("auto", "--device", help="Torch device for Grad-CAM."),
) -> None:
    """Per-class and per-task report, confusion matrices, most confused pairs, top losses and Grad-CAM, as an
    HTML page in a new RUN/analysis[-N]/ folder."""
    from maskcls.cli.render import console
    from maskcls.inference.analysis import analyze_run

    folder = analyze_run(run, images, gradcam, seed, device, log=lambda m: console.print(m, highlight=False))
    console.print(f"analysis: {folder / 'report.html'}")
