"""Fixtures of the hostile-input tests: the CLI called in-process, tiny trees and run folders, bad files made on the fly.

Every test asserts the contract of ``maskcls.cli.run``: exit 1 with exactly one line ``maskcls: error: <path>:
<problem>`` (no traceback, no "unexpected"), or a reported skip; and nothing written that looks complete.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_helpers import Result
from serve_helpers import make_run


@pytest.fixture
def cli(capsys, monkeypatch, tmp_path):
    """``cli(*args)``: run the maskcls command line in this process, return its code, stdout and stderr."""
    from maskcls.cli import run

    from maskcls.cli.render import console, err_console

    for shown in (console, err_console):  # wide, so paths are never wrapped in what the tests read
        monkeypatch.setattr(shown, "width", 1000)
    monkeypatch.setenv("MASKCLS_PROGRESS", "0")
    monkeypatch.setenv("MASKCLS_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("MASKCLS_DEBUG", raising=False)

    def call(*args) -> Result:
        capsys.readouterr()
        code = run([str(a) for a in args])
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return call


@pytest.fixture
def root(tree) -> Path:
    """A clean competition tree of 6 people (4 needed for a split of 2 folds, and a few spare)."""
    return tree([("000001", "male", 20), ("000002", "female", 25), ("000003", "male", 45), ("000004", "female", 50),
                 ("000005", "male", 65), ("000006", "female", 70)])


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory) -> Path:
    """A servable, predictable run folder (untrained ``test_efficientnet`` at 32 px)."""
    return make_run(tmp_path_factory.mktemp("hostile-runs") / "run", "train.crop=none")


@pytest.fixture
def copy_run(run_folder, tmp_path):
    """``copy_run()``: a private copy of the run folder, to damage."""
    import shutil

    def make(name: str = "run") -> Path:
        return Path(shutil.copytree(run_folder, tmp_path / name))

    return make


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One torch thread: these tests run tiny models many times, where thread start-up costs more than it gives."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
