"""Data-parallel training: the sampler's shards, the merge of validation outputs, and a real 2-process run.

The end-to-end test trains the same config once in two gloo processes (``--nproc 2``, per-process batch 8) and
once in this process (batch 16), accumulating gradients over 2 batches (DDP then synchronises only on the
batch that steps, and on the odd last one). With no dropout, no augmentation and BatchNorm statistics that never see the
batch (the head trains on cached features, then the last stage fine-tunes with ``finetune_bn=frozen``), the
two runs take the same optimiser steps on the same global batches, so they differ only by float rounding in
the order gradients are summed: under 1e-5 in the weights after 3 epochs at lr 0.01 (measured), hence atol 1e-4.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler, RandomSampler, WeightedRandomSampler

from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.distributed import DistributedWeightedSampler, World, merge_shards, shard_positions
from maskcls.engine.run import train
from maskcls.engine.trace import TRACE_ENV
from maskcls.metrics import score_labels
from maskcls.runs import load_checkpoint
from maskcls.vision.sampling import weighted_sampler


def shards(size, weights, world, epoch, drop_last=True, seed=7):
    out = []
    for rank in range(world):
        sampler = DistributedWeightedSampler(size, weights, seed, drop_last=drop_last, here=World(rank, rank, world))
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_one_process_draws_what_the_torch_samplers_draw():
    labels = np.array([0] * 30 + [1] * 5 + [2] * 2)
    weights = weighted_sampler(labels, 3, len(labels)).weights
    (plain,) = shards(len(labels), None, 1, epoch=3)
    assert plain == list(RandomSampler(range(len(labels)), generator=torch.Generator().manual_seed(10)))
    (drawn,) = shards(len(labels), weights, 1, epoch=3)
    assert drawn == list(WeightedRandomSampler(weights, len(labels), generator=torch.Generator().manual_seed(10)))
    assert shards(len(labels), None, 1, epoch=4)[0] != plain  # every epoch its own order


@pytest.mark.parametrize("weighted", [False, True])
def test_shards_are_disjoint_positions_that_interleave_into_the_global_order(weighted):
    labels = np.array([0] * 600 + [1] * 60 + [2] * 15)
    weights = weighted_sampler(labels, 3, len(labels)).weights if weighted else None
    (whole,) = shards(len(labels), weights, 1, epoch=2)
    parts = shards(len(labels), weights, 3, epoch=2)
    assert [len(p) for p in parts] == [len(labels) // 3] * 3
    assert [i for step in zip(*parts) for i in step] == whole[:3 * (len(labels) // 3)]
    if not weighted:
        assert not set(parts[0]) & set(parts[1]) and not set(parts[1]) & set(parts[2])
    else:  # class-balanced draws survive the split: every rank sees the rare classes about as often
        for part in parts:
            shares = np.bincount(labels[part], minlength=3) / len(part)
            assert np.all(np.abs(shares - 1 / 3) < 0.08), shares


def test_shards_without_drop_last_are_padded_to_equal_length():
    parts = shards(5, None, 2, epoch=0, drop_last=False)
    assert [len(p) for p in parts] == [3, 3]
    assert set(parts[0]) | set(parts[1]) == set(range(5))


def test_merged_validation_scores_equal_the_whole_set_despite_padding():
    rng = np.random.default_rng(0)
    n = 23
    y_true = rng.integers(0, 18, n)
    logits = rng.normal(size=(n, 18)).astype(np.float32)
    logits[np.arange(n), y_true] += rng.normal(1.0, 1.5, n).astype(np.float32)  # a partly right model
    whole = score_labels(y_true, logits.argmax(1))
    # torch's DistributedSampler pads the shards by repeating positions: 24 predictions for 23 photos
    padded = [np.array(list(DistributedSampler(range(n), num_replicas=2, rank=r, shuffle=False))) for r in range(2)]
    assert sum(len(p) for p in padded) == 24
    merged = merge_shards([(p, {"class18": logits[p]}) for p in padded], n)
    assert np.array_equal(merged["class18"], logits)
    assert score_labels(y_true, merged["class18"].argmax(1)) == whole
    ours = [shard_positions(n, World(r, r, 2)) for r in range(2)]  # no padding at all
    assert sorted(np.concatenate(ours).tolist()) == list(range(n))
    assert np.array_equal(merge_shards([(p, {"x": logits[p]}) for p in ours], n)["x"], logits)
    with pytest.raises(ValueError, match="1 of 23 positions"):
        merge_shards([(ours[0], {"x": logits[ours[0]]}), (ours[1][1:], {"x": logits[ours[1][1:]]})], n)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=0, seed=1, size=(48, 64))
    return root


def overrides(data_root: Path, cache: Path) -> list[str]:
    return [f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
            "model.dropout=0", "aug.preset=none", "train.batch_size=16", "train.grad_accum=2", "train.epochs=2",
            "train.lr=0.01", "train.features=true", "train.unfreeze_epochs=1", "train.unfreeze_stages=1",
            "train.unfreeze_lr=0.01", "train.loggers=[]", f"train.cache_dir={cache}", "split.val_fraction=0.25"]


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_two_gloo_processes_train_like_one_process_with_the_same_global_batch(data_root, tmp_path, monkeypatch):
    args = overrides(data_root, tmp_path / "cache")
    env = {**os.environ, "MASKCLS_PROGRESS": "0", TRACE_ENV: str(tmp_path / "trace2")}
    done = subprocess.run([sys.executable, "-m", "maskcls", "train", *args, "--runs", str(tmp_path / "ddp"),
                           "--nproc", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert done.stdout.count("epoch 3/3") == 1  # rank 0 alone logs
    monkeypatch.setenv(TRACE_ENV, str(tmp_path / "trace1"))
    one = train(load_config(None, args), tmp_path / "one", log=lambda _m: None)

    # one folder, written by rank 0 alone, with no temp files left over
    assert [p.name for p in (tmp_path / "ddp").iterdir()] == ["run"]
    ddp = tmp_path / "ddp" / "run"
    assert not [p for p in ddp.rglob(".*")]
    rank0, rank1 = (json.loads((tmp_path / "trace2" / f"rank{r}.json").read_text()) for r in range(2))
    assert rank0["checkpoints"] > 3 and rank1["checkpoints"] == 0

    # disjoint data on the two ranks, together what the single process trained on, epoch by epoch
    single = json.loads((tmp_path / "trace1" / "rank0.json").read_text())
    assert list(single["epochs"]) == ["1", "2", "3"]
    for epoch, seen in single["epochs"].items():
        a, b = rank0["epochs"][epoch], rank1["epochs"][epoch]
        assert len(a) == len(b) == len(seen) // 2 and not set(a) & set(b)
        assert sorted(a + b) == sorted(seen)

    # the same learning: metrics, validation probabilities and weights
    rows_one, rows_ddp = read_rows(one / "metrics.csv"), read_rows(ddp / "metrics.csv")
    assert len(rows_ddp) == 3
    for r1, r2 in zip(rows_one, rows_ddp):
        for key in ("train_loss", "val_loss", "macro_f1", "accuracy", "mask_f1", "gender_f1", "age_f1"):
            assert float(r1[key]) == pytest.approx(float(r2[key]), abs=1e-4), (r1["epoch"], key)
    assert float(rows_one[0]["train_loss"]) - float(rows_one[-1]["train_loss"]) > 0.05  # the weights did move
    probs_one, probs_ddp = (np.array([[float(r[f"p{i}"]) for i in range(18)]
                                      for r in read_rows(f / "val_predictions.csv")]) for f in (one, ddp))
    assert probs_one.shape == (21, 18) and np.allclose(probs_one, probs_ddp, atol=1e-4)
    a, b = load_checkpoint(one / "last.pt")["model"], load_checkpoint(ddp / "last.pt")["model"]
    for name in a:
        assert torch.allclose(a[name].float(), b[name].float(), atol=1e-4), name
