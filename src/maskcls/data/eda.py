"""Exploratory data analysis: plots and tables of a scanned :class:`Dataset` in one HTML report.

:func:`run_eda` writes PNG plots and ``report.html`` into a folder: a summary with the scan's problems,
the 18-class distribution, ages by gender, mask × gender × age-band counts, photos per person, file
extensions and image sizes, and a grid of sample photos per class. Sizes are read from file headers
only, so the report stays fast on tens of thousands of photos; a file that cannot be read is listed as
a problem, never a crash.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Sequence, TypeVar

import numpy as np
import pandas as pd

from maskcls.data.images import ImageReadError, image_size, load_rgb
from maskcls.data.records import Dataset, Problem
from maskcls.labels import DEFAULT_AGE_BANDS, GENDER_NAMES, MASK_NAMES, NUM_CLASSES, AgeBands, class_names
from maskcls.progress import track
from maskcls.report import Page, new_figure, save_figure

T = TypeVar("T")
R = TypeVar("R")

WORKERS = 4
MAX_LISTED_PROBLEMS = 200
TOP_SIZES = 10
#: Thumbnail cell of the sample grid in pixels (width, height); photos keep their aspect ratio inside.
CELL = (128, 96)
CELL_PAD = 4
MASK_COLORS = ("#4c72b0", "#dd8452", "#c44e52")
GENDER_COLORS = ("#4c72b0", "#c44e52")

Size = tuple[int, int]


def run_eda(
    dataset: Dataset,
    out_dir: Path,
    bands: AgeBands = DEFAULT_AGE_BANDS,
    samples_per_class: int = 6,
    seed: int = 0,
) -> Path:
    """Write the EDA plots and ``report.html`` into ``out_dir``.

    Args:
        dataset: the scanned dataset.
        out_dir: the folder to write into (created if missing; files of the same name are replaced).
        bands: the age bands used for labels and tables.
        samples_per_class: thumbnails per class in the sample grid.
        seed: seed of the random choice of sample photos.

    Returns:
        The path of ``out_dir/report.html``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = dataset.frame(bands)
    sizes, size_problems = read_sizes(frame["path"].tolist())
    frame["size"] = pd.Series(sizes, index=frame.index, dtype=object)

    page = Page(f"Data report: {dataset.root}")
    _summary_section(page, dataset, frame, [*dataset.problems, *size_problems])
    _class_section(page, frame, bands, out_dir)
    _age_section(page, frame, bands, out_dir)
    _count_section(page, frame, bands)
    _photos_per_person_section(page, frame, out_dir)
    _files_section(page, frame, size_problems, out_dir)
    _samples_section(page, frame, bands, out_dir, samples_per_class, seed)
    return page.save(out_dir / "report.html")


# --- tables ---------------------------------------------------------------------------------------


def class_counts(frame: pd.DataFrame) -> pd.Series:
    """Images per class label 0–17, zeros included."""
    return frame["label"].value_counts().reindex(range(NUM_CLASSES), fill_value=0).astype(int)


def mask_gender_age_table(frame: pd.DataFrame, bands: AgeBands = DEFAULT_AGE_BANDS) -> pd.DataFrame:
    """Image counts: rows mask status, columns gender × age band, with ``total`` row and column."""
    return pd.crosstab(
        _named(frame["mask"], MASK_NAMES),
        [_named(frame["gender"], GENDER_NAMES), _named(frame["age_band"], bands.names())],
        rownames=["mask"], colnames=["gender", "age"], margins=True, margins_name="total", dropna=False,
    )


def people_table(frame: pd.DataFrame, bands: AgeBands = DEFAULT_AGE_BANDS) -> pd.DataFrame:
    """People counts: rows gender, columns age band, with ``total`` row and column."""
    people = frame.drop_duplicates("person")
    return pd.crosstab(
        _named(people["gender"], GENDER_NAMES), _named(people["age_band"], bands.names()),
        rownames=["gender"], colnames=["age"], margins=True, margins_name="total", dropna=False,
    )


def photos_per_person(frame: pd.DataFrame) -> pd.Series:
    """How many people have 1, 2, … photos (1 to at least 7, zeros included)."""
    per_person = frame.groupby("person").size()
    top = max(7, int(per_person.max()) if len(per_person) else 0)
    return per_person.value_counts().reindex(range(1, top + 1), fill_value=0).astype(int)


