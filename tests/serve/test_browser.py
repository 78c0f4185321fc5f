"""Both pages in Debian's chromium, driven by Playwright: a photo uploaded on ``/`` gets a labelled box, the webcam
(Chromium's fake camera) streams over ``/v1/watch`` — a test pattern without a face, and the gate scene of
``watch_helpers`` played as the camera, whose people get their decisions — the served Korean font is used, and a
shortcut on the relabel page lands in the CSV.

``make test`` installs chromium with apt-get; without it these tests skip and say so.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import requests
from serve_helpers import encode, serve

from maskcls.serve.relabel_app import create_relabel_app

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (make test "
                                                              "installs it)")
CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # A test pattern instead of a camera, allowed without asking.
         "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]
TIMEOUT_MS = 20_000
MASK_COLORS = {0: (0x1A, 0x98, 0x50), 1: (0xE0, 0x80, 0x00), 2: (0xD7, 0x30, 0x1F)}  # live.js's COLORS


@pytest.fixture(scope="module")
def playwright():
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed and could not be installed here (make test runs "
                    "apt-get install chromium)")
    with sync_api.sync_playwright() as running:
        yield running


@pytest.fixture(scope="module")
def browser(playwright):
    launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    yield launched
    launched.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    context.close()


@pytest.fixture(scope="module")
def gate_page(playwright, tmp_path_factory):
    """A page of a chromium whose fake camera plays the gate scene at its pace, then 2 s of an empty wall so that
    the next loop's people are new people (Chromium plays the file at 30 frames/s, whatever its header says)."""
    from watch_helpers import FRAMES, scene_frames, write_y4m

    frames = scene_frames(frames=FRAMES + 20)
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "gate.y4m", frames, fps=30, repeat=3)
    launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                          args=[*FLAGS, f"--use-file-for-fake-video-capture={camera}"])
    context = launched.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    yield opened
    launched.close()


def test_the_webcam_stream_shows_one_decision_per_person(gate_api, gate_page):
    page = gate_page
    page.goto(f"{gate_api}/")
    page.click("#camera")
    # The log of people seen: A passes, B passes then is stopped once the mask is off, C is stopped.
    page.wait_for_function("""() => {
        const histories = Array.from(document.querySelectorAll('#people li')).map((li) => li.dataset.history);
        return ['pass', 'pass>stop', 'stop'].every((h) => histories.includes(h));
    }""", timeout=90_000)
    entries = page.locator("#people li")
    histories = [entries.nth(i).get_attribute("data-history") for i in range(entries.count())]
    # One entry per person, newest first: a whole loop of the scene is C, B, A (the camera may have started
    # mid-loop: a person seen only cut by the frame's edge is never classified and stays pending, "").
    whole = ["stop", "pass>stop", "pass"]
    assert any(histories[i:i + 3] == whole for i in range(len(histories) - 2)), histories
    assert set(histories) <= {"", *whole}, histories
    text = page.inner_text("#people")
    assert "통과 / Pass → 정지 / Stop" in text
    # The people in view are listed with their decision, drawn in its colour, in the served Korean font.
    page.wait_for_function("document.querySelectorAll('#faces li[data-decision]').length > 0")
    assert page.evaluate("document.fonts.check('600 16px \"Noto Sans KR\"', '마스크 착용')")
    assert page.evaluate("Array.from(document.fonts).some((f) => f.family.includes('Noto Sans KR') "
                         "&& f.status === 'loaded')")
    page.click("#camera")
    page.wait_for_function("document.getElementById('camera').textContent.includes('Start webcam')")


