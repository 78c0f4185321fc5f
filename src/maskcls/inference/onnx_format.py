"""The ONNX export format: what a maskcls ``model.onnx`` takes and returns, and the ``model.json`` beside it.

The graph takes ``images``, uint8 ``[B, H, W, 3]`` entries exactly as :func:`maskcls.vision.preprocess.preprocess`
produces them at the backbone's input size (dynamic batch), and returns ``probs``, float32 ``[B, 18]`` — what
:class:`maskcls.inference.predictor.Predictor` computes — optionally followed by the head's raw outputs. Beside
``model.onnx`` lies ``model.json`` (format :data:`FORMAT`): everything a runtime needs without the run folder
(preprocessing, crop, class names, age thresholds, the run's config) and the sha256 of the ``best.pt`` it came
from. :mod:`maskcls.inference.export` writes both; :mod:`maskcls.inference.onnx_engine` reads them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from maskcls.errors import MaskclsError

#: Format tag of ``model.json``.
FORMAT = "maskcls-onnx/1"
INPUT_NAME = "images"
PROBS_NAME = "probs"
DEFAULT_OPSET = 17
#: Opsets written here: from 13 ONNX's Softmax works on one axis like PyTorch's; 20 is the newest the
#: TorchScript-based exporter writes.
OPSETS = range(13, 21)


def check_opset(opset: int) -> None:
    """Raise a :class:`MaskclsError` for an opset outside :data:`OPSETS`."""
    if opset not in OPSETS:
        raise MaskclsError(f"opset {opset}: unsupported (use {OPSETS.start} to {OPSETS.stop - 1})")


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def metadata_path(onnx_path: Path) -> Path:
    """The ``.json`` beside an ``.onnx`` model."""
    return Path(onnx_path).with_suffix(".json")
