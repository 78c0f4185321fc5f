"""Tests of the EDA report on a tiny generated dataset (and of the HTML page builder it uses)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from maskcls.data.eda import (
    class_grid_figure,
    mask_gender_age_table,
    people_table,
    photos_per_person,
    read_sizes,
    run_eda,
    sample_paths,
    size_counts,
)
from maskcls.data.records import Dataset, Problem, Record
from maskcls.labels import GENDER_NAMES, MASK_NAMES, NUM_CLASSES, STEM_TO_MASK
from maskcls.report import Page

STEMS = ("mask1", "incorrect_mask", "normal")
# 20 people; no woman is 60 or older, so classes 5, 11 and 17 stay empty.
AGES = [19, 25, 33, 45, 61, 57, 22, 58, 29, 30, 59, 31, 18, 41, 27, 50, 65, 36, 24, 44]
GENDERS = [0, 1] * 10


def make_dataset(root: Path) -> Dataset:
    """20 people × 3 photos (32×40 for even people, 40×32 for odd, one PNG), plus one broken file."""
    records = []
    for i, (age, gender) in enumerate(zip(AGES, GENDERS)):
        person = f"{i:06d}_{GENDER_NAMES[gender]}_Asian_{age}"
        folder = root / person
        folder.mkdir(parents=True)
        for stem in STEMS:
            suffix = ".png" if (i, stem) == (3, "normal") else ".jpg"
            path = folder / f"{stem}{suffix}"
            size = (32, 40) if i % 2 == 0 else (40, 32)
            Image.new("RGB", size, (40 * (i % 6), 120, 200)).save(path)
            records.append(Record(path, person, f"{i:06d}", stem, int(STEM_TO_MASK[stem]), gender, age))
    broken = root / "000000_male_Asian_19" / "mask2.jpg"
    broken.write_bytes(b"this is not a jpeg")
    records.append(Record(broken, "000000_male_Asian_19", "000000", "mask2", 0, 0, 19))
    problems = [Problem("warning", "missing-photos", root / "000001_female_Asian_25", "3 of 7 photos")]
    return Dataset(root=root, records=records, problems=problems, ignored=2)


def has_row(html: str, *cells: object) -> bool:
    """Whether an HTML table row starts with these cells."""
    pattern = r"<tr>\s*" + r"\s*".join(f"<td>{re.escape(str(c))}</td>" for c in cells)
    return re.search(pattern, html) is not None


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Dataset:
    return make_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def report(dataset, tmp_path_factory) -> Path:
    return run_eda(dataset, tmp_path_factory.mktemp("eda") / "out", samples_per_class=4)


def test_report_references_every_png(report):
    assert report.name == "report.html" and report.is_file()
    html = report.read_text(encoding="utf-8")
    pngs = sorted(p.name for p in report.parent.glob("*.png"))
    assert len(pngs) >= 5
    assert sorted(re.findall(r'<img src="([^"]+)"', html)) == pngs


def test_pngs_are_valid_images(report):
    for path in report.parent.glob("*.png"):
        with Image.open(path) as image:
            image.verify()
            assert image.format == "PNG"


def test_summary_counts_and_problems(report, dataset):
    html = report.read_text(encoding="utf-8")
    assert has_row(html, "people", 20) and has_row(html, "images", 61) and has_row(html, "ignored files", 2)
    assert "missing-photos" in html and str(dataset.problems[0].path) in html


def test_mask_gender_age_table_matches_hand_count(dataset):
    frame = dataset.frame()
    table = mask_gender_age_table(frame)
    names = ("<30", "30-59", ">=60")
    hand = Counter((r.mask, r.gender, r.age_band()) for r in dataset.records)
    for mask, gender, band in ((m, g, a) for m in range(3) for g in range(2) for a in range(3)):
        assert table.loc[MASK_NAMES[mask], (GENDER_NAMES[gender], names[band])] == hand[(mask, gender, band)]
    # Men under 30: people 0, 6, 8, 12, 14 and 18, one photo per mask status, plus person 0's broken mask2.
    assert table.loc["wear", ("male", "<30")] == 7
    assert table.loc["not wear", ("male", "<30")] == 6
    assert table.loc["wear", ("female", ">=60")] == 0
    assert table.loc["total", ("total", "")] == 61
    assert table.loc["wear", ("total", "")] == 21


def test_people_table_matches_hand_count(dataset):
    table = people_table(dataset.frame())
    assert table.loc["male", "<30"] == 6
    assert table.loc["male", ">=60"] == 2
    assert table.loc["female", "30-59"] == 9
    assert table.loc["female", ">=60"] == 0
    assert table.loc["total", "total"] == 20


def test_photos_per_person(dataset):
    counts = photos_per_person(dataset.frame())
    assert list(counts.index) == list(range(1, 8))
    assert counts[3] == 19 and counts[4] == 1 and counts.sum() == 20


def test_unreadable_file_is_listed_not_fatal(dataset, report):
    paths = [r.path for r in dataset.records]
    sizes, problems = read_sizes(paths)
    assert sizes[-1] is None and [p.path for p in problems] == [paths[-1]]
    assert size_counts(sizes).set_index(["width", "height"])["images"].to_dict() == {(32, 40): 30, (40, 32): 30}
    html = report.read_text(encoding="utf-8")
    assert "unreadable-image" in html and str(paths[-1]) in html


def test_extensions_are_counted(report):
    html = report.read_text(encoding="utf-8")
    assert has_row(html, ".jpg", 60) and has_row(html, ".png", 1)


def test_samples_are_readable_seeded_and_empty_classes_are_empty(dataset):
    frame = dataset.frame()
    frame["size"] = read_sizes(frame["path"].tolist())[0]
    samples = sample_paths(frame, 4, seed=0)
    assert len(samples) == NUM_CLASSES
    assert samples == sample_paths(frame, 4, seed=0)
    assert all(not samples[label] for label in (5, 11, 17))
    assert all(len(paths) <= 4 for paths in samples)
    assert dataset.records[-1].path not in {p for paths in samples for p in paths}


def test_empty_class_row_says_no_images():
    thumb = Image.new("RGB", (72, 96))
    rows = [[thumb, None], [], [thumb]]
    figure = class_grid_figure(rows, ["a", "b", "c"], per_class=2)
    ax = figure.axes[0]
    texts = {t.get_text(): t.get_position()[1] for t in ax.texts}
    centers = dict(zip([t.get_text() for t in ax.get_yticklabels()], ax.get_yticks()))
    assert texts == {"unreadable": centers["a"], "no images": centers["b"]}


def test_empty_dataset_gives_a_report(tmp_path):
    problems = [Problem("error", "bad-row", tmp_path / f"row{i}", "bad <row>") for i in range(250)]
    report = run_eda(Dataset(root=tmp_path, problems=problems), tmp_path / "out")
    html = report.read_text(encoding="utf-8")
    assert "The first 200 of 250 problems" in html
    assert html.count("bad &lt;row&gt;") == 200


def test_page_escapes_text_and_links_images_relatively(tmp_path):
    page = Page("a <b> & c")
    page.heading("<h>")
    page.paragraph("x < y")
    page.table([("<td>", 1)], columns=["name", "n"])
    page.image(tmp_path / "plots" / "my plot.png", "cap <1>")
    path = page.save(tmp_path / "report.html")
    html = path.read_text(encoding="utf-8")
    assert "<title>a &lt;b&gt; &amp; c</title>" in html
    assert "<h2>&lt;h&gt;</h2>" in html and "<p>x &lt; y</p>" in html and "&lt;td&gt;" in html
    assert '<img src="plots/my%20plot.png" alt="cap &lt;1&gt;">' in html
