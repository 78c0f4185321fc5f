"""ONNX parity: how far ONNX Runtime's probabilities are from eager PyTorch's on the same entries."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from maskcls.runs import RunFolder

if TYPE_CHECKING:
    from maskcls.config import Config
    from maskcls.models.backbones import Preprocess
    from maskcls.models.classifier import Classifier


def parity_images(
    run_folder: Path, preprocess: "Preprocess", crop: str, count: int = 8, seed: int = 0
) -> tuple[np.ndarray, str]:
    """A batch to compare engines on: up to ``count`` of the run's validation photos, else seeded random entries.

    Returns:
        ``(images [B, H, W, 3] uint8, description)``.
    """
    from maskcls.data.images import ImageReadError
    from maskcls.vision.preprocess import CacheSpec, load_image

    spec = CacheSpec(size=tuple(preprocess.size), interpolation=preprocess.interpolation, crop=crop,
                     alignment=getattr(preprocess, "alignment", "none"))
    images = []
    run = RunFolder(run_folder)
    if run.val_predictions_path.is_file():
        for path in run.read_predictions(probs=False).paths[:count]:
            try:
                images.append(load_image(path, spec))
            except (ImageReadError, OSError):
                continue  # photos moved or gone since training: random entries still measure parity
    if images:
        return np.stack(images), f"{len(images)} validation photos"
    random = np.random.default_rng(seed).integers(0, 256, (count, *spec.size, 3), dtype=np.uint8)
    return random, f"{count} random images"


def torch_probs(model: "Classifier", cfg: "Config", images: np.ndarray) -> np.ndarray:
    """Eager PyTorch probabilities of uint8 entries through the validation transform, as the Predictor computes."""
    from maskcls.models.heads import class18_probs
    from maskcls.vision.transforms import build_transforms

    transform = build_transforms("none", model.preprocess, False)
    batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    with torch.inference_mode():
        inputs = torch.stack([transform(image) for image in batch])
        return class18_probs(model.eval()(inputs), tuple(cfg.data.age_thresholds)).float().numpy()


def measure_parity(run_folder: Path, onnx_path: Path | None = None, count: int = 8) -> tuple[float, str]:
    """Max absolute difference of probabilities between ONNX Runtime and eager PyTorch on one batch.

    Args:
        run_folder: the exported run.
        onnx_path: its ONNX model; default ``RUN/export/model.onnx``.
        count: batch size (validation photos when the run's are readable, else random entries).

    Returns:
        ``(max |p_onnx - p_torch|, description of the batch)``.
    """
    from maskcls.inference.onnx_engine import OnnxEngine

    run = RunFolder(run_folder).require_run()
    engine = OnnxEngine.from_file(onnx_path or run.export_path)
    model, cfg = run.load_model("cpu")
    images, what = parity_images(run_folder, engine.preprocess, cfg.input.crop, count)
    return float(np.abs(engine.probs(images) - torch_probs(model, cfg, images)).max()), what
