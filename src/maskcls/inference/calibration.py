"""Temperature scaling: one temperature ``T`` fitted on a run's validation predictions, stored as
``RUN/calibration.json`` and applied by every engine loaded from the run (predict, serve, watch).

The calibrated probabilities are ``softmax(log p / T)`` of the 18 class probabilities ``p``. For a ``class18``
head that is the usual temperature on the logits; for a multi-task head (``p`` the product of the task softmaxes) it
is the same temperature on every task's logits. ``T`` minimises the negative log-likelihood of the validation
labels (bounded search over ``log T``), so the most probable class never changes; only how sure the model says it
is. The calibration error reported is the expected calibration error (ECE) of the top class over
:data:`ECE_BINS` equal-width confidence bins.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from maskcls.errors import MaskclsError

CALIBRATION_FILE = "calibration.json"
ECE_BINS = 15
#: Bounds of the fitted temperature.
T_RANGE = (0.05, 20.0)


@dataclass(frozen=True)
class Calibration:
    """A fitted temperature and what it did on the predictions it was fitted on.

    Attributes:
        temperature: ``T`` (above 1 softens over-confident probabilities, below 1 sharpens).
        n: validation photos fitted on.
        source: the predictions file.
        nll_before, nll_after: mean negative log-likelihood of the true class.
        ece_before, ece_after: expected calibration error of the top class.
    """

    temperature: float
    n: int
    source: str
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float


def scale(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row, float32 (rows of zeros stay zeros, NaN rows stay NaN)."""
    probs = np.asarray(probs, dtype=np.float64)
    if temperature == 1.0:
        return probs.astype(np.float32)
    logits = np.log(np.clip(probs, 1e-12, None)) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    out = np.exp(logits)
    out /= out.sum(axis=-1, keepdims=True)
    out[probs.sum(axis=-1) == 0] = 0.0
    return out.astype(np.float32)


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean ``-log p(true)``."""
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y_true)), y_true], 1e-12, None))))


def ece(probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error of the top class: the photo-weighted mean over equal-width confidence bins of
    |accuracy − mean confidence|."""
    probs = np.asarray(probs, dtype=np.float64)
    if not len(probs):
        return 0.0
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    correct = (predicted == np.asarray(y_true)).astype(np.float64)
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total / len(probs))


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """The temperature that minimises the NLL of ``y_true`` under :func:`scale` (bounded search over log T).

    Raises:
        MaskclsError: without predictions to fit on.
    """
    from scipy.optimize import minimize_scalar

    if not len(probs):
        raise MaskclsError("no validation predictions to fit a temperature on")
    y_true = np.asarray(y_true)
    result = minimize_scalar(lambda log_t: nll(scale(probs, float(np.exp(log_t))), y_true),
                             bounds=tuple(np.log(T_RANGE)), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def calibrate(probs: np.ndarray, y_true: np.ndarray, source: str) -> Calibration:
    """Fit a temperature and measure NLL and ECE before and after."""
    temperature = fit_temperature(probs, y_true)
    after = scale(probs, temperature)
    return Calibration(round(temperature, 5), int(len(y_true)), source, round(nll(probs, y_true), 5),
                       round(nll(after, y_true), 5), round(ece(probs, y_true), 5), round(ece(after, y_true), 5))


def calibrate_run(folders: Sequence[str | Path]) -> list[tuple[Path, Calibration]]:
    """Fit and store ``calibration.json`` in each run folder, each on its own validation predictions (the folds of
    a k-fold run come from :func:`maskcls.inference.loading.member_folders`).

    Raises:
        MaskclsError: for a path that is no finished run.
    """
    from maskcls.fileio import write_text
    from maskcls.runs import RunFolder

    done = []
    for folder in map(Path, folders):
        predictions = RunFolder(folder).read_predictions()
        fitted = calibrate(predictions.probs, predictions.y_true, predictions.source.name)
        write_text(folder / CALIBRATION_FILE, json.dumps(asdict(fitted), indent=1) + "\n")
        done.append((folder, fitted))
    return done


def read_calibration(folder: str | Path) -> dict[str, Any] | None:
    """The stored calibration of a run folder, or ``None`` when it has none.

    Raises:
        MaskclsError: for a calibration file that is unreadable or has no positive temperature.
    """
    path = Path(folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
        temperature = float(stored["temperature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MaskclsError(f"{path}: unreadable calibration ({type(exc).__name__}: {exc}); "
                           f"refit it with maskcls calibrate {folder}") from None
    if not np.isfinite(temperature) or temperature <= 0:
        raise MaskclsError(f"{path}: temperature {temperature} is not positive")
    return stored


class CalibratedEngine:
    """An engine whose probabilities go through :func:`scale` with a fitted temperature; everything else (name,
    cfg, preprocess, members, meta …) is the wrapped engine's."""

    def __init__(self, engine: Any, temperature: float) -> None:
        self.engine, self.temperature = engine, float(temperature)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.engine, name)

    def probs(self, images: np.ndarray) -> np.ndarray:
        """The wrapped engine's probabilities at temperature :attr:`temperature`."""
        return scale(self.engine.probs(images), self.temperature)


def with_calibration(engine: Any, source: str | Path) -> Any:
    """``engine`` calibrated with the temperature stored for ``source`` (a run folder's ``calibration.json``, or an
    ``.onnx`` export's metadata), or ``engine`` itself when none is stored."""
    source = Path(source)
    if source.suffix == ".onnx":
        stored = (getattr(engine, "meta", None) or {}).get("calibration")
    else:
        stored = read_calibration(source)
    return CalibratedEngine(engine, stored["temperature"]) if stored else engine
