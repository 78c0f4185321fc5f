"""Build the Korean-capable font the pages and the annotated video use: a subset of Noto Sans KR (SIL OFL 1.1)
holding exactly the characters maskcls shows, so a kiosk without a Korean font draws 마스크 착용, not boxes.

Source: the npm package ``@fontsource/noto-sans-kr`` (its ``korean`` and ``latin`` slices, WOFF). Run it again
whenever a page or a label gains a character (``tests/serve/test_font.py`` fails until then):

    npm pack @fontsource/noto-sans-kr@5.3.0 && tar xzf fontsource-noto-sans-kr-5.3.0.tgz
    python tools/make_font_subset.py package/

It writes ``src/maskcls/serve/pages/fonts/noto-sans-kr-{400,700}.woff`` and copies the package's OFL licence beside
them. Needs fontTools (a matplotlib requirement).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "src" / "maskcls" / "serve" / "pages" / "fonts"
WEIGHTS = (400, 700)


def needed_text() -> str:
    """Every character of the pages and of the watch labels, plus printable ASCII."""
    sys.path.insert(0, str(ROOT / "src"))
    from maskcls.watch.decide import LABELS

    pages = ROOT / "src" / "maskcls" / "serve" / "pages"
    text = "".join(p.read_text(encoding="utf-8") for p in sorted(pages.iterdir()) if p.suffix in (".html", ".js"))
    return "".join(sorted(set(text + "".join(LABELS.values()) + "".join(map(chr, range(32, 127))))))


def build(package: Path, weight: int, text: str) -> Path:
    from fontTools import subset
    from fontTools.merge import Merger

    parts = []
    for slice_name in ("latin", "korean"):
        source = package / "files" / f"noto-sans-kr-{slice_name}-{weight}-normal.woff"
        options = subset.Options()
        options.flavor = None
        options.layout_features = []
        options.name_IDs = ["*"]
        font = subset.load_font(str(source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(text=text)
        subsetter.subset(font)
        path = OUT / f".{slice_name}-{weight}.ttf"
        font.save(str(path))
        parts.append(str(path))
    merged = Merger().merge(parts)
    merged.flavor = "woff"
    out = OUT / f"noto-sans-kr-{weight}.woff"
    merged.save(str(out))
    for part in parts:
        Path(part).unlink()
    return out


def main(package: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    text = needed_text()
    for weight in WEIGHTS:
        out = build(Path(package), weight, text)
        print(f"{out.relative_to(ROOT)}: {out.stat().st_size:,} bytes")
    (OUT / "OFL.txt").write_text((Path(package) / "LICENSE").read_text(encoding="utf-8"), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "package")
