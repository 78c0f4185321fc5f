"""``maskcls faces``: detect faces in a photo or a folder, with annotated copies and a CSV of every face."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

DEFAULT_OUT = Path("runs/faces")


def faces(
    source: Path = typer.Argument(..., help="A photo, or a folder scanned recursively for jpg/jpeg/png/webp."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Folder for annotated copies and faces.csv (default runs/faces/<name>; a new -N "
        "folder if it exists)."),
    detector: str = typer.Option("retinaface", "--detector", help="retinaface, mtcnn, haar or retinaface+mtcnn."),
    threshold: Optional[float] = typer.Option(
        None, "--threshold", help="Lowest score kept (default: the detector's, 0.9 for retinaface and mtcnn, 0 for "
        "haar's level weight)."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Only the first N photos (sorted by path)."),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, help="Processes (default: every core)."),
) -> None:
    """Detect faces: a line per photo, annotated copies, faces.csv, and every photo without a face by path."""
    import time

    from maskcls.cli.render import console
    from maskcls.faces.detect import create_detector
    from maskcls.faces.scan import detect_photos, find_photos, write_faces_csv
    from maskcls.fileio import unique_dir

    create_detector(detector, threshold)  # an unknown name or threshold fails here, before any folder is made
    target = out or DEFAULT_OUT / (source.stem if source.is_file() else source.resolve().name or "photos")
    scan = find_photos(source, exclude=out or DEFAULT_OUT)
    photos = scan.photos[:limit]
    folder = unique_dir(target)
    root = source if source.is_dir() else None
    started = time.perf_counter()
    results = []
    for result in detect_photos(photos, detector, folder, root, workers, threshold, f"detecting faces ({detector})"):
        results.append(result)
        _print(console, _line(result))
    wall = time.perf_counter() - started
    write_faces_csv(folder / "faces.csv", results)

    read = [r for r in results if r.error is None]
    found = [r for r in read if r.faces]
    share = f" ({100 * len(found) / len(read):.2f} %)" if read else ""
    detect_ms = 1000 * sum(r.seconds for r in read) / max(1, len(read))
    _print(console, f"{detector}: {_count(len(photos), 'photo')}, {len(found):,} with a face{share}, "
                    f"{_count(sum(len(r.faces) for r in read), 'face')}; detection {detect_ms:.1f} ms/photo, "
                    f"{1000 * wall / max(1, len(photos)):.1f} ms/photo in all (reading, detecting, drawing)")
    _listing(console, "no face", [str(r.path) for r in read if not r.faces])
    _listing(console, "unreadable", [r.error or "" for r in results if r.error is not None])
    _listing(console, "skipped AppleDouble (._*) files", [str(p) for p in scan.appledouble])
    _print(console, f"annotated photos and faces.csv: {folder}")


def _line(result) -> str:
    """``path  N faces  [x0,y0,x1,y1] score …`` for one photo."""
    if result.error is not None:
        return f"{result.path}  unreadable: {result.error}"
    boxes = "  ".join(f"[{','.join(f'{v:.0f}' for v in face.box)}] {face.score:.3f}" for face in result.faces)
    return f"{result.path}  {_count(len(result.faces), 'face')}" + (f"  {boxes}" if boxes else "")


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" + ("" if number == 1 else "s")


def _listing(console, title: str, lines: list[str]) -> None:
    if lines:
        _print(console, f"{title} ({len(lines):,}):")
        for line in lines:
            _print(console, f"  {line}")


def _print(console, text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)
