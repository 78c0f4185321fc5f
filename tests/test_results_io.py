"""The benchmark result writer replaces only its own section of RESULTS.md and results.json."""

import importlib.util
import json
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "results_io", Path(__file__).resolve().parents[1] / "benchmarks" / "results_io.py")
results_io = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(results_io)


def test_sections_replace_only_themselves(tmp_path: Path) -> None:
    md, js = tmp_path / "R.md", tmp_path / "r.json"
    results_io.record_section("a", {"x": 1}, "## A\n\nfirst", md, js)
    results_io.record_section("b", {"y": 2}, "## B\n\nsecond", md, js)
    results_io.record_section("a", {"x": 3}, "## A\n\nthird", md, js)
    text = md.read_text()
    assert "third" in text and "first" not in text and "second" in text
    assert text.index("## A") < text.index("## B")
    assert json.loads(js.read_text()) == {"a": {"x": 3}, "b": {"y": 2}}
