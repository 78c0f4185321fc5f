"""The UTKFace-based public training set: competition make-up, complete people, an eval set in its layout."""

from pathlib import Path


from maskcls.data.importers import UtkFace
from maskcls.data.layout import scan_eval, scan_train
from maskcls.synth.public import COMPETITION_PEOPLE, build_public, sample_people, target_counts
from maskcls.labels import DEFAULT_AGE_BANDS, STEMS
from maskcls.metrics import read_answers


def faces(n_per: int) -> list[UtkFace]:
    out = []
    for gender in (0, 1):
        for age in (20, 40, 70):
            for i in range(n_per):
                out.append(UtkFace(Path(f"{gender}_{age}_{i}.jpg"), age, gender, "Asian" if i % 3 == 0 else "White"))
    return out


def test_competition_counts_scale_exactly():
    assert sum(COMPETITION_PEOPLE.values()) == 2700
    assert target_counts(2700, "competition", [], DEFAULT_AGE_BANDS) == COMPETITION_PEOPLE
    small = target_counts(100, "competition", [], DEFAULT_AGE_BANDS)
    assert sum(small.values()) == 100
    female = sum(n for (g, _), n in small.items() if g == 1)
    old = sum(n for (_, b), n in small.items() if b == 2)
    assert 60 <= female <= 62 and 6 <= old <= 8
    source = target_counts(12, "source", faces(2), DEFAULT_AGE_BANDS)
    assert set(source.values()) == {2}


def test_sampling_prefers_the_race_and_reports_short_strata():
    pool = faces(9)
    chosen, rest, short = sample_people(pool, {(0, 0): 3, (1, 2): 20}, DEFAULT_AGE_BANDS, seed=0)
    men = [f for f in chosen if f.gender == 0]
    assert len(men) == 3 and all(f.race == "Asian" for f in men)
    assert len(chosen) + len(rest) == len(pool) and not set(chosen) & set(rest)
    assert len(short) == 1 and "wanted 20" in short[0]


def test_build_public_from_shared_utkface(shared_data, tmp_path):
    root = tmp_path / "public"
    result = build_public(shared_data / "utkface", root, people=12, eval_people=4, seed=1)
    assert result.train_people == 12 and sum(result.strata.values()) == 12
    assert result.synth.complete == 12, result.problems
    train = scan_train(root, source="utkface")
    assert len(train.records) == 12 * len(STEMS)
    assert result.eval_people == 4 and result.eval_images == 4 * len(STEMS)
    ids, truth = read_answers(root / "eval_gt.csv")
    evalset = scan_eval(root)
    assert list(ids) == list(evalset.image_ids) and len(set(truth.tolist()) & set(range(12, 18))) > 0  # not-worn classes
    assert not (root / ".eval-work").exists()
    train_names = {r.path.name for r in train.records}
    assert not {Path(i).stem for i in ids} & train_names


def test_build_public_never_uses_the_development_hold_out(tmp_path):
    """Neither the training people nor the eval people are development photos (devsplit.is_dev)."""
    import csv

    from helpers import write_photo

    from maskcls.data.devsplit import is_dev

    src = tmp_path / "utk"
    names = [f"{20 + k}_{k % 2}_2_2017011{k:07d}.jpg.chip.jpg" for k in range(60)]
    for k, name in enumerate(names):
        write_photo(src / name, color=(200, 3 * k, 90), size=(24, 24))
    dev = {n for n in names if is_dev("utkface", n)}
    assert dev
    root = tmp_path / "public"
    result = build_public(src, root, people=30, eval_people=10, detector="haar", workers=1)
    assert result.dev_left_out == len(dev)
    with open(root / "train" / "sources.csv", newline="") as handle:
        used = [Path(row["source"]).name for row in csv.DictReader(handle)]
    with open(root / "eval_sources.csv", newline="") as handle:
        used += [Path(row["source"]).name for row in csv.DictReader(handle)]
    assert len(used) >= 20 and not set(used) & dev
