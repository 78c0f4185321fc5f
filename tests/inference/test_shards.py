"""``predict --shard K/N`` on several machines, then ``predict-merge``: the merge equals one whole prediction and
refuses a missing, repeated, foreign or reordered shard with one line."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers import run_cli as cli
from maskcls.config import load_config
from maskcls.engine.run import train
from maskcls.errors import MaskclsError
from maskcls.inference.shards import Shard, merge_shards, parse_shard


@pytest.fixture(scope="module")
def run(data_root, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    cfg = load_config(None, [f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false",
                             "model.img_size=32", "train.batch_size=32", "train.epochs=1", "train.loggers=[]",
                             f"train.cache_dir={root / 'cache'}", "split.val_fraction=0.25", "train.lr=0.03"])
    return train(cfg, root, log=lambda _m: None)


def test_shards_cover_the_rows_once_in_order():
    for n in (0, 1, 5, 21):
        for count in (1, 2, 3, 7):
            spans = [Shard(k, count).rows(n) for k in range(1, count + 1)]
            assert spans[0][0] == 0 and spans[-1][1] == n and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
    assert parse_shard("2/4") == Shard(2, 4)
    for bad in ("0/3", "4/3", "2", "a/b", "1/0"):
        with pytest.raises(MaskclsError, match=f"--shard {bad}: "):
            parse_shard(bad)


def test_three_shards_merge_into_the_whole_prediction(run, data_root, tmp_path, capsys):
    code, _, err = cli(capsys, "predict", run, data_root, "--out", tmp_path / "whole.csv")
    assert code == 0, err
    parts = []
    for k in (3, 1, 2):  # machines finish in any order
        part = tmp_path / f"machine{k}" / "part.csv"
        part.parent.mkdir()
        code, out, err = cli(capsys, "predict", run, data_root, "--out", part, "--shard", f"{k}/3")
        assert code == 0 and f"shard {k}/3 of info.csv" in out, err
        parts.append(part)
    info_rows = (data_root / "eval" / "info.csv").read_text().splitlines()[1:]
    assert sum(len(p.read_text().splitlines()) - 1 for p in parts) == len(info_rows)
    code, out, err = cli(capsys, "predict-merge", *parts, "--out", tmp_path / "merged.csv")
    assert code == 0 and f"{len(info_rows)} rows from 3 shards" in out, err
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "whole.csv").read_text()
    assert np.allclose(np.load(tmp_path / "merged_probs.npy"), np.load(tmp_path / "whole_probs.npy"), atol=1e-6)

    def refused(*args) -> str:
        code, _, err = cli(capsys, "predict-merge", *args)
        assert code == 1 and err.count("\n") == 1 and err.startswith("maskcls: error: "), err
        return err

    assert "shard(s) 2/3 missing" in refused(parts[0], parts[1], "--out", tmp_path / "x.csv")
    assert "given twice" in refused(parts[0], parts[0], parts[1], parts[2], "--out", tmp_path / "x.csv")
    assert "already exists" in refused(*parts, "--out", tmp_path / "merged.csv")
    other = tmp_path / "other-info.csv"
    other.write_text("ImageID,ans\n" + "\n".join(reversed(info_rows)) + "\n")
    assert "differ from this info.csv from line 2" in refused(*parts, "--out", tmp_path / "x.csv", "--info", other)
    swapped = tmp_path / "swapped"
    shutil.copytree(parts[1].parent, swapped)
    lines = (swapped / "part.csv").read_text().splitlines()
    (swapped / "part.csv").write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")
    assert "not their info.csv rows in order" in refused(parts[0], swapped / "part.csv", parts[2], "--out",
                                                         tmp_path / "x.csv")
    meta = json.loads((parts[0].parent / "part.shard.json").read_text())
    assert meta["shard"] == 3 and meta["of"] == 3 and meta["stop"] == len(info_rows)
    foreign = tmp_path / "foreign"
    shutil.copytree(parts[0].parent, foreign)
    (foreign / "part.shard.json").write_text(json.dumps({**meta, "of": 4}))
    assert "shard of another prediction" in refused(foreign / "part.csv", parts[1], parts[2], "--out",
                                                    tmp_path / "x.csv")
    assert "is " in refused(tmp_path / "whole.csv", "--out", tmp_path / "x.csv")  # not a shard: no record
    code, _, err = cli(capsys, "predict", run, data_root / "eval" / "images", "--shard", "1/2")
    assert code == 1 and "--shard splits an eval folder" in err
    with pytest.raises(MaskclsError, match="no shard given"):
        merge_shards([], tmp_path / "y.csv")
