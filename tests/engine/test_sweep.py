"""Optuna sweeps on tiny synthetic data: run folders per trial, resuming after Ctrl-C and kills, pruning, summary."""

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from maskcls.cli import main
from maskcls.config import ConfigError, load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine import run as run_module
from maskcls.engine.sweep import Param, parse_space, run_sweep, with_params

SPACE = {"train.lr": {"low": 1e-3, "high": 3e-2, "log": True}, "train.loss": ["ce", "focal"]}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=0, seed=1, size=(48, 64))
    return root


@pytest.fixture
def config_file(data_root, tmp_path) -> Path:
    """A tiny head-on-features config in a YAML file (the CLI and the library then read the same one)."""
    tree = {"name": "tiny", "data": {"root": str(data_root)}, "split": {"val_fraction": 0.25},
            "model": {"backbone": "test_efficientnet", "pretrained": False, "img_size": 32},
            "train": {"features": True, "epochs": 2, "batch_size": 32, "loggers": [],
                      "cache_dir": str(tmp_path / "cache")}}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def quiet(_message: str) -> None:
    pass


def states(study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def test_sweep_resumes_after_ctrl_c_and_after_a_killed_process(config_file, tmp_path, monkeypatch, capsys):
    cfg = load_config(config_file)
    root = tmp_path / "runs" / "sweeps"
    folder = run_sweep(cfg, 2, None, root, space=SPACE, log=quiet)
    storage = f"sqlite:///{folder / 'study.db'}"
    assert folder == root / "tiny" and states(optuna.load_study(study_name="tiny", storage=storage)) == ["COMPLETE"] * 2
    for k in (0, 1):
        assert (folder / f"trial-{k}" / "report.html").is_file()
        assert json.loads((folder / f"trial-{k}" / "trial.json").read_text())["state"] == "complete"

    # Ctrl-C during the third trial: it fails cleanly and its parameters are queued again
    real_save = run_module.save_checkpoint

    def interrupted(path, state):
        real_save(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, 3, None, root, space=SPACE, log=quiet)
    monkeypatch.setattr(run_module, "save_checkpoint", real_save)
    study = optuna.load_study(study_name="tiny", storage=storage)
    assert states(study) == ["COMPLETE", "COMPLETE", "FAIL", "WAITING"]
    interrupted_params = study.trials[2].params

    # the retry starts in a process that is then killed: left RUNNING, its pid no longer exists
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    killed = study.ask()
    assert killed.number == 3 and killed.user_attrs["retry_of"] == 2
    Param("train.lr", 1e-3, 3e-2, log=True).suggest(killed)
    Param("train.loss", choices=("ce", "focal")).suggest(killed)
    killed.set_user_attr("pid", gone.pid)
    killed.set_user_attr("host", study.trials[0].user_attrs["host"])
    killed.set_user_attr("folder", str(folder / f"trial-{killed.number}"))

    messages: list[str] = []
    run_sweep(cfg, 3, None, root, space=SPACE, log=messages.append)
    study = optuna.load_study(study_name="tiny", storage=storage)
    trials = study.get_trials(deepcopy=False)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "COMPLETE"]
    assert trials[4].user_attrs["retry_of"] == 3 and trials[4].params == trials[3].params == interrupted_params
    assert any("left running by a killed process" in m for m in messages)
    assert "killed" in json.loads((folder / f"trial-{killed.number}" / "trial.json").read_text())["note"]

    summary = (folder / "summary.md").read_text()
    assert "3 of 3 trials done (3 complete, 0 pruned); 2 failed" in summary and "Best: trial" in summary
    assert len((folder / "summary.csv").read_text().splitlines()) == 1 + 5
    assert (folder / "trials.png").stat().st_size > 1000

    # the same command again, through the CLI (in-process: a second interpreter would only cost time)
    (tmp_path / "space.yaml").write_text(yaml.safe_dump(SPACE))
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["sweep", str(config_file), "--trials", "3", "--runs", str(tmp_path / "runs"), "--space",
              str(tmp_path / "space.yaml")])
    out = capsys.readouterr().out
    assert done.value.code == 0 and "3 of 3 trials done" in out and "trial 5" not in out
    with pytest.raises(ConfigError, match="started with another config"):
        run_sweep(load_config(config_file, ["train.epochs=3"]), 3, None, root, space=SPACE, log=quiet)


def test_a_pruned_trial_stops_early_and_says_so(config_file, tmp_path):
    cfg = load_config(config_file)
    pruner = optuna.pruners.ThresholdPruner(lower=1.01)  # every F1 is below it
    folder = run_sweep(cfg, 1, "pruned", tmp_path / "sweeps", space=SPACE, log=quiet, pruner=pruner)
    record = json.loads((folder / "trial-0" / "trial.json").read_text())
    assert record["state"] == "pruned" and record["pruned_at_epoch"] == 1 and record["epochs"] == 1
    assert (folder / "trial-0" / "report.html").is_file()
    assert "(0 complete, 1 pruned)" in (folder / "summary.md").read_text()


def test_bad_spaces_and_keys_are_one_line_errors(data_root):
    cfg = load_config(None, [f"data.root={data_root}"])
    with pytest.raises(ConfigError, match="train.lr: expected a list of choices"):
        parse_space({"train.lr": {"low": 1e-3}})
    with pytest.raises(ConfigError, match="log range needs low > 0"):
        parse_space({"train.lr": {"low": 0, "high": 1, "log": True}})
    with pytest.raises(ConfigError, match="train.nope: no such config key"):
        with_params(cfg, {"train.nope": 1})
    with pytest.raises(ConfigError, match="train.sampler='all'"):
        with_params(cfg, {"train.sampler": "all"})
    with pytest.raises(ConfigError, match="model.dropout=1.5"):
        run_sweep(cfg, 1, "x", Path("/nonexistent"), space={"model.dropout": {"low": 0.0, "high": 1.5}})
    assert with_params(cfg, {"train.lr": 0.5}).train.lr == 0.5 and cfg.train.lr != 0.5
