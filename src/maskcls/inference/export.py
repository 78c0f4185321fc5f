"""ONNX export: a run's model, its normalisation and the 18-class decode as one graph over uint8 photos.

What the graph takes and returns, and the ``model.json`` written beside it, is :mod:`maskcls.inference.onnx_format`.
``crop`` and ``background`` in the metadata tell how a photo becomes an entry; the ONNX engine reads them from the
config it carries.

The graph is written with the TorchScript-based exporter (``dynamo=False``): it needs nothing beyond torch and
``onnx``, while the ``torch.export``-based one also needs ``onnxscript``.
"""

from __future__ import annotations

import io
import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import torch
from torch import Tensor, nn

from maskcls import __version__
from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, write_text
from maskcls.inference.onnx_format import (
    DEFAULT_OPSET,
    FORMAT,
    INPUT_NAME,
    PROBS_NAME,
    check_opset,
    file_sha256,
    metadata_path,
)
from maskcls.runs import RunFolder

if TYPE_CHECKING:
    from maskcls.config import Config
    from maskcls.models.classifier import Classifier


class ExportModule(nn.Module):
    """A classifier over uint8 NHWC photos: scale to [0, 1], normalise, run the model, decode to 18 classes.

    The arithmetic is the validation transform's (``x / 255``, then ``(x - mean) / std``), so probabilities match
    :class:`~maskcls.inference.predictor.Predictor`'s. The NHWC → NCHW permute is a channels-last view, which
    convolutions take as it is.

    Args:
        model: the classifier (put in eval mode here).
        age_thresholds: the run's evaluation age bands, for :func:`~maskcls.models.heads.class18_probs`.
        raw_outputs: also return the head's named outputs after ``probs``.
    """

    def __init__(
        self, model: "Classifier", age_thresholds: Sequence[int] = (30, 60), raw_outputs: bool = False
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.preprocess = model.preprocess
        self.age_thresholds = tuple(age_thresholds)
        self.raw_outputs = raw_outputs
        self.register_buffer("mean", torch.tensor(self.preprocess.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(self.preprocess.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> Tensor | tuple[Tensor, ...]:
        from maskcls.models.heads import class18_probs

        x = (images.permute(0, 3, 1, 2).float() / 255.0 - self.mean) / self.std
        outputs = self.model(x)
        probs = class18_probs(outputs, self.age_thresholds)
        return (probs, *outputs.values()) if self.raw_outputs else probs

    def output_names(self) -> list[str]:
        """Names of the graph's outputs: ``probs``, then the head's outputs when asked for."""
        if not self.raw_outputs:
            return [PROBS_NAME]
        height, width = self.preprocess.size
        with torch.inference_mode():
            outputs = self.model(torch.zeros(1, 3, height, width))
        return [PROBS_NAME, *outputs]


def onnx_bytes(module: ExportModule, opset: int = DEFAULT_OPSET) -> bytes:
    """Export ``module`` to a checked ONNX model (dynamic batch axis) and return its bytes.

    Raises:
        MaskclsError: for an opset outside :data:`OPSETS`, if torch cannot export the model or if
            ``onnx.checker`` rejects the result.
    """
    import onnx

    check_opset(opset)
    height, width = module.preprocess.size
    sample = torch.randint(0, 256, (2, height, width, 3), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    names = module.output_names()
    buffer = io.BytesIO()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter announces its successor
            torch.onnx.export(
                module.eval(), (sample,), buffer, dynamo=False, opset_version=opset, input_names=[INPUT_NAME],
                output_names=names, dynamic_axes={name: {0: "batch"} for name in (INPUT_NAME, *names)},
            )
        data = buffer.getvalue()
        onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    except (RuntimeError, ValueError, onnx.checker.ValidationError) as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]
        raise MaskclsError(f"ONNX export (opset {opset}) failed: {type(exc).__name__}: {reason}") from None
    return data


def export_metadata(run_folder: Path, module: ExportModule, cfg: "Config", opset: int) -> dict:
    """The contents of ``model.json`` for a run's exported module."""
    from dataclasses import asdict

    from maskcls.inference.calibration import read_calibration
    from maskcls.labels import class_names

    run = RunFolder(run_folder)
    checkpoint = run.load_best()
    height, width = module.preprocess.size
    return {
        "format": FORMAT,
        "run": run_folder.name,
        "run_folder": str(run_folder.resolve()),
        "backbone": cfg.model.backbone,
        "head": cfg.model.head,
        "input": {"name": INPUT_NAME, "dtype": "uint8", "layout": "NHWC", "shape": ["batch", height, width, 3]},
        "outputs": module.output_names(),
        "preprocess": asdict(module.preprocess),
        "crop": cfg.input.crop,
        "background": cfg.input.background,
        "class_names": class_names(cfg.data.bands()),
        "age_thresholds": list(cfg.data.age_thresholds),
        "opset": opset,
        "maskcls_version": __version__,
        "torch_version": torch.__version__,
        "checkpoint": {"file": RunFolder.BEST, "sha256": file_sha256(run.best_path),
                       "epoch": checkpoint.get("epoch"), "macro_f1": checkpoint.get("macro_f1")},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "calibration": read_calibration(run_folder),  # the run's temperature (None before maskcls calibrate)
        "config": cfg.model_dump(mode="json"),
    }


def export_onnx(
    run_folder: Path,
    out: Path | None = None,
    opset: int = DEFAULT_OPSET,
    *,
    force: bool = False,
    raw_outputs: bool = False,
) -> Path:
    """Export a run's best model to ONNX, with its ``.json`` metadata beside it.

    Args:
        run_folder: a single run (a fold folder of a k-fold run, not its parent).
        out: the ``.onnx`` file to write; default ``RUN/export/model.onnx``.
        opset: ONNX opset version.
        force: replace an existing export instead of refusing.
        raw_outputs: also output the head's raw outputs after ``probs``.

    Returns:
        The path of the ``.onnx`` file.

    Raises:
        MaskclsError: for a bad run folder, an existing export without ``force``, or a failed export.
    """
    run_folder = Path(run_folder)
    run = RunFolder(run_folder).require_run()
    out = Path(out) if out is not None else run.export_path
    check_opset(opset)
    if out.suffix != ".onnx":
        raise MaskclsError(f"{out}: the exported model's name must end in .onnx")
    for path in (out, metadata_path(out)):
        if path.exists() and not force:
            raise MaskclsError(f"{path}: already exists (use --force to replace the export)")
    model, cfg = run.load_model("cpu")
    module = ExportModule(model, cfg.data.age_thresholds, raw_outputs)
    data = onnx_bytes(module, opset)
    meta = export_metadata(run_folder, module, cfg, opset)
    with atomic_write(out, "wb") as handle:
        handle.write(data)
    write_text(metadata_path(out), json.dumps(meta, indent=1) + "\n")  # last: a complete export has both
    return out
