import threading

import pytest

from maskcls.data.check import load_dataset
from maskcls.data.records import DataError
from maskcls.data.relabel import DEFAULT_RELABELS, Correction, load_corrections, read_corrections, save_correction
from maskcls.labels import Gender, Mask

DOCUMENTED = [("000020", "female", 30), ("004418", "male", 40), ("005227", "female", 20),
              ("006359", "female", 25), ("006364", "female", 25), ("001720", "female", 33),
              ("001498-1", "male", 20), ("001498", "male", 20), ("004432", "male", 50), ("005223", "male", 52),
              ("004348", "female", 59), ("000001", "male", 40)]


def by_person(records):
    out = {}
    for r in records:
        out.setdefault(r.id, {})[r.stem] = r
    return out


def test_default_file_holds_the_documented_fixes():
    fixes = {(c.id, c.field): c.value for c in read_corrections(DEFAULT_RELABELS)}
    for pid in ("000020", "004418", "005227"):
        assert fixes[(pid, "swap_incorrect_normal")] == "true"
    for pid in ("006359", "006360", "006361", "006362", "006363", "006364", "001720"):
        assert fixes[(pid, "gender")] == "male"
    for pid in ("001498-1", "004432", "005223"):
        assert fixes[(pid, "gender")] == "female"
    assert fixes[("004348", "age")] == "60"
    assert len(fixes) == 14


def test_default_fixes_apply_at_load_without_touching_files(tree):
    root = tree(DOCUMENTED)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    fixed = by_person(load_dataset(root).records)
    raw = by_person(load_dataset(root, relabel=()).records)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before
    swapped = fixed["000020"]
    assert swapped["normal"].path == raw["000020"]["incorrect_mask"].path and swapped["normal"].mask == Mask.NOT_WEAR
    assert swapped["incorrect_mask"].path == raw["000020"]["normal"].path and swapped["incorrect_mask"].mask == Mask.INCORRECT
    assert swapped["mask1"] == raw["000020"]["mask1"]
    assert {r.gender for r in fixed["006359"].values()} == {Gender.MALE}
    assert {r.gender for r in fixed["001498-1"].values()} == {Gender.FEMALE}
    assert {r.gender for r in fixed["001498"].values()} == {Gender.MALE}  # a suffix makes another person
    assert {r.age for r in fixed["004348"].values()} == {60}
    assert fixed["000001"] == raw["000001"]
    assert {r.gender for r in raw["006359"].values()} == {Gender.FEMALE}  # relabel off: labels as on disk


def test_user_files_come_after_the_default_and_can_drop(tree, tmp_path):
    root = tree(DOCUMENTED)
    mine = tmp_path / "mine.csv"
    mine.write_text("id,field,value\n004348,age,58\n000001,drop,true\n")
    records = by_person(load_dataset(root, relabel=("default", mine)).records)
    assert {r.age for r in records["004348"].values()} == {58}
    assert "000001" not in records


def test_bad_corrections_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,field,value\n000001,gender,male\n000002,height,180\n")
    with pytest.raises(DataError, match=r"bad.csv: line 3: unknown field 'height'"):
        read_corrections(bad)
    bad.write_text("id,field,value\n000001,age,old\n")
    with pytest.raises(DataError, match="line 2"):
        load_corrections([bad])


def test_concurrent_saves_lose_nothing(tmp_path):
    target = tmp_path / "fixes.csv"
    threads = [threading.Thread(target=save_correction, args=(target, Correction(f"{i:06d}", "gender", "male")))
               for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    save_correction(target, Correction("000002", "age", "61", note="checked photo"))
    save_correction(target, Correction("000002", "age", "62"))
    got = {(c.id, c.field): c.value for c in read_corrections(target)}
    assert got == {**{(f"{i:06d}", "gender"): "male" for i in range(24)}, ("000002", "age"): "62"}
    assert not list(tmp_path.glob(".*.tmp"))
