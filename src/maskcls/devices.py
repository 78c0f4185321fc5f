"""Which torch device to run on, and how the process is prepared for it: shared by training and inference."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: glibc ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
#: Free memory the heap keeps instead of handing it back to the system after each step.
TRIM_THRESHOLD = 1 << 30
_allocator_tuned: bool | None = None


def tune_cpu_allocator() -> bool:
    """Keep glibc's heap from mapping and unmapping every large tensor: returns whether it was tuned.

    By default glibc serves every allocation over 32 MiB (a batch of activations) with a fresh ``mmap`` and
    unmaps it when it is freed, so every training step pays page faults for its big tensors again. With mmap
    off and a 1 GiB trim threshold the freed memory is reused instead. Measured here (Lite0 at 128 px, 2
    threads, 64-photo training steps and 128-photo evaluation forwards, folded): training 109 → 121 images/s,
    evaluation 195 → 372 images/s, peak resident memory 1.78 → 1.94 GB. Applied once per process, only with
    glibc on Linux; ``MASKCLS_MALLOC=default`` turns it off.
    """
    global _allocator_tuned
    if _allocator_tuned is not None:
        return _allocator_tuned
    _allocator_tuned = False
    if sys.platform != "linux" or os.environ.get("MASKCLS_MALLOC", "").lower() == "default":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # no C library found, or one without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _allocator_tuned = bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _allocator_tuned


def resolve_device(name: str = "auto") -> "torch.device":
    """``auto`` picks CUDA when available, else the CPU; a CPU run gets :func:`tune_cpu_allocator`."""
    import torch

    if name == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(name)
    if device.type == "cpu":
        tune_cpu_allocator()
    return device
