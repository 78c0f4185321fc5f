"""Hostile HTTP: bad bodies answer 4xx with one line of detail (never 500), a client that leaves mid-upload logs no
traceback, relabel values that are no age are worded as such, and a busy port is one line from the CLI."""

from __future__ import annotations

import logging
import socket
import time

import pytest
import requests
from helpers import write_photo
from hostile_helpers import fails, png_header
from PIL import Image
from serve_helpers import Server, encode

CAP = 64 * 1024


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def server(run_folder):
    """The classify API of the run (64 KiB cap) on a real uvicorn server, and the errors its loggers see."""
    from maskcls.serve.app import create_app

    errors = _Errors()
    server = Server(create_app(run_folder, max_upload_mb=CAP / 2**20, detector="haar"))
    # After uvicorn's logging config (made with the server), which would drop handlers added before it.
    loggers = [logging.getLogger(name) for name in ("uvicorn.error", "uvicorn", "fastapi", "starlette")]
    for logger in loggers:
        logger.addHandler(errors)
    with server as running:
        yield running.url, errors
    for logger in loggers:
        logger.removeHandler(errors)


def _jpeg(size=(48, 48)) -> bytes:
    return encode(Image.new("RGB", size, (120, 90, 60)), "JPEG")


BODIES = {
    "empty body": (b"", "image/jpeg", 422),
    "garbage bytes": (bytes(range(256)) * 4, "application/octet-stream", 415),
    "text": (b"hello, world", "text/plain", 415),
    "gif": (encode(Image.new("P", (8, 8)), "GIF"), "image/gif", 415),
    "truncated jpeg": (_jpeg((200, 200))[:400], "image/jpeg", 422),
    "bomb png header": (png_header(20000, 20000), "image/png", 413),
    "over the cap": (b"\xff\xd8" + b"\0" * (CAP + 10), "image/jpeg", 413),
    "png claiming 100 MP": (png_header(10000, 10000), "image/png", 413),
}


@pytest.mark.parametrize("case", BODIES)
def test_bad_raw_bodies(case, server):
    url, errors = server
    body, kind, status = BODIES[case]
    before = len(errors.records)
    response = requests.post(f"{url}/v1/classify", data=body, headers={"Content-Type": kind}, timeout=30)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and "\n" not in detail and "Traceback" not in detail
    assert len(errors.records) == before


MULTIPART = {
    "malformed multipart": (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc", 422),
    "no file part": (b"--xyz\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nabc\r\n--xyz--\r\n", 422),
    "empty file part": (b"--xyz\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
                        b"Content-Type: image/jpeg\r\n\r\n\r\n--xyz--\r\n", 422),
}


@pytest.mark.parametrize("case", MULTIPART)
def test_bad_multipart_bodies(case, server):
    url, errors = server
    body, status = MULTIPART[case]
    response = requests.post(f"{url}/v1/classify", data=body, timeout=30,
                             headers={"Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == status, response.text
    assert "\n" not in response.json()["detail"]


def _leave_mid_upload(url: str, chunked: bool) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                + (b"Transfer-Encoding: chunked\r\n\r\n1000\r\n" if chunked else b"Content-Length: 50000\r\n\r\n"))
        sock.sendall(head + b"\xff\xd8" + b"\0" * 2000)
        time.sleep(0.2)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_client_leaving_mid_upload_logs_no_traceback(chunked, server):
    url, errors = server
    before = len(errors.records)
    _leave_mid_upload(url, chunked)
    time.sleep(0.5)
    assert requests.get(f"{url}/healthz", timeout=10).status_code == 200
    logged = [r.getMessage() + str(r.exc_info) for r in errors.records[before:]]
    assert not logged, logged


def test_relabel_values_that_are_no_age(tmp_path):
    from maskcls.serve.relabel_app import create_relabel_app

    root = tmp_path / "comp"
    write_photo(root / "train" / "images" / "000001_male_Asian_20" / "normal.jpg")
    (root / "train" / "train.csv").write_text("id,gender,race,age,path\n000001,male,Asian,20,000001_male_Asian_20\n")
    with Server(create_relabel_app(root, tmp_path / "fix.csv")) as running:
        for body, needle in [({"id": "000001", "field": "age", "value": 23.7}, "whole number of years"),
                             ({"id": "000001", "field": "gender", "value": 1.5}, "male/female"),
                             ({"id": "000001", "field": "age", "value": "23.7"}, "not a whole number")]:
            response = requests.post(f"{running.url}/api/corrections", json=body, timeout=10)
            assert response.status_code == 422 and needle in response.text, response.text
            assert "valid boolean" not in response.text
        saved = requests.post(f"{running.url}/api/corrections", timeout=10,
                              json={"id": "000001", "field": "age", "value": 23.0})
        assert saved.status_code == 200 and saved.json()["value"] == "23", saved.text
    assert not (tmp_path / "fix.csv").read_text().count("23.")


@pytest.fixture
def busy_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    yield sock.getsockname()[1]
    sock.close()


def test_busy_port_is_one_line(cli, run_folder, busy_port, tmp_path):
    line = fails(cli("serve", run_folder, "--port", busy_port), f"127.0.0.1:{busy_port}", "in use")
    assert "http://" not in line
    root = tmp_path / "comp"
    write_photo(root / "train" / "images" / "000001_male_Asian_20" / "normal.jpg")
    (root / "train" / "train.csv").write_text("id,gender,race,age,path\n000001,male,Asian,20,000001_male_Asian_20\n")
    result = cli("relabel", root, "--port", busy_port, "--out", tmp_path / "fix.csv")
    fails(result, f"127.0.0.1:{busy_port}", "in use")
    assert "page http" not in result.out
    fails(cli("relabel", root, "--out", tmp_path), str(tmp_path), "is a folder")
    fails(cli("serve", run_folder, "--host", "no-such-host.invalid"), "no-such-host.invalid", "cannot listen")
