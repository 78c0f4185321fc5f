"""The inference engine contract: what every engine provides, and how photos become its input entries.

An engine is anything with:

* ``name: str`` — what reports call it (the run folder's name);
* ``cfg: Config`` — the run's resolved config (age thresholds, crop);
* ``preprocess`` — :class:`maskcls.models.backbones.Preprocess` (``size`` ``(h, w)``, ``mean``, ``std``,
  ``interpolation``);
* ``probs(images) -> np.ndarray`` — uint8 ``[B, H, W, 3]`` entries exactly as :func:`maskcls.vision.preprocess.preprocess`
  makes them at ``preprocess.size`` → float32 ``[B, 18]`` class probabilities (decoded with
  :func:`maskcls.models.heads.class18_probs` and the run's age thresholds).

The torch :class:`maskcls.inference.predictor.Predictor` is one; :class:`maskcls.inference.onnx_engine.OnnxEngine` is
another; :mod:`maskcls.inference.loading` loads them from run folders. Code that predicts (TTA, ensembles, the CLI)
only uses this contract.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from maskcls.config import Config
    from maskcls.models.backbones import Preprocess
    from maskcls.vision.preprocess import CacheSpec

ENGINES = ("torch", "onnx")


@runtime_checkable
class Engine(Protocol):
    """What every inference engine provides (see the module docstring)."""

    name: str
    cfg: "Config"
    preprocess: "Preprocess"

    def probs(self, images: "np.ndarray") -> "np.ndarray":
        """float32 ``[B, 18]`` class probabilities of uint8 ``[B, H, W, 3]`` entries at ``preprocess.size``."""
        ...


def cache_spec(engine: Engine) -> "CacheSpec":
    """How photos become this engine's input entries: its preprocessing and the run's crop, as in training."""
    from maskcls.vision.preprocess import CacheSpec

    return CacheSpec.from_config(engine.cfg.input, engine.preprocess)


def member_cache_dir(engine: Engine) -> Path | None:
    """Where the engine's run keeps its image cache (``None``: in memory, as with ``cache.enabled=false``)."""
    from maskcls.vision.cache import cache_folder

    return cache_folder(engine.cfg.cache)
