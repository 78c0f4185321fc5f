"""ONNX export: a run's model, its normalisation and the 18-class decode as one graph over uint8 photos.

The exported graph takes ``images``, uint8 ``[B, H, W, 3]`` entries exactly as :func:`maskcls.vision.cache.load_image`
produces them at the backbone's input size (dynamic batch), and returns ``probs``, float32 ``[B, 18]`` — what
:class:`maskcls.inference.predictor.Predictor` computes — optionally followed by the head's raw outputs. Beside
``model.onnx`` lies ``model.json``: everything a runtime needs without the run folder (preprocessing, crop, class
names, age thresholds, the run's config) and the sha256 of the ``best.pt`` it came from. ``crop`` and
``background`` tell how a photo becomes an entry; the ONNX engine reads them from the config it carries.

The graph is written with the TorchScript-based exporter (``dynamo=False``): it needs nothing beyond torch and
``onnx``, while the ``torch.export``-based one also needs ``onnxscript``.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from maskcls import __version__
from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, write_text

if TYPE_CHECKING:
    from maskcls.config import Config
    from maskcls.models.backbones import Preprocess
    from maskcls.models.classifier import Classifier

#: Format tag of ``model.json``.
FORMAT = "maskcls-onnx/1"
INPUT_NAME = "images"
PROBS_NAME = "probs"
DEFAULT_OPSET = 17
#: Opsets written here: from 13 ONNX's Softmax works on one axis like PyTorch's; 20 is the newest the
#: TorchScript-based exporter writes.
OPSETS = range(13, 21)


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


def check_opset(opset: int) -> None:
    """Raise a :class:`MaskclsError` for an opset outside :data:`OPSETS`."""
    if opset not in OPSETS:
        raise MaskclsError(f"opset {opset}: unsupported (use {OPSETS.start} to {OPSETS.stop - 1})")


def check_run_folder(folder: Path) -> None:
    """Raise a :class:`MaskclsError` unless ``folder`` is a single run with ``config.yaml`` and ``best.pt``.

    A k-fold parent is refused with the names of its fold folders, which are runs of their own.
    """
    if not folder.is_dir():
        raise MaskclsError(f"{folder}: no such run folder")
    if (folder / "kfold.json").is_file():
        folds = sorted(p.name for p in folder.glob("fold*") if p.is_dir())
        listed = ", ".join(folds) or "none trained yet"
        raise MaskclsError(f"{folder}: a k-fold parent, not one run; export one of its folds: {listed}")
    for name in ("config.yaml", "best.pt"):
        if not (folder / name).is_file():
            raise MaskclsError(f"{folder}: not a run folder (no {name})")


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_export_path(run_folder: Path) -> Path:
    """Where a run's ONNX model goes by default: ``RUN/export/model.onnx``."""
    return Path(run_folder) / "export" / "model.onnx"


def metadata_path(onnx_path: Path) -> Path:
    """The ``.json`` beside an ``.onnx`` model."""
    return Path(onnx_path).with_suffix(".json")


def load_run_model(run_folder: Path) -> tuple["Classifier", "Config"]:
    """The classifier (best weights, on the CPU, eval mode) and config of a single run folder.

    Raises:
        MaskclsError: for a missing folder, a k-fold parent or a folder without ``config.yaml``/``best.pt``.
    """
    from maskcls.inference.predictor import Predictor

    check_run_folder(Path(run_folder))
    predictor = Predictor.from_run(run_folder, device="cpu")
    return predictor.model.eval(), predictor.cfg


def export_metadata(run_folder: Path, module: ExportModule, cfg: "Config", opset: int) -> dict:
    """The contents of ``model.json`` for a run's exported module."""
    from dataclasses import asdict

    from maskcls.engine.checkpoint import load_checkpoint
    from maskcls.labels import class_names

    checkpoint = load_checkpoint(run_folder / "best.pt")
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
        "crop": cfg.train.crop,
        "background": cfg.train.background,
        "class_names": class_names(cfg.data.bands()),
        "age_thresholds": list(cfg.data.age_thresholds),
        "opset": opset,
        "maskcls_version": __version__,
        "torch_version": torch.__version__,
        "checkpoint": {"file": "best.pt", "sha256": file_sha256(run_folder / "best.pt"),
                       "epoch": checkpoint.get("epoch"), "macro_f1": checkpoint.get("macro_f1")},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
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
    out = Path(out) if out is not None else default_export_path(run_folder)
    check_run_folder(run_folder)
    check_opset(opset)
    if out.suffix != ".onnx":
        raise MaskclsError(f"{out}: the exported model's name must end in .onnx")
    for path in (out, metadata_path(out)):
        if path.exists() and not force:
            raise MaskclsError(f"{path}: already exists (use --force to replace the export)")
    model, cfg = load_run_model(run_folder)
    module = ExportModule(model, cfg.data.age_thresholds, raw_outputs)
    data = onnx_bytes(module, opset)
    meta = export_metadata(run_folder, module, cfg, opset)
    with atomic_write(out, "wb") as handle:
        handle.write(data)
    write_text(metadata_path(out), json.dumps(meta, indent=1) + "\n")  # last: a complete export has both
    return out


def parity_images(
    run_folder: Path, preprocess: "Preprocess", crop: str, count: int = 8, seed: int = 0
) -> tuple[np.ndarray, str]:
    """A batch to compare engines on: up to ``count`` of the run's validation photos, else seeded random entries.

    Returns:
        ``(images [B, H, W, 3] uint8, description)``.
    """
    import csv

    from maskcls.data.images import ImageReadError
    from maskcls.vision.cache import CacheSpec, load_image

    spec = CacheSpec(size=tuple(preprocess.size), interpolation=preprocess.interpolation, crop=crop,
                     alignment=getattr(preprocess, "alignment", "none"))
    images = []
    predictions = Path(run_folder) / "val_predictions.csv"
    if predictions.is_file():
        with open(predictions, newline="", encoding="utf-8") as handle:
            paths = [row["path"] for row, _ in zip(csv.DictReader(handle), range(count))]
        for path in paths:
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

    run_folder = Path(run_folder)
    engine = OnnxEngine.from_file(onnx_path or default_export_path(run_folder))
    model, cfg = load_run_model(run_folder)
    images, what = parity_images(run_folder, engine.preprocess, cfg.train.crop, count)
    return float(np.abs(engine.probs(images) - torch_probs(model, cfg, images)).max()), what
