"""The 468-point face mesh (MediaPipe's legacy face mesh, offline, optional extra).

:func:`face_mesh` returns the mesh of one face as ``(468, 3)`` float32: ``x, y`` in pixels of the photo, ``z``
(depth, smaller is nearer the camera) on the same scale as ``x``. Given the face's box (from
:mod:`maskcls.faces.detect`) it looks only around that face, so the mesh and the detector agree on which face it
is. Its index groups (:data:`FACE_OVAL`, :data:`MIDLINE`) are MediaPipe's topology, the same for every face.

The graph is built through MediaPipe's ``SolutionBase`` with its built-in thresholds (0.5 for detection and
presence, the defaults of ``mp.solutions.face_mesh.FaceMesh``) rather than through ``FaceMesh`` itself, whose
threshold overrides read a protobuf field attribute that protobuf 7 removed; the landmarks are identical (checked
on 40 UTKFace photos under protobuf 4.25 and 6.33). Each thread runs its own graph.
"""

from __future__ import annotations

import threading

import numpy as np

MESH_POINTS = 468
#: The face's outline, clockwise on screen from the top of the forehead (image-right side first).
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
             176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: The face's centre line from between the eyes down the nose ridge, over the lips, to the chin.
MIDLINE = (168, 6, 197, 195, 5, 4, 1, 2, 164, 0, 13, 14, 17, 18, 200, 199, 175, 152)
NOSE_TIP, SUBNASALE, UPPER_LIP, LOWER_LIP, BELOW_LIP, CHIN = 1, 2, 0, 17, 18, 152
#: Image-left and image-right eye corners and mouth corners (for the five landmarks of :func:`five_points`).
EYE_LEFT, EYE_RIGHT, MOUTH_LEFT, MOUTH_RIGHT = (33, 133), (362, 263), 61, 291
#: Points over the nostrils (wings and openings) that a mask worn with the nose out must leave uncovered.
NOSTRILS = (48, 64, 98, 97, 2, 326, 327, 294, 278, 240, 460)
_local = threading.local()


def _graph():
    graph = getattr(_local, "graph", None)
    if graph is None:
        from maskcls.faces.mediapipe_support import require_mediapipe

        require_mediapipe("the face mesh")
        from mediapipe.python.solution_base import SolutionBase
        from mediapipe.python.solutions import face_mesh

        graph = _local.graph = SolutionBase(
            binary_graph_path=face_mesh._BINARYPB_FILE_PATH,  # noqa: SLF001 - see the module docstring
            side_inputs={"num_faces": 1, "with_attention": False, "use_prev_landmarks": False},
            outputs=["multi_face_landmarks"])
    return graph


def face_mesh(image: np.ndarray, box: tuple[float, float, float, float] | None = None,
              margin: float = 0.35) -> np.ndarray | None:
    """The mesh of a face: ``(468, 3)`` float32 ``x, y`` (pixels of ``image``) and ``z``, or ``None`` if none.

    Args:
        image: ``[H, W, 3]`` uint8 RGB.
        box: ``(x0, y0, x1, y1)`` of the face to mesh; ``None`` meshes the most prominent face of the photo.
        margin: context around ``box`` as a fraction of its size on each side (the mesh needs the whole head).

    Raises:
        ValueError: an image that is not ``[H, W, 3]`` uint8.
        MaskclsError: when mediapipe is not installed.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] uint8 RGB, got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    x0, y0, x1, y1 = 0, 0, width, height
    if box is not None:
        grow_x, grow_y = (box[2] - box[0]) * margin, (box[3] - box[1]) * margin
        x0, y0 = max(0, int(box[0] - grow_x)), max(0, int(box[1] - grow_y))
        x1, y1 = min(width, int(np.ceil(box[2] + grow_x))), min(height, int(np.ceil(box[3] + grow_y)))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return None
    region = np.ascontiguousarray(image[y0:y1, x0:x1])
    found = _graph().process({"image": region}).multi_face_landmarks
    if not found:
        return None
    points = np.array([(p.x, p.y, p.z) for p in found[0].landmark], dtype=np.float32)
    crop_width, crop_height = x1 - x0, y1 - y0
    points *= (crop_width, crop_height, crop_width)
    points[:, :2] += (x0, y0)
    return points


def five_points(mesh: np.ndarray) -> np.ndarray:
    """The five landmarks of :mod:`maskcls.faces.detect` (eye centres, nose tip, mouth corners) from a mesh."""
    xy = np.asarray(mesh, dtype=np.float32)[:, :2]
    return np.stack([xy[list(EYE_LEFT)].mean(axis=0), xy[list(EYE_RIGHT)].mean(axis=0), xy[NOSE_TIP],
                     xy[MOUTH_LEFT], xy[MOUTH_RIGHT]]).astype(np.float32)
