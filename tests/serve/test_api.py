"""The HTTP API on a real uvicorn server on 127.0.0.1: formats, both upload styles, limits, errors, concurrency,
the info routes, and schemathesis against the server's own OpenAPI schema."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings, strategies
from PIL import Image
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from serve_helpers import encode

CAP = 256 * 1024  # the api fixture's --max-upload-mb 0.25


@pytest.fixture(scope="module")
def small(astronaut) -> Image.Image:
    """The astronaut at 320 px: every format of it fits under the cap."""
    return astronaut.resize((320, 320))


def check_one_face(body: dict, fmt: str) -> None:
    assert body["format"] == fmt and (body["width"], body["height"]) == (320, 320)
    assert body["model"] == "face-run"
    (face,) = body["faces"]
    box = face["box"]
    # The astronaut's face is at (177, 56)-(272, 176) of 512 px: at 320 px, about (111, 35)-(170, 110).
    assert 100 < box["x0"] < 120 and 25 < box["y0"] < 45 and 160 < box["x1"] < 180 and 100 < box["y1"] < 120
    assert face["input"] == "face" and face["score"] > 0.9
    assert len(face["probabilities"]) == 18 and abs(sum(face["probabilities"]) - 1) < 1e-4
    assert face["label"] == max(range(18), key=face["probabilities"].__getitem__)
    assert face["label"] == face["mask"]["code"] * 6 + face["gender"]["code"] * 3 + face["age"]["code"]
    assert face["mask"]["name"] in ("wear", "incorrect", "not wear") and face["age"]["name"] in ("<30", "30-59", ">=60")
    assert face["class_name"] == f"{face['mask']['name']}/{face['gender']['name']}/{face['age']['name']}"


@pytest.mark.parametrize("fmt, mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")])
def test_classify_each_format_raw_and_multipart(api, small, fmt, mime):
    data = encode(small, fmt)
    raw = requests.post(f"{api}/v1/classify", data=data, headers={"Content-Type": mime}, timeout=30)
    assert raw.status_code == 200, raw.text
    check_one_face(raw.json(), fmt)
    multipart = requests.post(f"{api}/v1/classify", files={"file": (f"photo.{fmt.lower()}", data, mime)}, timeout=30)
    assert multipart.status_code == 200, multipart.text
    assert multipart.json()["faces"] == raw.json()["faces"]


def test_no_face_is_an_empty_list(api):
    response = requests.post(f"{api}/v1/classify", data=encode(Image.new("RGB", (200, 150), (90, 120, 90)), "JPEG"),
                             timeout=30)
    assert response.status_code == 200
    assert response.json()["faces"] == [] and response.json()["width"] == 200


def test_over_the_cap_is_413_declared_or_streamed(api):
    big = os.urandom(CAP + 1)
    declared = requests.post(f"{api}/v1/classify", data=big, timeout=30)
    assert declared.status_code == 413 and f"{CAP:,} bytes" in declared.json()["detail"]
    # Chunked, without a Content-Length: the server counts as it reads.
    streamed = requests.post(f"{api}/v1/classify", data=(big[i:i + 65536] for i in range(0, len(big), 65536)),
                             timeout=30)
    assert streamed.status_code == 413 and "over the limit" in streamed.json()["detail"]
    at_cap = requests.post(f"{api}/v1/classify", data=big[:CAP], timeout=30)
    assert at_cap.status_code == 415  # under the cap, the bytes are judged: random bytes are no image


def test_bad_uploads_get_clear_messages(api, small):
    jpeg = encode(small, "JPEG")
    cases = [
        (b"just some text", 415, "upload: not an image (expected JPEG, PNG or WebP)"),
        (encode(small, "GIF"), 415, "upload: GIF images are not accepted (expected JPEG, PNG or WebP)"),
        (jpeg[: len(jpeg) // 3], 422, "upload: corrupt JPEG image (image file is truncated"),
        (b"", 422, "upload: empty body"),
    ]
    for body, status, message in cases:
        response = requests.post(f"{api}/v1/classify", data=body, headers={"Content-Type": "image/jpeg"}, timeout=30)
        assert response.status_code == status, (message, response.text)
        assert response.json()["detail"].startswith(message)
    named = requests.post(f"{api}/v1/classify", files={"file": ("../broken.jpg", jpeg[:2000], "image/jpeg")},
                          timeout=30)
    assert named.status_code == 422 and named.json()["detail"].startswith("broken.jpg: corrupt JPEG image")
    no_file = requests.post(f"{api}/v1/classify", files={"note": (None, "hello")}, timeout=30)
    assert no_file.status_code == 422 and "no file part" in no_file.json()["detail"]


def test_concurrent_requests_share_one_model(api, small, pair):
    """8 clients at once get the same answers as one at a time (one model, one lock, no cross-talk)."""
    bodies = [encode(small, "JPEG"), encode(pair.resize((640, 320)), "JPEG")]
    alone = [requests.post(f"{api}/v1/classify", data=body, timeout=30).json()["faces"] for body in bodies]
    assert len(alone[1]) == 2

    def send(index: int) -> list:
        response = requests.post(f"{api}/v1/classify", data=bodies[index % 2], timeout=60)
        assert response.status_code == 200
        return response.json()["faces"]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(send, range(16)))
    for index, faces in enumerate(results):
        assert faces == alone[index % 2]


def test_health_model_and_docs(api):
    assert requests.get(f"{api}/healthz", timeout=10).json() == {"status": "ok", "model": "face-run"}
    model = requests.get(f"{api}/v1/model", timeout=10).json()
    assert model["name"] == "face-run" and model["backbone"] == "test_efficientnet" and model["engine"] == "torch"
    assert model["crop"] == "face" and model["face_margin"] == 0.3 and model["input_size"] == [32, 32]
    assert model["detector"] == "retinaface" and model["max_upload_bytes"] == CAP
    assert [c["index"] for c in model["classes"]] == list(range(18))
    assert model["classes"][10] == {"index": 10, "name": "incorrect/female/30-59", "mask": "incorrect",
                                    "gender": "female", "age": "30-59"}
    assert model["metrics"]["macro_f1"] == 0.25 and model["metrics"]["epoch"] == 2  # the best row of metrics.csv
    docs = requests.get(f"{api}/docs", timeout=10)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert "cdn" not in docs.text and "http" not in docs.text.replace(api, "")  # works offline
    for asset in ("/swagger/swagger-ui-bundle.js", "/swagger/swagger-ui.css"):
        assert asset in docs.text
        assert requests.get(f"{api}{asset}", timeout=10).status_code == 200
    spec = requests.get(f"{api}/openapi.json", timeout=10).json()
    body = spec["paths"]["/v1/classify"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/jpeg", "image/png", "image/webp"} <= set(body)
    assert {"200", "413", "415", "422"} <= set(spec["paths"]["/v1/classify"]["post"]["responses"])
    page = requests.get(f"{api}/", timeout=10)
    assert page.status_code == 200 and "/static/live.js" in page.text


def test_openapi_schema_holds(api):
    """Requests generated from the server's own schema, valid and invalid (schemathesis makes tiny real images for
    the image types and random bytes for the others), never get a 5xx, and every answer has a documented status
    and matches its schema."""
    schema = schemathesis.openapi.from_url(f"{api}/openapi.json")
    cases = strategies.one_of(schema.as_strategy(), schema.as_strategy(GenerationMode.NEGATIVE))
    seen: set[tuple[str, str, int]] = set()

    @given(case=cases)
    @settings(max_examples=20, deadline=None, derandomize=True, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def check(case) -> None:
        response = case.call_and_validate(
            checks=[not_a_server_error, status_code_conformance, response_schema_conformance], timeout=30)
        seen.add((case.method, case.path, response.status_code))

    check()
    assert {(method, path) for method, path, _ in seen} == {("POST", "/v1/classify"), ("GET", "/healthz"),
                                                           ("GET", "/v1/model")}
    posted = {status for method, _, status in seen if method == "POST"}
    assert 200 in posted and any(400 <= status < 500 for status in posted)
