"""``maskcls train``: a run folder from a config, a preset or ``key=value`` overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from maskcls import presets


def train(
    config: Optional[str] = typer.Argument(None, help=f"YAML config or preset name ({', '.join(presets.names())})."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. data.root=DATA train.epochs=5."),
    runs: Path = typer.Option(Path("runs"), "--runs", help="Folder of run folders."),
    kfold: bool = typer.Option(False, "--kfold", help="Train every fold of a k-fold split (split.n_splits)."),
    resume_run: Optional[Path] = typer.Option(None, "--resume", help="Continue a killed run (or k-fold or self-training run) in its folder."),
    nproc: int = typer.Option(1, "--nproc", min=1, help="Data-parallel processes on this machine (torchrun; one a GPU, or CPU cores shared)."),
    folds: Optional[list[int]] = typer.Option(None, "--fold", help="K-fold: train only this fold (repeatable); the others may run in other processes."),
    prepare_only: bool = typer.Option(False, "--prepare-only", help="With --kfold: make the k-fold folder (config, split) and train nothing."),
    nnodes: int = typer.Option(1, "--nnodes", min=1, help="Machines training together (torchrun); run the same command on each with its --node-rank."),
    node_rank: int = typer.Option(0, "--node-rank", min=0, help="This machine's place, 0 to nnodes-1 (node 0 writes the run folder)."),
    master_addr: Optional[str] = typer.Option(None, "--master-addr", help="Address of node 0, reachable from every machine (needed with --nnodes > 1)."),
    master_port: Optional[int] = typer.Option(None, "--master-port", min=1, max=65535, help="Free port on node 0 for the rendezvous (default 29500)."),
) -> None:
    """Train a model; every run gets a new folder runs/<name>[-N] that reproduces it alone.

    With self_training.folder=PHOTOS (the self_training section: rounds, weight, thresholds.mask|gender|age, limit)
    the run's best model then pseudo-labels those photos and a fresh model retrains on them in RUN/round1/, and so
    on for each round; RUN/self_training.json names the final round."""
    from maskcls.errors import MaskclsError

    if config is not None and "=" in config:  # only overrides were given
        overrides, config = [config, *(overrides or [])], None
    if folds and not (kfold or resume_run is not None):
        raise MaskclsError("--fold needs --kfold (or --resume of a k-fold folder)")
    if prepare_only and (not kfold or resume_run is not None):
        raise MaskclsError("--prepare-only makes a new k-fold folder: it needs --kfold and takes no --resume")
    if (nproc > 1 or nnodes > 1) and not prepare_only:
        from maskcls.engine import distributed

        if not distributed.world().distributed:  # run this same command in nproc processes under torchrun
            if resume_run is None:
                from maskcls.config import load_config

                load_config(config, overrides or [])  # a bad config fails here, once, not in every process
            argv = ["train", *([config] if config else []), *(overrides or []), "--runs", str(runs)]
            argv += ["--kfold"] * kfold + (["--resume", str(resume_run)] if resume_run is not None else [])
            argv += [arg for fold in folds or [] for arg in ("--fold", str(fold))]
            code = distributed.launch(argv, nproc, nnodes, node_rank, master_addr, master_port)
            if code:
                raise typer.Exit(code)
            return
    _train(config, overrides or [], runs, kfold, resume_run, folds, prepare_only)


def _train(config: Optional[str], overrides: list[str], runs: Path, kfold: bool, resume_run: Optional[Path],
           folds: Optional[list[int]], prepare_only: bool) -> None:
    from maskcls.cli.render import console
    from maskcls.config import load_config
    from maskcls.engine import distributed
    from maskcls.engine.kfold import prepare_kfold, train_kfold
    from maskcls.engine.run import resume, train as run_train
    from maskcls.engine.self_training import train_self_training
    from maskcls.errors import MaskclsError
    from maskcls.runs import RunFolder

    log = lambda message: console.print(message, highlight=False)  # noqa: E731
    try:
        if resume_run is not None:
            if RunFolder(resume_run).is_kfold():  # finished folds are skipped, a killed one resumes
                folder = train_kfold(RunFolder(resume_run).read_config(), parent=resume_run, log=log, folds=folds)
            elif folds:
                raise MaskclsError(f"{resume_run}: --fold needs a k-fold run folder (no kfold.json)")
            elif RunFolder(resume_run).is_self_training():  # finished rounds are skipped, a killed one resumes
                folder = train_self_training(RunFolder(resume_run).read_config(), parent=resume_run, log=log)
            else:
                folder = resume(resume_run, log)
        else:
            cfg = load_config(config, overrides)
            if kfold and cfg.self_training.folder is not None:
                raise MaskclsError("self_training.folder: self-training retrains one run, not the folds of --kfold")
            if prepare_only:
                folder = prepare_kfold(cfg, runs)
            elif kfold:
                folder = train_kfold(cfg, runs, log=log, folds=folds)
            elif cfg.self_training.folder is not None:
                folder = train_self_training(cfg, runs, log=log)
            else:
                folder = run_train(cfg, runs, log=log)
    finally:
        distributed.shutdown()
    if distributed.is_main():
        console.print(f"run folder: {folder}")
