"""Hyperparameter sweeps with Optuna: every trial a normal run folder, the study in SQLite, resumable.

``runs/sweeps/<name>/`` holds ``study.db`` (the Optuna study, unless ``study_db`` puts it elsewhere), the
``config.yaml`` and ``space.yaml`` the sweep started with, one run folder ``trial-<k>/`` a trial (with a
``trial.json`` saying how it ended), and ``summary.csv``, ``summary.md`` and ``trials.png``, rewritten after
each trial (see :mod:`maskcls.engine.sweep_summary`).

Each trial trains with :func:`maskcls.engine.run.train`, reports its validation macro F1 after every epoch and
is pruned by a MedianPruner when it falls behind the trials before it (its run folder is still finished and
says so). Its value is the best validation macro F1 it reached, so a trial that reaches 1.0 stops there.

Running the same sweep again resumes it: trials that completed or were pruned count toward ``trials`` and
only the rest run. A trial interrupted by Ctrl-C or SIGTERM is marked FAIL and its parameters are queued to be
tried again first; a trial left RUNNING by a killed process (SIGKILL, power cut) is found at the next start
(its process is gone) and treated alike. Trials of another live sweep process sharing the study are left alone.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from maskcls.config import Config, ConfigError, dump_config, read_yaml
from maskcls.engine.run import Log, train
from maskcls.errors import MaskclsError
from maskcls.fileio import write_text
from maskcls.runs import RunFolder

#: Trials in a row that may fail (diverging loss, an impossible combination) before the sweep gives up.
MAX_FAILURES_IN_A_ROW = 3
_SPEC_KEYS = {"low", "high", "log", "step", "type", "choices"}


@dataclass(frozen=True)
class Param:
    """One searched config key: a float or int range (``log`` for log-uniform), or a list of choices."""

    key: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    integer: bool = False
    choices: tuple[Any, ...] | None = None

    def suggest(self, trial) -> Any:
        """The value of this key for an Optuna trial."""
        if self.choices is not None:
            return trial.suggest_categorical(self.key, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.key, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.key, float(self.low), float(self.high), step=self.step, log=self.log)

    def extremes(self) -> list[Any]:
        """The values that must all be valid for the key: every choice, or both ends of the range."""
        if self.choices is not None:
            return list(self.choices)
        return [int(self.low), int(self.high)] if self.integer else [float(self.low), float(self.high)]


def default_space(cfg: Config) -> dict[str, Any]:
    """A search space around ``cfg``: learning rate (log, /10 … ×10), weight decay, loss, label smoothing,
    sampler and dropout; CutMix probability too when images are trained end to end (not on cached features)."""
    space: dict[str, Any] = {
        "train.lr": {"low": cfg.train.lr / 10, "high": cfg.train.lr * 10, "log": True},
        "train.weight_decay": {"low": 1e-5, "high": 1e-1, "log": True},
        "train.loss": ["ce", "focal", "0.6*focal+0.4*f1"],
        "train.label_smoothing": {"low": 0.0, "high": 0.2},
        "train.sampler": ["none", "weighted"],
        "model.dropout": {"low": 0.0, "high": 0.5},
    }
    if not cfg.train.features or cfg.train.unfreeze_epochs:
        space["aug.cutmix"] = {"low": 0.0, "high": 0.5}
    return space


def parse_space(tree: Any, source: str = "search space") -> list[Param]:
    """Params from a mapping ``key: [choices]`` or ``key: {low, high[, log, step, type: float|int]}``.

    Raises:
        ConfigError: naming ``source`` and the key of the first malformed entry.
    """
    if not isinstance(tree, dict) or not tree:
        raise ConfigError(f"{source}: a search space is a non-empty mapping of config keys")
    params = []
    for key, spec in tree.items():
        where = f"{source}: {key}"
        if isinstance(spec, dict) and "choices" in spec:
            spec = spec["choices"]
        if isinstance(spec, list):
            if not spec or not all(v is None or isinstance(v, (bool, int, float, str)) for v in spec):
                raise ConfigError(f"{where}: choices must be a non-empty list of numbers, strings, booleans or null")
            params.append(Param(str(key), choices=tuple(spec)))
            continue
        if not isinstance(spec, dict) or not {"low", "high"} <= spec.keys() or spec.keys() - _SPEC_KEYS:
            raise ConfigError(f"{where}: expected a list of choices or {{low, high[, log, step, type]}}")
        kind = spec.get("type", "float")
        low, high = spec["low"], spec["high"]
        if kind not in ("float", "int") or not all(isinstance(v, (int, float)) for v in (low, high)) or low > high:
            raise ConfigError(f"{where}: needs numbers low <= high and type float or int")
        if spec.get("log") and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0")
        params.append(Param(str(key), low, high, bool(spec.get("log", False)), spec.get("step"), kind == "int"))
    return params


def load_space(path: Path) -> dict[str, Any]:
    """A search space from a YAML file (see :func:`parse_space`).

    Raises:
        ConfigError: naming the file if it is missing or not YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: search space file not found" if not path.exists()
                          else f"{path}: not a search space file (a folder or special file)")
    return read_yaml(path)


