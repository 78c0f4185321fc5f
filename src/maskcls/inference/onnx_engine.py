"""ONNX Runtime engine: a run's exported model on the CPU, with the interface of every inference engine.

An engine has ``name``, ``cfg`` (the run's config), ``preprocess`` (a :class:`~maskcls.models.backbones.Preprocess`)
and ``probs(images)``: uint8 ``[B, H, W, 3]`` entries as :func:`maskcls.vision.preprocess.preprocess` produces them at
``preprocess.size`` → float32 ``[B, 18]`` class probabilities. Everything but the ``.onnx`` file comes from the
``.json`` beside it, so an exported model runs without its run folder (:func:`maskcls.inference.loading.load_onnx`
finds, and if need be writes, a run folder's export).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from maskcls.config import load_resolved_config
from maskcls.errors import MaskclsError
from maskcls.inference.onnx_format import FORMAT, INPUT_NAME, PROBS_NAME, metadata_path
from maskcls.labels import NUM_CLASSES
from maskcls.models.backbones import Preprocess
from maskcls.parallel import onnx_session


class OnnxEngine:
    """18-class probabilities from an exported model with ONNX Runtime on the CPU.

    Attributes:
        name: the run's name.
        cfg: the run's config (as exported).
        preprocess: input size, normalisation, interpolation and crop share of the backbone.
        meta: the whole ``.json`` beside the model.
        path: the ``.onnx`` file.
        session: the ONNX Runtime session.
    """

    def __init__(self, session: Any, meta: dict, path: Path) -> None:
        self.session, self.meta, self.path = session, meta, path
        self.name: str = meta["run"]
        self.cfg = load_resolved_config(meta["config"], label=path)
        p = meta["preprocess"]
        self.preprocess = Preprocess(size=tuple(p["size"]), mean=tuple(p["mean"]), std=tuple(p["std"]),
                                     interpolation=p["interpolation"], crop_pct=float(p["crop_pct"]),
                                     alignment=p.get("alignment", "none"))

    @classmethod
    def from_file(cls, path: str | Path, threads: int | None = None) -> "OnnxEngine":
        """Load an exported ``.onnx`` model and the ``.json`` beside it.

        Raises:
            MaskclsError: naming the file that is missing, unreadable or not a maskcls export.
        """
        path = Path(path)
        meta_file = metadata_path(path)
        if not path.is_file():
            raise MaskclsError(f"{path}: ONNX model not found")
        if not meta_file.is_file():
            raise MaskclsError(f"{meta_file}: missing (the export metadata that lies beside {path.name}; re-export)")
        try:
            meta = json.loads(meta_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise MaskclsError(f"{meta_file}: not readable JSON ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise MaskclsError(f"{meta_file}: not maskcls export metadata (expected format {FORMAT})")
        try:
            session = onnx_session(path, threads)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for bad files
            reason = (str(exc).strip().splitlines() or [""])[0]
            raise MaskclsError(f"{path}: not a loadable ONNX model ({type(exc).__name__}: {reason})") from None
        try:
            return cls(session, meta, path)
        except (KeyError, TypeError, ValueError) as exc:
            raise MaskclsError(f"{meta_file}: incomplete export metadata ({type(exc).__name__}: {exc})") from None

    def probs(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities ``[B, 18]`` (float32) of uint8 entries ``[B, H, W, 3]`` at ``preprocess.size``.

        Raises:
            ValueError: if the array is not uint8 of that shape.
        """
        expected = (*self.preprocess.size, 3)
        if images.dtype != np.uint8 or images.ndim != 4 or tuple(images.shape[1:]) != expected:
            raise ValueError(f"expected uint8 images [B, {', '.join(map(str, expected))}], "
                             f"got {images.dtype} {list(images.shape)}")
        if len(images) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        (probs,) = self.session.run([PROBS_NAME], {INPUT_NAME: np.ascontiguousarray(images)})
        return probs.astype(np.float32, copy=False)
