"""The CPU allocator tuning: it takes effect (large blocks stop being mmap'd) and can be turned off."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Allocates a 64 MiB block and reports how many blocks glibc holds in mmap (mallinfo2.hblks) while it lives.
PROBE = """
import ctypes, json, sys
from maskcls.devices import tune_cpu_allocator

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
tuned = tune_cpu_allocator()
before = libc.mallinfo2().hblks
block = libc.malloc(64 << 20)
during = libc.mallinfo2().hblks
libc.free(block)
print(json.dumps({"tuned": tuned, "again": tune_cpu_allocator(), "new_mmaps": during - before}))
"""


def _probe(**env: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], env={**os.environ, **env}, capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def _has_mallinfo2() -> bool:
    import ctypes

    try:
        return hasattr(ctypes.CDLL("libc.so.6"), "mallinfo2")
    except OSError:
        return False


@pytest.mark.skipif(sys.platform != "linux" or not _has_mallinfo2(), reason="glibc >= 2.33 only")
def test_tuning_keeps_large_blocks_off_mmap() -> None:
    tuned = _probe(MASKCLS_MALLOC="")
    assert tuned == {"tuned": True, "again": True, "new_mmaps": 0}
    default = _probe(MASKCLS_MALLOC="default")
    assert default == {"tuned": False, "again": False, "new_mmaps": 1}


def test_cpu_device_resolution_tunes_once() -> None:
    from maskcls import devices

    device = devices.resolve_device("cpu")
    assert device.type == "cpu"
    assert devices._allocator_tuned is not None
    assert devices.tune_cpu_allocator() is devices._allocator_tuned
