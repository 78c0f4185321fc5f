"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

RelabelOpt = typer.Option(None, "--relabel", help="Extra corrections CSV (id,field,value); repeatable, applied after the default.")
NoRelabelOpt = typer.Option(False, "--no-relabel", help="Do not apply the shipped corrections of documented mislabels.")
AgeBandsOpt = typer.Option("30,60", "--age-bands", help="Lower bounds of the middle and oldest age band.")


def relabel_files(extra: Optional[list[Path]], off: bool) -> list[str]:
    """The corrections files to apply: the shipped default unless ``off``, then the user's in order."""
    return ([] if off else ["default"]) + [str(p) for p in extra or []]


def age_bands(text: str):
    """Parse ``30,60`` into AgeBands."""
    from maskcls.errors import MaskclsError
    from maskcls.labels import AgeBands

    try:
        low, high = (int(x) for x in text.split(","))
    except ValueError:
        raise MaskclsError(f"--age-bands {text!r}: expected two whole ages like 30,60") from None
    try:
        return AgeBands((low, high))
    except ValueError as exc:
        raise MaskclsError(f"--age-bands {text!r}: expected two increasing ages like 30,60 ({exc})") from None
