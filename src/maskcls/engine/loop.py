"""The training loop, apart from any model or data: optimisation steps, schedules, AMP, EMA and evaluation.

A :class:`Trainer` drives any ``nn.Module`` whose forward returns a dict of named logits; an
:class:`~maskcls.engine.objective.Objective` turns those and the (soft) targets into a loss, to which a model's
own ``penalty()`` (a scalar tensor or ``None``, e.g. soft-shared towers' L2 pull) is added. Everything the loop
owns — weights, optimiser, schedule, EMA, scaler, step counters — round-trips through :meth:`Trainer.state_dict`,
so a run killed after any epoch resumes to the same result.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable

import numpy as np
import torch
from torch import nn

from maskcls.config import TrainConfig
from maskcls.engine import distributed
from maskcls.errors import MaskclsError
from maskcls.models.fusion import fold_batchnorm


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch; optionally ask torch for deterministic kernels."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False


def tune_backends(device: torch.device, deterministic: bool = False) -> None:
    """On CUDA, let cuDNN pick the fastest kernels and matmuls use TF32 (unless deterministic kernels are asked for)."""
    if device.type != "cuda" or deterministic:
        return
    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def amp_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: none on the CPU (training there stays float32) or with ``train.amp`` off; on CUDA
    bfloat16 where supported (``auto``), else float16 with a gradient scaler.

    Raises:
        MaskclsError: for ``train.amp_dtype=bf16`` on a GPU without bfloat16.
    """
    if not cfg.amp or device.type != "cuda":
        return None
    if cfg.amp_dtype == "fp16":
        return torch.float16
    supported = torch.cuda.is_bf16_supported()
    if cfg.amp_dtype == "bf16" and not supported:
        raise MaskclsError("train.amp_dtype=bf16: this GPU has no bfloat16 support (use fp16 or auto)")
    return torch.bfloat16 if supported else torch.float16


