"""Which photos a run trains on: per-person undersampling of the mask photos (``train.undersample_masks``), the mask
states of ``data.train_mask_states``, and task-level ensembles of members trained that way."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers import tiny_config, write_photo

from maskcls.cli import app
from maskcls.config import ConfigError, load_config
from maskcls.data.synthetic import make_synthetic
from maskcls.engine import run as run_module
from maskcls.engine.run import prepare_data, train
from maskcls.labels import MASK_STEMS, Mask
from maskcls.vision.sampling import undersample_indices


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=8, eval_people=2, seed=3, size=(48, 64))
    return root


def quiet(_message: str) -> None:
    pass


def record_trained_photos(monkeypatch) -> dict[int, list[int]]:
    """Every epoch's record indices as the training loop received them, by epoch."""
    seen: dict[int, list[int]] = {}
    real = run_module.Run._train_epoch

    class Recording:
        def __init__(self, loader, into: list[int]) -> None:
            self.loader, self.into = loader, into

        def __len__(self) -> int:
            return len(self.loader)

        def __iter__(self):
            for images, targets in self.loader:
                self.into.extend(targets["index"].tolist())
                yield images, targets

    def recording(self, trainer, loader, epoch, epochs, phase):
        return real(self, trainer, Recording(loader, seen.setdefault(epoch, [])), epoch, epochs, phase)

    monkeypatch.setattr(run_module.Run, "_train_epoch", recording)
    return seen


def mask_photos_by_person(records, indices) -> dict[str, set[str]]:
    drawn: dict[str, set[str]] = {}
    for i in indices:
        if records[i].stem in MASK_STEMS:
            drawn.setdefault(records[i].person, set()).add(records[i].stem)
    return drawn


def test_undersampled_run_trains_on_k_mask_photos_a_person_drawn_anew_each_epoch(data_root, tmp_path, monkeypatch):
    seen = record_trained_photos(monkeypatch)
    cfg = tiny_config(data_root, "train.epochs=2", "train.undersample_masks=2")
    train(cfg, tmp_path / "runs", log=quiet)
    data = prepare_data(cfg, log=quiet)
    records, train_idx = data.records, data.train_idx
    people = [records[i].person if records[i].stem in MASK_STEMS else None for i in train_idx]
    people = [None if p is None else f"{data.sources[0].name}/{p}" for p in people]
    others = {i for i in train_idx if records[i].stem not in MASK_STEMS}
    draws = []
    for epoch in (1, 2):
        photos = seen[epoch]
        assert len(photos) == len(set(photos))  # a shuffle: each photo once
        by_person = mask_photos_by_person(records, photos)
        assert {len(stems) for stems in by_person.values()} == {2}
        assert set(by_person) == {records[i].person for i in train_idx}
        assert others <= set(photos)  # incorrect and normal photos all train
        expected = train_idx[undersample_indices(people, [records[i].stem for i in train_idx], 2, cfg.seed, epoch)]
        assert set(photos) == set(expected.tolist())  # the draw of (seed, epoch), as a resumed run makes it
        draws.append(by_person)
    assert draws[0] != draws[1]


def test_undersampling_composes_with_oversampling_the_weighted_sampler_and_validation_epochs(data_root, tmp_path,
                                                                                            monkeypatch):
    seen = record_trained_photos(monkeypatch)
    cfg = tiny_config(data_root, "train.epochs=2", "train.undersample_masks=1", "train.sampler=weighted",
               "train.train_on_val_epochs=1", "train.oversample={0: 3, 3: 3, 6: 3, 9: 3}")
    train(cfg, tmp_path / "runs", log=quiet)
    data = prepare_data(cfg, log=quiet)
    val_people = {data.records[i].person for i in data.val_idx}
    for epoch, photos in seen.items():
        assert all(len(stems) == 1 for stems in mask_photos_by_person(data.records, photos).values())
        assert bool({data.records[i].person for i in photos} & val_people) == (epoch == 2)


