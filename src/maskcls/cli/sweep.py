"""``maskcls sweep``: an Optuna hyperparameter sweep, one run folder a trial, resumable by running it again."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def sweep(
    config: str = typer.Argument(..., help="YAML config or preset name every trial starts from."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides for every trial, e.g. data.root=DATA."),
    trials: int = typer.Option(..., "--trials", min=1, help="Trials wanted in all (completed + pruned, earlier runs included)."),
    name: Optional[str] = typer.Option(None, "--name", help="Study name and folder (default: the config's name)."),
    study_db: Optional[Path] = typer.Option(None, "--study-db", help="SQLite file of the study (default runs/sweeps/NAME/study.db)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="Optuna RDB URL shared by machines, e.g. postgresql+psycopg2://USER:PW@HOST/DB (replaces --study-db)."),
    space: Optional[Path] = typer.Option(None, "--space", help="YAML search space: key: a list of choices, or key: {low, high, log, step, type}."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of run folders (sweeps go to RUNS/sweeps/NAME)."),
    verbose: bool = typer.Option(False, "--verbose", help="Print every epoch of every trial."),
) -> None:
    """Search hyperparameters with Optuna (TPE, median pruning on validation macro F1); Ctrl-C, then the same
    command again, resumes. With --storage, the same command on several machines shares one study."""
    import signal

    from maskcls.cli.render import console
    from maskcls.config import load_config
    from maskcls.engine.sweep import load_space, run_sweep

    from maskcls.errors import MaskclsError

    if storage is not None and study_db is not None:
        raise MaskclsError("--storage and --study-db: give one (the study lives in one database)")
    log = lambda message: console.print(message, highlight=False)  # noqa: E731
    cfg = load_config(config, overrides or [])
    tree = load_space(space) if space is not None else None

    def stop(_signum, _frame) -> None:  # SIGTERM ends a trial like Ctrl-C, so the study stays resumable
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        folder = run_sweep(cfg, trials, name, runs / "sweeps", study_db, tree, log, log if verbose else None,
                           storage=storage)
    finally:
        signal.signal(signal.SIGTERM, previous)
    console.print(f"sweep folder: {folder}")