def lr_factor(step: int, cfg: TrainConfig, steps_per_epoch: int, epochs: int) -> float:
    """The learning-rate multiplier at an optimiser step: linear warm-up, then the configured schedule."""
    total = max(1, epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if cfg.scheduler == "onecycle":
        warmup = max(warmup, int(0.3 * total))
    if step < warmup:
        return 0.01 + 0.99 * step / max(1, warmup)
    if cfg.scheduler == "step":
        return cfg.gamma ** (step // (steps_per_epoch * cfg.step_size))
    if cfg.scheduler in ("cosine", "onecycle"):
        progress = (step - warmup) / max(1, total - warmup)
        return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return 1.0


class Ema:
    """Exponential moving average of a model's floating-point weights (buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        current = model.state_dict()
        for name, value in self.module.state_dict().items():
            source = current[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(self.decay).add_(source, alpha=1.0 - self.decay)
            else:
                value.copy_(source)


def _set_mode(objective: Callable | None, training: bool) -> None:
    """Put an objective that is a module in training or eval mode (ArcFace's margin is on in training only)."""
    if isinstance(objective, nn.Module):
        objective.train(training)


@dataclass
class EpochStats:
    """What one training epoch measured."""

    loss: float
    images: int
    seconds: float
    lr: float

    @property
    def images_per_s(self) -> float:
        return self.images / max(self.seconds, 1e-9)


def build_optimizer(params: Iterable[nn.Parameter], cfg: TrainConfig, lr: float | None = None) -> torch.optim.Optimizer:
    """AdamW or SGD (Nesterov momentum) over the trainable parameters."""
    params = [p for p in params if p.requires_grad]
    lr = cfg.lr if lr is None else lr
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


class Trainer:
    """Optimises one module for a fixed number of epochs.

    Args:
        model: maps a batch to a dict of named outputs.
        objective: ``objective(outputs, targets) -> scalar loss``.
        cfg: the training settings (optimiser, schedule, accumulation, clipping, AMP, EMA …).
        steps_per_epoch: batches per epoch (for the schedule).
        epochs: epochs of this phase.
        device: where to train.
        lr: the peak learning rate (default ``cfg.lr``).
        mixer: optional batch mixer (CutMix/MixUp) applied to ``(images, soft targets)``.
        augment: optional batch augmentation applied to each training batch as it comes from the loader (e.g.
            :class:`~maskcls.vision.batch_augment.BatchWild` on uint8 batches).

    Under torchrun the module is trained through DistributedDataParallel (gradients averaged over the ranks,
    synchronised only on the micro-batch that steps when accumulating); ``model`` stays the plain module.

    When ``model`` has a ``penalty()`` method, what it returns (unless ``None``) is added to every training batch's
    loss, outside autocast; the validation loss is the objective's alone. An objective that is an ``nn.Module``
    is put in the model's mode: training mode for training batches, eval mode in :meth:`predict`.
    """

    def __init__(self, model: nn.Module, objective: Callable, cfg: TrainConfig, steps_per_epoch: int, epochs: int,
                 device: torch.device, lr: float | None = None, mixer: Callable | None = None,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        self.model, self.objective, self.cfg, self.device, self.mixer = model, objective, cfg, device, mixer
        self.augment = augment
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.optimizer = build_optimizer(model.parameters(), cfg, lr)
        optimizer_steps = math.ceil(steps_per_epoch / cfg.grad_accum)
        # A plain function, not a callable object: LambdaLR would pickle an object's settings into checkpoints.
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda step: lr_factor(step, cfg, optimizer_steps, epochs))
        self.amp_dtype = amp_dtype(cfg, device)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.ema = Ema(model, cfg.ema) if cfg.ema else None
        self.parallel = distributed.wrap(model, device)
        # Compiled for speed only; weights and state dicts always come from the original module.
        self.compiled = torch.compile(self.parallel) if cfg.compile else self.parallel
        self.epoch = 0

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        batch = batch.to(self.device, non_blocking=True)
        return batch.contiguous(memory_format=self.memory_format) if batch.dim() == 4 else batch

    def forward(self, inputs: torch.Tensor, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
            return (self.compiled if model is None else model)(inputs)

    def _training_model(self) -> nn.Module:
        """What a training batch goes through: the model with its frozen BatchNorm layers folded into their
        convolutions (the same outputs and gradients, less time), unless it is compiled or wrapped for DDP."""
        if self.compiled is not self.model:
            return self.compiled
        return fold_batchnorm(self.model, frozen_only=True)

    def train_epoch(self, loader: Iterable, progress: Callable[[int, float], None] | None = None) -> EpochStats:
        """One pass over ``loader`` yielding ``(inputs, targets)``; targets are dicts of tensors."""
        self.model.train()
        _set_mode(self.objective, True)
        model = self._training_model()
        started, seen, total_loss, batches = time.perf_counter(), 0, 0.0, 0
        self.optimizer.zero_grad(set_to_none=True)
        accum = self.cfg.grad_accum
        last = len(loader) - 1 if hasattr(loader, "__len__") else -1
        for i, (inputs, targets) in enumerate(loader):
            inputs = self._to_device(inputs if self.augment is None else self.augment(inputs))
            targets = {k: v.to(self.device, non_blocking=True) for k, v in targets.items()}
            if self.mixer is not None:
                inputs, targets = self.mixer(inputs, targets)
            with self._sync_unless((i + 1) % accum and i != last):
                loss = self.objective(self.forward(inputs, model), targets)
                penalty = self._penalty()
                if penalty is not None:
                    loss = loss + penalty
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {loss.item()} at epoch {self.epoch + 1}, batch {i + 1}")
                self.scaler.scale(loss / accum).backward()
            if (i + 1) % accum == 0:
                self._step()
            seen += len(inputs)
            total_loss += float(loss.detach())
            batches += 1
            if progress is not None:
                progress(len(inputs), total_loss / batches)
        if batches % accum:
            self._step()
        self.epoch += 1
        return EpochStats(total_loss / max(1, batches), seen, time.perf_counter() - started, self.current_lr())

    def _penalty(self) -> torch.Tensor | None:
        penalty = getattr(self.model, "penalty", None)
        return penalty() if callable(penalty) else None

    def _sync_unless(self, accumulating: bool):
        """DDP's ``no_sync`` for micro-batches that only accumulate; gradients are averaged on the stepping one."""
        if accumulating and self.parallel is not self.model:
            return self.parallel.no_sync()
        return contextlib.nullcontext()

    def _step(self) -> None:
        if self.cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        if self.ema is not None:
            self.ema.update(self.model)

    def current_lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    @property
    def eval_model(self) -> nn.Module:
        """The weights to evaluate and keep: the EMA when enabled."""
        return self.ema.module if self.ema is not None else self.model

    @torch.no_grad()
    def predict(self, loader: Iterable, objective: Callable | None = None) -> tuple[dict[str, np.ndarray], float]:
        """Outputs of the evaluation model over ``loader`` (concatenated, as NumPy) and the loss per item (batch
        losses weighted by their size, so it does not depend on how the items were batched)."""
        self.eval_model.eval()
        model = fold_batchnorm(self.eval_model)
        _set_mode(objective, False)
        outputs: dict[str, list[np.ndarray]] = {}
        total, items = 0.0, 0
        for inputs, targets in loader:
            inputs = self._to_device(inputs)
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None):
                out = model(inputs)
            if objective is not None:
                total += float(objective(out, {k: v.to(self.device) for k, v in targets.items()})) * len(inputs)
                items += len(inputs)
            for name, value in out.items():
                outputs.setdefault(name, []).append(value.float().cpu().numpy())
        return {k: np.concatenate(v) for k, v in outputs.items()}, total / max(1, items)

    def state_dict(self) -> dict:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "scheduler": self.scheduler.state_dict(), "scaler": self.scaler.state_dict(), "epoch": self.epoch}
        if self.ema is not None:
            state["ema"] = self.ema.module.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        if self.ema is not None and "ema" in state:
            self.ema.module.load_state_dict(state["ema"])
        self.epoch = int(state["epoch"])
