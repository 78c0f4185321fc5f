"""``maskcls kfold-collect``: out-of-fold predictions of a k-fold run whose folds were trained separately."""

from __future__ import annotations

from pathlib import Path

import typer


def kfold_collect(run: Path = typer.Argument(..., help="A k-fold run folder (made by train --kfold).")) -> None:
    """Join the finished folds' validation predictions into oof.csv and score them (oof_metrics.json)."""
    from maskcls.cli.render import console
    from maskcls.engine.kfold import collect_kfold

    collect_kfold(run, log=lambda message: console.print(message, highlight=False))
    console.print(f"out-of-fold predictions: {run / 'oof.csv'}")
