"""BatchNorm folded into the convolution before it: the same outputs, for much less time on a CPU.

A BatchNorm layer with fixed statistics (eval mode) is a per-channel affine map, so it can be merged into the
weights and bias of the convolution that feeds it. Measured here (Lite0 at 128 px, 2 threads): an evaluation
forward of 128 photos takes 0.60 s instead of 0.97 s, and a training step with the first 4 stages frozen 5-7 %
less. The model itself is never changed (its state dict, checkpoints and ONNX export stay as they are):
:func:`fold_batchnorm` returns a *view* that shares every module it does not fold with the model, parameters and
BatchNorm statistics included, so an optimizer stepping the model's parameters trains the view too.
"""

from __future__ import annotations

import copy
import weakref

import torch
from torch import Tensor, nn

#: ``model -> [(conv name, batchnorm name)]``, found once per model by :func:`conv_bn_pairs`.
_PAIRS: "weakref.WeakKeyDictionary[nn.Module, list[tuple[str, str]]]" = weakref.WeakKeyDictionary()
#: How far a folded view's outputs may stray from the model's before folding is refused for that model.
TOLERANCE = 1e-3


def _input_size(model: nn.Module) -> tuple[int, int] | None:
    preprocess = getattr(model, "preprocess", None)
    return tuple(preprocess.size) if preprocess is not None else None


def conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    """The ``(conv, batchnorm)`` module names where the BatchNorm takes the convolution's output, found by
    running the model once on a small input in eval mode (its mode is restored), and proven: a view with all of
    them folded must give the model's outputs within :data:`TOLERANCE`, otherwise no pair is returned.

    A model without ``preprocess`` (an input size) has no pairs. Modules called more than once are left out.
    """
    if model in _PAIRS:
        return _PAIRS[model]
    size = _input_size(model)
    pairs: list[tuple[str, str]] = []
    if size is not None:
        pairs = _traced_pairs(model, size)
        if pairs and not _folding_holds(model, pairs, size):
            pairs = []
    _PAIRS[model] = pairs
    return pairs


def _sample(model: nn.Module, size: tuple[int, int]) -> Tensor:
    weight = next(model.parameters())
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 3, *size, generator=generator)
    return sample.to(device=weight.device, dtype=weight.dtype)


def _traced_pairs(model: nn.Module, size: tuple[int, int]) -> list[tuple[str, str]]:
    names = {module: name for name, module in model.named_modules()}
    # Each conv output is held until the trace ends: a freed tensor's id could be reused by another one.
    produced: dict[int, tuple[nn.Module, Tensor]] = {}
    found: list[tuple[nn.Module, nn.Module]] = []
    calls: dict[nn.Module, int] = {}

    def on_conv(module: nn.Module, _inputs: tuple, output: Tensor) -> None:
        calls[module] = calls.get(module, 0) + 1
        produced[id(output)] = (module, output)

    def on_norm(module: nn.Module, inputs: tuple, _output: Tensor) -> None:
        calls[module] = calls.get(module, 0) + 1
        source = produced.get(id(inputs[0]))
        if source is not None and source[1] is inputs[0]:
            found.append((source[0], module))

    hooks = []
    for module in model.modules():
        if type(module) is nn.Conv2d:
            hooks.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            hooks.append(module.register_forward_hook(on_norm))
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(_sample(model, size))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(training)
    return [(names[conv], names[norm]) for conv, norm in found if calls[conv] == 1 and calls[norm] == 1]


def _folding_holds(model: nn.Module, pairs: list[tuple[str, str]], size: tuple[int, int]) -> bool:
    training = model.training
    model.eval()
    try:
        with torch.no_grad():
            sample = _sample(model, size)
            expected, folded = model(sample), _view(model, pairs, frozen_only=False)(sample)
    finally:
        model.train(training)
    if isinstance(expected, Tensor):
        expected, folded = {"": expected}, {"": folded}
    return all(torch.allclose(folded[k], v, atol=TOLERANCE, rtol=TOLERANCE) for k, v in expected.items())


def fold_batchnorm(model: nn.Module, frozen_only: bool = False) -> nn.Module:
    """A view of ``model`` with every eval-mode BatchNorm folded into the convolution before it.

    Args:
        model: the model; it is not modified.
        frozen_only: fold only pairs whose parameters are all frozen (for training, where a trainable pair
            must stay as it is to receive gradients).

    Returns:
        The view, or ``model`` itself when there is nothing to fold. Folding is computed from the weights as they
        are now: make a new view after the weights change (every evaluation does).
    """
    pairs = conv_bn_pairs(model)
    return _view(model, pairs, frozen_only) if pairs else model


def _view(model: nn.Module, pairs: list[tuple[str, str]], frozen_only: bool) -> nn.Module:
    modules = dict(model.named_modules())
    copies: dict[str, nn.Module] = {}

    def own(path: str) -> nn.Module:
        """The view's copy of the module at ``path`` (and of its parents), with a children dict of its own."""
        if path not in copies:
            if path:
                parent_path, _, name = path.rpartition(".")
                parent = own(parent_path)
                original = parent._modules[name]
            else:
                parent, name, original = None, "", model
            duplicate = copy.copy(original)
            duplicate._modules = type(original._modules)(original._modules)
            if parent is not None:
                parent._modules[name] = duplicate
            copies[path] = duplicate
        return copies[path]

    for conv_name, norm_name in pairs:
        conv, norm = modules[conv_name], modules[norm_name]
        if norm.training or (frozen_only and any(p.requires_grad for p in [*conv.parameters(), *norm.parameters()])):
            continue
        conv_parent, _, conv_attr = conv_name.rpartition(".")
        norm_parent, _, norm_attr = norm_name.rpartition(".")
        own(conv_parent)._modules[conv_attr] = _folded_conv(conv, norm)
        own(norm_parent)._modules[norm_attr] = _after_norm(norm)
    return copies.get("", model)


@torch.no_grad()
def _folded_conv(conv: nn.Conv2d, norm: nn.modules.batchnorm._BatchNorm) -> nn.Conv2d:
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps) if norm.affine else 1 / torch.sqrt(
        norm.running_var + norm.eps)
    shift = norm.bias - norm.running_mean * scale if norm.affine else -norm.running_mean * scale
    folded = copy.copy(conv)
    folded._parameters = dict(conv._parameters)
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    if conv.weight.is_contiguous(memory_format=torch.channels_last):
        weight = weight.contiguous(memory_format=torch.channels_last)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    folded.weight = nn.Parameter(weight, requires_grad=False)
    folded.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
    return folded


def _after_norm(norm: nn.Module) -> nn.Module:
    """What runs after the folded BatchNorm: the activation (and drop) of a timm ``BatchNormAct2d``, else nothing."""
    parts = [part for attr in ("drop", "act") if isinstance(part := getattr(norm, attr, None), nn.Module)]
    return nn.Sequential(*parts) if parts else nn.Identity()