def with_params(cfg: Config, params: dict[str, Any]) -> Config:
    """A copy of ``cfg`` with dotted keys set and validated.

    Raises:
        ConfigError: naming the key of an unknown field or an invalid value.
    """
    out = cfg.model_copy(deep=True)
    for key, value in params.items():
        *path, last = key.split(".")
        node: Any = out
        try:
            for part in path:
                node = getattr(node, part)
            if last not in type(node).model_fields:
                raise AttributeError(last)
            setattr(node, last, value)
        except AttributeError:
            raise ConfigError(f"{key}: no such config key") from None
        except ValidationError as exc:
            raise ConfigError(f"{key}={value!r}: {exc.errors()[0]['msg']}") from None
    return out


# ---- the study ----------------------------------------------------------------------------------------------
def run_sweep(cfg: Config, trials: int, name: str | None = None, root: Path = Path("runs/sweeps"),
              study_db: Path | None = None, space: dict[str, Any] | None = None, log: Log = print,
              trial_log: Log | None = None, pruner=None, storage: str | None = None) -> Path:
    """Run (or resume) a sweep until ``trials`` trials have completed or been pruned; return its folder.

    Several machines share one sweep through an Optuna RDB ``storage`` (e.g. PostgreSQL): each runs the same
    command, asks the shared study for trials (numbered across all machines) and writes the run folders of its
    own trials under its ``root``; each stops when the study as a whole has ``trials`` finished trials.

    Args:
        cfg: the base config every trial starts from.
        trials: trials wanted in all (completed + pruned, earlier sessions included).
        name: the study name and folder (default ``cfg.name``).
        root: where sweep folders are made.
        study_db: the SQLite file (default ``<root>/<name>/study.db``), when no ``storage`` is given.
        space: the search space (see :func:`parse_space`; default :func:`default_space`).
        log: one line a trial goes here.
        trial_log: where each trial's run messages go (default: nowhere).
        pruner: an Optuna pruner (default: median of earlier trials after a quarter of the epochs).
        storage: an SQLAlchemy database URL of the study (``sqlite:///PATH``,
            ``postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB`` ...), shared by machines; overrides ``study_db``.

    Raises:
        ConfigError: for a bad space or a config that differs from the one the sweep started with.
        MaskclsError: when trials keep failing, or the storage cannot be opened.
    """
    import optuna

    if cfg.data.root is None and not cfg.data.sources:
        raise ConfigError("data.root: set the competition folder (data.root=PATH)")
    name = name or cfg.name
    folder = Path(root) / name
    space = default_space(cfg) if space is None else space
    params = parse_space(space)
    for param in params:  # every trial's config must be valid, so check the ends of each range first
        for value in param.extremes():
            with_params(cfg, {param.key: value})
    folder.mkdir(parents=True, exist_ok=True)
    _pin(RunFolder(folder).config_path, dump_config(cfg), "config")
    _pin(folder / "space.yaml", yaml.safe_dump(space, sort_keys=False), "search space")
    storage = storage or f"sqlite:///{Path(study_db or folder / 'study.db').resolve()}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs = cfg.train.epochs + (cfg.train.unfreeze_epochs if cfg.train.features else 0)
    pruner = pruner or optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=max(1, epochs // 4))
    study = _open_study(name, storage)
    # A sampler seeded by how far the study got, so a resumed sweep does not redraw its first parameters.
    study = optuna.load_study(study_name=name, storage=storage, pruner=pruner,
                              sampler=optuna.samplers.TPESampler(seed=cfg.seed + len(study.trials)))
    _recover(study, folder, log)
    from maskcls.engine.sweep_summary import write_sweep_summary

    failures = 0
    while (done := _finished(study)) < trials:
        if failures >= MAX_FAILURES_IN_A_ROW:
            raise MaskclsError(f"{folder}: {failures} trials in a row failed (see trial.json in their folders)")
        state = _run_trial(study, cfg, params, folder, done, trials, log, trial_log)
        failures = failures + 1 if state == "fail" else 0
        write_sweep_summary(study, folder, [p.key for p in params], trials)
    write_sweep_summary(study, folder, [p.key for p in params], trials)
    log(f"sweep {name}: {_finished(study)} of {trials} trials done; summary in {folder / 'summary.md'}")
    return folder


def _open_study(name: str, storage: str):
    """Create or load the study in ``storage``; a URL that cannot be opened is one :class:`MaskclsError` line."""
    import optuna

    try:
        return optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True)
    except Exception as exc:  # SQLAlchemy's many errors: bad URL, missing driver, refused connection ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MaskclsError(f"{_shown_url(storage)}: cannot open the study storage: {first}") from exc


