"""``maskcls calibrate``: fit a run's temperature on its validation predictions and store it in the run folder."""

from __future__ import annotations

from pathlib import Path

import typer


def calibrate(
    run: Path = typer.Argument(..., help="Run folder (val_predictions.csv), or a k-fold run (each fold its own)."),
) -> None:
    """Temperature scaling on the validation predictions, stored as RUN/calibration.json; predict, serve and watch
    then use the calibrated probabilities (the predicted classes do not change)."""
    from maskcls.cli.render import console
    from maskcls.inference.calibration import calibrate_run
    from maskcls.inference.loading import member_folders

    for folder, fitted in calibrate_run(member_folders(run)):
        console.print(f"{folder / 'calibration.json'}: T={fitted.temperature:.3f} on {fitted.n} photos; "
                      f"ECE {fitted.ece_before:.4f} → {fitted.ece_after:.4f}, NLL {fitted.nll_before:.4f} → "
                      f"{fitted.nll_after:.4f}", highlight=False, soft_wrap=True)