def crops_source(root: Path) -> Path:
    """A crops source of four photos, two of them incorrectly masked."""
    rows = ["file,mask"]
    for i, state in enumerate(("wear", "incorrect", "incorrect", "not wear")):
        write_photo(root / f"crop{i}.jpg", color=(40 * i, 90, 90))
        rows.append(f"crop{i}.jpg,{state}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


def test_train_mask_states_leave_out_exactly_the_unlisted_competition_photos(data_root, tmp_path):
    crops = crops_source(tmp_path / "crops")
    sources = f"data.sources=[{{kind: crops, root: {crops}}}]"
    every = prepare_data(tiny_config(data_root, sources), log=quiet)
    messages: list[str] = []
    chosen = prepare_data(tiny_config(data_root, sources, "data.train_mask_states=[wear,not_wear]"),
                          log=messages.append)
    assert chosen.val_idx.tolist() == every.val_idx.tolist()
    assert set(chosen.train_idx) <= set(every.train_idx)
    left_out = set(every.train_idx) - set(chosen.train_idx)
    competition = {i for i in every.train_idx if every.sources[every.source_of[i]].config.kind == "competition"}
    assert left_out == {i for i in competition if every.records[i].mask == Mask.INCORRECT}
    assert {every.records[i].stem for i in left_out} == {"incorrect_mask"}
    assert sum(every.records[i].mask == Mask.INCORRECT for i in chosen.train_idx) == 2  # the crops keep theirs
    assert f"data: {len(left_out)} training photos left out by data.train_mask_states=[wear, not_wear]" in messages


@pytest.mark.parametrize(("override", "needle"), [
    ("train.undersample_masks=5", "train.undersample_masks: 5: expected 1-4"),
    ("train.undersample_masks=0", "train.undersample_masks: 0: expected 1-4"),
    ("data.train_mask_states=[wear,worn]", "data.train_mask_states.1: Input should be 'wear', 'incorrect' or "
                                           "'not_wear' (got 'worn')"),
    ("data.train_mask_states=[]", "data.train_mask_states: an empty list leaves out every competition photo"),
])
def test_bad_undersampling_and_mask_states_are_one_line_errors(override, needle):
    with pytest.raises(ConfigError) as caught:
        load_config(None, [override])
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_task_specific_members_combine_through_predict_tasks(data_root, tmp_path):
    face = train(tiny_config(data_root, "name=face", "data.train_mask_states=[wear,not_wear]",
                      "model.task_weights={mask: 0}"), tmp_path / "runs", log=quiet)
    mask = train(tiny_config(data_root, "name=mask", "model.task_weights={mask: 1, gender: 0, age: 0}"),
                 tmp_path / "runs", log=quiet)
    out = tmp_path / "sub.csv"
    done = CliRunner().invoke(app, ["predict", f"{face},{mask}", str(data_root), "--out", str(out),
                                    "--tasks", "mask=1,gender=0,age=0"])
    assert done.exit_code == 0, done.output
    from maskcls.data.layout import scan_eval
    from maskcls.inference.batch import predict_paths
    from maskcls.inference.ensemble import task_marginals
    from maskcls.inference.predictor import Predictor

    combined = task_marginals(np.load(out.with_name("sub_probs.npy")))
    paths = scan_eval(data_root).paths
    single = {name: task_marginals(predict_paths(Predictor.from_run(run), paths)[0])
              for name, run in (("face", face), ("mask", mask))}
    assert np.allclose(combined["mask"], single["mask"]["mask"], atol=1e-5)
    assert np.allclose(combined["gender"], single["face"]["gender"], atol=1e-5)
    assert np.allclose(combined["age"], single["face"]["age"], atol=1e-5)
    assert not np.allclose(combined["mask"], single["face"]["mask"], atol=1e-5)  # near-uniform, yet not the same
    assert not np.allclose(combined["gender"], single["mask"]["gender"], atol=1e-5)
