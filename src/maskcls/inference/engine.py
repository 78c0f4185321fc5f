"""The inference engine contract, and loading engines from run folders (k-fold runs expand to their folds).

An engine is anything with:

* ``name: str`` — what reports call it (the run folder's name);
* ``cfg: Config`` — the run's resolved config (age thresholds, crop);
* ``preprocess`` — :class:`maskcls.models.backbones.Preprocess` (``size`` ``(h, w)``, ``mean``, ``std``,
  ``interpolation``);
* ``probs(images) -> np.ndarray`` — uint8 ``[B, H, W, 3]`` entries exactly as :func:`maskcls.vision.cache.load_image`
  and :class:`maskcls.vision.cache.ImageCache` make them at ``preprocess.size`` → float32 ``[B, 18]`` class
  probabilities (decoded with :func:`maskcls.models.heads.class18_probs` and the run's age thresholds).

The torch :class:`maskcls.inference.predictor.Predictor` is one; ``maskcls.inference.onnx_engine.OnnxEngine`` is
another. Code that predicts (TTA, ensembles, the CLI) only uses this contract.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence, runtime_checkable

from maskcls.errors import MaskclsError

if TYPE_CHECKING:
    import numpy as np

    from maskcls.config import Config
    from maskcls.models.backbones import Preprocess
    from maskcls.vision.cache import CacheSpec

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


def is_kfold_run(folder: Path) -> bool:
    """A k-fold parent folder: ``kfold.json`` beside ``fold0/`` … (see :mod:`maskcls.engine.kfold`)."""
    return (Path(folder) / "kfold.json").is_file()


def member_folders(run: str | Path) -> list[Path]:
    """The run folders (or model files) one ``RUN`` argument stands for: a k-fold parent gives its folds in
    order, anything else is itself.

    Raises:
        MaskclsError: if the path does not exist or a k-fold run lacks a fold.
    """
    run = Path(run)
    if not run.exists():
        raise MaskclsError(f"{run}: no such run folder or model file")
    if not is_kfold_run(run):
        return [run]
    try:
        n_splits = int(json.loads((run / "kfold.json").read_text(encoding="utf-8"))["n_splits"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MaskclsError(f"{run / 'kfold.json'}: unreadable k-fold marker ({exc})") from None
    folds = [run / f"fold{k}" for k in range(n_splits)]
    missing = [str(f) for f in folds if not (f / "best.pt").is_file()]
    if missing:
        raise MaskclsError(f"{run}: k-fold run with unfinished folds (no best.pt in {', '.join(missing)})")
    return folds


def load_engine(run_or_file: Path, engine: str = "torch", device: str = "auto") -> Engine:
    """Load one engine: ``torch`` → :meth:`Predictor.from_run`, ``onnx`` → ``OnnxEngine.from_run``, with the run's
    fitted temperature applied when it has one (:func:`maskcls.inference.calibration.with_calibration`).

    Args:
        run_or_file: a run folder (not a k-fold parent: see :func:`member_folders`), or for ``onnx`` whatever
            ``OnnxEngine.from_run`` accepts (a run folder or an ``.onnx`` file).
        engine: ``torch`` or ``onnx``.
        device: torch device (``auto`` picks CUDA when available); the ONNX engine chooses its own.

    Raises:
        MaskclsError: for an unknown engine, a folder that is not a run, or ONNX support that is missing.
    """
    from maskcls.inference.calibration import with_calibration

    if engine == "torch":
        from maskcls.inference.predictor import Predictor

        return with_calibration(Predictor.from_run(run_or_file, device), run_or_file)
    if engine == "onnx":
        try:
            from maskcls.inference.onnx_engine import OnnxEngine
        except ImportError as exc:
            raise MaskclsError(f"{run_or_file}: the onnx engine is not available ({exc})") from None
        return with_calibration(OnnxEngine.from_run(run_or_file), run_or_file)
    raise MaskclsError(f"unknown engine {engine!r} (expected one of {', '.join(ENGINES)})")


def load_members(runs: Sequence[str | Path], engine: str = "torch",
                 device: str = "auto") -> tuple[list[Engine], list[int]]:
    """Load every member of ``runs`` (k-fold runs expanded to their folds).

    Returns:
        ``(engines, groups)``: ``groups[i]`` is the index in ``runs`` that engine ``i`` came from.

    Raises:
        MaskclsError: for a path that is not a run, or runs with different age bands.
    """
    engines: list[Engine] = []
    groups: list[int] = []
    for index, run in enumerate(runs):
        for folder in member_folders(run):
            engines.append(load_engine(folder, engine, device))
            groups.append(index)
    thresholds = {tuple(e.cfg.data.age_thresholds) for e in engines}
    if len(thresholds) > 1:
        raise MaskclsError(f"{', '.join(map(str, runs))}: the runs use different age bands {sorted(thresholds)}; "
                           "their classes cannot be combined")
    return engines, groups


def cache_spec(engine: Engine) -> "CacheSpec":
    """How photos become this engine's input entries: its preprocessing and the run's crop, as in training."""
    from maskcls.vision.cache import CacheSpec

    return CacheSpec.from_config(engine.cfg.train, engine.preprocess)