def _shown_url(url: str) -> str:
    """A storage URL with its password hidden."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not even a URL: show it as given
        return url


def _finished(study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _pin(path: Path, text: str, what: str) -> None:
    """Write the YAML ``text`` the first time; later sessions must bring the same settings (in any key order),
    so a study never mixes them."""
    if not path.is_file():
        write_text(path, text)
    elif yaml.safe_load(path.read_text(encoding="utf-8")) != yaml.safe_load(text):
        raise ConfigError(f"{path}: this sweep was started with another {what}; use another --name")


def _run_trial(study, cfg: Config, params: list[Param], folder: Path, done: int, wanted: int, log: Log,
               trial_log: Log | None) -> str:
    """Ask the study for a trial, train it, tell the study how it ended; return ``complete``/``pruned``/``fail``."""
    from optuna.trial import TrialState

    trial = study.ask()
    values = {p.key: p.suggest(trial) for p in params}
    run_folder = folder / f"trial-{trial.number}"
    for key, value in (("folder", str(run_folder)), ("pid", os.getpid()), ("host", socket.gethostname())):
        trial.set_user_attr(key, value)
    shown = "  ".join(f"{k}={_short(v)}" for k, v in values.items())
    log(f"trial {trial.number} ({done + 1} of {wanted}): {shown}")
    pruned_at: list[int] = []

    def on_epoch(epoch: int, score) -> bool:
        trial.report(score.macro_f1, epoch)
        if trial.should_prune():
            pruned_at.append(epoch)
            return True
        return score.macro_f1 >= 1.0  # the trial's value (its best F1) can no longer change

    trial_cfg = with_params(cfg, values)
    trial_cfg.name = run_folder.name
    started = time.perf_counter()
    record = {"study": study.study_name, "trial": trial.number, "params": values}
    try:
        run_folder = train(trial_cfg, folder=run_folder, log=trial_log or (lambda _m: None), on_epoch=on_epoch)
    except KeyboardInterrupt:
        study.enqueue_trial(values, user_attrs={"retry_of": trial.number})
        study.tell(trial, state=TrialState.FAIL)
        write_text(run_folder / "trial.json", json.dumps({**record, "state": "fail", "note": "interrupted; "
                                                          "queued to run again on resume"}, indent=1) + "\n")
        log(f"trial {trial.number} interrupted: marked failed and queued again; run the same command to resume")
        raise
    except (FloatingPointError, MaskclsError) as exc:
        study.tell(trial, state=TrialState.FAIL)
        write_text(run_folder / "trial.json", json.dumps({**record, "state": "fail", "note": str(exc)}, indent=1)
                   + "\n")
        log(f"trial {trial.number} failed: {exc}")
        return "fail"
    best, best_epoch, epochs = _best_epoch(run_folder)
    seconds = time.perf_counter() - started
    trial.set_user_attr("folder", str(run_folder))
    trial.set_user_attr("best_epoch", best_epoch)
    state = "pruned" if pruned_at else "complete"
    if pruned_at:
        study.tell(trial, state=TrialState.PRUNED)
    else:
        study.tell(trial, best)
    write_text(run_folder / "trial.json", json.dumps({**record, "state": state, "macro_f1": best,
                                                      "best_epoch": best_epoch, "epochs": epochs,
                                                      "pruned_at_epoch": pruned_at[0] if pruned_at else None,
                                                      "seconds": round(seconds, 1)}, indent=1) + "\n")
    how = f"pruned at epoch {pruned_at[0]}" if pruned_at else "complete"
    log(f"trial {trial.number} {how}: best macro F1 {best:.4f} (epoch {best_epoch}) in {seconds:.0f}s")
    return state


def _best_epoch(run_folder: Path) -> tuple[float, int, int]:
    """The validation macro F1 of the epoch ``best.pt`` holds (chosen by ``train.monitor``), that epoch, and the
    epochs run."""
    run = RunFolder(run_folder)
    best = run.best_row()
    return float(best["macro_f1"]), int(best["epoch"]), len(run.metrics_rows())


def _recover(study, folder: Path, log: Log) -> None:
    """Fail the RUNNING trials whose process is gone (killed) and queue their parameters again."""
    from optuna.trial import TrialState

    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        attrs = trial.user_attrs
        if _alive(attrs):
            log(f"trial {trial.number} is running in process {attrs.get('pid')} on {attrs.get('host')}: left alone")
            continue
        if trial.params:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
        study.tell(trial.number, state=TrialState.FAIL)
        run_folder = Path(attrs.get("folder", folder / f"trial-{trial.number}"))
        write_text(run_folder / "trial.json", json.dumps({
            "study": study.study_name, "trial": trial.number, "params": trial.params, "state": "fail",
            "note": "its process was killed while it ran; queued to run again"}, indent=1) + "\n")
        log(f"trial {trial.number} was left running by a killed process: marked failed and queued again")


def _alive(attrs: dict[str, Any]) -> bool:
    """Whether the process that runs a trial still exists (assumed so for another host's)."""
    pid, host = attrs.get("pid"), attrs.get("host")
    if pid is None:
        return False
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
