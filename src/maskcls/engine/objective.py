"""The training objective of each head: per-task losses from the registry, weighted and summed.

Examples may lack labels (a crop folder has the mask status only, a face folder age and gender only): a missing
label is -1 (:data:`maskcls.vision.dataset.MISSING`) as a class index, an all-zero row as a soft target (what
:meth:`Objective.soft` makes of it, so CutMix and MixUp keep it), and a negative regressed age. Each task's loss is
the mean over the examples that have its label; a task no example of the batch has adds exactly nothing, so its
head gets zero gradient. The ``class18`` head trains only on examples whose three labels are all known.

With ``model.arcface`` the head's logits are ``s·cos θ`` and, in training mode only, each task's loss sees them with
the angular margin on the target class (:func:`maskcls.models.cosine.angular_margin`): the margin follows the
target rows (a label's one-hot row, a CutMix/MixUp mixture renormalised as below), while label smoothing stays the
loss's own business, as ArcFace is usually combined with it. In eval mode (the validation loss) the plain logits
are scored, as the deployed model's probabilities are.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from maskcls.config import ModelConfig, TrainConfig
from maskcls.labels import NUM_CLASSES
from maskcls.models.cosine import angular_margin

#: The classification targets each head is trained on, with their number of classes.
HEAD_TASKS: dict[str, dict[str, int]] = {
    "class18": {"class18": NUM_CLASSES},
    "multitask": {"mask": 3, "gender": 2, "age": 3},
    "multitask_regression": {"mask": 3, "gender": 2},
    "multitask_years": {"mask": 3, "gender": 2, "age": 3},
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
        self.distill_weight = float(train_cfg.distill_weight)
        self.temperature = float(train_cfg.distill_temperature)
        self.years_weight = float(train_cfg.age_years_weight)
        self.arcface = (float(model_cfg.arcface_s), float(model_cfg.arcface_m)) if model_cfg.arcface else None

    def soft(self, targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One-hot the class targets (for CutMix/MixUp; a missing label becomes an all-zero row); the regressed
        age becomes a float column."""
        out = {}
        for t, n in self.tasks.items():
            labels = targets[t].long()
            out[t] = F.one_hot(labels.clamp(min=0), n).float() * (labels >= 0).unsqueeze(1).float()
        if self.regress_age:
            out["age_value"] = targets["age_value"].float().reshape(-1, 1)
        if "age_soft" in targets and "age" in out:
            out["age"] = targets["age_soft"].float()
        if "age_years" in targets:
            out["age_years"] = targets["age_years"].float()
        for key in ("teacher_gender", "teacher_age", "teacher_weight"):  # already soft: mixed as they are
            if key in targets:
                out[key] = targets[key].float().reshape(len(targets[key]), -1)
        return out

    def task_loss(self, task: str, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """One task's loss over the examples labelled for it; ``0 * logits.sum()`` (no gradient) when none is.

        A soft row mixed from a labelled and an unlabelled example (CutMix, MixUp) is renormalised to sum 1,
        so it trains toward the labelled example's share. With ArcFace, in training mode, the margin goes on the
        target class first.
        """
        logits = logits.float()
        if target.dim() == 1:
            known = target >= 0
        else:
            mass = target.sum(dim=1)
            known = mass > 0
            target = target / mass.clamp(min=1e-12).unsqueeze(1)
        if self.arcface is not None and self.training:
            logits = angular_margin(logits, target, *self.arcface)
        if not bool(known.any()):
            return logits.sum() * 0.0
        if bool(known.all()):
            return self.losses[task](logits, target)
        return self.losses[task](logits[known], target[known])

    def forward(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        def target(task: str) -> torch.Tensor:
            # train.age_sigma: soft band targets (a missing age is an all-zero row, which trains nothing).
            return targets["age_soft"] if task == "age" and "age_soft" in targets else targets[task]

        total = sum(self.weights[t] * self.task_loss(t, outputs[t], target(t)) for t in self.tasks)
        if self.regress_age:
            predicted = outputs["age_value"].float().reshape(-1) / AGE_SCALE
            ages = targets["age_value"].float().reshape(-1)
            known = ages >= 0
            if bool(known.any()):
                age_loss = F.smooth_l1_loss(predicted[known], ages[known] / AGE_SCALE)
            else:
                age_loss = predicted.sum() * 0.0
            total = total + self.weights["age"] * age_loss
        if "age_years" in outputs and "age_years" in targets:
            years = years_loss(outputs["age_years"], targets["age_years"])
            total = total + self.weights["age"] * self.years_weight * years
        if self.distill_weight and "teacher_weight" in targets:
            total = total + self.distill_weight * self.distillation(outputs, targets)
        return total

    def distillation(self, outputs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> torch.Tensor:
        """``T² · mean(w · Σ_task KL(teacher_T ‖ student_T))`` over gender and age band (gender only for a
        regressed age), with ``w`` the per-photo ``teacher_weight``; a class18 head's tasks are the marginals of
        its tempered softmax."""
        t = self.temperature
        student = _tempered_log_probs(outputs, t)
        weight = targets["teacher_weight"].float().reshape(-1)
        kl = torch.zeros_like(weight)
        for task in ("gender", "age"):
            if task not in student:
                continue
            teacher = F.softmax(torch.log(targets[f"teacher_{task}"].float().clamp_min(1e-8)) / t, dim=-1)
            kl = kl + (teacher * (torch.log(teacher.clamp_min(1e-8)) - student[task])).sum(-1)
        return t * t * (weight * kl).mean()


def years_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``KL(target ‖ softmax(logits))`` over whole years of age, averaged over the rows with an age.

    A row mixed from an aged and an unaged example (CutMix, MixUp) is renormalised to sum 1; with no aged row the
    loss is ``0 * logits.sum()`` (no gradient).
    """
    logits, target = logits.float(), target.float()
    mass = target.sum(dim=1)
    known = mass > 0
    if not bool(known.any()):
        return logits.sum() * 0.0
    target = target[known] / mass[known].unsqueeze(1)
    log_probs = F.log_softmax(logits[known], dim=-1)
    return (torch.xlogy(target, target) - target * log_probs).sum(-1).mean()


def _tempered_log_probs(outputs: dict[str, torch.Tensor], temperature: float) -> dict[str, torch.Tensor]:
    """Log-probabilities of gender and age band at a softmax temperature, from any head's outputs."""
    if "class18" in outputs:
        joint = F.softmax(outputs["class18"].float() / temperature, dim=-1).reshape(-1, 3, 2, 3)
        return {"gender": torch.log(joint.sum((1, 3)).clamp_min(1e-8)),
                "age": torch.log(joint.sum((1, 2)).clamp_min(1e-8))}
    tempered = {"gender": F.log_softmax(outputs["gender"].float() / temperature, dim=-1)}
    if "age" in outputs:
        tempered["age"] = F.log_softmax(outputs["age"].float() / temperature, dim=-1)
    return tempered
