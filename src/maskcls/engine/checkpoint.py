"""Checkpoints: plain tensors and containers only (loadable with ``weights_only=True``), written atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from maskcls.errors import MaskclsError
from maskcls.fileio import atomic_write


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
    import torch

    path = Path(path)
    if not path.is_file():
        raise MaskclsError(f"{path}: checkpoint not found")
    import pickle
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes; the error below says what matters
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # torch's text advises weights_only=False: never for an unknown file
        detail = next((line.strip() for line in str(exc).splitlines()
                       if line.strip().startswith(("Unsupported", "Trying to", "invalid load key"))), "")
        raise MaskclsError(f"{path}: not a maskcls checkpoint (damaged, or it holds more than plain tensors and is "
                           f"refused for safety{': ' + detail if detail else ''})") from None
    except Exception as exc:  # torch raises several types for damaged or truncated files
        raise MaskclsError(f"{path}: not a maskcls checkpoint (damaged or truncated: {type(exc).__name__}: "
                           f"{(str(exc).splitlines() or [''])[0]})") from None
    if not isinstance(state, dict) or "model" not in state:
        raise MaskclsError(f"{path}: not a maskcls checkpoint (no 'model' weights)")
    return state
