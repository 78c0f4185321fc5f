"""Fixtures shared by the inference tests."""

from pathlib import Path

import pytest

from maskcls.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    """A small synthetic competition root (12 training people, 3 eval people, 48 x 64 photos)."""
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=12, eval_people=3, seed=1, size=(48, 64))
    return root
