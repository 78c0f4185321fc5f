"""``maskcls train``: a run folder from a config, a preset or ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def train(
    config: Optional[str] = typer.Argument(None, help="YAML config or preset name (baseline, winners, multitask, fast-cpu, public, demo)."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. data.root=DATA train.epochs=5."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of run folders."),
    kfold: bool = typer.Option(False, "--kfold", help="Train every fold of a k-fold split (split.n_splits)."),
    resume_run: Optional[Path] = typer.Option(None, "--resume", help="Continue a killed run (or k-fold run) in its folder."),
) -> None:
    """Train a model; every run gets a new folder runs/<name>[-N] that reproduces it alone."""
    from maskcls.cli.render import console
    from maskcls.config import load_config
    from maskcls.engine.kfold import train_kfold
    from maskcls.engine.run import resume, train as run_train

    log = lambda message: console.print(message, highlight=False)  # noqa: E731
    if config is not None and "=" in config:  # only overrides were given
        overrides, config = [config, *(overrides or [])], None
    if resume_run is not None:
        if (resume_run / "kfold.json").is_file():  # finished folds are skipped, a killed one resumes
            folder = train_kfold(load_config(resume_run / "config.yaml"), parent=resume_run, log=log)
        else:
            folder = resume(resume_run, log)
    else:
        cfg = load_config(config, overrides or [])
        folder = train_kfold(cfg, runs, log=log) if kfold else run_train(cfg, runs, log=log)
    console.print(f"run folder: {folder}")
