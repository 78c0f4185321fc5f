"""Fixtures of the service tests: tiny run folders, photos with and without a face, and real uvicorn servers.

The run folders hold what a run needs to be served (``config.yaml``, ``best.pt``, ``metrics.csv``) with timm's
``test_efficientnet`` at 32 px, randomly initialised and seeded: the tests check the service's contract and its
preprocessing, not what a trained model answers, so no training is spent on them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from PIL import Image
from serve_helpers import make_run, serve

from maskcls.data.synthetic import make_synthetic


@pytest.fixture(scope="session")
def face_run(tmp_path_factory) -> Path:
    """A run trained (in name) with ``crop=face``, margin 0.3."""
    return make_run(tmp_path_factory.mktemp("runs") / "face-run", "train.crop=face", "train.face_margin=0.3")


@pytest.fixture(scope="session")
def photo_run(tmp_path_factory) -> Path:
    """A run trained (in name) on whole photos with ``crop=center``."""
    return make_run(tmp_path_factory.mktemp("runs") / "photo-run", "train.crop=center")


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    """scikit-image's astronaut photo (512 x 512, one face)."""
    from skimage import data

    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="session")
def pair(astronaut) -> Image.Image:
    """Two faces side by side: the astronaut and her mirror image."""
    both = Image.new("RGB", (1024, 512))
    both.paste(astronaut, (0, 0))
    both.paste(astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (512, 0))
    return both


@pytest.fixture(scope="session")
def api(face_run) -> Iterator[str]:
    """``maskcls serve`` of the face run, with a 256 KiB upload cap, at this base URL."""
    from maskcls.serve.app import create_app

    yield from serve(create_app(face_run, max_upload_mb=0.25))


@pytest.fixture(scope="session")
def relabel_root(tmp_path_factory) -> Path:
    """A synthetic competition root of 6 people (48 x 64 photos)."""
    root = tmp_path_factory.mktemp("relabel") / "data"
    make_synthetic(root, people=6, eval_people=0, seed=3, size=(48, 64))
    return root


@pytest.fixture(scope="session")
def gate_api(face_run) -> Iterator[str]:
    """``maskcls serve`` whose model is the fake mask reader of ``watch_helpers`` (real detector, tracker and
    decisions on the gate scene), at this base URL."""
    from watch_helpers import MaskReader

    from maskcls.serve.app import create_app

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("maskcls.serve.model.load_model", lambda _path: MaskReader())
        app = create_app(face_run, max_upload_mb=1)
    yield from serve(app)
