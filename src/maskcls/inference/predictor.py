"""Predictor: a run folder's best weights, preprocessed exactly as in training, to 18-class probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from maskcls.config import Config, load_config
from maskcls.engine.checkpoint import load_checkpoint
from maskcls.errors import MaskclsError

if TYPE_CHECKING:
    from maskcls.inference.tta import Tta


class Predictor:
    """Predicts 18-class probabilities for photos: the torch engine of :mod:`maskcls.inference.engine`.

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
    def probs(self, images: np.ndarray) -> np.ndarray:
        """float32 ``[B, 18]`` class probabilities of uint8 cache entries ``[B, H, W, 3]`` (the engine contract of
        :mod:`maskcls.inference.engine`): the validation transform, the model, then ``class18_probs``."""
        from maskcls.models.heads import class18_probs

        if not len(images):
            return np.zeros((0, 18), dtype=np.float32)
        return class18_probs(self.model(self.inputs(images)), tuple(self.cfg.data.age_thresholds)).float().cpu().numpy()

    def inputs(self, images: np.ndarray) -> torch.Tensor:
        """The model's input tensor ``[B, 3, h, w]`` (on its device) of uint8 entries ``[B, H, W, 3]``."""
        batch = torch.from_numpy(np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2)))
        # The transform works on a whole batch exactly as on each image, and many times faster.
        return self.transform(batch).as_subclass(torch.Tensor).to(self.device)

    def predict_paths(self, paths: Sequence[Path], batch_size: int = 64, workers: int = 2,
                      tta: "Tta | None" = None, no_face: dict[int, str] | None = None
                      ) -> tuple[np.ndarray, dict[int, str]]:
        """Probabilities ``[N, 18]`` for photos, and the unreadable ones (index → message with the path).

        Photos go through the run's image cache settings (:func:`maskcls.inference.engine.cache_spec`) and
        :meth:`probs`, with the views of ``tta`` averaged. Unreadable photos get a row of NaN so the caller decides
        what to do with them. ``no_face`` gets the photos a ``crop=face`` run found no face in (see
        :func:`~maskcls.inference.batch.predict_members`).
        """
        from maskcls.inference.batch import predict_members

        probs, errors = predict_members([self], paths, tta, batch_size, workers, no_face=no_face)
        return probs[0], errors
