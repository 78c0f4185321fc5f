"""One decision per person from their track's classified frames: smoothing and the rule of
:class:`~maskcls.watch.config.DecideConfig`, with the names shown on the page and the annotated video."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from maskcls.watch.config import DecideConfig

#: Decision by mask status (0 worn, 1 worn incorrectly, 2 none).
BY_MASK = ("pass", "warn", "stop")
DECISIONS = (*BY_MASK, "uncertain")
#: Korean / English label of each decision.
LABELS = {
    "pass": "통과 / Pass · 마스크 착용",
    "warn": "경고 / Warn · 마스크 잘못 착용",
    "stop": "정지 / Stop · 마스크 미착용",
    "uncertain": "확인 필요 / Check · 불확실",
    "pending": "판정 중 / Checking…",
}
#: RGB colour of each decision (the page uses the same).
COLORS = {"pass": (0x1A, 0x98, 0x50), "warn": (0xE0, 0x80, 0x00), "stop": (0xD7, 0x30, 0x1F),
          "uncertain": (0x5E, 0x3C, 0x99), "pending": (0x80, 0x80, 0x80)}


def mask_probs(probs: np.ndarray) -> np.ndarray:
    """The mask-status marginals ``[..., 3]`` of 18-class probabilities ``[..., 18]`` (class = mask·6 + …)."""
    probs = np.asarray(probs, dtype=np.float64)
    return probs.reshape(*probs.shape[:-1], 3, 6).sum(axis=-1)


@dataclass
class Smoother:
    """The last ``window`` classified frames of one person and the decision they support.

    Attributes:
        cfg: the thresholds.
        frames: 18-class probabilities of the recent frames, oldest first.
        decision: ``pending`` until the rule decides, then one of :data:`DECISIONS`.
        classified: frames classified over the whole track.
    """

    cfg: DecideConfig
    frames: deque = field(default_factory=deque)
    decision: str = "pending"
    classified: int = 0

    def add(self, probs: np.ndarray) -> str | None:
        """Add one frame's probabilities; the new decision when it changes, else ``None``."""
        self.frames.append(np.asarray(probs, dtype=np.float32))
        while len(self.frames) > self.cfg.window:
            self.frames.popleft()
        self.classified += 1
        new = self._rule()
        if new is None or new == self.decision or (new == "uncertain" and self.decision in BY_MASK):
            return None
        self.decision = new
        return new

    @property
    def probs(self) -> np.ndarray:
        """float32 ``[18]``: the mean of the window (zeros before any frame)."""
        if not self.frames:
            return np.zeros(18, dtype=np.float32)
        return np.mean(np.stack(self.frames), axis=0).astype(np.float32)

    @property
    def mask(self) -> np.ndarray:
        """The smoothed mask-status probabilities ``[3]``."""
        return mask_probs(self.probs)

    def _rule(self) -> str | None:
        window = np.stack(self.frames)
        confident = int((mask_probs(window).max(axis=1) >= self.cfg.confident).sum())
        if confident < self.cfg.min_frames:
            return "uncertain" if len(self.frames) >= self.cfg.window else None
        smoothed = self.mask
        top = int(np.argmax(smoothed))
        return BY_MASK[top] if smoothed[top] >= self.cfg.uncertain_below else "uncertain"
