"""Data building over a process pool: the same output with 1 and 2 workers, results in order, errors carried."""

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from maskcls.parallel import cpu_count, pool_map, worker_count


def _scaled(factor: int):
    """A worker set-up for the pool test: the loaded 'model' is the factor; each item takes 50 ms."""
    import os
    import time

    def work(item: int) -> tuple[int, int]:
        time.sleep(0.05)
        return item * factor, os.getpid()

    return work


def test_pool_keeps_the_order_and_runs_in_workers():
    results = list(pool_map(_scaled, (3,), list(range(40)), 2, "scaling", chunksize=3))
    assert [value for value, _ in results] == [3 * i for i in range(40)]
    assert len({pid for _, pid in results}) == 2  # two worker processes did the work
    inline = list(pool_map(_scaled, (3,), list(range(5)), 1, "scaling"))
    assert {pid for _, pid in inline} == {os.getpid()}
    assert worker_count(None) == cpu_count() >= 1 and worker_count(3) == 3


def _tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``; the manifest without its creation times."""
    digests = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.name == "synth_manifest.csv":
            rows = list(csv.reader(data.decode().splitlines()))
            data = "\n".join(",".join(row[:-1]) for row in rows).encode()  # 'created' is the last column
        digests[str(path.relative_to(root))] = hashlib.sha256(data).hexdigest()
    return digests


def test_build_public_is_identical_with_one_and_two_workers(shared_data, tmp_path):
    from maskcls.synth.public import build_public

    roots = []
    for workers in (1, 2):
        root = tmp_path / f"w{workers}"
        result = build_public(shared_data / "utkface", root, people=6, eval_people=2, seed=4, link=False,
                              workers=workers)
        assert result.synth.complete == 6 and result.eval_people == 2, result.problems
        assert list(result.seconds) == ["import", "train masks", "eval"] and min(result.seconds.values()) > 0
        roots.append(root)
    one, two = (_tree_digest(root) for root in roots)
    assert len([name for name in one if name.endswith(".jpg")]) >= 8 * 7 and one == two


def test_faces_and_face_crop_caches_are_identical_with_one_and_two_workers(shared_data, tmp_path):
    from maskcls.faces.scan import detect_photos
    from maskcls.vision.cache import CacheSpec, ImageCache

    paths = sorted((shared_data / "utkface" / "images").glob("*.jpg"))[:5] + [tmp_path / "missing.jpg"]
    found = {}
    for workers in (1, 2):
        results = list(detect_photos(paths, "retinaface", tmp_path / f"faces{workers}", paths[0].parent, workers))
        found[workers] = [(r.path, r.error, [(f.box, f.score, f.landmarks.tolist()) for f in r.faces])
                          for r in results]
    assert found[1] == found[2] and found[1][-1][1] is not None  # the missing photo is an error, in its place
    assert _tree_digest(tmp_path / "faces1") == _tree_digest(tmp_path / "faces2")
    spec = CacheSpec((48, 48), crop="face")
    caches = [ImageCache.open(paths, spec, None, workers=workers) for workers in (1, 2)]
    assert np.array_equal(caches[0].array, caches[1].array) and caches[0].array[:5].any()
    assert caches[0].errors == caches[1].errors and list(caches[0].errors) == [5]
    assert caches[0].fallbacks == caches[1].fallbacks


@pytest.mark.parametrize("command", ["synth-masks", "faces"])
def test_workers_option_is_validated(command, tmp_path):
    import subprocess
    import sys

    import maskcls

    args = ["data", "synth-masks", str(tmp_path)] if command == "synth-masks" else ["faces", str(tmp_path)]
    done = subprocess.run([sys.executable, "-m", "maskcls", *args, "--workers", "0"], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(maskcls.__file__).parents[1])})
    assert done.returncode == 2 and "--workers" in done.stderr and "Traceback" not in done.stderr
