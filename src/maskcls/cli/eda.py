"""``maskcls eda``: an HTML report with plots of a dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maskcls.cli.options import AgeBandsOpt, NoRelabelOpt, RelabelOpt, age_bands, relabel_files


def eda(
    root: Path = typer.Argument(..., help="Competition root (holding train/)."),
    out: Path = typer.Option(Path("runs/eda"), "--out", "-o", help="Report folder (a new -N folder if it exists)."),
    samples: int = typer.Option(6, "--samples", help="Sample photos per class in the grid."),
    relabel: Optional[list[Path]] = RelabelOpt,
    no_relabel: bool = NoRelabelOpt,
    bands: str = AgeBandsOpt,
) -> None:
    """Plots and tables of a dataset: classes, ages, people, extensions, sizes and sample photos."""
    from maskcls.cli.render import console
    from maskcls.data.check import load_dataset
    from maskcls.data.eda import run_eda
    from maskcls.fileio import unique_dir

    dataset = load_dataset(root, relabel_files(relabel, no_relabel))
    report = run_eda(dataset, unique_dir(out), age_bands(bands), samples_per_class=samples)
    console.print(f"EDA report: {report}")
