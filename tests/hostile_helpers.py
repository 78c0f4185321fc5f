"""Helpers of the hostile-input tests: the CLI's result, the one-line error check, bad files made in bytes."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

#: Overrides of a run that trains in seconds on a tiny tree.
TINY = ["model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32", "model.head=class18",
        "train.epochs=1", "train.batch_size=16", "train.loggers=[]", "train.features=true", "split.kind=holdout",
        "split.val_fraction=0.5"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The one ``maskcls: error:`` line, after checking it is the only thing on stderr besides warnings."""
        assert "Traceback" not in self.err + self.out, self.err
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("maskcls: error: ")]
        others = [line for line in lines if not line.startswith(("maskcls: error: ", "maskcls: warning: "))]
        assert len(errors) == 1 and not others, self.err
        assert "unexpected" not in errors[0], errors[0]
        return errors[0].removeprefix("maskcls: error: ")


def fails(result: Result, *needles: str) -> str:
    """Assert exit 1 with one error line holding every needle (a path, a word of the problem); return it."""
    assert result.code == 1, (result.code, result.out, result.err)
    line = result.error_line()
    for needle in needles:
        assert str(needle) in line, (needle, line)
    assert not line.startswith("error:"), line
    return line


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels in 100 bytes (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
