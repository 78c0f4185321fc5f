"""Safe file output: atomic writes (temp file + rename) and run folders that never overwrite."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_write(path: str | Path, mode: str = "w", durable: bool = True, **open_kwargs) -> Iterator[IO]:
    """Open a temp file beside ``path`` and move it into place only when the block succeeds.

    Readers never see a half-written file, and a crash leaves the old file (if any) intact.

    Args:
        path: the file to write.
        mode: ``open`` mode (``w`` or ``wb``).
        durable: flush the file to disk before the rename. Bulk writers of many files pass ``False`` and call
            :func:`sync_disk` once when done: one flush instead of one wait per file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the mode open() would
    try:
        with os.fdopen(fd, mode, **open_kwargs) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def sync_disk() -> None:
    """Flush every written file to disk (after writes made with ``durable=False``)."""
    sync = getattr(os, "sync", None)  # POSIX only
    if sync is not None:
        sync()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> Path:
    """Write a text file atomically and return its path."""
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return Path(path)


def unique_dir(path: str | Path) -> Path:
    """Create and return ``path``, or ``path-2``, ``path-3`` … if it already exists and is not empty.

    The folder is created here (``mkdir`` without ``exist_ok``), so two processes never get the same one.
    """
    path = Path(path)
    candidates = [path] + [path.with_name(f"{path.name}-{n}") for n in range(2, 10_000)]
    for candidate in candidates:
        if candidate.is_dir() and not any(candidate.iterdir()):
            return candidate
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise FileExistsError(f"{path}: no free folder name left")


def torch_load(path: str | Path, what: str = "maskcls checkpoint", mmap: bool = False):
    """``torch.load`` with ``weights_only=True`` on the CPU, its failures worded in one line naming the file.

    Raises:
        MaskclsError: ``<path>: not a <what> (…)`` for a damaged, truncated or unsafe file.
    """
    import pickle
    import warnings

    import torch

    from maskcls.errors import MaskclsError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's pickle-protocol notes; the error below says what matters
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as exc:  # torch's text advises weights_only=False: never for an unknown file
        detail = next((line.strip() for line in str(exc).splitlines()
                       if line.strip().startswith(("Unsupported", "Trying to", "invalid load key"))), "")
        raise MaskclsError(f"{path}: not a {what} (damaged, or it holds more than plain tensors and is "
                           f"refused for safety{': ' + detail if detail else ''})") from None
    except Exception as exc:  # torch raises several types for damaged or truncated files
        raise MaskclsError(f"{path}: not a {what} (damaged or truncated: {type(exc).__name__}: "
                           f"{(str(exc).splitlines() or [''])[0]})") from None
