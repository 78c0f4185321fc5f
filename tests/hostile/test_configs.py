"""Hostile configs and run folders for ``train``: every registry name checked when the config loads, config files
that are no YAML, runs that fail (no folder left behind) and ``--resume`` of what is not a resumable run."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hostile_helpers import TINY, fails


BAD_OVERRIDES = {
    "unknown loss": ("train.loss=focall", "train.loss: unknown loss 'focall'"),
    "unknown loss in a sum": ("train.loss=0.6*focal+0.4*f2", "unknown loss 'f2' in '0.6*focal+0.4*f2'"),
    "malformed loss sum": ("train.loss=0.6*+focal", "bad loss term"),
    "empty loss": ("train.loss=", "train.loss"),
    "unknown backbone": ("model.backbone=resnet5O", "model.backbone: unknown backbone 'resnet5O'; did you mean"),
    "unknown head": ("model.head=class19", "model.head"),
    "unknown sampler": ("train.sampler=balanced", "train.sampler"),
    "unknown detector": ("train.face_detector=yolo", "unknown face detector 'yolo'"),
    "unknown augmentation": ("aug.preset=strong", "aug.preset"),
    "unknown optimizer": ("train.optimizer=lion", "train.optimizer"),
    "unknown scheduler": ("train.scheduler=linear", "train.scheduler"),
    "unknown logger": ("train.loggers=[comet]", "train.loggers"),
    "unknown device": ("train.device=gpu", "unknown device 'gpu'"),
    "unknown task weight": ("model.task_weights={maks: 1}", "unknown task(s) maks"),
    "oversample class 99": ("train.oversample={99: 2}", "oversample"),
    "negative freeze": ("model.freeze=-1", "model.freeze"),
    "name escaping --runs": ("name=../outside", "run name '../outside'"),
    "absolute name": ("name=/tmp/x", "run name '/tmp/x'"),
    "hidden name": ("name=.x", "run name '.x'"),
    "unknown key": ("train.lrr=0.1", "train.lrr"),
    "unknown section": ("trian.lr=0.1", "trian"),
    "section set to a number": ("data=5", "data"),
    "string for an int": ("train.epochs=many", "train.epochs"),
    "validation share 0": ("split.val_fraction=0", "split.val_fraction"),
    "decreasing age bands": ("data.age_thresholds=[60,30]", "data"),
    "one fold": ("split.n_splits=1", "split.n_splits"),
    "not key=value": ("justaword", "justaword"),
}


@pytest.mark.parametrize("case", BAD_OVERRIDES)
def test_bad_config_names_fail_before_any_folder(case, cli, root, tmp_path):
    override, needle = BAD_OVERRIDES[case]
    runs = tmp_path / "runs"
    fails(cli("train", "demo", f"data.root={root}", override, "--runs", runs), needle)
    assert not runs.exists() or not any(runs.iterdir())
    assert not (tmp_path / "outside").exists() and not Path("/tmp/x/config.yaml").exists()


BAD_FILES = {
    "random bytes": (bytes(range(256)) * 8, "not a UTF-8 text file"),
    "latin-1 comment": ("# réglage\nname: x\n".encode("latin-1"), "not a UTF-8 text file"),
    "invalid YAML": (b"train: [1, 2\n", "invalid YAML"),
    "tabs": (b"train:\n\tlr: 1\n", "invalid YAML"),
    "a list": (b"- a\n- b\n", "a config must be a mapping"),
    "a number": (b"42\n", "a config must be a mapping"),
    "python object tag": (b"name: !!python/object/apply:os.system [echo hi]\n", "invalid YAML"),
    "unknown key": (b"train:\n  epoch: 3\n", "train.epoch"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_config_file_is_one_line_naming_it(case, cli, tmp_path):
    content, needle = BAD_FILES[case]
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    fails(cli("train", path, "--runs", tmp_path / "runs"), str(path), needle)
    assert not (tmp_path / "runs").exists()


def test_config_that_is_a_folder_or_fifo(cli, tmp_path):
    import os

    fails(cli("train", tmp_path), str(tmp_path), "not a config file")
    os.mkfifo(tmp_path / "c.yaml")
    fails(cli("train", tmp_path / "c.yaml"), str(tmp_path / "c.yaml"), "not a config file")


KEYS = st.sampled_from(["name", "seed", "data.root", "train.loss", "train.lr", "model.backbone", "model.head",
                        "split.kind", "train.sampler", "aug.preset", "train.epochs", "model.freeze", "train.device"])
VALUES = st.one_of(st.text(max_size=12), st.integers(-5, 10**6), st.floats(allow_nan=True), st.booleans(),
                   st.none(), st.lists(st.integers(), max_size=3))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=st.dictionaries(KEYS, VALUES, max_size=4))
def test_fuzzed_configs_load_or_fail_with_a_config_error(tree, tmp_path):
    """Any mapping of keys to values either loads or raises ConfigError naming a key; nothing else escapes."""
    import yaml

    from maskcls.config import ConfigError, load_config

    nested: dict = {}
    for key, value in tree.items():
        node = nested
        *sections, last = key.split(".")
        for section in sections:
            node = node.setdefault(section, {})
        node[last] = value
    path = tmp_path / "fuzz.yaml"
    path.write_text(yaml.safe_dump(nested))
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_fuzzed_config_text_never_escapes(text, tmp_path):
    from maskcls.config import ConfigError, load_config

    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if False else path.write_bytes(
        text.encode("utf-8", errors="replace"))
    try:
        load_config(path)
    except ConfigError as exc:
        assert "\n" not in str(exc)


# --- runs that fail, or are not runs ---------------------------------------------------------------------------
def test_failed_train_leaves_no_run_folder(cli, tmp_path):
    runs = tmp_path / "runs"
    fails(cli("train", "demo", "--runs", runs), "data.root")
    fails(cli("train", "demo", f"data.root={tmp_path / 'nowhere'}", "--runs", runs), "nowhere", "no such folder")
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


@pytest.mark.parametrize("content,needle", [(None, "checkpoint not found"), (b"\x80\x04garbage", "not a torch checkpoint")])
def test_failed_train_after_the_folder_is_made_removes_it(content, needle, cli, root, tmp_path):
    runs = tmp_path / "runs"
    weights = tmp_path / "weights.pt"
    if content is not None:
        weights.write_bytes(content)
    line = fails(cli("train", *TINY, f"data.root={root}", f"model.pretrained={weights}", "--runs", runs),
                 str(weights), needle)
    assert "weights_only" not in line
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def test_failed_kfold_prepare_leaves_no_folder(cli, tmp_path, root):
    runs = tmp_path / "runs"
    fails(cli("train", *TINY, f"data.root={root}", "split.n_splits=50", "--kfold", "--prepare-only", "--runs", runs),
          "cannot make 50 folds")
    assert not runs.exists() or not any(runs.iterdir())


@pytest.mark.parametrize("make,needle", [
    (lambda p: p.mkdir(), "not a run folder (no config.yaml)"),
    (lambda p: None, "no such run folder"),
])
def test_resume_of_what_is_no_run(make, needle, cli, tmp_path):
    folder = tmp_path / "notrun"
    make(folder)
    line = fails(cli("train", "--resume", folder), str(folder), needle)
    assert "presets" not in line


@pytest.mark.parametrize("content,needle", [
    (bytes(range(256)) * 20, "not a maskcls checkpoint"),
    (b"", "not a maskcls checkpoint"),
])
def test_resume_with_a_garbage_last_pt(content, needle, cli, copy_run):
    run = copy_run()
    (run / "last.pt").write_bytes(content)
    line = fails(cli("train", "--resume", run), str(run / "last.pt"), needle)
    assert "weights_only=False" not in line and "weights_only" not in line


def test_resume_with_a_last_pt_that_is_no_training_state(cli, copy_run):
    import shutil

    run = copy_run()
    shutil.copy(run / "best.pt", run / "last.pt")
    fails(cli("train", "--resume", run), str(run / "last.pt"), "not a resumable checkpoint")


@pytest.mark.parametrize("content,needle", [(b"\xff\xfe garbage", "not a UTF-8 text file"), (b"[1, 2", "invalid YAML"),
                                            (b"- a\n", "non-empty mapping")])
def test_bad_sweep_space_file(content, needle, cli, root, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_bytes(content)
    fails(cli("sweep", "demo", "--trials", "1", "--space", space, f"data.root={root}", "--runs", tmp_path / "runs"),
          str(space) if needle != "non-empty mapping" else "", needle)
