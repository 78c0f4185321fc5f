"""Loading engines from run folders and exported models (k-fold runs expand to their folds).

``torch`` loads a run's ``best.pt`` (:class:`~maskcls.inference.predictor.Predictor`); ``onnx`` runs its
``export/model.onnx`` with ONNX Runtime (:class:`~maskcls.inference.onnx_engine.OnnxEngine`), exported first when it
is missing and refused when it was exported from another ``best.pt`` than the run holds now.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from maskcls.errors import MaskclsError
from maskcls.inference.contract import ENGINES, Engine
from maskcls.runs import RunFolder

if TYPE_CHECKING:
    from maskcls.inference.onnx_engine import OnnxEngine


def member_folders(run: str | Path) -> list[Path]:
    """The run folders (or model files) one ``RUN`` argument stands for: a k-fold parent gives its folds in
    order, anything else is itself.

    Raises:
        MaskclsError: if the path does not exist or a k-fold run lacks a fold.
    """
    return RunFolder(run).members()


def load_onnx(run_or_file: str | Path, threads: int | None = None) -> "OnnxEngine":
    """The ONNX engine of a run folder's ``export/model.onnx`` (exported first when missing), or of an ``.onnx`` path.

    Raises:
        MaskclsError: for a bad run folder, or an export made from another ``best.pt`` than the run's current
            one (re-export with ``maskcls export RUN --force``).
    """
    from maskcls.inference.onnx_engine import OnnxEngine
    from maskcls.inference.onnx_format import file_sha256

    folder = Path(run_or_file)
    if folder.suffix == ".onnx":
        return OnnxEngine.from_file(folder, threads)
    run = RunFolder(folder).require_run()
    path = run.export_path
    if not path.exists():
        from maskcls.inference.export import export_onnx

        export_onnx(folder, path)
    engine = OnnxEngine.from_file(path, threads)
    if engine.meta.get("checkpoint", {}).get("sha256") != file_sha256(run.best_path):
        raise MaskclsError(f"{path}: exported from an earlier best.pt of {folder}; "
                           f"re-export with maskcls export {folder} --force")
    return engine


def load_engine(run_or_file: Path, engine: str = "torch", device: str = "auto") -> Engine:
    """Load one engine: ``torch`` → :meth:`Predictor.from_run`, ``onnx`` → :func:`load_onnx`, with the run's
    fitted temperature applied when it has one (:func:`maskcls.inference.calibration.with_calibration`).

    Args:
        run_or_file: a run folder (not a k-fold parent: see :func:`member_folders`), or for ``onnx`` whatever
            :func:`load_onnx` accepts (a run folder or an ``.onnx`` file).
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
            from maskcls.inference import onnx_engine  # noqa: F401
        except ImportError as exc:
            raise MaskclsError(f"{run_or_file}: the onnx engine is not available ({exc})") from None
        return with_calibration(load_onnx(run_or_file), run_or_file)
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