def extension_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Images per lowercased file suffix, most common first."""
    suffixes = [Path(p).suffix.lower() or "(none)" for p in frame["path"]]
    counts = Counter(suffixes).most_common()
    return pd.DataFrame(counts, columns=["extension", "images"])


def size_counts(sizes: Iterable[Size | None]) -> pd.DataFrame:
    """Images per (width, height), most common first, unreadable files left out."""
    counts = Counter(s for s in sizes if s is not None).most_common()
    table = pd.DataFrame([(w, h, n) for (w, h), n in counts], columns=["width", "height", "images"])
    table["share %"] = (100 * table["images"] / max(1, table["images"].sum())).round(1)
    return table


def _named(codes: pd.Series, names: Sequence[str]) -> pd.Categorical:
    """Integer codes as a categorical of names, so that empty categories still get a row or column."""
    return pd.Categorical.from_codes(codes.astype(int).to_numpy(), categories=list(names))


# --- reading files --------------------------------------------------------------------------------


def read_sizes(paths: Sequence[str | Path]) -> tuple[list[Size | None], list[Problem]]:
    """Read image sizes from file headers in parallel.

    Returns:
        One ``(width, height)`` per path (``None`` where it could not be read) and a Problem per such file.
    """
    results = _parallel(_try_size, paths, "reading image sizes")
    sizes = [r if isinstance(r, tuple) else None for r in results]
    problems = [
        Problem("error", "unreadable-image", Path(path), f"cannot read the image header ({r})")
        for path, r in zip(paths, results) if isinstance(r, str)
    ]
    return sizes, problems


def _try_size(path: str | Path) -> Size | str:
    """The size of one image, or the reason it cannot be read."""
    try:
        return image_size(path)
    except Exception as exc:  # noqa: BLE001 - a report lists bad files, whatever PIL raises for them
        return f"{type(exc).__name__}: {exc}".replace(str(path), Path(path).name)


def _parallel(function: Callable[[T], R], items: Sequence[T], description: str) -> list[R]:
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(track(pool.map(function, items), description, total=len(items)))


# --- report sections ------------------------------------------------------------------------------


def _summary_section(page: Page, dataset: Dataset, frame: pd.DataFrame, problems: list[Problem]) -> None:
    page.heading("Summary")
    page.table(
        [
            ("people", frame["person"].nunique()),
            ("images", len(frame)),
            ("ignored files", dataset.ignored),
            ("problems", len(problems)),
        ],
        columns=["", "count"],
    )
    if not problems:
        page.paragraph("No problems recorded.")
        return
    page.heading("Problems by severity and kind", 3)
    by_kind = Counter((p.severity, p.kind) for p in problems).most_common()
    page.table([(s, k, n) for (s, k), n in by_kind], columns=["severity", "kind", "count"])
    listed = problems[:MAX_LISTED_PROBLEMS]
    if len(problems) > len(listed):
        page.paragraph(f"The first {len(listed)} of {len(problems)} problems:")
    page.table([(p.severity, p.kind, str(p.path), p.message) for p in listed],
               columns=["severity", "kind", "path", "message"])


def _class_section(page: Page, frame: pd.DataFrame, bands: AgeBands, out_dir: Path) -> None:
    page.heading("Class distribution")
    counts = class_counts(frame)
    empty = [name for name, n in zip(class_names(bands), counts) if n == 0]
    if empty:
        page.paragraph(f"Classes without images: {', '.join(empty)}.")
    page.image(plot_class_distribution(counts, bands, out_dir / "class_distribution.png"), "Images per class")


def _age_section(page: Page, frame: pd.DataFrame, bands: AgeBands, out_dir: Path) -> None:
    page.heading("Ages by gender")
    people = frame.drop_duplicates("person")
    path = plot_age_histogram(people, bands, out_dir / "age_histogram.png")
    low, high = bands.thresholds
    page.image(path, f"People per year of age; dashed lines at the band thresholds {low} and {high}")


def _count_section(page: Page, frame: pd.DataFrame, bands: AgeBands) -> None:
    page.heading("Images by mask × gender × age band")
    page.table(mask_gender_age_table(frame, bands))
    page.heading("People by gender × age band", 3)
    page.table(people_table(frame, bands))


def _photos_per_person_section(page: Page, frame: pd.DataFrame, out_dir: Path) -> None:
    page.heading("Photos per person")
    path = plot_photos_per_person(photos_per_person(frame), out_dir / "photos_per_person.png")
    page.image(path, "Number of people with 1, 2, … photos")


def _files_section(page: Page, frame: pd.DataFrame, size_problems: list[Problem], out_dir: Path) -> None:
    page.heading("File extensions")
    page.table(extension_counts(frame))
    page.heading("Image sizes")
    sizes = size_counts(frame["size"])
    page.paragraph(f"{len(sizes)} distinct sizes; the {min(TOP_SIZES, len(sizes))} most common:")
    page.table(sizes.head(TOP_SIZES))
    page.image(plot_sizes(sizes, out_dir / "image_sizes.png"), "Image sizes; marker area grows with the count")
    if size_problems:
        page.paragraph(f"{len(size_problems)} file(s) could not be read; they are listed under Problems.")


def _samples_section(
    page: Page, frame: pd.DataFrame, bands: AgeBands, out_dir: Path, per_class: int, seed: int
) -> None:
    page.heading("Sample photos per class")
    samples = sample_paths(frame, per_class, seed)
    thumbnails = iter(_parallel(load_thumbnail, [p for paths in samples for p in paths], "loading thumbnails"))
    rows = [[next(thumbnails) for _ in paths] for paths in samples]
    labels = [f"{name} ({n})" for name, n in zip(class_names(bands), class_counts(frame))]
    path = plot_class_grid(rows, labels, per_class, out_dir / "class_samples.png")
    page.image(path, f"Up to {per_class} random photos per class (seed {seed}); image count in brackets")


# --- samples --------------------------------------------------------------------------------------


def sample_paths(frame: pd.DataFrame, per_class: int, seed: int) -> list[list[Path]]:
    """Up to ``per_class`` random readable photos of each of the 18 classes."""
    rng = np.random.default_rng(seed)
    readable = frame[frame["size"].notna()]
    samples = []
    for label in range(NUM_CLASSES):
        paths = readable.loc[readable["label"] == label, "path"].to_numpy()
        chosen = rng.choice(len(paths), size=min(per_class, len(paths)), replace=False)
        samples.append([Path(paths[i]) for i in chosen])
    return samples


def load_thumbnail(path: Path):
    """An RGB thumbnail fitting :data:`CELL`, or ``None`` if the photo cannot be decoded."""
    try:
        image = load_rgb(path)
    except ImageReadError:
        return None
    image.thumbnail(CELL)
    return image


# --- plots ----------------------------------------------------------------------------------------


def plot_class_distribution(counts: pd.Series, bands: AgeBands, path: Path) -> Path:
    """Horizontal bars of images per class, class 0 on top, counts at the bar ends."""
    figure = new_figure(9, 6.5)
    ax = figure.add_subplot()
    names = [f"{i:>2}  {name}" for i, name in enumerate(class_names(bands))]
    colors = [MASK_COLORS[label // 6] for label in range(NUM_CLASSES)]
    bars = ax.barh(range(NUM_CLASSES), counts.to_numpy(), color=colors)
    ax.bar_label(bars, padding=3, fontsize=9)
    ax.set_yticks(range(NUM_CLASSES), names, fontsize=9, family="monospace")
    ax.invert_yaxis()
    ax.set_xlim(0, max(1, counts.max()) * 1.15)
    ax.set_xlabel("images")
    ax.set_title(f"Images per class ({int(counts.sum())} in all)")
    ax.grid(axis="x", alpha=0.3)
    return save_figure(figure, path)


def plot_age_histogram(people: pd.DataFrame, bands: AgeBands, path: Path) -> Path:
    """Overlaid 1-year age histograms of men and women, with the band thresholds marked."""
    figure = new_figure(10, 4.5)
    ax = figure.add_subplot()
    ages = people["age"].astype(int)
    low, high = (int(ages.min()), int(ages.max())) if len(ages) else (0, 100)
    edges = np.arange(min(low, bands.thresholds[0]), max(high, bands.thresholds[1]) + 2) - 0.5
    for code, name in enumerate(GENDER_NAMES):
        values = ages[people["gender"] == code]
        ax.hist(values, bins=edges, alpha=0.55, color=GENDER_COLORS[code], label=f"{name} ({len(values)})")
    for threshold in bands.thresholds:
        ax.axvline(threshold - 0.5, color="black", linestyle="--", linewidth=1)
        ax.annotate(str(threshold), (threshold - 0.5, 1), xycoords=("data", "axes fraction"),
                    xytext=(3, -12), textcoords="offset points", fontsize=9)
    ax.set_xlabel("age (years)")
    ax.set_ylabel("people")
    ax.set_title("Age by gender")
    ax.legend()
    return save_figure(figure, path)


def plot_photos_per_person(distribution: pd.Series, path: Path) -> Path:
    """Bars of how many people have each number of photos."""
    figure = new_figure(7, 4)
    ax = figure.add_subplot()
    bars = ax.bar(distribution.index, distribution.to_numpy(), color="#4c72b0")
    ax.bar_label(bars, padding=2, fontsize=9)
    ax.set_xticks(distribution.index)
    ax.set_ylim(0, max(1, distribution.max()) * 1.12)
    ax.set_xlabel("photos per person")
    ax.set_ylabel("people")
    ax.set_title("Photos per person")
    return save_figure(figure, path)


def plot_sizes(sizes: pd.DataFrame, path: Path) -> Path:
    """Scatter of distinct (width, height) pairs, marker area proportional to the image count."""
    figure = new_figure(6, 5)
    ax = figure.add_subplot()
    if len(sizes):
        area = 20 + 400 * sizes["images"] / sizes["images"].max()
        ax.scatter(sizes["width"], sizes["height"], s=area, alpha=0.5, color="#4c72b0", edgecolors="black")
        ax.margins(0.15)
    else:
        ax.text(0.5, 0.5, "no readable images", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("width (px)")
    ax.set_ylabel("height (px)")
    ax.set_title("Image sizes")
    ax.grid(alpha=0.3)
    return save_figure(figure, path)


def plot_class_grid(rows: list[list], labels: Sequence[str], per_class: int, path: Path) -> Path:
    """Write the sample grid of :func:`class_grid_figure` as a PNG."""
    return save_figure(class_grid_figure(rows, labels, per_class), path)


def class_grid_figure(rows: list[list], labels: Sequence[str], per_class: int):
    """One row of thumbnails per class, drawn pixel for pixel, class names as row labels.

    Args:
        rows: per class, the thumbnails (PIL images, or ``None`` for a photo that could not be decoded).
        labels: per class, the row label.
        per_class: the number of thumbnail cells per row.

    Returns:
        The matplotlib Figure; empty rows say "no images", undecodable photos "unreadable".
    """
    canvas = _grid_canvas(rows, max(1, per_class))
    dpi, label_px = 100, 230
    width = canvas.width + label_px
    figure = new_figure(width / dpi, canvas.height / dpi)
    ax = figure.add_axes((label_px / width, 0, canvas.width / width, 1))
    ax.imshow(np.asarray(canvas), interpolation="nearest")
    centers = [CELL_PAD + r * (CELL[1] + CELL_PAD) + CELL[1] / 2 for r in range(len(rows))]
    ax.set_yticks(centers, labels, fontsize=10)
    ax.set_xticks([])
    ax.tick_params(length=0)
    for center, thumbs in zip(centers, rows):
        if not thumbs:
            ax.text(CELL_PAD + 8, center, "no images", va="center", fontsize=11, color="#888", style="italic")
        for col, thumb in enumerate(thumbs):
            if thumb is None:
                x = CELL_PAD + col * (CELL[0] + CELL_PAD) + CELL[0] / 2
                ax.text(x, center, "unreadable", ha="center", va="center", fontsize=9, color="#c44e52")
    return figure


def _grid_canvas(rows: list[list], columns: int):
    """Paste thumbnails centred in fixed cells on a white canvas (grey cells for undecodable photos)."""
    from PIL import Image

    cell_w, cell_h = CELL
    canvas = Image.new("RGB", (CELL_PAD + columns * (cell_w + CELL_PAD), CELL_PAD + len(rows) * (cell_h + CELL_PAD)),
                       "white")
    for r, thumbs in enumerate(rows):
        for c, thumb in enumerate(thumbs):
            x, y = CELL_PAD + c * (cell_w + CELL_PAD), CELL_PAD + r * (cell_h + CELL_PAD)
            if thumb is None:
                canvas.paste((225, 225, 225), (x, y, x + cell_w, y + cell_h))
            else:
                canvas.paste(thumb, (x + (cell_w - thumb.width) // 2, y + (cell_h - thumb.height) // 2))
    return canvas
