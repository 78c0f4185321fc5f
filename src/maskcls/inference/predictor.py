"""Predictor: a run folder's best weights, preprocessed exactly as in training, to 18-class probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from maskcls.config import Config, load_config
from maskcls.engine.checkpoint import load_checkpoint
from maskcls.errors import MaskclsError


class Predictor:
    """Predicts 18-class probabilities for photos.

    Photos go through the same cache code (crop, resize, interpolation) and validation transform as training,
    so train and inference never resize differently.
    """

    def __init__(self, model: torch.nn.Module, cfg: Config, device: torch.device, name: str = "") -> None:
        from maskcls.vision.transforms import build_transforms

        self.model, self.cfg, self.device, self.name = model.eval(), cfg, device, name
        self.preprocess = model.preprocess
        self.transform = build_transforms("none", self.preprocess, False)

    @classmethod
    def from_run(cls, folder: str | Path, device: str = "auto") -> "Predictor":
        """Load ``config.yaml`` and ``best.pt`` of a run folder (nothing else is needed)."""
        from maskcls.engine.loop import resolve_device
        from maskcls.models.classifier import build_classifier

        folder = Path(folder)
        if not (folder / "config.yaml").is_file():
            raise MaskclsError(f"{folder}: not a run folder (no config.yaml)")
        cfg = load_config(folder / "config.yaml")
        state = load_checkpoint(folder / "best.pt")
        model_cfg = cfg.model.model_copy(update={"pretrained": False})
        model = build_classifier(model_cfg, tuple(cfg.data.age_thresholds))
        model.load_state_dict(state["model"])
        target = resolve_device(device)
        return cls(model.to(target), cfg, target, folder.name)

    @torch.no_grad()
    def predict_paths(self, paths: Sequence[Path], batch_size: int = 64, workers: int = 2) -> tuple[np.ndarray, dict[int, str]]:
        """Probabilities ``[N, 18]`` for photos, and the unreadable ones (index → message with the path).

        Unreadable photos get a row of NaN so the caller decides what to do with them.
        """
        from maskcls.models.heads import class18_probs
        from maskcls.vision.cache import CacheSpec, ImageCache

        spec = CacheSpec(size=tuple(self.preprocess.size), interpolation=self.preprocess.interpolation,
                         crop=self.cfg.train.crop)
        cache = ImageCache.open(list(paths), spec, None, workers=workers)
        chunks = []
        for start in range(0, len(cache), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(cache.array[start:start + batch_size].transpose(0, 3, 1, 2)))
            images = torch.stack([self.transform(image) for image in batch]).to(self.device)
            chunks.append(class18_probs(self.model(images), tuple(self.cfg.data.age_thresholds)).float().cpu().numpy())
        probs = np.concatenate(chunks) if chunks else np.zeros((0, 18), dtype=np.float32)
        for index in cache.errors:
            probs[index] = np.nan
        return probs, dict(cache.errors)
