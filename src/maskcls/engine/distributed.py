"""Data-parallel training across the processes ``torchrun`` starts (``maskcls train ... --nproc N``).

One process a device (a GPU, or a share of the CPU cores). Every process holds the whole model and trains on
its own shard of each global batch of ``train.batch_size``; DistributedDataParallel averages the gradients,
so N processes with batches of B/N take the same optimiser steps as one process with batches of B (exactly
so when BatchNorm does not see the batch: ``train.sync_bn`` on GPUs, or frozen statistics). The process group
is NCCL on GPUs and gloo on the CPU, on one machine (``torchrun --standalone``) or on several\n(``--nnodes/--node-rank/--master-addr/--master-port``, passed to torchrun; see :func:`launch`).

* Sampling: :class:`DistributedWeightedSampler` draws one epoch order on every rank from a shared seed
  (shuffled, or class-weighted with replacement; oversampling is already in the dataset's indices) and each
  rank keeps every N-th position, so the ranks' shards are disjoint and together are that order.
* Validation is sharded too: each rank predicts every N-th photo, the outputs are gathered on every rank and
  put back in order (:func:`gather_outputs`), so the scores are exactly those of one process predicting the
  whole set: nothing is padded, nothing counted twice. BatchNorm statistics are first copied from rank 0
  (:func:`sync_buffers`), the ones its checkpoints hold.
* Files: rank 0 alone writes the run folder and checkpoints; the others learn its path by broadcast. Shared
  caches are built by rank 0 first (:func:`main_first`) and then read by the others.

Outside torchrun (no ``WORLD_SIZE``, or 1) every helper is a no-op for a world of one process.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from maskcls.errors import MaskclsError

#: Minutes a rank waits at a barrier; rank 0 may be building the image or feature cache meanwhile.
TIMEOUT_MINUTES = int(os.environ.get("MASKCLS_DIST_TIMEOUT", "60"))


@dataclass(frozen=True)
class World:
    """This process's place among the training processes.

    Attributes:
        rank: global rank (0 writes the files).
        local_rank: rank on this machine (the GPU it uses).
        size: number of processes.
    """

    rank: int = 0
    local_rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def world() -> World:
    """The world torchrun describes in ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` (one process without them)."""
    env = os.environ
    return World(int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", "0")), int(env.get("WORLD_SIZE", "1")))


def is_main() -> bool:
    """Whether this process writes files and logs (rank 0, or the only process)."""
    return world().main


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def setup(device: torch.device) -> torch.device:
    """Join the process group once (NCCL for CUDA, else gloo) and return this process's device.

    Under torchrun a CUDA device becomes ``cuda:<local rank>``. Idempotent: later calls return the same device.
    """
    here = world()
    if device.type == "cuda" and here.distributed:
        if here.local_rank >= torch.cuda.device_count():
            raise MaskclsError(f"--nproc {here.size}: local rank {here.local_rank} has no GPU "
                               f"({torch.cuda.device_count()} visible)")
        device = torch.device("cuda", here.local_rank)
        torch.cuda.set_device(device)
    if here.distributed and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, timeout=timedelta(minutes=TIMEOUT_MINUTES))
    return device


def shutdown() -> None:
    """Leave the process group (at the end of a command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every rank gets here."""
    if not _active():
        return
    if dist.get_backend() == "nccl":
        dist.barrier(device_ids=[torch.cuda.current_device()])
    else:
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. builds a cache file); the others run it after, and find its result.

    If rank 0 fails inside the block it never reaches the barrier; torchrun then stops the waiting ranks.
    """
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def broadcast_object(value: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``value`` on every rank (any picklable object)."""
    if not _active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src)
    return box[0]


def all_gather_object(value: Any) -> list[Any]:
    """Every rank's ``value``, in rank order, on every rank."""
    if not _active():
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def all_reduce(values: Sequence[float], op: str = "sum") -> list[float]:
    """Element-wise ``sum`` or ``max`` of ``values`` over the ranks (float64)."""
    if not _active():
        return [float(v) for v in values]
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX if op == "max" else dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def sync_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm statistics) to every rank.

    Each rank updates running statistics with its own shard, so without this they drift apart; rank 0's are
    the ones its checkpoints keep, and so the ones every rank must validate with.
    """
    if not _active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src)


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` in DistributedDataParallel when there is more than one process, else ``module`` itself."""
    if not _active():
        return module
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


def convert_sync_bn(model: nn.Module) -> nn.Module:
    """BatchNorm layers (timm's BatchNormAct too) made synchronised: statistics over the global batch."""
    from timm.layers import convert_sync_batchnorm

    return convert_sync_batchnorm(model)


# ---- validation ---------------------------------------------------------------------------------------------
def shard_positions(n: int, here: World | None = None) -> np.ndarray:
    """The positions ``0..n-1`` this rank validates: every ``size``-th from its rank on (no padding)."""
    here = here or world()
    return np.arange(here.rank, n, here.size, dtype=np.int64)


def merge_shards(parts: Sequence[tuple[np.ndarray, dict[str, np.ndarray]]], n: int) -> dict[str, np.ndarray]:
    """Put every rank's outputs back at their positions: arrays of ``n`` rows in dataset order.

    A position seen more than once (samplers that pad shards to equal length repeat a few) is kept once, so
    nothing is counted twice.

    Args:
        parts: ``(positions, outputs)`` of each rank, the rows of ``outputs[name]`` aligned with ``positions``.
        n: the size of the whole set.

    Raises:
        ValueError: if a position is missing or out of range.
    """
    filled = np.zeros(n, dtype=bool)
    merged: dict[str, np.ndarray] = {}
    for positions, outputs in parts:
        positions = np.asarray(positions, dtype=np.int64)
        if positions.size and (positions.min() < 0 or positions.max() >= n):
            raise ValueError(f"positions must lie in 0..{n - 1}")
        _, first = np.unique(positions, return_index=True)
        rows = np.sort(first)
        rows = rows[~filled[positions[rows]]]
        for name, values in outputs.items():
            if name not in merged:
                merged[name] = np.zeros((n, *values.shape[1:]), dtype=values.dtype)
            merged[name][positions[rows]] = values[rows]
        filled[positions[rows]] = True
    if not filled.all():
        raise ValueError(f"{int((~filled).sum())} of {n} positions have no output")
    return merged


def gather_outputs(positions: np.ndarray, outputs: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Every rank's outputs of its positions, merged in order on every rank (see :func:`merge_shards`)."""
    return merge_shards(all_gather_object((positions, outputs)), n)


# ---- sampling -----------------------------------------------------------------------------------------------
class DistributedWeightedSampler(Sampler[int]):
    """One epoch order drawn alike on every rank, of which each rank keeps every ``world``-th position.

    The order is ``torch.randperm`` (each item once) or, with ``weights``, ``torch.multinomial`` with
    replacement, both from a generator seeded with ``seed + epoch``: for one process exactly what
    RandomSampler and WeightedRandomSampler yield with that generator, so a run's batches do not depend on how
    many processes share them. The shards of one epoch are disjoint positions of that order, and a per-rank
    batch of B/N at step k together with the other ranks' is the global batch k of one process.

    Args:
        size: items in the dataset.
        weights: per-item draw weights; ``None`` shuffles.
        seed: the seed shared by all ranks.
        num_samples: draws an epoch with weights (default ``size``).
        drop_last: drop the tail of the order that does not fill every shard; otherwise pad the shards with
            positions from the start of the order.
        here: this process's place (default: from torchrun's variables).
    """

    def __init__(self, size: int, weights: torch.Tensor | np.ndarray | None = None, seed: int = 0,
                 num_samples: int | None = None, drop_last: bool = False, here: World | None = None) -> None:
        self.size = size
        self.weights = None if weights is None else torch.as_tensor(weights, dtype=torch.double)
        if self.weights is not None and len(self.weights) != size:
            raise ValueError(f"{len(self.weights)} weights for {size} items")
        self.num_samples = size if num_samples is None or weights is None else num_samples
        self.seed, self.drop_last = seed, drop_last
        self.here = here or world()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the order of ``epoch`` next time (every rank must set the same epoch)."""
        self.epoch = epoch

    def order(self) -> torch.Tensor:
        """This epoch's order over all ranks."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        if self.weights is None:
            return torch.randperm(self.size, generator=generator)
        return torch.multinomial(self.weights, self.num_samples, True, generator=generator)

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.here.size
        return math.ceil(self.num_samples / self.here.size)

    def __iter__(self) -> Iterator[int]:
        order = self.order()
        total = len(self) * self.here.size
        if total > len(order) and len(order):
            order = order.repeat(math.ceil(total / len(order)))
        return iter(order[:total][self.here.rank::self.here.size].tolist())


# ---- launching ----------------------------------------------------------------------------------------------
def launch(argv: Sequence[str], nproc: int, nnodes: int = 1, node_rank: int = 0, master_addr: str | None = None,
           master_port: int | None = None) -> int:
    """Run ``maskcls <argv>`` in ``nproc`` processes under ``torch.distributed.run``, on this machine or on several.

    With ``nnodes`` 1 the processes meet on this machine (``--standalone``). With more, the same command runs on
    every machine with its own ``node_rank`` (0 to ``nnodes - 1``), and all meet at ``master_addr:master_port``
    (a port on the machine of node 0 that every machine can reach; torchrun's static rendezvous): global rank
    ``node_rank * nproc + local rank``, rank 0 on node 0 writes the run folder. Each process gets
    ``OMP_NUM_THREADS`` = cores / ``nproc`` unless it is set. With CUDA, process k uses GPU k (see :func:`setup`).
    Returns the exit status.

    Raises:
        MaskclsError: for fewer than 1 process or node, a node rank outside the nodes, or several nodes without
            a master address.
    """
    if nproc < 1:
        raise MaskclsError(f"--nproc {nproc}: needs at least 1 process")
    if nnodes < 1:
        raise MaskclsError(f"--nnodes {nnodes}: needs at least 1 node")
    if not 0 <= node_rank < nnodes:
        raise MaskclsError(f"--node-rank {node_rank}: expected 0 to {nnodes - 1} for --nnodes {nnodes}")
    if nnodes > 1 and not master_addr:
        raise MaskclsError(f"--nnodes {nnodes}: needs --master-addr (the address of node 0)")
    env = dict(os.environ)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    env.setdefault("OMP_NUM_THREADS", str(max(1, cores // nproc)))
    if nnodes == 1 and master_addr is None and master_port is None:
        where = ["--standalone"]
    else:
        where = [f"--nnodes={nnodes}", f"--node_rank={node_rank}", f"--master_addr={master_addr or '127.0.0.1'}",
                 f"--master_port={master_port or 29500}"]
    command = [sys.executable, "-m", "torch.distributed.run", *where, f"--nproc_per_node={nproc}",
               "-m", "maskcls", *argv]
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:  # let torchrun stop its workers before this process goes
        process.send_signal(signal.SIGINT)
        process.wait()
        raise
