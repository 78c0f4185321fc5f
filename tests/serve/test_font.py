"""The Korean-capable font the pages and the annotated video use: served locally, licensed, and holding every
character maskcls shows (re-run tools/make_font_subset.py when this fails)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from maskcls.watch.decide import LABELS

PAGES = Path(__file__).resolve().parents[2] / "src" / "maskcls" / "serve" / "pages"
FONTS = PAGES / "fonts"


@pytest.mark.parametrize("weight", [400, 700])
def test_the_subset_holds_every_character_shown(weight):
    from fontTools.ttLib import TTFont

    shown = "".join(p.read_text(encoding="utf-8") for p in PAGES.iterdir() if p.suffix in (".html", ".js"))
    shown += "".join(LABELS.values())
    needed = {c for c in shown if c.isprintable() and not c.isspace()}
    cmap = TTFont(FONTS / f"noto-sans-kr-{weight}.woff").getBestCmap()
    missing = sorted(c for c in needed if ord(c) not in cmap)
    assert not missing, f"not in the font (run tools/make_font_subset.py): {''.join(missing)}"
    assert "마" in needed and (FONTS / f"noto-sans-kr-{weight}.woff").stat().st_size < 60_000


def test_the_font_is_served_with_its_licence(api):
    assert "SIL Open Font License" in (FONTS / "OFL.txt").read_text()
    css = requests.get(f"{api}/static/fonts/fonts.css", timeout=10)
    assert css.status_code == 200 and "Noto Sans KR" in css.text
    font = requests.get(f"{api}/static/fonts/noto-sans-kr-400.woff", timeout=10)
    assert font.status_code == 200 and font.content[:4] == b"wOFF"
    assert '/static/fonts/fonts.css' in requests.get(f"{api}/", timeout=10).text
