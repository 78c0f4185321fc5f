"""Classification heads over pooled backbone features, and the one way their outputs become probabilities.

Every head returns a dict of named outputs:

* ``class18`` → ``{"class18": [N, 18]}`` logits;
* ``multitask`` → ``{"mask": [N, 3], "gender": [N, 2], "age": [N, 3]}`` logits;
* ``multitask_regression`` → ``{"mask": [N, 3], "gender": [N, 2], "age_value": [N]}`` with the age in years;
* ``multitask_years`` → ``{"mask": [N, 3], "gender": [N, 2], "age": [N, 3], "age_years": [N, 101]}``: logits over
  whole years of age and, as ``age``, the log-probabilities of their sums per band, which every reader of band
  logits takes as they are.

Each class layer is made by the head's ``layer`` factory: ``nn.Linear``, or ArcFace's
:class:`~maskcls.models.cosine.CosineLinear` (``model.arcface``).

:func:`task_probs` turns any of them into per-task probabilities and :func:`class18_probs` into 18-class
probabilities ordered by :func:`maskcls.labels.encode`.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from maskcls.errors import MaskclsError
from maskcls.labels import AGE_YEARS, NUM_CLASSES, TASKS, AgeBands

#: Makes one class layer from ``(in_features, classes)``.
LayerFactory = Callable[[int, int], nn.Module]
#: Head name → head class; each class takes ``(in_features, dropout, age_thresholds, layer=nn.Linear)``.
HEADS: dict[str, type[nn.Module]] = {}


def register_head(name: str) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator registering a head under ``name`` in :data:`HEADS`."""

    def decorator(cls: type[nn.Module]) -> type[nn.Module]:
        HEADS[name] = cls
        return cls

    return decorator


def build_head(
    name: str, in_features: int, dropout: float, age_thresholds: Sequence[int] = (30, 60), **options: Any
) -> nn.Module:
    """Build a registered head.

    Args:
        name: a name of :data:`HEADS`.
        in_features: width of the pooled features.
        dropout: dropout before the class layers.
        age_thresholds: the age bands' thresholds.
        options: keyword arguments of the head class: ``layer`` (a :data:`LayerFactory`) for every head,
            ``split`` for ``multitask``.

    Raises:
        MaskclsError: for an unknown head name.
    """
    if name not in HEADS:
        raise MaskclsError(f"unknown head {name!r} (known: {', '.join(sorted(HEADS))})")
    return HEADS[name](in_features, dropout, tuple(age_thresholds), **options)


@register_head("class18")
class Class18Head(nn.Module):
    """One 18-way linear layer after dropout (``age_thresholds`` is unused: the bands are in the labels)."""

    def __init__(self, in_features: int, dropout: float, age_thresholds: tuple[int, int] = (30, 60),
                 layer: LayerFactory = nn.Linear) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.fc = layer(in_features, NUM_CLASSES)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        return {"class18": self.fc(self.dropout(features))}


@register_head("multitask")
class MultitaskHead(nn.Module):
    """A class layer per task (mask 3, gender 2, age band 3) on dropped-out features.

    With ``split``, the features are one block of ``in_features`` per task side by side, in task order (the towers
    of :mod:`maskcls.models.towers`), and each task's layer sees only its own block; otherwise every layer sees all
    of them.
    """

    def __init__(self, in_features: int, dropout: float, age_thresholds: tuple[int, int] = (30, 60),
                 layer: LayerFactory = nn.Linear, split: bool = False) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.tasks = nn.ModuleDict({task: layer(in_features, width) for task, width in TASKS.items()})
        self.in_features, self.split = in_features, split

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        blocks = features.split(self.in_features, dim=1) if self.split else [features] * len(self.tasks)
        return {task: layer(block) for (task, layer), block in zip(self.tasks.items(), blocks)}


@register_head("multitask_regression")
class MultitaskRegressionHead(nn.Module):
    """Mask and gender logits plus the age in years.

    The age is ``centre + scale * raw`` with ``centre`` the midpoint of the thresholds and ``scale`` two thirds of
    their distance (45 and 20 for 30/60), so a freshly initialised head predicts plausible ages.
    """

    def __init__(self, in_features: int, dropout: float, age_thresholds: tuple[int, int] = (30, 60),
                 layer: LayerFactory = nn.Linear) -> None:
        super().__init__()
        low, high = age_thresholds
        self.dropout = nn.Dropout(dropout)
        self.mask = layer(in_features, TASKS["mask"])
        self.gender = layer(in_features, TASKS["gender"])
        self.age = nn.Linear(in_features, 1)
        self.age_centre = (low + high) / 2
        self.age_scale = (high - low) * 2 / 3

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        age = self.age_centre + self.age_scale * self.age(features).squeeze(-1)
        return {"mask": self.mask(features), "gender": self.gender(features), "age_value": age}


