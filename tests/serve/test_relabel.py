"""The relabeling tool on a real server: people and photos, paths that try to leave ROOT, corrections saved in the
relabel CSV format (concurrently, without losing one) and applied by maskcls.data.relabel, the OOF ranking."""

from __future__ import annotations

import csv
import hashlib
import http.client
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
import requests
from serve_helpers import serve

from maskcls.data.check import load_dataset
from maskcls.data.layout import scan_train
from maskcls.data.relabel import read_corrections
from maskcls.labels import encode
from maskcls.serve.relabel_app import create_relabel_app


@pytest.fixture(scope="module")
def oof_run(relabel_root, tmp_path_factory) -> Path:
    """A k-fold run's ``oof.csv`` over the root: confident in every label, except that it sees the first person
    as the other gender."""
    run = tmp_path_factory.mktemp("kfold") / "kfold"
    run.mkdir()
    records = scan_train(relabel_root).records
    with open(run / "oof.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["fold", "path", "person", "id", "true", "pred", *[f"p{i}" for i in range(18)]])
        for record in records:
            gender = 1 - record.gender if record.person == records[0].person else record.gender
            guess = int(encode(record.mask, gender, record.age_band()))
            probs = np.full(18, 0.1 / 17)
            probs[guess] = 0.9
            writer.writerow([0, record.path, record.person, record.id, record.label(), guess, *probs])
    return run


@pytest.fixture
def tool(relabel_root, oof_run, tmp_path):
    """A relabel server over the root with a fresh corrections CSV: ``(url, csv)``."""
    out = tmp_path / "mine.csv"
    for url in serve(create_relabel_app(relabel_root, out, oof_run)):
        yield url, out


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def raw_get(url: str, path: str) -> int:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    parts = urlparse(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    assert b"root:" not in body and b"SECRET" not in body
    return response.status


def test_people_photos_and_info(tool, relabel_root):
    url, out = tool
    people = requests.get(f"{url}/api/people", timeout=10).json()
    assert len(people) == 6 and [p["index"] for p in people] == list(range(6))
    first = people[0]
    assert len(first["photos"]) == 7 and first["dropped"] is False and first["swapped"] is False
    assert first["gender"] == first["original"]["gender"] and first["corrections"] == []
    photo = first["photos"][0]
    served = requests.get(url + photo["url"], timeout=10)
    assert served.status_code == 200
    assert served.content == (relabel_root / "train" / "images" / first["person"] / photo["file"]).read_bytes()
    info = requests.get(f"{url}/api/info", timeout=10).json()
    assert info["people"] == 6 and info["photos"] == 42 and info["csv"] == str(out)
    assert "/static/relabel.js" in requests.get(url, timeout=10).text


def test_paths_cannot_leave_root(tool, relabel_root, tmp_path):
    url, _ = tool
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"SECRET")
    person = next((relabel_root / "train" / "images").iterdir())
    (person / "link.jpg").symlink_to(outside)
    try:
        inside = f"/photos/train/images/{person.name}/normal.jpg"
        assert raw_get(url, inside) == 200
        for path in ("/photos/../../../etc/passwd", "/photos/train/../../secret.jpg", "/photos/..%2F..%2Fetc%2Fpasswd",
                     "/photos/%2e%2e/%2e%2e/etc/passwd", "/photos//etc/passwd", "/photos/%2Fetc%2Fpasswd",
                     f"/photos/{outside}", f"/photos/train/images/{person.name}/..%2F..%2F..%2F..%2Fsecret.jpg"):
            assert raw_get(url, path) == 400, path
        for path in (f"/photos/train/images/{person.name}/link.jpg", "/photos/train/train.csv",
                     "/photos/train/images/nobody/normal.jpg", "/photos/train%00.jpg"):
            assert raw_get(url, path) in (400, 404), path
        assert raw_get(url, f"/photos/train/images/{person.name}/link.jpg") == 404
    finally:
        (person / "link.jpg").unlink()


def test_corrections_are_saved_in_the_relabel_format_and_apply(tool, relabel_root):
    url, out = tool
    before = tree_digest(relabel_root)
    people = requests.get(f"{url}/api/people", timeout=10).json()
    target, other = people[1], people[2]
    flipped = "female" if target["gender"] == "male" else "male"
    for body in ({"id": target["id"], "field": "gender", "value": flipped},
                 {"id": target["id"], "field": "age", "value": 61},
                 {"id": other["id"], "field": "swap_incorrect_normal", "value": True}):
        response = requests.post(f"{url}/api/corrections", json=body, timeout=10)
        assert response.status_code == 200, response.text
    assert response.json() == {"id": other["id"], "field": "swap_incorrect_normal", "value": "true", "csv": str(out)}
    with open(out, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["id", "field", "value", "note"]
    assert sorted(rows[1:]) == sorted([[target["id"], "gender", flipped, "relabel tool"],
                                       [target["id"], "age", "61", "relabel tool"],
                                       [other["id"], "swap_incorrect_normal", "true", "relabel tool"]])
    records = load_dataset(relabel_root, ["default", out]).records  # as data.relabel=[default,mine.csv] loads it
    mine = [r for r in records if r.id == target["id"]]
    assert {(r.gender, r.age) for r in mine} == {(0 if flipped == "male" else 1, 61)}
    stems = {r.path.stem: r.stem for r in records if r.id == other["id"]}
    assert stems["incorrect_mask"] == "normal" and stems["normal"] == "incorrect_mask"

    (shown,) = requests.get(f"{url}/api/people", params={"id": other["id"]}, timeout=10).json()
    masks = {p["file"].split(".")[0]: (p["mask"], p["swapped"]) for p in shown["photos"]}
    assert shown["swapped"] and masks["incorrect_mask"] == ("not wear", True) and masks["mask1"] == ("wear", False)
    assert requests.post(f"{url}/api/corrections", json={"id": other["id"], "field": "drop", "value": True},
                         timeout=10).status_code == 200
    (dropped,) = requests.get(f"{url}/api/people", params={"id": other["id"]}, timeout=10).json()
    assert dropped["dropped"] and {"field": "drop", "value": "true", "source": "mine.csv"} in dropped["corrections"]
    assert tree_digest(relabel_root) == before  # the photos were never touched


def test_bad_corrections_are_refused(tool):
    url, out = tool
    some_id = requests.get(f"{url}/api/people", timeout=10).json()[0]["id"]
    cases = [({"id": "nobody", "field": "gender", "value": "male"}, 404, "id 'nobody': no such person"),
             ({"id": some_id, "field": "age", "value": "old"}, 422, "age 'old'"),
             ({"id": some_id, "field": "age", "value": 400}, 422, "age 400 out of range"),
             ({"id": some_id, "field": "gender", "value": "x"}, 422, "unknown gender"),
             ({"id": some_id, "field": "swap_incorrect_normal", "value": "maybe"}, 422, "must be true or false")]
    for body, status, message in cases:
        response = requests.post(f"{url}/api/corrections", json=body, timeout=10)
        assert response.status_code == status and message in response.json()["detail"], response.text
    assert requests.post(f"{url}/api/corrections", json={"id": some_id, "field": "name", "value": "x"},
                         timeout=10).status_code == 422
    assert not out.exists()


def test_concurrent_saves_lose_nothing(tool):
    url, out = tool
    ids = [p["id"] for p in requests.get(f"{url}/api/people", timeout=10).json()]
    bodies = [{"id": pid, "field": "age", "value": 20 + i} for i, pid in enumerate(ids)]
    bodies += [{"id": pid, "field": "gender", "value": "female"} for pid in ids]
    bodies += [{"id": pid, "field": "swap_incorrect_normal", "value": True} for pid in ids[:4]]

    def post(body: dict) -> int:
        return requests.post(f"{url}/api/corrections", json=body, timeout=30).status_code

    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(post, bodies)) == {200}
    saved = {(c.id, c.field, c.value) for c in read_corrections(out)}
    assert saved == {(b["id"], b["field"], str(b["value"]).lower()) for b in bodies}
    assert not list(out.parent.glob(f".{out.name}.*.tmp"))


def test_most_disagreeing_people_come_first_until_fixed(tool, relabel_root):
    url, _ = tool
    ranked = requests.get(f"{url}/api/people", params={"order": "disagreement", "limit": 3}, timeout=10).json()
    first_person = sorted(p.name for p in (relabel_root / "train" / "images").iterdir())[0]
    assert len(ranked) == 3 and ranked[0]["person"] == first_person
    top = ranked[0]["disagreement"]
    assert top["photos"] == 7 and top["gender"] > 0.85 and top["age"] < 0.1 and top["score"] > 0.85
    assert top["model_gender"] != ranked[0]["gender"]
    assert ranked[1]["disagreement"]["score"] < 0.2
    requests.post(f"{url}/api/corrections", json={"id": ranked[0]["id"], "field": "gender",
                                                   "value": top["model_gender"]}, timeout=10).raise_for_status()
    again = requests.get(f"{url}/api/people", params={"order": "disagreement"}, timeout=10).json()
    fixed = next(p for p in again if p["person"] == first_person)
    assert fixed["gender"] == top["model_gender"] and fixed["disagreement"]["gender"] < 0.1
    assert max(p["disagreement"]["score"] for p in again) < 0.2
