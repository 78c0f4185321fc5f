"""The run folder object: the best epoch is the one ``best.pt`` holds, whatever ``train.monitor`` chose it by."""

from __future__ import annotations

import re

import pytest
import requests
from serve_helpers import Server

from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.run import train
from maskcls.engine.summary import write_run_report
from maskcls.errors import MaskclsError
from maskcls.runs import RunFolder, read_prediction_table
from maskcls.serve.model import model_metrics


def best_epoch_in_report(run: RunFolder) -> int:
    """The epoch in the first row of the report's "Best epoch" table."""
    html = run.report_path.read_text(encoding="utf-8")
    table = html[html.index("<h2>Best epoch</h2>"):]
    return int(re.search(r"<td>(\d+)</td>", table).group(1))


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory) -> RunFolder:
    """The official baseline (``train.monitor: accuracy``), 3 epochs on tiny synthetic data."""
    tmp = tmp_path_factory.mktemp("monitor")
    make_synthetic(tmp / "data", people=10, eval_people=2, seed=3, size=(48, 64))
    cfg = load_config("official-baseline", [
        f"data.root={tmp / 'data'}", "model.img_size=32", "train.epochs=3", "train.batch_size=16",
        "train.loggers=[]", f"train.cache_dir={tmp / 'cache'}", "split.val_fraction=0.3", "train.lr=0.05"])
    assert cfg.train.monitor == "accuracy"
    return RunFolder(train(cfg, tmp / "runs", log=lambda _m: None))


def test_report_and_service_name_the_epoch_best_pt_holds(accuracy_run):
    run = accuracy_run
    held = int(run.load_best()["epoch"])
    assert run.best_epoch() == held
    assert best_epoch_in_report(run) == held
    assert model_metrics(run.path)["epoch"] == held
    # Make another epoch the best by macro F1 (what monitor=accuracy allows): the folder still names best.pt's.
    rows = run.metrics_rows()
    other = next(r for r in rows if int(r["epoch"]) != held)
    other["macro_f1"] = "0.99999"
    header = list(rows[0])
    run.metrics_path.write_text(",".join(header) + "\n" + "".join(",".join(r[k] for k in header) + "\n" for r in rows))
    write_run_report(run, run.read_config())
    assert best_epoch_in_report(run) == held
    assert model_metrics(run.path)["epoch"] == held
    from maskcls.serve.app import create_app

    with Server(create_app(run.path)) as server:
        info = requests.get(f"{server.url}/v1/model", timeout=30).json()
    assert info["metrics"]["epoch"] == held


def test_best_epoch_without_one_in_best_pt_follows_the_monitor(accuracy_run, tmp_path):
    run = RunFolder(tmp_path / "copy")
    run.path.mkdir()
    run.config_path.write_text(accuracy_run.config_path.read_text())
    run.metrics_path.write_text("epoch,macro_f1,accuracy\n1,0.9,0.1\n2,0.1,0.9\n3,0.5,0.9\n")
    assert run.best_epoch() == 2  # the first epoch of the best accuracy
    run.config_path.write_text(accuracy_run.config_path.read_text().replace("monitor: accuracy", "monitor: macro_f1"))
    assert run.best_epoch() == 1


def test_paths_and_prediction_tables(accuracy_run, tmp_path):
    run = accuracy_run
    assert run.has_config() and run.has_best() and run.has_last() and run.is_finished() and not run.is_kfold()
    assert run.members() == [run.path] and run.require_run() is run
    table = run.read_predictions()
    assert table.source == run.val_predictions_path and table.probs.shape == (len(table.paths), 18)
    assert (table.probs.argmax(1) == table.y_pred).all() and table.folds is None
    bad = tmp_path / "bad.csv"
    bad.write_text("path,true,pred\nx.jpg,1,oops\n")
    with pytest.raises(MaskclsError, match="bad.csv: a value is not a number"):
        read_prediction_table(bad, probs=False)
    with pytest.raises(MaskclsError, match="p0..p17 are needed"):
        read_prediction_table(bad)
    with pytest.raises(MaskclsError, match="not a run folder"):
        RunFolder(tmp_path).require_run()
    with pytest.raises(MaskclsError, match="no such run folder"):
        RunFolder(tmp_path / "none").members()
