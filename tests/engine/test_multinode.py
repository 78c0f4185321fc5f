"""Training over several machines: two torchrun "nodes" on 127.0.0.1 (gloo, one process each) learn what one
process learns with the same global batch (the settings of test_ddp.py, which say why they are exact)."""

import csv
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import maskcls
from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.runs import load_checkpoint
from maskcls.engine.run import train


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_nodes_train_like_one_process_with_the_same_global_batch(tmp_path):
    data = tmp_path / "data"
    make_synthetic(data, people=12, eval_people=0, seed=1, size=(48, 64))
    args = [f"data.root={data}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
            "model.dropout=0", "aug.preset=none", "train.batch_size=16", "train.epochs=1", "train.lr=0.01",
            "train.features=true", "train.unfreeze_epochs=1", "train.unfreeze_stages=1", "train.unfreeze_lr=0.01",
            "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}", "split.val_fraction=0.25"]
    env = {**os.environ, "MASKCLS_PROGRESS": "0", "PYTHONPATH": str(Path(maskcls.__file__).parents[1])}
    port = free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "maskcls", "train", *args, "--runs", str(tmp_path / f"node{rank}"),
                               "--nnodes", "2", "--node-rank", str(rank), "--master-addr", "127.0.0.1",
                               "--master-port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env) for rank in (0, 1)]
    outputs = [node.communicate(timeout=400)[0] for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "epoch 2/2" in outputs[0] and "epoch 2/2" not in outputs[1]  # the global rank 0 alone logs and writes
    assert not (tmp_path / "node1").exists()
    one = train(load_config(None, args), tmp_path / "one", log=lambda _m: None)
    two = tmp_path / "node0" / "run"
    for r1, r2 in zip(rows(one / "metrics.csv"), rows(two / "metrics.csv"), strict=True):
        for key in ("train_loss", "val_loss", "macro_f1", "accuracy"):
            assert float(r1[key]) == pytest.approx(float(r2[key]), abs=1e-4), (r1["epoch"], key)
    a, b = load_checkpoint(one / "last.pt")["model"], load_checkpoint(two / "last.pt")["model"]
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=1e-4), name


@pytest.mark.parametrize("extra,needle", [
    (["--nnodes", "2", "--node-rank", "0"], "--nnodes 2: needs --master-addr (the address of node 0)"),
    (["--nnodes", "2", "--node-rank", "2", "--master-addr", "127.0.0.1"], "--node-rank 2: expected 0 to 1 for --nnodes 2"),
])
def test_bad_node_options_are_one_line(extra, needle, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "MASKCLS_PROGRESS": "0", "PYTHONPATH": str(Path(maskcls.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "maskcls", "train", "model.backbone=test_efficientnet", *extra],
                          capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.strip() == f"maskcls: error: {needle}"
