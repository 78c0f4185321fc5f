"""One place that writes benchmark figures: ``benchmarks/results.json`` and ``benchmarks/RESULTS.md``.

Each benchmark script owns one *section*: its figures are the value of that key in ``results.json`` and its
markdown sits in ``RESULTS.md`` between ``<!-- section:NAME -->`` and ``<!-- /section:NAME -->``. Writing a
section replaces only that section, so scripts that run apart (``make bench``, the gate's frame rate, the
out-of-distribution suite) never erase each other's figures. A section not yet in RESULTS.md is appended.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / "RESULTS.md"
RESULTS_JSON = HERE / "results.json"
HEADER = "# Benchmarks\n\nEach section below is written by the script it names; re-run it to reproduce its figures.\n"


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- section:{name} -->", f"<!-- /section:{name} -->"


def record_section(name: str, figures: dict[str, Any], markdown: str,
                   md_path: Path = RESULTS_MD, json_path: Path = RESULTS_JSON) -> None:
    """Replace section ``name`` of both result files with these figures and this markdown.

    Args:
        name: the section's key (letters, digits, ``-`` and ``_``).
        figures: JSON-serialisable figures, stored as ``results.json[name]``.
        markdown: the section's text for RESULTS.md (its own ``##`` heading included).
        md_path: the markdown file (tests point it elsewhere).
        json_path: the JSON file.
    """
    from maskcls.fileio import write_text

    if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValueError(f"section name {name!r}: letters, digits, '-' and '_' only")
    data: dict[str, Any] = {}
    if json_path.is_file():
        data = json.loads(json_path.read_text(encoding="utf-8"))
    data[name] = figures
    write_text(json_path, json.dumps(data, indent=1, sort_keys=True, default=str) + "\n")

    begin, end = _markers(name)
    block = f"{begin}\n{markdown.strip()}\n{end}"
    text = md_path.read_text(encoding="utf-8") if md_path.is_file() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    write_text(md_path, text.rstrip("\n") + "\n")
