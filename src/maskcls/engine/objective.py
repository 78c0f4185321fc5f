"""The training objective of each head: per-task losses from the registry, weighted and summed."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from maskcls.config import ModelConfig, TrainConfig
from maskcls.labels import NUM_CLASSES

#: The classification targets each head is trained on, with their number of classes.
HEAD_TASKS: dict[str, dict[str, int]] = {
    "class18": {"class18": NUM_CLASSES},
    "multitask": {"mask": 3, "gender": 2, "age": 3},
    "multitask_regression": {"mask": 3, "gender": 2},
}
#: Regressed ages are compared in decades so their loss is on the scale of the classification losses.
AGE_SCALE = 10.0


class Objective(nn.Module):
    """Weighted sum of per-task losses for one head.

    Args:
        model_cfg: the head and the task weights.
        train_cfg: the loss spec, label smoothing, focal gamma and whether to weight classes.
        class_counts: training counts per task (``{"mask": array([…]), …}``) for class-weighted losses.
    """

    def __init__(self, model_cfg: ModelConfig, train_cfg: TrainConfig,
                 class_counts: dict[str, np.ndarray] | None = None) -> None:
        super().__init__()
        from maskcls.losses import build_loss, class_weights_from_counts

        self.tasks = HEAD_TASKS[model_cfg.head]
        self.weights = {t: float(model_cfg.task_weights.get(t, 1.0)) for t in ("class18", "mask", "gender", "age")}
        self.regress_age = model_cfg.head == "multitask_regression"
        losses = {}
        for task, n in self.tasks.items():
            weights = None
            if train_cfg.class_weights and class_counts is not None:
                weights = class_weights_from_counts(class_counts[task])
            losses[task] = build_loss(train_cfg.loss, n, class_weights=weights, label_smoothing=train_cfg.label_smoothing,
                                      focal_gamma=train_cfg.focal_gamma)
        self.losses = nn.ModuleDict(losses)

    def soft(self, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One-hot the class targets (for CutMix/MixUp); the regressed age becomes a float column."""
        out = {t: F.one_hot(targets[t].long(), n).float() for t, n in self.tasks.items()}
        if self.regress_age:
            out["age_value"] = targets["age_value"].float().reshape(-1, 1)
        return out

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        total = sum(self.weights[t] * self.losses[t](outputs[t].float(), targets[t]) for t in self.tasks)
        if self.regress_age:
            predicted = outputs["age_value"].float().reshape(-1) / AGE_SCALE
            total = total + self.weights["age"] * F.smooth_l1_loss(predicted, targets["age_value"].float().reshape(-1) / AGE_SCALE)
        return total
