"""Self-training: a run, then rounds that retrain on its confident predictions for photos without labels.

With ``self_training.folder`` set (:class:`~maskcls.config.SelfTrainingConfig`), ``maskcls train`` trains round 0,
the normal run, in ``runs/<name>[-N]/``. Round ``r`` (1 … ``self_training.rounds``) then pseudo-labels the folder's
photos with round ``r-1``'s ``best.pt`` (:mod:`maskcls.inference.pseudo_labels`: per task, only labels above
``self_training.thresholds``) and trains a fresh model in ``RUN/round<r>/`` on the labelled data plus those photos:
a ``crops`` source named ``pseudo`` that reads the round's ``pseudo_labels.csv`` (weighted by
``self_training.weight``), validated on round 0's people (its ``split.json``).

Every round folder is a complete run folder, so ``maskcls predict RUN/round2`` (or evaluate, export …) works as for
any run. Its ``config.yaml`` is round 0's with the pseudo-label source added, the split pinned and self-training
off, so ``maskcls train RUN/round1/config.yaml`` retrains that round on the same pseudo labels. ``RUN`` itself stays
round 0's run (``maskcls predict RUN`` predicts with round 0's model); ``RUN/self_training.json`` records every
round (what it labelled and kept, its best validation epoch) and names the final model's folder (``final``).
``maskcls train --resume RUN`` carries on: finished rounds are skipped, a killed one resumes, and one stopped before
its first epoch ended is labelled and trained again.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from maskcls.config import Config, ConfigError, SourceConfig
from maskcls.engine import distributed
from maskcls.engine.run import Log, continue_or_start, resume, train, train_in
from maskcls.errors import MaskclsError
from maskcls.inference.pseudo_labels import label_photos, unlabelled_photos
from maskcls.runs import RunFolder

#: The name of the pseudo-labelled source in a round's ``data.sources`` (and its ``sources.json``).
PSEUDO_SOURCE = "pseudo"


def train_self_training(cfg: Config, runs_root: Path = Path("runs"), parent: Path | None = None,
                        log: Log = print) -> Path:
    """Train round 0 and every self-training round (or continue the self-training run ``parent``); return round
    0's folder, the parent of the rounds.

    Args:
        cfg: the configuration, ``self_training.folder`` set (ignored when ``parent`` is given: its
            ``config.yaml`` is used).
        runs_root: where a new run folder is made.
        parent: an existing self-training run to continue.
        log: where one-line messages go (rank 0's only under torchrun).

    Raises:
        ConfigError: when ``self_training.folder`` is not set.
        MaskclsError: for a folder without photos, or a round in which no photo keeps any label.
    """
    if parent is not None:
        cfg = RunFolder(parent).read_config()
    if cfg.self_training.folder is None:
        raise ConfigError("self_training.folder: set the folder of photos to pseudo-label (self_training.folder=PATH)")
    if PSEUDO_SOURCE in {source.label for source in cfg.data.all_sources()}:
        raise ConfigError(f"data.sources: {PSEUDO_SOURCE} names self-training's pseudo-label source; rename yours")
    photos = unlabelled_photos(cfg.self_training.folder, cfg.self_training.limit, cfg.seed)  # before any training
    main = distributed.is_main()
    log = log if main else (lambda _message: None)
    if parent is None:
        parent = train(cfg, runs_root, log=log)
    elif not RunFolder(parent).is_finished():
        log(f"self-training round 0: resuming {parent}")
        resume(parent, log)
    root = RunFolder(parent)
    record = _record(root, cfg) if main else {}
    if main:
        _finished(root, record, 0, root, log)
    for number in range(1, cfg.self_training.rounds + 1):
        folder = root.round(number)

        def start(number: int = number, folder: RunFolder = folder) -> None:
            round_cfg = _label_round(cfg, root, number, photos, record, log) if main else None
            train_in(distributed.broadcast_object(round_cfg), folder.path, log=log)

        continue_or_start(folder, f"self-training round {number}", start, log)
        if main:
            _finished(root, record, number, folder, log)
    if main:
        final = root.round(cfg.self_training.rounds).path
        log(f"self-training: the final model is {final} (maskcls predict {final} …); {root.path} holds round 0")
    distributed.barrier()
    return root.path


def round_config(cfg: Config, labels: Path, split: Path) -> Config:
    """Round 0's config with the pseudo-label source (reading ``labels``) added, the split file ``split`` pinned
    and self-training off: the whole config of one round, as its ``config.yaml`` keeps it."""
    st = cfg.self_training
    pseudo = SourceConfig(kind="crops", root=st.folder, labels=labels, name=PSEUDO_SOURCE, weight=st.weight)
    out = cfg.model_copy(deep=True)
    out.data.sources = [*out.data.sources, pseudo]
    out.split.file = split
    out.self_training.folder = None
    return out


def _label_round(cfg: Config, root: RunFolder, number: int, photos: list[Path], record: dict[str, Any],
                 log: Log) -> Config:
    """Pseudo-label the photos with the previous round's model and make round ``number``'s folder (its
    ``pseudo_labels.csv`` and ``config.yaml``); return the round's config."""
    teacher = root if number == 1 else root.round(number - 1)
    folder = root.round(number)
    if folder.path.exists():  # stopped before its first epoch ended: nothing in it to keep
        shutil.rmtree(folder.path)
    labels = label_photos(teacher.path, photos, cfg.data, cfg.self_training.thresholds, cfg.train.device)
    log(f"self-training round {number}: labelled by {teacher.path}: {labels.describe()}")
    summary = labels.summary()
    if summary["unlabelled"] == summary["photos"]:
        raise MaskclsError(f"{cfg.self_training.folder}: self-training round {number}: no photo has a label above "
                           f"its threshold ({_thresholds(cfg)}); lower self_training.thresholds")
    folder.path.mkdir(parents=True)
    labels.write(folder.pseudo_labels_path)
    round_cfg = round_config(cfg, folder.pseudo_labels_path.resolve(), root.split_path.resolve())
    folder.write_config(round_cfg)
    record["rounds"][str(number)] = {"run": folder.name, "teacher": "." if number == 1 else teacher.name, **summary}
    root.write_self_training(record)
    return round_cfg


def _record(root: RunFolder, cfg: Config) -> dict[str, Any]:
    """``self_training.json`` as far as it goes (a fresh one for a new run)."""
    record = root.read_self_training()
    st = cfg.self_training
    record.update({"folder": str(st.folder), "thresholds": st.thresholds.model_dump(), "weight": st.weight,
                   "limit": st.limit, "rounds_planned": st.rounds})
    record.setdefault("rounds", {})
    return record


def _finished(root: RunFolder, record: dict[str, Any], number: int, folder: RunFolder, log: Log) -> None:
    """Record a finished round's best validation epoch, name it the final one, and log its score beside round 0's."""
    row = folder.best_row() or {}
    best = {key: float(row[key]) for key in ("macro_f1", "accuracy") if row.get(key)}
    entry = record["rounds"].setdefault(str(number), {"run": "." if number == 0 else folder.name})
    entry["best"] = {"epoch": folder.best_epoch(), **best}
    record["final"] = entry["run"]
    root.write_self_training(record)
    if number:
        first = record["rounds"]["0"]["best"]
        log(f"self-training round {number}: validation macro F1 {best.get('macro_f1', float('nan')):.4f} "
            f"(round 0: {first.get('macro_f1', float('nan')):.4f})")


def _thresholds(cfg: Config) -> str:
    return ", ".join(f"{task} {value}" for task, value in cfg.self_training.thresholds.model_dump().items())