@register_head("multitask_years")
class MultitaskYearsHead(nn.Module):
    """Mask and gender logits plus a distribution over whole years of age, summed into the bands.

    The years' logits (``age_years``) train toward a spread about each labelled age (label distribution learning,
    :func:`maskcls.labels.year_spread`), so the target of a 31-year-old puts weight on 29 and none on 65.
    ``age`` is ``log`` of the years' softmax summed per band, so the band loss, the
    probabilities, ensembles and the ONNX graph read the bands from the same distribution.
    """

    def __init__(self, in_features: int, dropout: float, age_thresholds: tuple[int, int] = (30, 60),
                 layer: LayerFactory = nn.Linear) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.mask = layer(in_features, TASKS["mask"])
        self.gender = layer(in_features, TASKS["gender"])
        self.years = layer(in_features, AGE_YEARS)
        year_band = torch.eye(TASKS["age"])[torch.from_numpy(AgeBands(tuple(age_thresholds)).year_bands())]
        self.register_buffer("year_band", year_band, persistent=False)

    def forward(self, features: Tensor) -> dict[str, Tensor]:
        features = self.dropout(features)
        years = self.years(features)
        bands = years.float().softmax(-1) @ self.year_band
        return {"mask": self.mask(features), "gender": self.gender(features),
                "age": torch.log(bands.clamp_min(1e-12)), "age_years": years}


def soft_age_bands(ages: Tensor, age_thresholds: Sequence[int] = (30, 60), temperature: float = 3.0) -> Tensor:
    """Soft band probabilities ``[N, 3]`` of regressed ages.

    With ``s_k = sigmoid((age - t_k) / temperature)`` for the thresholds ``t_0 < t_1``, the bands get
    ``1 - s_0``, ``s_0 - s_1`` and ``s_1``: non-negative, summing to 1, and the hard band of the age is the most
    probable one unless the age sits within about a temperature of a threshold.
    """
    steps = torch.stack([torch.sigmoid((ages - t) / temperature) for t in age_thresholds], dim=-1)
    ones = torch.ones_like(steps[..., :1])
    zeros = torch.zeros_like(ones)
    return torch.cat([ones, steps], dim=-1) - torch.cat([steps, zeros], dim=-1)


def task_probs(
    outputs: dict[str, Tensor], age_thresholds: Sequence[int] = (30, 60), age_temperature: float = 3.0
) -> dict[str, Tensor]:
    """Per-task probabilities ``{"mask": [N,3], "gender": [N,2], "age": [N,3]}`` of any head's outputs.

    ``class18`` outputs are marginalised from the 18-class softmax; task logits go through a softmax; a regressed
    ``age_value`` becomes bands through :func:`soft_age_bands`.
    """
    if "class18" in outputs:
        joint = outputs["class18"].softmax(-1).reshape(-1, *TASKS.values())
        return {"mask": joint.sum((2, 3)), "gender": joint.sum((1, 3)), "age": joint.sum((1, 2))}
    if "age_value" in outputs:
        age = soft_age_bands(outputs["age_value"], age_thresholds, age_temperature)
    else:
        age = outputs["age"].softmax(-1)
    return {"mask": outputs["mask"].softmax(-1), "gender": outputs["gender"].softmax(-1), "age": age}


def class18_probs(
    outputs: dict[str, Tensor], age_thresholds: Sequence[int] = (30, 60), age_temperature: float = 3.0
) -> Tensor:
    """18-class probabilities ``[N, 18]`` of any head's outputs, ordered by :func:`maskcls.labels.encode`.

    ``class18`` logits go through a softmax. Task outputs combine as independent factors,
    ``p(m, g, a) = p(m) p(g) p(a)`` at index ``m*6 + g*3 + a``, with the regressed age turned into band
    probabilities by :func:`soft_age_bands` (``age_thresholds``, ``age_temperature``).
    """
    if "class18" in outputs:
        return outputs["class18"].softmax(-1)
    probs = task_probs(outputs, age_thresholds, age_temperature)
    joint = probs["mask"][:, :, None, None] * probs["gender"][:, None, :, None] * probs["age"][:, None, None, :]
    return joint.reshape(joint.shape[0], NUM_CLASSES)
