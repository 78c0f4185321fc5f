"""Shared fixtures: tiny competition trees built on the fly, and the shared real data when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import write_person, write_train_csv

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MASKCLS_SHARED_DATA", PROJECT.parent / "shared" / "data"))


@pytest.fixture
def tree(tmp_path: Path):
    """Build a clean competition tree from ``(id, gender, age)`` triples; returns the root."""

    def build(people: list[tuple[str, str, int]], root: Path | None = None) -> Path:
        root = root or tmp_path / "comp"
        train = root / "train"
        rows = []
        for pid, gender, age in people:
            folder = f"{pid}_{gender}_Asian_{age}"
            write_person(train / "images", folder)
            rows.append((pid, gender, "Asian", age, folder))
        write_train_csv(train, rows)
        return root

    return build


@pytest.fixture
def shared_data() -> Path:
    """The shared real public data, or a clean skip where it is absent."""
    if not (SHARED_DATA / "utkface" / "labels.csv").is_file():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
