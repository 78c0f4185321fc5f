"""Checkpoints: plain tensors and containers only (loadable with ``weights_only=True``), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write, torch_load


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` with ``torch.save`` atomically (temp file beside ``path``, then rename)."""
    import torch

    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``, on the CPU).

    Raises:
        MaskclsError: naming the file if it is missing or not a maskcls checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise MaskclsError(f"{path}: checkpoint not found")
    state = torch_load(path)
    if not isinstance(state, dict) or "model" not in state:
        raise MaskclsError(f"{path}: not a maskcls checkpoint (no 'model' weights)")
    return state
