from pathlib import Path

import pytest
import yaml

from maskcls.config import ConfigError, dump_config, load_config, parse_override


def test_defaults_and_overrides(tmp_path):
    config = load_config(None, ["data.age_thresholds=[30,58]", "split.seed=7", "data.relabel=[]", "name=x"])
    assert config.data.age_thresholds == (30, 58) and config.split.seed == 7 and config.data.relabel == []
    assert config.data.bands().band(58) == 2


def test_yaml_then_overrides_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  train_old_threshold: 58\n  train_drop_ages: [57, 59]\nsplit:\n  kind: kfold\n")
    config = load_config(path, ["split.n_splits=3"])
    assert config.split.kind == "kfold" and config.split.n_splits == 3
    policy = config.data.age_policy()
    assert policy.band(58) == 2 and not policy.keep(57) and config.data.bands().band(58) == 1
    dumped = tmp_path / "resolved.yaml"
    dumped.write_text(dump_config(config))
    assert load_config(dumped) == config


@pytest.mark.parametrize("override,match", [
    ("data.nope=1", "data.nope: Extra inputs are not permitted"),
    ("split.kind=random", "split.kind"),
    ("data.age_thresholds=[60,30]", "data"),
    ("split.val_fraction=0.9", "split.val_fraction"),
    ("novalue", "is not key=value"),
])
def test_bad_overrides_name_the_key(override, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, [override])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file or preset"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: [1, 2\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(bad)


def test_parse_override_types():
    assert parse_override("a.b=3") == ("a.b", 3)
    assert parse_override("a=null") == ("a", None)
    assert parse_override("a=hello world") == ("a", "hello world")


SAVED = Path(__file__).parent / "fixtures" / "run_config_before_sections.yaml"


def test_a_run_folder_config_from_before_the_input_and_cache_sections_still_loads(tmp_path):
    """``run_config_before_sections.yaml`` was written by ``dump_config`` while crop, face, background and cache
    settings were ``train`` keys: they land in ``input`` and ``cache``, and the config re-dumps in today's form."""
    assert "crop: face" in SAVED.read_text() and "input:" not in SAVED.read_text()
    config = load_config(SAVED)
    assert (config.input.crop, config.input.face_margin, config.input.face_detector) == ("face", 0.3, "haar")
    assert (config.input.face_pick, config.input.background) == ("central", "blur")
    assert config.cache.enabled is False and str(config.cache.dir) == "/tmp/maskcls-cache"
    assert config.model.freeze == 4 and config.train.batch_size == 64 and config.aug.preset == "wild"
    dumped = tmp_path / "config.yaml"
    dumped.write_text(dump_config(config))
    assert "crop" not in dump_config(config).split("\ninput:")[0] and load_config(dumped) == config
    old_style = load_config(None, ["train.crop=center", "train.cache=false", "cache.dir=/x"])
    assert old_style.input.crop == "center" and not old_style.cache.enabled and str(old_style.cache.dir) == "/x"
    with pytest.raises(ConfigError, match="input.background"):
        load_config(None, ["train.background=paint"])


def test_public_and_general_presets_cut_faces_and_read_real_masks():
    public, general = load_config("public"), load_config("general")
    for cfg in (public, general):
        assert (cfg.input.crop, cfg.input.face_margin) == ("face", 0.0)
        kinds = {s.name: s.kind for s in cfg.data.sources}
        assert kinds["realmask"] == "crops" and kinds["facemask-crops"] == "crops"
    assert [s.kind for s in general.data.sources if s.name == "utkface-all"] == ["faces"]
    assert (public.train.age_sigma, general.train.age_sigma) == (None, 3.0)  # general: soft age-band targets
    assert (public.model.freeze, general.model.freeze) == (4, 4)
    assert (public.model.img_size, general.model.img_size) == (128, 160)  # general: faces seen at 160 px
    assert (public.aug.surround, general.aug.surround) == (0.0, 0.5)  # general: a made-up surround
    assert (public.aug.occlude_worn, general.aug.occlude_worn) == (0.0, 0.5)  # and the lower-face occluder
    old = {c for c in range(18) if c % 3 == 2}  # the >= 60 classes
    assert (public.train.oversample, general.train.oversample) == ({}, {c: 3 for c in old})  # general: >= 60 3x
    with pytest.raises(ConfigError, match="aug.occlude_worn=0 turns it off"):
        load_config("general", ["input.face_frame=box"])
    assert load_config("general", ["input.face_frame=box", "aug.occlude_worn=0"]).input.face_frame == "box"
    with_root = load_config("public", ["data.root=data/public"]).data.all_sources()
    assert with_root[0].kind == "competition" and str(with_root[0].root) == "data/public"


