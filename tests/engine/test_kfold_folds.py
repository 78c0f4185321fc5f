"""K-fold folds trained as separate processes (one a GPU) in one prepared folder, then collected."""

import pytest

from maskcls.cli import main
from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.kfold import collect_kfold, prepare_kfold, train_kfold
from maskcls.errors import MaskclsError


def test_folds_trained_apart_are_collected_once_all_are_finished(tmp_path, capsys):
    root = tmp_path / "data"
    make_synthetic(root, people=10, eval_people=0, seed=2, size=(48, 64))
    cfg = load_config(None, [f"data.root={root}", "model.backbone=test_efficientnet", "model.pretrained=false",
                             "model.img_size=32", "train.features=true", "train.epochs=1", "train.loggers=[]",
                             f"train.cache_dir={tmp_path / 'cache'}", "split.n_splits=2", "name=kf"])
    parent = prepare_kfold(cfg, tmp_path / "runs")
    assert sorted(p.name for p in parent.iterdir()) == ["config.yaml", "kfold.json", "split.json"]
    messages: list[str] = []
    train_kfold(cfg, parent=parent, folds=[1], log=messages.append)  # as `train --resume PARENT --fold 1` would
    assert (parent / "fold1" / "report.html").is_file() and not (parent / "fold0").exists()
    assert not (parent / "oof.csv").exists() and any("kfold-collect" in m for m in messages)
    with pytest.raises(SystemExit) as early:
        main(["kfold-collect", str(parent)])
    assert early.value.code == 1 and "fold(s) 0 not finished" in capsys.readouterr().err
    with pytest.raises(MaskclsError, match="fold 2 does not exist"):
        train_kfold(cfg, parent=parent, folds=[2])
    train_kfold(cfg, parent=parent, folds=[0], log=messages.append)  # the last fold collects by itself
    first = (parent / "oof.csv").read_text()
    assert len(first.splitlines()) == 1 + 70
    assert collect_kfold(parent, log=messages.append)["n"] == 70 and (parent / "oof.csv").read_text() == first
