"""Face detection: detectors behind one interface, picking a face, crop geometry and batch runs over photos."""

from maskcls.faces.detect import (
    DETECTORS,
    FACE_FRAMES,
    PICK_POLICIES,
    Face,
    FaceDetector,
    create_detector,
    face_crop_box,
    landmark_square,
    pick_face,
)

__all__ = ["DETECTORS", "FACE_FRAMES", "PICK_POLICIES", "Face", "FaceDetector", "create_detector", "face_crop_box",
           "landmark_square", "pick_face"]
