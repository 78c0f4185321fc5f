"""Face detection: detectors behind one interface, picking a face, crop geometry and batch runs over photos."""

from maskcls.faces.detect import (
    DETECTORS,
    PICK_POLICIES,
    Face,
    FaceDetector,
    create_detector,
    face_crop_box,
    pick_face,
)

__all__ = ["DETECTORS", "PICK_POLICIES", "Face", "FaceDetector", "create_detector", "face_crop_box", "pick_face"]
