"""Soft parameter sharing for the multi-task head: a shared trunk, then a copy of the later stages per task.

The backbone's stem and first ``shared_stages`` stages (counted as :func:`~maskcls.models.backbones.backbone_stages`
counts them) run once; the remaining stages, the head convolution and the pooling are copied into one tower per
task (mask, gender, age), every tower starting from the same (pretrained) weights. The towers' pooled features
are concatenated in task order, and the ``multitask`` head built with ``split=True`` gives each task's layer its
own tower's block. What ties the towers together is :meth:`TowerBackbone.penalty`, an L2 pull between their
corresponding parameters that the training loop adds to the loss.
"""

from __future__ import annotations

import copy
import itertools
from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor, nn

from maskcls.errors import MaskclsError
from maskcls.models.backbones import has_params, stage_groups


def _stage(modules: list[nn.Module]) -> nn.Module:
    return modules[0] if len(modules) == 1 else nn.ModuleList(modules)


def _slices(groups: list[list[nn.Module]]) -> list[tuple[int, int]]:
    """``(start, end)`` positions, in the groups' modules run one after the other, of each group with parameters."""
    slices, start = [], 0
    for group in groups:
        if has_params(group):
            slices.append((start, start + len(group)))
        start += len(group)
    return slices


class TowerBackbone(nn.Module):
    """A shared trunk and one tower per task, made of a timm backbone's modules.

    Args:
        backbone: a timm backbone returning pooled features (``num_classes=0``); the trunk takes over its first
            modules and every tower gets a copy of the rest.
        shared_stages: how many of its stages the trunk keeps.
        tasks: the towers' names, in the order their features are concatenated.
        tower_l2: weight of :meth:`penalty`.

    Attributes:
        shared: the trunk, its modules named as in the backbone (``blocks.2`` becomes ``blocks_2``).
        towers: task → tower, named alike.
        tower_features: width of one tower's pooled features.
        num_features: width of all of them side by side.

    Raises:
        MaskclsError: if ``shared_stages`` leaves no stage to copy, or there are fewer than two tasks.
    """

    def __init__(self, backbone: nn.Module, shared_stages: int, tasks: Sequence[str], tower_l2: float = 0.0) -> None:
        super().__init__()
        groups = stage_groups(backbone)
        staged = [number for number, group in enumerate(groups) if has_params(group)]
        if not 0 <= shared_stages < len(staged):
            raise MaskclsError(f"model.shared_stages={shared_stages}: the backbone has {len(staged)} stages and "
                               "soft sharing copies at least the last one per task")
        if len(tasks) < 2:
            raise MaskclsError(f"soft sharing needs two tasks or more, got {list(tasks)}")
        split = staged[shared_stages - 1] + 1 if shared_stages else 0
        names = {id(module): name.replace(".", "_") for name, module in backbone.named_modules() if name}

        def sequence(part: list[list[nn.Module]]) -> nn.Sequential:
            return nn.Sequential(OrderedDict((names[id(module)], module) for group in part for module in group))

        self.shared = sequence(groups[:split])
        tail = sequence(groups[split:])
        self.towers = nn.ModuleDict({task: copy.deepcopy(tail) for task in tasks})
        self.shared_slices, self.tower_slices = _slices(groups[:split]), _slices(groups[split:])
        self.tower_features = int(backbone.num_features)
        self.num_features = self.tower_features * len(tasks)
        self.tower_l2 = float(tower_l2)

    def forward(self, x: Tensor) -> Tensor:
        trunk = self.shared(x)
        return torch.cat([tower(trunk) for tower in self.towers.values()], dim=1)

    def backbone_stages(self) -> list[nn.Module]:
        """The stages as the plain backbone counts them: the trunk's, then each copied stage with all its copies."""
        trunk = list(self.shared)
        towers = [list(tower) for tower in self.towers.values()]
        return [_stage(trunk[start:end]) for start, end in self.shared_slices] + [
            nn.ModuleList([module for tower in towers for module in tower[start:end]])
            for start, end in self.tower_slices]

    def penalty(self) -> Tensor | None:
        """``tower_l2 · mean over tower pairs of Σ_params ||p_i − p_j||²`` (``None`` when ``tower_l2`` is 0)."""
        if not self.tower_l2:
            return None
        towers = [list(tower.parameters()) for tower in self.towers.values()]
        pairs = list(itertools.combinations(towers, 2))
        total = sum((a - b).pow(2).sum() for first, second in pairs for a, b in zip(first, second))
        return self.tower_l2 * total / len(pairs)


def build_towers(backbone: nn.Module, name: str, size: tuple[int, int], shared_stages: int, tasks: Sequence[str],
                 tower_l2: float = 0.0) -> TowerBackbone:
    """A :class:`TowerBackbone` of a timm backbone, checked to compute what the backbone computes.

    The towers run the backbone's modules one after the other, which is its forward pass only for plain
    sequential layouts (EfficientNet, MobileNet, ResNet, ConvNeXt …): the trunk and a tower (the others are its
    copies) must give a random ``size`` input the backbone's own features.

    Args:
        backbone: a timm backbone returning pooled features.
        name: its architecture name, for messages.
        size: an input ``(height, width)`` it takes.
        shared_stages: stages kept shared.
        tasks: the towers' names.
        tower_l2: weight of the towers' L2 penalty.

    Raises:
        MaskclsError: if the backbone does not run as the sequence of its modules, or as :class:`TowerBackbone`.
    """
    towers = TowerBackbone(backbone, shared_stages, tasks, tower_l2)
    training = backbone.training
    backbone.eval()
    towers.eval()
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            expected = backbone(x)
            got = towers.towers[tasks[0]](towers.shared(x))
        same = got.shape == expected.shape and torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    except (RuntimeError, TypeError):  # modules whose outputs do not chain
        same = False
    backbone.train(training)
    towers.train(training)
    if not same:
        raise MaskclsError(f"model.sharing=soft: {name} does not run as the sequence of its modules, so it cannot "
                           "be split into towers")
    return towers
