"""Checkpoints: plain tensors and containers only (loadable with ``weights_only=True``), written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from maskcls.errors import MaskclsError


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` with ``torch.save`` to a temp file beside ``path`` and rename it into place."""
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``, on the CPU).

    Raises:
        MaskclsError: naming the file if it is missing or not a maskcls checkpoint.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise MaskclsError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or unsafe files
        raise MaskclsError(f"{path}: not a loadable checkpoint ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise MaskclsError(f"{path}: not a maskcls checkpoint (no 'model' weights)")
    return state
