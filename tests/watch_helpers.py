"""A gate scene made on the fly from one photo (scikit-image's astronaut): people walking in and out of a 640 x 480
frame, masks drawn with maskcls's own renderer, and a fake engine that reads the mask off the face it is shown.

The detector (RetinaFace), the tracker (ByteTrack), the smoothing and the decisions under test are all real; only
the classifier is replaced, because the tiny demo models know procedural faces, not this photo. The fake engine's
probabilities come from the pixels: the share of white, unsaturated pixels (the rendered surgical mask) in the lower
middle of the face crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

SIZE = (640, 480)
FPS = 10.0
TILE = (190, 220)  # width, height of a person's picture


@lru_cache(maxsize=1)
def portraits() -> dict[str, np.ndarray]:
    """``masked``, ``bare`` and ``other`` (a second bare person: mirrored and warmer) pictures, ``TILE`` sized."""
    from PIL import Image
    from skimage import data

    from maskcls.faces.detect import create_detector
    from maskcls.faces.masks import render_mask

    photo = data.astronaut()
    (face,) = create_detector("retinaface").detect(photo)
    masked = render_mask(photo, face.landmarks, "surgical", "correct", rng=np.random.default_rng(0))
    crop = (125, 10, 325, 242)

    def tile(image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).crop(crop).resize(TILE, Image.Resampling.BILINEAR))

    other = tile(photo)[:, ::-1].astype(np.int16)
    other[..., 0] += 25
    return {"masked": tile(masked), "bare": tile(photo), "other": np.clip(other, 0, 255).astype(np.uint8)}


@dataclass(frozen=True)
class Walk:
    """One person: their picture over time (``looks``: ``(from frame, picture name)``), a lane's top ``y``, and a
    straight walk from ``x0`` to ``x1`` between frames ``start`` and ``end``."""

    looks: tuple[tuple[int, str], ...]
    y: int
    x0: float
    x1: float
    start: int
    end: int

    def look(self, frame: int) -> str:
        return [name for since, name in self.looks if frame >= since][-1]


#: A: masked, walks left to right (pass). B: masked, takes the mask off half-way (pass, then stop).
#: C: no mask, enters after A has left (stop).
SCENE = (
    Walk(((0, "masked"),), 20, -150, 620, 0, 34),
    Walk(((0, "masked"), (48, "bare")), 250, 640, -170, 12, 88),
    Walk(((0, "other"),), 20, 630, 150, 44, 80),
)
EXPECTED = [["pass"], ["pass", "stop"], ["stop"]]
FRAMES = 92


def scene_frames(scene=SCENE, frames: int = FRAMES) -> list[np.ndarray]:
    """The frames of ``scene`` on a plain blue-grey wall."""
    pictures = portraits()
    out = []
    for index in range(frames):
        canvas = np.full((SIZE[1], SIZE[0], 3), (96, 128, 150), dtype=np.uint8)  # not white: no mask for the reader
        for walk in scene:
            if not walk.start <= index <= walk.end:
                continue
            share = (index - walk.start) / max(1, walk.end - walk.start)
            x = round(walk.x0 + share * (walk.x1 - walk.x0))
            picture = pictures[walk.look(index)]
            left, right = max(0, x), min(SIZE[0], x + TILE[0])
            if right > left:
                canvas[walk.y:walk.y + TILE[1], left:right] = picture[:, left - x:right - x]
        out.append(canvas)
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float = FPS) -> Path:
    """An H.264 video of the frames (PyAV; the container from the suffix: ``.mp4``, ``.ts`` …)."""
    import av

    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"crf": "12", "preset": "veryfast"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_frames(folder: Path, frames: list[np.ndarray]) -> Path:
    """A folder of PNG frames in name order."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(frames):
        Image.fromarray(image).save(folder / f"frame-{index:05d}.png")
    return folder


class MaskReader:
    """An engine (``name``, ``cfg``, ``preprocess``, ``probs``) whose mask probabilities come from the face crop's
    pixels: worn when the lower middle is mostly white and unsaturated, none when it is mostly skin."""

    name = "mask-reader"

    def __init__(self) -> None:
        from maskcls.config import load_config
        from maskcls.models.backbones import Preprocess

        self.cfg = load_config(None, ["train.crop=face", "train.face_margin=0.2"])
        self.preprocess = Preprocess(size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                     interpolation="bilinear", crop_pct=1.0)
        self.calls = 0

    def probs(self, images: np.ndarray) -> np.ndarray:
        self.calls += len(images)
        out = np.empty((len(images), 18), dtype=np.float32)
        for i, image in enumerate(images.astype(np.int16)):
            region = image[36:52, 22:42]
            white = (region.min(axis=2) > 165) & (region.max(axis=2) - region.min(axis=2) < 40)
            worn = float(np.clip((white.mean() - 0.15) / 0.35, 0.0, 1.0))
            mask = np.array([0.04 + 0.92 * worn, 0.04, 0.04 + 0.92 * (1 - worn)])
            out[i] = np.repeat(mask / 6, 6)
        return out


def write_y4m(path: Path, frames: list[np.ndarray], fps: float = FPS, repeat: int = 1) -> Path:
    """A YUV4MPEG2 (4:2:0) file of the frames, each shown ``repeat`` times: Chromium's fake camera plays it in a
    loop (``--use-file-for-fake-video-capture``)."""
    import cv2

    height, width = frames[0].shape[:2]
    with open(path, "wb") as handle:
        handle.write(f"YUV4MPEG2 W{width} H{height} F{round(fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for image in frames:
            planes = cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420).tobytes()
            for _ in range(repeat):
                handle.write(b"FRAME\n" + planes)
    return path
