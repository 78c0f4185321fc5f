"""Frames to watch: a video file or an RTSP/HTTP(S) URL (PyAV, FFmpeg), a folder of frames, or a camera (OpenCV).

Every source yields :class:`Frame` objects — RGB uint8 ``[H, W, 3]`` with the frame's time in seconds — and raises
:class:`~maskcls.errors.MaskclsError` with one line naming the source when it cannot be opened or read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from maskcls.errors import MaskclsError

#: Photo suffixes of a folder of frames (read in name order).
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
URL = re.compile(r"^(rtsp|rtsps|rtmp|http|https|udp|tcp)://", re.IGNORECASE)
#: Seconds FFmpeg waits for a network stream to open or send before giving up.
NETWORK_TIMEOUT = 10.0


@dataclass(frozen=True)
class Frame:
    """One frame: its index from 0, its time in seconds from the start, and RGB uint8 pixels ``[H, W, 3]``."""

    index: int
    time: float
    image: np.ndarray


def describe(source: str) -> str:
    """What kind of source ``source`` names: ``camera``, ``url``, ``folder`` or ``video``."""
    if source.isdigit():
        return "camera"
    if URL.match(source):
        return "url"
    return "folder" if Path(source).is_dir() else "video"


def open_source(source: str, fps: float | None = None) -> Iterator[Frame]:
    """The frames of ``source``: a camera index (``0``), a URL, a folder of frames or a video file.

    Args:
        source: what to read.
        fps: frame rate of a folder of frames (default 10); for a camera, the times are the wall clock's.

    Raises:
        MaskclsError: for a source that does not exist or cannot be opened or decoded (raised on the first
            ``next``, or later for a stream that breaks off).
    """
    kind = describe(source)
    if kind == "camera":
        return _camera(int(source))
    if kind == "folder":
        return _folder(Path(source), fps or 10.0)
    if kind == "video" and not Path(source).exists():
        raise MaskclsError(f"{source}: no such video file, frame folder or camera")
    return _ffmpeg(source, network=kind == "url")


def _folder(folder: Path, fps: float) -> Iterator[Frame]:
    from PIL import Image, UnidentifiedImageError

    from maskcls.data.images import to_rgb

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))
    if not paths:
        raise MaskclsError(f"{folder}: no frames ({', '.join(FRAME_SUFFIXES)}) in this folder")
    for index, path in enumerate(paths):
        try:
            with Image.open(path) as image:
                pixels = np.asarray(to_rgb(image), dtype=np.uint8)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            raise MaskclsError(f"{path}: unreadable frame ({type(exc).__name__}: {exc})") from None
        yield Frame(index, index / fps, pixels)


def _ffmpeg(source: str, network: bool) -> Iterator[Frame]:
    import av

    options = {"rtsp_transport": "tcp"} if source.lower().startswith("rtsp") else {}
    try:
        container = av.open(source, options=options, timeout=NETWORK_TIMEOUT if network else None)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise MaskclsError(f"{source}: cannot open the stream ({_reason(exc)})") from None
    with container:
        if not container.streams.video:
            raise MaskclsError(f"{source}: no video stream in it")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index, start = 0, None
        try:
            for decoded in container.decode(stream):
                seconds = decoded.time if decoded.time is not None else index / float(stream.average_rate or 25)
                start = seconds if start is None else start
                yield Frame(index, float(seconds - start), decoded.to_ndarray(format="rgb24"))
                index += 1
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            raise MaskclsError(f"{source}: the stream broke off after {index} frame(s) ({_reason(exc)})") from None
        if index == 0:
            raise MaskclsError(f"{source}: no decodable video frame in it")


def _camera(index: int) -> Iterator[Frame]:
    import time

    import cv2

    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # its own warnings would add lines
    capture = cv2.VideoCapture(index)
    try:
        if not capture.isOpened():
            raise MaskclsError(f"camera {index}: cannot open it (no such device, or it is busy)")
        started, count = time.monotonic(), 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                if count == 0:
                    raise MaskclsError(f"camera {index}: opened but sends no frame")
                return
            yield Frame(count, time.monotonic() - started, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            count += 1
    finally:
        capture.release()


def _reason(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
