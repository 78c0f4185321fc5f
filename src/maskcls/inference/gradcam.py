"""Grad-CAM with our own hooks: where in the photo the backbone's last feature map drove a class.

For the last module of the backbone that outputs a 4-D feature map ``A`` (``[B, C, h, w]``: the last conv stage,
e.g. EfficientNet's ``bn2`` after ``conv_head``), a forward hook keeps ``A``, and autograd gives its gradient ``G``
of the log-probability of the explained class (from :func:`maskcls.models.heads.class18_probs`, so every head is
explained the same way). The map is ``ReLU(Σ_c mean_hw(G_c) · A_c)``, upsampled bilinearly to the input and
scaled to [0, 1] per image.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from maskcls.errors import MaskclsError


def last_feature_layer(model: nn.Module, inputs: Tensor) -> str:
    """Name (in ``model.backbone``) of the last module whose output is a 4-D feature map, found by a forward pass.

    Pooling layers are left out: the global pool's ``[B, C, 1, 1]`` is 4-D too but has nothing to show.

    Raises:
        MaskclsError: if the backbone makes no 4-D output (e.g. a vision transformer).
    """
    finished: list[str] = []

    def record(name: str, output) -> None:
        if isinstance(output, Tensor) and output.ndim == 4:
            finished.append(name)

    handles = [module.register_forward_hook(lambda _m, _a, output, name=name: record(name, output))
               for name, module in model.backbone.named_modules() if name and "Pool" not in type(module).__name__]
    training = model.training
    try:
        with torch.no_grad():
            model.eval()  # no BatchNorm statistics change
            model.backbone(inputs)
    finally:
        model.train(training)
        for handle in handles:
            handle.remove()
    if not finished:
        raise MaskclsError(f"{type(model.backbone).__name__}: no convolutional feature map to explain with Grad-CAM")
    return finished[-1]


def grad_cam(model: nn.Module, inputs: Tensor, classes: Sequence[int] | None = None,
             age_thresholds: Sequence[int] = (30, 60), layer: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM maps of a :class:`~maskcls.models.classifier.Classifier`.

    Args:
        model: the classifier (run in eval mode, then put back in its mode; weights and statistics unchanged).
        inputs: normalised input batch ``[B, 3, H, W]``.
        classes: the class explained for each image (default: the predicted one).
        age_thresholds: the run's age bands, for a regressed-age head.
        layer: a module name in ``model.backbone`` (default: :func:`last_feature_layer`).

    Returns:
        ``(maps, probs)``: float32 ``[B, H, W]`` in [0, 1] (all zeros where nothing supports the class) and the
        18-class probabilities ``[B, 18]``.
    """
    from maskcls.models.heads import class18_probs

    name = layer or last_feature_layer(model, inputs[:1])
    module = dict(model.backbone.named_modules())[name]
    kept: dict[str, Tensor] = {}

    def forward_hook(_module: nn.Module, _args, output: Tensor) -> None:
        kept["activation"] = output

    handle = module.register_forward_hook(forward_hook)
    training = model.training
    try:
        model.eval()
        with torch.enable_grad():
            x = inputs.detach().clone().requires_grad_(True)  # gradients flow even through frozen weights
            probs = class18_probs(model(x), tuple(age_thresholds))
            chosen = probs.argmax(1) if classes is None else torch.as_tensor(list(classes), device=probs.device)
            # Images are independent in eval mode, so the gradient of the sum gives each image its own; asking for
            # the activation's gradient only leaves the weights' .grad untouched.
            score = probs[torch.arange(len(probs)), chosen].clamp_min(1e-12).log().sum()
            kept["gradient"] = torch.autograd.grad(score, kept["activation"])[0]
    finally:
        model.train(training)
        handle.remove()
    activation, gradient = kept["activation"].detach(), kept["gradient"].detach()
    cam = F.relu((gradient.mean((2, 3), keepdim=True) * activation).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(inputs.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    cam = cam / cam.amax((1, 2), keepdim=True).clamp_min(1e-12)
    return cam.float().cpu().numpy(), probs.detach().float().cpu().numpy()


def overlay(image: np.ndarray, cam: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """A uint8 ``[H, W, 3]`` photo with a Grad-CAM map (same height and width, values in [0, 1]) blended over it
    in the ``jet`` colour map."""
    from matplotlib import colormaps

    if image.shape[:2] != cam.shape:
        raise ValueError(f"image {image.shape[:2]} and map {cam.shape} differ in size")
    heat = colormaps["jet"](np.clip(cam, 0, 1))[..., :3]
    blended = (1 - alpha) * image.astype(np.float64) / 255 + alpha * heat
    return (blended * 255).round().clip(0, 255).astype(np.uint8)
