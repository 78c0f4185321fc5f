from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from maskcls.data.records import DataError, Record
from maskcls.data.splits import Split, fold_balance, make_holdout, make_split, stratum
from maskcls.labels import STEM_TO_MASK


def people(n: int, seed: int = 0) -> list[Record]:
    """n synthetic people, 7 photos each, with the competition's skewed gender × age mix."""
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        gender = int(rng.random() < 0.61)
        age = int(rng.choice([20, 25, 40, 55, 60], p=[0.3, 0.15, 0.25, 0.23, 0.07]))
        pid = f"{i:06d}" + ("-1" if i % 50 == 7 else "")
        for stem, mask in STEM_TO_MASK.items():
            records.append(Record(Path(f"/x/{pid}/{stem}.jpg"), f"{pid}_f", pid, stem, int(mask), gender, age))
    return records


def shares(records, key) -> np.ndarray:
    counts = Counter(key(r) for r in records)
    return np.array([counts.get(k, 0) for k in range(18)]) / len(records)


@pytest.mark.parametrize("n_splits", [5, 3])
def test_kfold_keeps_people_apart_and_ratios_within_two_points(n_splits):
    records = people(800)
    split = make_split(records, n_splits=n_splits, seed=3)
    whole_label, whole_stratum = shares(records, lambda r: r.label()), shares(records, stratum)
    seen_val: set[str] = set()
    for fold in range(n_splits):
        train, val = split.indices(records, fold)
        train_ids, val_ids = {records[i].id for i in train}, {records[i].id for i in val}
        assert not train_ids & val_ids
        assert not seen_val & val_ids
        seen_val |= val_ids
        val_records = [records[i] for i in val]
        assert np.abs(shares(val_records, lambda r: r.label()) - whole_label).max() < 0.02
        assert np.abs(shares(val_records, stratum) - whole_stratum).max() < 0.02
        assert abs(len(val_ids) - 800 / n_splits) <= 800 * 0.02
    assert seen_val == {r.id for r in records}


def test_same_id_in_two_folders_stays_on_one_side():
    records = people(100)
    twin = [r.with_(person="twin_folder", path=Path(f"/y/{r.stem}.jpg"), age=30) for r in records[:7]]
    split = make_split(records + twin, n_splits=5, seed=0)
    folds = {split.fold_of(r) for r in records[:7] + twin}
    assert len(folds) == 1


def test_holdout_fraction_seed_and_round_trip(tmp_path):
    records = people(500)
    split = make_holdout(records, val_fraction=0.2, seed=7)
    train, val = split.indices(records)
    assert not {records[i].id for i in train} & {records[i].id for i in val}
    assert abs(len({records[i].id for i in val}) / 500 - 0.2) < 0.02
    assert make_holdout(records, 0.2, seed=7).folds == split.folds
    assert make_holdout(records, 0.2, seed=8).folds != split.folds
    path = split.save(tmp_path / "split.json")
    loaded = Split.load(path)
    assert loaded == split
    table = fold_balance(records, loaded)
    assert list(table["fold"])[-1] == "all" and table["people"].iloc[-1] == 500


def test_split_errors():
    records = people(3)
    with pytest.raises(DataError, match="cannot make 5 folds from 3 people"):
        make_split(records, n_splits=5)
    split = make_split(people(20), n_splits=2)
    stranger = people(21)[-1]
    with pytest.raises(DataError, match="not in the split file"):
        split.fold_of(stranger.with_(id="999999"))


def test_load_rejects_non_split_files(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text("{}")
    with pytest.raises(DataError, match="not a maskcls-split/1 file"):
        Split.load(bad)
    bad.write_text("{nope")
    with pytest.raises(DataError, match="not a JSON split file"):
        Split.load(bad)
