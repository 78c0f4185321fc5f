"""Frames with each person's box in the colour of their decision and a label in Korean and English (Noto Sans KR
subset served with the pages), and the annotated video (H.264 through PyAV)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from maskcls.errors import MaskclsError
from maskcls.watch.decide import COLORS, LABELS

FONT = Path(__file__).resolve().parents[1] / "serve" / "pages" / "fonts" / "noto-sans-kr-700.woff"


@lru_cache(maxsize=16)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT), size)


def annotate(image: np.ndarray, people) -> np.ndarray:
    """A copy of the RGB frame with a box and a label (``#id decision``, Korean / English) per person."""
    from PIL import Image, ImageDraw

    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    width = max(2, round(canvas.width / 320))
    for person in people:
        x0, y0, x1, y1 = person.box
        colour = COLORS[person.decision]
        draw.rectangle((x0, y0, x1, y1), outline=colour, width=width)
        font = _font(max(11, min(22, round((x1 - x0) / 6))))
        text = f"#{person.id} {LABELS[person.decision]}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left + 6, bottom - top + 6
        ty = y0 - th if y0 - th >= 0 else min(y1, canvas.height - th)
        tx = min(max(0, x0), max(0, canvas.width - tw))
        draw.rectangle((tx, ty, tx + tw, ty + th), fill=colour)
        draw.text((tx + 3 - left, ty + 3 - top), text, font=font, fill=(255, 255, 255))
    return np.asarray(canvas)


class VideoWriter:
    """An H.264 MP4 (yuv420p) of annotated frames at the stream's frame rate.

    Raises:
        MaskclsError: when the file cannot be written.
    """

    def __init__(self, path: Path, fps: float) -> None:
        import av

        self.path, self.fps = Path(path), fps
        try:
            self.container = av.open(str(self.path), mode="w")
            self.stream = self.container.add_stream("libx264", rate=max(1, round(fps)))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise MaskclsError(f"{path}: cannot write the annotated video ({exc})") from None
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"preset": "veryfast", "crf": "23"}
        self.started = False

    def write(self, image: np.ndarray) -> None:
        import av

        height, width = image.shape[:2]
        if not self.started:
            self.stream.width, self.stream.height = width - width % 2, height - height % 2
            self.started = True
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:self.stream.height, :self.stream.width]),
                                           format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        if self.started:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()