def test_self_training_is_off_by_default_and_set_through_overrides(tmp_path):
    assert load_config(None).self_training.folder is None
    config = load_config(None, [f"self_training.folder={tmp_path}", "self_training.rounds=2",
                                "self_training.thresholds.age=0.5", "self_training.weight=0.3"])
    st = config.self_training
    assert st.folder == tmp_path and st.rounds == 2 and st.weight == 0.3
    assert (st.thresholds.mask, st.thresholds.gender, st.thresholds.age) == (0.9, 0.9, 0.5)
    assert load_config(None, ["self_training.folder="]).self_training.folder is None


@pytest.mark.parametrize("override,match", [
    ("self_training.rounds=0", "self_training.rounds: Input should be greater than or equal to 1"),
    ("self_training.thresholds.mask=1", "self_training.thresholds.mask"),
    ("self_training.thresholds.size=0.5", "self_training.thresholds.size: Extra inputs"),
    ("self_training.weight=0", "self_training.weight"),
    ("self_training.limit=0", "self_training.limit"),
])
def test_bad_self_training_keys_are_one_line_errors(override, match):
    with pytest.raises(ConfigError, match=match) as caught:
        load_config(None, [override])
    assert "\n" not in str(caught.value)


def test_a_labels_file_is_only_for_a_crops_source(tmp_path):
    source = {"kind": "faces", "root": str(tmp_path), "labels": str(tmp_path / "x.csv")}
    with pytest.raises(ConfigError, match="labels is for a crops source"):
        load_config(None, [f"data.sources=[{source}]"])


def test_a_run_config_written_before_face_min_side_loads_as_it_was_trained(tmp_path):
    from maskcls.config import load_resolved_config
    from maskcls.runs import RunFolder

    assert load_config("public").input.face_min_side == 160  # new configs enlarge small photos
    resolved = yaml.safe_load(dump_config(load_config("public")))
    old = {**resolved, "input": {k: v for k, v in resolved["input"].items() if k != "face_min_side"}}
    run = tmp_path / "old-run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(old))
    assert RunFolder(run).read_config().input.face_min_side == 0  # a run folder of before: detected as it was
    assert load_resolved_config(old).input.face_min_side == 0  # an export's config
    assert "face_min_side" not in old["input"]  # the caller's tree is not changed
    assert load_resolved_config(resolved).input.face_min_side == 160
    resolved["input"]["face_min_side"] = 96
    assert load_resolved_config(resolved).input.face_min_side == 96
    with pytest.raises(ConfigError, match="face_min_side"):
        load_config("public", ["input.face_min_side=-1"])


def test_a_run_config_written_before_face_retry_loads_without_it(tmp_path):
    from maskcls.config import load_resolved_config
    from maskcls.faces.detect import RETRY_SCALE
    from maskcls.vision.preprocess import CacheSpec

    assert load_config("general").input.face_retry == RETRY_SCALE == 1.5
    resolved = yaml.safe_load(dump_config(load_config("general")))
    old = {**resolved, "input": {k: v for k, v in resolved["input"].items() if k != "face_retry"}}
    assert load_resolved_config(old).input.face_retry == 0  # detected as it was trained: no second pass
    assert load_resolved_config(old).input.face_min_side == 160  # the other settings as written
    assert load_config("general", ["input.face_retry=0"]).input.face_retry == 0
    for bad in ("1", "0.5", "-1"):
        with pytest.raises(ConfigError, match="face_retry"):
            load_config("general", [f"input.face_retry={bad}"])
    with pytest.raises(ValueError, match="retry"):
        CacheSpec((64, 64), crop="face", face_retry=1.0)
