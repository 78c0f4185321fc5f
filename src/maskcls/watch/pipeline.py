"""Frame by frame: faces detected every k-th frame, tracked by ByteTrack, classified, smoothed, decided.

On a detection frame the faces go to ``trackers.ByteTrackTracker`` (Kalman filter + two-stage IoU matching, updated
with the frame's time); each face of a confirmed track is cut as the run was trained (its face crop, or a portrait
region for a run trained on whole photos, see :class:`~maskcls.watch.config.PortraitConfig`) — unless the frame's
edge cuts it — classified in one batch, and added to its person's :class:`~maskcls.watch.decide.Smoother`. In between, each person's box moves with
the velocity of their last two detections. A person whose track the tracker drops has left: :meth:`Watcher.step`
returns them in ``left``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ContextManager

import numpy as np

from maskcls.watch.config import WatchConfig
from maskcls.watch.decide import Smoother

if TYPE_CHECKING:
    from maskcls.faces.detect import FaceDetector
    from maskcls.inference.contract import Engine
    from maskcls.watch.sources import Frame

Box = tuple[float, float, float, float]


@dataclass
class Person:
    """One tracked person.

    Attributes:
        id: the tracker's id (from 0).
        first_time, last_time: stream seconds of the first detection of the confirmed track, and of the latest.
        first_frame, last_frame: their frame indices.
        box: the latest box (predicted between detections).
        anchor: the box of the latest detection; ``velocity`` (pixels per second) moves it between detections.
        smoother: the recent probabilities and the decision.
        history: ``(time, decision)`` of every decision change.
        face_px: the widest face seen, in pixels.
        thumbnail: uint8 crop of that face, kept only when the watcher stores faces.
    """

    id: int
    first_time: float
    first_frame: int
    box: Box
    smoother: Smoother
    anchor: Box = (0.0, 0.0, 0.0, 0.0)
    last_time: float = 0.0
    last_frame: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)
    history: list[tuple[float, str]] = field(default_factory=list)
    face_px: float = 0.0
    thumbnail: np.ndarray | None = None

    @property
    def decision(self) -> str:
        return self.smoother.decision


@dataclass
class Step:
    """What one frame gave.

    Attributes:
        frame: the frame.
        detected: whether the detector ran on it.
        people: the people in view (tracked), with their boxes at this frame.
        entered: people whose track started on this frame.
        changes: people whose decision changed on this frame.
        left: people whose track ended on this frame.
    """

    frame: "Frame"
    detected: bool
    people: list[Person]
    entered: list[Person]
    changes: list[Person]
    left: list[Person]


class Watcher:
    """The detector, tracker, engine and per-person state of one stream.

    Args:
        engine: the (calibrated) inference engine.
        detector: the face detector.
        cfg: the watch settings.
        lock: held around model calls (the service shares its engine between streams).
        store_faces: keep each person's largest face crop for a thumbnail.
    """

    def __init__(self, engine: "Engine", detector: "FaceDetector", cfg: WatchConfig,
                 lock: ContextManager | None = None, store_faces: bool = False) -> None:
        from trackers import ByteTrackTracker

        from maskcls.inference.contract import cache_spec

        self.engine, self.detector, self.cfg, self.lock, self.store_faces = engine, detector, cfg, lock, store_faces
        spec = cache_spec(engine)
        margin = spec.face_margin if spec.crop == "face" else cfg.portrait.margin
        self.spec = dataclasses.replace(spec, face_margin=margin)
        self.input = "face" if spec.crop == "face" else "portrait"
        self.tracker = ByteTrackTracker(
            lost_track_buffer=max(1, round(cfg.track.lost_seconds * 30)), frame_rate=30.0,
            track_activation_threshold=cfg.track.activation, minimum_consecutive_frames=cfg.track.confirm,
            minimum_iou_threshold=cfg.track.min_iou, high_conf_det_threshold=cfg.track.activation)
        self.people: dict[int, Person] = {}
        self.frames = 0
        self.last_detection: float | None = None

    def step(self, frame: "Frame") -> Step:
        """Process one frame (detection on every ``detect.every``-th)."""
        self.frames += 1
        detected = frame.index % self.cfg.detect.every == 0
        entered: list[Person] = []
        changes: list[Person] = []
        left: list[Person] = []
        if detected:
            entered, changes, left = self._detect(frame)
        else:
            for person in self.people.values():
                dt = frame.time - person.last_time
                vx, vy = person.velocity
                x0, y0, x1, y1 = person.anchor
                person.box = (x0 + vx * dt, y0 + vy * dt, x1 + vx * dt, y1 + vy * dt)
        return Step(frame, detected, list(self.people.values()), entered, changes, left)

    def finish(self) -> list[Person]:
        """Every person still in view, as if they had left now (end of stream or interruption)."""
        left = list(self.people.values())
        self.people.clear()
        return left

    def _detect(self, frame: "Frame") -> tuple[list[Person], list[Person], list[Person]]:
        import supervision as sv

        faces = [f for f in self._faces(frame.image) if f.width >= self.cfg.detect.min_face]
        if faces:
            detections = sv.Detections(xyxy=np.array([f.box for f in faces], dtype=np.float32),
                                       confidence=np.array([f.score for f in faces], dtype=np.float32),
                                       data={"face": np.arange(len(faces))})
        else:
            detections = sv.Detections.empty()
        tracked = self.tracker.update(detections, timestamp=frame.time)
        matched, entered = [], []
        which = tracked.data.get("face", np.zeros(0, dtype=int))
        for face_index, track_id in zip(which, tracked.tracker_id):
            if track_id < 0:
                continue
            face = faces[int(face_index)]
            person = self.people.get(int(track_id))
            if person is None:
                person = Person(int(track_id), frame.time, frame.index, face.box, Smoother(self.cfg.decide))
                self.people[person.id] = person
                entered.append(person)
            else:
                dt = frame.time - person.last_time
                if dt > 0:
                    person.velocity = ((face.box[0] - person.anchor[0] + face.box[2] - person.anchor[2]) / (2 * dt),
                                       (face.box[1] - person.anchor[1] + face.box[3] - person.anchor[3]) / (2 * dt))
            person.box = person.anchor = face.box
            person.last_time, person.last_frame = frame.time, frame.index
            matched.append((person, face))
        if not self.cfg.detect.classify_cut:
            height, width = frame.image.shape[:2]
            matched = [(p, f) for p, f in matched
                       if f.box[0] > 1 and f.box[1] > 1 and f.box[2] < width - 1 and f.box[3] < height - 1]
        changes = self._classify(frame, matched)
        alive = {int(i) for i in self.tracker.tracked_objects.tracker_id} if len(self.tracker.tracked_objects) else set()
        left = [p for pid, p in self.people.items() if pid not in alive]
        for person in left:
            del self.people[person.id]
        return entered, changes, left

    def _faces(self, image: np.ndarray) -> list:
        import cv2

        height, width = image.shape[:2]
        scale = self.cfg.detect.max_side / max(height, width)
        if scale >= 1:
            return self.detector.detect(image)
        small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                           interpolation=cv2.INTER_AREA)
        return [face.scaled(width / small.shape[1]) for face in self.detector.detect(small)]

    def _classify(self, frame: "Frame", matched: list) -> list[Person]:
        from PIL import Image

        from maskcls.vision.preprocess import face_inputs

        if not matched:
            return []
        entries = face_inputs(Image.fromarray(frame.image), [face for _, face in matched], self.spec)
        with self.lock or contextlib.nullcontext():
            probs = self.engine.probs(entries)
        changes = []
        for (person, face), row, entry in zip(matched, probs, entries):
            if face.width > person.face_px:
                person.face_px = face.width
                if self.store_faces:
                    person.thumbnail = entry.copy()
            if person.smoother.add(row) is not None:
                person.history.append((frame.time, person.decision))
                changes.append(person)
        return changes