def test_an_uploaded_photo_gets_a_labelled_box(api, page, astronaut, tmp_path):
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut.resize((320, 320)), "JPEG"))
    (face,) = requests.post(f"{api}/v1/classify", data=photo.read_bytes(), timeout=30).json()["faces"]
    page.goto(f"{api}/")
    page.wait_for_function("document.getElementById('model').textContent.includes('face-run')")
    page.set_input_files("#file", str(photo))
    item = page.locator("#faces li")
    item.wait_for()
    assert item.count() == 1
    text = item.inner_text()
    assert "얼굴 1 / Face 1" in text
    assert any(name in text for name in ("마스크 착용 / Mask worn", "마스크 잘못 착용 / Mask worn incorrectly",
                                         "마스크 미착용 / No mask"))
    assert any(name in text for name in ("남성 / Male", "여성 / Female")) and f"class {face['label']}" in text
    assert page.get_attribute("#canvas", "data-faces") == "1"
    assert "1 face" in page.inner_text("#status")
    # The box's left edge, half-way down, is drawn in the colour of the face's mask status.
    scale = page.evaluate("document.getElementById('canvas').width") / 320
    x, y = round(face["box"]["x0"] * scale), round((face["box"]["y0"] + face["box"]["y1"]) / 2 * scale)
    row = page.evaluate(f"Array.from(document.getElementById('canvas').getContext('2d')"
                        f".getImageData({x - 2}, {y}, 5, 1).data)")
    expected = MASK_COLORS[face["mask"]["code"]]
    pixels = [row[i:i + 3] for i in range(0, len(row), 4)]
    assert any(all(abs(a - b) <= 8 for a, b in zip(pixel, expected)) for pixel in pixels), (pixels, expected)


def test_a_photo_without_a_face_and_the_webcam(api, page, tmp_path):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (240, 180), (200, 200, 190)).save(blank)
    page.goto(f"{api}/")
    page.set_input_files("#file", str(blank))
    page.wait_for_function("document.getElementById('status').textContent.includes('No face found')")
    assert page.locator("#faces li").count() == 0 and page.get_attribute("#canvas", "data-faces") == "0"
    page.click("#camera")  # the fake camera's test pattern has no face: frames come back classified, empty
    page.wait_for_function("document.getElementById('camera').textContent.includes('Stop webcam')")
    page.evaluate("document.getElementById('canvas').dataset.faces = 'pending'")
    page.wait_for_function("document.getElementById('canvas').dataset.faces === '0'")
    width, height = page.evaluate("[document.getElementById('canvas').width, document.getElementById('canvas').height]")
    assert abs(width / height - 640 / 480) < 0.01  # a frame of the fake camera, drawn to fit the page
    page.click("#camera")
    page.wait_for_function("document.getElementById('camera').textContent.includes('Start webcam')")


def test_relabel_shortcuts_land_in_the_csv(relabel_root, page, tmp_path):
    out = tmp_path / "mine.csv"
    for url in serve(create_relabel_app(relabel_root, out)):
        page.goto(url)
        page.locator("#photos img").first.wait_for()
        assert page.locator("#photos figure").count() == 7
        first_id = page.get_attribute("#labels", "data-id")
        gender = page.locator("#labels .tag").first.inner_text()
        page.keyboard.press("g")
        page.wait_for_function("document.getElementById('status').textContent.includes('Saved')")
        flipped = "female" if gender.endswith("/ male") else "male"
        page.keyboard.press("j")
        second_id = page.get_attribute("#labels", "data-id")
        assert second_id != first_id and page.inner_text("#position").startswith("2 / 6")
        page.keyboard.press("a")
        page.fill("#age-input", "67")
        page.keyboard.press("Enter")
        page.wait_for_function("document.getElementById('status').textContent.includes('age → 67')")
        page.keyboard.press("s")
        page.wait_for_function("document.getElementById('status').textContent.includes('swap_incorrect_normal')")
        assert "swapped" in page.inner_text("#labels")
        assert "(→ normal)" in page.inner_text("#photos")
    with open(out, newline="") as handle:
        rows = {(r["id"], r["field"]): r["value"] for r in csv.DictReader(handle)}
    assert rows == {(first_id, "gender"): flipped, (second_id, "age"): "67",
                    (second_id, "swap_incorrect_normal"): "true"}
    assert Path(out).read_text().startswith("id,field,value,note\n")
