"""Build the Korean-capable font the pages and the annotated video use: a subset of Noto Sans KR (SIL OFL 1.1)
holding exactly the characters maskcls shows, so a kiosk without a Korean font draws 마스크 착용, not boxes.

Source: the npm package ``@fontsource/noto-sans-kr`` (its ``latin`` and ``korean`` slices, WOFF, and any numbered
slice holding a character they lack). Run it again
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
    """Subset the slices that hold the characters (the latin and korean slices first, then any numbered one for
    what they lack, arrows for instance), merge them and save the WOFF."""
    from fontTools import subset
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont

    files = package / "files"
    named = [files / f"noto-sans-kr-{name}-{weight}-normal.woff" for name in ("latin", "korean")]
    numbered = sorted(files.glob(f"noto-sans-kr-[0-9]*-{weight}-normal.woff"))
    wanted = {ord(c) for c in text}
    parts = []
    for source in [*named, *numbered]:
        held = wanted & set(TTFont(source).getBestCmap())
        if not held:
            continue
        wanted -= held
        options = subset.Options()
        options.flavor = None
        options.layout_features = []
        options.name_IDs = ["*"]
        font = subset.load_font(str(source), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=sorted(held))
        subsetter.subset(font)
        path = OUT / f".part-{len(parts)}-{weight}.ttf"
        font.save(str(path))
        parts.append(str(path))
    shown = {c for c in map(chr, wanted) if c.isprintable() and not c.isspace()}
    if shown:
        print(f"weight {weight}: not in Noto Sans KR: {''.join(sorted(shown))}")
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
