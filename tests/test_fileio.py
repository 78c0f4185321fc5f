"""Atomic writes: all or nothing, flushed to disk unless the caller syncs in bulk."""

import os

import pytest

from maskcls.fileio import atomic_write, sync_disk


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write("half")
            raise RuntimeError("stopped")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


@pytest.mark.parametrize("durable,flushes", [(True, 1), (False, 0)])
def test_durable_decides_the_flush_not_the_result(tmp_path, monkeypatch, durable, flushes):
    calls = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    with atomic_write(tmp_path / "b.bin", "wb", durable=durable) as handle:
        handle.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01" and len(calls) == flushes
    sync_disk()  # the bulk writer's one flush at the end
