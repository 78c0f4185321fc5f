"""A sweep shared by machines through an Optuna RDB: SQLite, and a real PostgreSQL server started for the test.

Two "machines" (two run roots) run the same sweep against one storage URL: trials are numbered across both,
each writes only its own trial folders, and each stops when the study as a whole has the trials asked for.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest
import yaml

import maskcls
from maskcls.config import load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine.sweep import run_sweep
from maskcls.errors import MaskclsError

SPACE = {"train.lr": {"low": 1e-3, "high": 3e-2, "log": True}}


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sweep-storage")
    make_synthetic(folder / "data", people=12, eval_people=0, seed=1, size=(48, 64))
    tree = {"name": "shared", "data": {"root": str(folder / "data")}, "split": {"val_fraction": 0.25},
            "model": {"backbone": "test_efficientnet", "pretrained": False, "img_size": 32},
            "train": {"features": True, "epochs": 1, "batch_size": 32, "loggers": [],
                      "cache_dir": str(folder / "cache")}}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def two_machines_share(storage: str, config_file: Path, tmp_path: Path) -> None:
    cfg = load_config(config_file)
    first = run_sweep(cfg, 2, None, tmp_path / "a", space=SPACE, log=lambda _m: None, storage=storage)
    second = run_sweep(cfg, 3, None, tmp_path / "b", space=SPACE, log=lambda _m: None, storage=storage)
    study = optuna.load_study(study_name="shared", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 3
    assert sorted(p.name for p in first.glob("trial-*")) == ["trial-0", "trial-1"]
    assert sorted(p.name for p in second.glob("trial-*")) == ["trial-2"]  # numbered across both machines
    assert not (first / "study.db").exists() and not (second / "study.db").exists()
    again = run_sweep(cfg, 3, None, tmp_path / "a", space=SPACE, log=lambda _m: None, storage=storage)
    assert again == first and len(optuna.load_study(study_name="shared", storage=storage).trials) == 3


def test_two_machines_share_a_sqlite_study(config_file, tmp_path):
    two_machines_share(f"sqlite:///{tmp_path / 'shared.db'}", config_file, tmp_path)


def test_a_bad_storage_is_one_line(config_file, tmp_path):
    cfg = load_config(config_file)
    with pytest.raises(MaskclsError, match=r"^postgresql\+psycopg2://me:\*\*\*@127\.0\.0\.1:1/x: cannot open the"):
        run_sweep(cfg, 1, None, tmp_path, space=SPACE, storage="postgresql+psycopg2://me:secret@127.0.0.1:1/x")
    env = {"PATH": "/usr/bin:/bin", "MASKCLS_PROGRESS": "0", "PYTHONPATH": str(Path(maskcls.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-m", "maskcls", "sweep", str(config_file), "--trials", "1", "--runs",
                           str(tmp_path), "--storage", "nonsense://"], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("maskcls: error: nonsense://: cannot open the study storage")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@pytest.fixture
def postgres_url():
    """A PostgreSQL server of its own in a temp folder (as the ``postgres`` user when run as root), then stopped."""
    pytest.importorskip("psycopg2")
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    prefix: list[str] = []
    folder = Path(tempfile.mkdtemp(prefix="maskcls-pg-"))  # not under pytest's root-only temp folders
    if os.getuid() == 0:  # the server refuses to run as root
        try:
            shutil.chown(folder, "postgres")
        except LookupError:
            pytest.skip("running as root without a postgres user to run the server")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", _free_port()
    try:
        subprocess.run([*prefix, str(bindir / "initdb"), "-D", str(data), "-U", "maskcls", "--auth=trust", "-E", "UTF8"],
                       check=True, capture_output=True, timeout=120)
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(folder / "log"),
                        "-w", "start"], check=True, capture_output=True, timeout=120)
        yield f"postgresql+psycopg2://maskcls@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                           capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


def test_two_machines_share_a_postgresql_study(postgres_url, config_file, tmp_path):
    two_machines_share(postgres_url, config_file, tmp_path)
