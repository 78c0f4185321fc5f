"""``WatchConfig``: the typed settings of ``maskcls watch`` and of the service's streaming endpoint.

Loaded like a training config (:func:`maskcls.config.load_config`): a YAML file (or none) then ``key=value``
overrides, unknown keys are errors. Sections: ``detect`` (the face detector and how often it runs), ``track``
(ByteTrack), ``decide`` (smoothing and the thresholds of the decision) and ``portrait`` (the region a run trained on
whole photos is shown).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator, model_validator

from maskcls.config import _Strict, load_model


class DetectConfig(_Strict):
    """Face detection.

    Attributes:
        detector: ``retinaface``, ``mtcnn``, ``haar`` or ``retinaface+mtcnn`` (MTCNN only where RetinaFace finds no face); ``null`` takes the run's ``train.face_detector``.
        score_threshold: faces scoring below this are dropped (``null``: the detector's default).
        every: detect (and classify) every k-th frame; the tracker's motion model carries the boxes in between.
        max_side: frames with a longer side are detected on a reduced copy (the boxes come back in the frame's
            pixels, and faces are cut from the full frame): RetinaFace takes 4x as long on 640x480 as on 320x240,
            and faces at a gate are large.
        min_face: faces narrower than this many pixels (of the frame) are ignored (too small to judge).
        classify_cut: classify faces cut by the frame's edge too; by default they are tracked but not classified
            (half a face gives a crop unlike any the model was trained on).
    """

    detector: str | None = None
    score_threshold: float | None = Field(None, ge=0.0, le=1.0)
    every: int = Field(3, ge=1)
    max_side: int = Field(320, ge=32)
    min_face: int = Field(24, ge=1)
    classify_cut: bool = False

    @field_validator("detector")
    @classmethod
    def _known(cls, value: str | None) -> str | None:
        from maskcls.faces.detect import DETECTORS

        if value is not None and value not in DETECTORS:
            raise ValueError(f"unknown face detector {value!r} (choices: {', '.join(DETECTORS)})")
        return value


class TrackConfig(_Strict):
    """ByteTrack (``trackers.ByteTrackTracker``), updated on detection frames.

    Attributes:
        lost_seconds: a person unseen this long has left (their track closes and its event is written).
        activation: detector score a new face needs to start a track.
        confirm: consecutive detections before a track gets its id.
        min_iou: overlap of a predicted and a detected box to match them.
    """

    lost_seconds: float = Field(1.0, gt=0.0)
    activation: float = Field(0.5, ge=0.0, le=1.0)
    confirm: int = Field(2, ge=1)
    min_iou: float = Field(0.1, gt=0.0, le=1.0)


class DecideConfig(_Strict):
    """Smoothing and the decision of each person.

    A person's mask probabilities are the mean of the (calibrated) probabilities of their last ``window``
    classified frames. A frame is *confident* when its own most probable mask status reaches ``confident``. Once
    ``min_frames`` of the window's frames are confident, the person gets a decision: the smoothed most probable
    status (``pass`` for a mask worn, ``warn`` for one worn incorrectly, ``stop`` for none) when its probability
    reaches ``uncertain_below``, else ``uncertain`` (ask a human). A window full of frames without ``min_frames``
    confident ones is ``uncertain`` too. After a firm decision, only another firm one replaces it (a person taking
    the mask off goes from ``pass`` to ``stop``; passing moments of doubt are not reported).

    Attributes:
        window: classified frames averaged.
        min_frames: confident frames in the window before a decision.
        confident: a frame's top mask probability that makes it confident.
        uncertain_below: smoothed top mask probability under which the decision is ``uncertain``.
    """

    window: int = Field(5, ge=1)
    min_frames: int = Field(3, ge=1)
    confident: float = Field(0.6, ge=0.0, le=1.0)
    uncertain_below: float = Field(0.7, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _fits(self) -> "DecideConfig":
        if self.min_frames > self.window:
            raise ValueError(f"min_frames ({self.min_frames}) cannot exceed window ({self.window})")
        return self


class PortraitConfig(_Strict):
    """What a run trained on whole photos (``crop=none|center``) is shown of each person: the face's box grown by
    ``margin`` of its size on each side (about a competition photo's framing), then that run's own crop and resize.
    Runs trained with ``crop=face`` get their own face crop instead."""

    margin: float = Field(1.0, ge=0.0)


class WatchConfig(_Strict):
    """Everything ``maskcls watch`` and ``/v1/watch`` decide with."""

    detect: DetectConfig = Field(default_factory=DetectConfig)
    track: TrackConfig = Field(default_factory=TrackConfig)
    decide: DecideConfig = Field(default_factory=DecideConfig)
    portrait: PortraitConfig = Field(default_factory=PortraitConfig)


def load_watch_config(source: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> WatchConfig:
    """A :class:`WatchConfig` from a YAML file (or the defaults) with ``key=value`` overrides applied.

    Raises:
        ConfigError: naming the file or key of the first problem.
    """
    return load_model(WatchConfig, Path(source) if source is not None else None, overrides, what="watch config")
