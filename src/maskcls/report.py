"""Reports people look at: a tiny self-contained HTML page builder and PNG figures (EDA, training, analyses).

A :class:`Page` collects blocks in order and writes one HTML file with its CSS inline. All text is
HTML-escaped; images are referenced by a path relative to the page, so a report folder can be moved
or zipped as a whole::

    page = Page("Data report")
    page.heading("Classes")
    page.image(out / "classes.png", "Images per class")
    page.table(frame)
    page.save(out / "report.html")
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

from maskcls.fileio import atomic_write, write_text

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .1em; margin-top: 1.8em; }
table { border-collapse: collapse; margin: .8em 0; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; font-variant-numeric: tabular-nums; }
th { background: #f2f2f2; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { color: #555; font-size: .9em; }
""".strip()


@dataclass(frozen=True)
class _Image:
    path: Path
    caption: str


class Page:
    """An HTML page built block by block.

    Args:
        title: the page title, also shown as the top-level heading.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self._blocks: list[str | _Image] = []

    def heading(self, text: str, level: int = 2) -> None:
        """Add a heading (``level`` 1–6; 1 is reserved for the title by convention)."""
        if not 1 <= level <= 6:
            raise ValueError(f"heading level must be 1..6, got {level}")
        self._blocks.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def paragraph(self, text: str) -> None:
        """Add a paragraph of plain text."""
        self._blocks.append(f"<p>{html.escape(text)}</p>")

    def preformatted(self, text: str) -> None:
        """Add text shown as is, in a monospace block (configs, logs)."""
        self._blocks.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, data: Any, columns: Sequence[str] | None = None, index: bool | None = None) -> None:
        """Add a table from a pandas DataFrame or from rows.

        Args:
            data: a DataFrame or an iterable of row sequences.
            columns: column headers for rows (ignored for a DataFrame).
            index: whether to show the DataFrame's index; by default only a meaningful one is shown
                (not a plain ``0, 1, 2 …`` range), so rows never get one.
        """
        import pandas as pd

        if not isinstance(data, pd.DataFrame):
            data = pd.DataFrame(list(data), columns=columns)
        if index is None:
            index = not (isinstance(data.index, pd.RangeIndex) and data.index.name is None)
        self._blocks.append(data.to_html(index=index, border=0, escape=True, na_rep=""))

    def image(self, path: str | Path, caption: str = "") -> None:
        """Add an image file; the page links it by a path relative to where the page is saved."""
        self._blocks.append(_Image(Path(path), caption))

    def render(self, base: str | Path = ".") -> str:
        """The page as HTML, image paths made relative to the folder ``base``."""
        body = "\n".join(self._render_block(block, Path(base)) for block in self._blocks)
        title = html.escape(self.title)
        return (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<title>{title}</title>\n<style>\n{CSS}\n</style>\n</head>\n<body>\n"
            f"<h1>{title}</h1>\n{body}\n</body>\n</html>\n"
        )

    def save(self, path: str | Path) -> Path:
        """Write the page atomically to ``path`` and return it."""
        path = Path(path)
        return write_text(path, self.render(path.parent))

    @staticmethod
    def _render_block(block: str | _Image, base: Path) -> str:
        if isinstance(block, str):
            return block
        src = html.escape(quote(Path(os.path.relpath(block.path, base)).as_posix()))
        caption = html.escape(block.caption)
        figcaption = f"<figcaption>{caption}</figcaption>" if caption else ""
        return f"<figure><img src=\"{src}\" alt=\"{caption}\">{figcaption}</figure>"


def new_figure(width: float, height: float):
    """A matplotlib Figure on the Agg canvas, kept out of pyplot's global figure list (nothing to close)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path: Path) -> Path:
    """Write a figure as PNG atomically (cropped to its content) and release its memory."""
    try:
        with atomic_write(path, "wb") as handle:
            figure.savefig(handle, format="png", bbox_inches="tight")
    finally:
        figure.clear()
    return Path(path)


def plot_confusion(cm: Any, names: Sequence[str], path: Path, title: str, normalise: bool = True,
                   shares_in_cells: bool = False, colorbar: bool = False) -> Path:
    """A confusion matrix (rows: true class), one row and column per name (18 for the classes, 3 for mask status).

    Args:
        cm: integer counts ``[n, n]`` (see :func:`maskcls.metrics.confusion_matrix`).
        names: the class names.
        path: the PNG to write.
        title: the figure's title.
        normalise: colour by the share of each true class (rows sum to 1), else by counts.
        shares_in_cells: write the shares in the cells instead of the counts.
        colorbar: draw the colour scale beside the matrix.
    """
    import numpy as np

    cm = np.asarray(cm)
    n = len(names)
    values = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1) if normalise else cm.astype(np.float64)
    figure = new_figure(11, 10) if n > 6 else new_figure(5, 4.5)
    axes = figure.subplots()
    image = axes.imshow(values, cmap="Blues", vmin=0, vmax=1 if normalise else max(1.0, float(values.max())))
    if colorbar:
        figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(n)
    labels = [f"{i} {name}" for i, name in enumerate(names)]
    axes.set_xticks(ticks, labels, rotation=90, fontsize=7)
    axes.set_yticks(ticks, labels, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    top = 1.0 if normalise else (values.max() or 1.0)
    for i, j in zip(*np.nonzero(cm)):
        text = f"{values[i, j]:.2f}" if shares_in_cells else str(cm[i, j])
        axes.text(j, i, text, ha="center", va="center", fontsize=6, color="white" if values[i, j] > top / 2 else "black")
    axes.set_title(title, fontsize=10 if n > 6 else 8)
    return save_figure(figure, path)
