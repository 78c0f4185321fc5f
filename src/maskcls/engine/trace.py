"""Test tracing of a training run: which dataset indices each process trained on, and how many checkpoints it saved.

Set ``MASKCLS_TRACE_DIR`` and every process writes ``rank<R>.json`` there (rewritten after each epoch and checkpoint):
``{"rank", "world", "epochs": {epoch: [indices]}, "checkpoints"}``. The distributed tests compare these files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from maskcls.fileio import write_text

#: When set, every process writes the dataset indices it trained on to ``rank<R>.json`` in this folder.
TRACE_ENV = "MASKCLS_TRACE_DIR"


class Trace:
    """The trace of one process (see the module docstring)."""

    def __init__(self, folder: Path, rank: int, world: int) -> None:
        self.path = Path(folder) / f"rank{rank}.json"
        self.state: dict = {"rank": rank, "world": world, "epochs": {}, "checkpoints": 0}

    @classmethod
    def from_env(cls, rank: int, world: int) -> "Trace | None":
        """The trace asked for by ``MASKCLS_TRACE_DIR``, or ``None`` when it is not set."""
        folder = os.environ.get(TRACE_ENV)
        return cls(Path(folder), rank, world) if folder else None

    def checkpoint(self) -> None:
        """Count a saved checkpoint."""
        self.state["checkpoints"] += 1
        self.write()

    def loader(self, loader, epoch: int) -> Iterable:
        """``loader``, noting the dataset index of every item it yields (written once it is exhausted)."""
        seen = self.state["epochs"].setdefault(str(epoch), [])
        write = self.write

        class Traced:
            def __len__(self) -> int:
                return len(loader)

            def __iter__(self):
                for inputs, targets in loader:
                    seen.extend(targets["index"].tolist())
                    yield inputs, targets
                write()

        return Traced()

    def write(self) -> None:
        write_text(self.path, json.dumps(self.state) + "\n")
