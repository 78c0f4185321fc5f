import numpy as np
import pytest

from maskcls.labels import (
    NUM_CLASSES, AgeBand, AgeBands, Gender, Mask, TrainingAgePolicy, class_name, class_names, decode, encode,
    parse_gender, parse_mask, split_tasks,
)


def test_encode_decode_all_classes_both_ways():
    seen = set()
    for mask in Mask:
        for gender in Gender:
            for band in AgeBand:
                label = encode(int(mask), int(gender), int(band))
                assert label == int(mask) * 6 + int(gender) * 3 + int(band)
                assert decode(label) == (mask, gender, band)
                seen.add(label)
    assert seen == set(range(NUM_CLASSES))
    for label in range(NUM_CLASSES):
        assert encode(*decode(label)) == label


def test_vectorised_decode_matches_scalar():
    labels = np.arange(NUM_CLASSES)
    mask, gender, age = decode(labels)
    assert [decode(int(x)) for x in labels] == list(zip(mask.tolist(), gender.tolist(), age.tolist()))
    tasks = split_tasks(labels)
    assert np.array_equal(encode(tasks["mask"], tasks["gender"], tasks["age"]), labels)


def test_decode_rejects_out_of_range():
    with pytest.raises(ValueError):
        decode(18)
    with pytest.raises(ValueError):
        decode(np.array([0, -1]))


def test_known_class_names():
    assert class_name(0) == "wear/male/<30"
    assert class_name(17) == "not wear/female/>=60"
    assert class_names()[10] == "incorrect/female/30-59"


@pytest.mark.parametrize("age,band", [(18, 0), (29, 0), (30, 1), (59, 1), (60, 2), (75, 2)])
def test_default_bands(age, band):
    assert AgeBands().band(age) == band
    assert AgeBands().bands([age])[0] == band


def test_configurable_bands_and_validation():
    bands = AgeBands((25, 50))
    assert [bands.band(a) for a in (24, 25, 49, 50)] == [0, 1, 1, 2]
    assert bands.names() == ("<25", "25-49", ">=50")
    with pytest.raises(ValueError):
        AgeBands((60, 30))


def test_training_policy_never_changes_evaluation_bands():
    policy = TrainingAgePolicy(AgeBands(), old_threshold=58, drop_ages=(57, 59))
    assert policy.band(58) == AgeBand.OLD and policy.bands.band(58) == AgeBand.MIDDLE
    assert policy.band(57) == AgeBand.MIDDLE and policy.band(29) == AgeBand.YOUNG
    assert not policy.keep(57) and not policy.keep(59) and policy.keep(56) and policy.keep(60)
    assert TrainingAgePolicy().band(59) == AgeBand.MIDDLE and TrainingAgePolicy().keep(58)
    with pytest.raises(ValueError):
        TrainingAgePolicy(old_threshold=20)


def test_parsers():
    assert parse_gender("Female") == Gender.FEMALE and parse_gender("0") == Gender.MALE
    assert parse_mask("mask") == Mask.WEAR and parse_mask("incorrect") == Mask.INCORRECT
    assert parse_mask("normal") == Mask.NOT_WEAR and parse_mask("not_wear") == Mask.NOT_WEAR
    with pytest.raises(ValueError):
        parse_gender("x")
    with pytest.raises(ValueError):
        parse_mask("half")
