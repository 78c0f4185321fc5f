"""The YAML presets shipped with maskcls (``maskcls train NAME``); listing them imports nothing heavy."""

from __future__ import annotations

from pathlib import Path

FOLDER = Path(__file__).parent


def names() -> list[str]:
    """The preset names, sorted (``baseline`` for presets/baseline.yaml)."""
    return sorted(p.stem for p in FOLDER.glob("*.yaml"))
