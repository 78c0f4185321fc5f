from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import write_photo
from torch.utils.data import DataLoader

from maskcls.data.records import Record
from maskcls.labels import DEFAULT_AGE_BANDS, AgeBands, TrainingAgePolicy, encode
from maskcls.vision.cache import CacheSpec, ImageCache
from maskcls.vision.dataset import FeatureDataset, RecordDataset, record_targets

# (mask, gender, age)
PEOPLE = [(0, 0, 25), (1, 1, 45), (2, 0, 58), (0, 1, 60), (2, 1, 59)]


def make_records(folder: Path) -> list[Record]:
    records = []
    for i, (mask, gender, age) in enumerate(PEOPLE):
        path = write_photo(folder / f"{i}.png", color=(40 * i, 100, 200 - 30 * i), size=(20, 24))
        records.append(Record(path=path, person=f"p{i}", id=f"{i:06d}", stem="mask1",
                              mask=mask, gender=gender, age=age))
    return records


@pytest.fixture
def records(tmp_path) -> list[Record]:
    return make_records(tmp_path / "photos")


def test_record_targets_without_policy_use_evaluation_bands(records):
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    assert targets["age"].tolist() == [0, 1, 1, 2, 1]
    assert targets["mask"].tolist() == [p[0] for p in PEOPLE]
    assert targets["gender"].tolist() == [p[1] for p in PEOPLE]
    assert targets["age_value"].tolist() == [25.0, 45.0, 58.0, 60.0, 59.0]
    assert targets["class18"].tolist() == [r.label() for r in records]
    assert {k: v.dtype for k, v in targets.items()} == {
        "class18": np.int64, "mask": np.int64, "gender": np.int64, "age": np.int64, "age_value": np.float32,
    }


def test_record_targets_with_policy_move_the_old_threshold(records):
    targets = record_targets(records, DEFAULT_AGE_BANDS, TrainingAgePolicy(old_threshold=58))
    assert targets["age"].tolist() == [0, 1, 2, 2, 2]  # 58 and 59 are old for training only
    assert np.array_equal(targets["class18"], encode(targets["mask"], targets["gender"], targets["age"]))
    assert targets["class18"][2] == encode(2, 0, 2)
    assert targets["age_value"][2] == 58.0


def test_record_targets_reject_a_policy_for_other_bands(records):
    with pytest.raises(ValueError, match="bands"):
        record_targets(records, AgeBands((30, 55)), TrainingAgePolicy(old_threshold=58))


def test_record_dataset_returns_transformed_images_and_targets(records):
    cache = ImageCache.open([r.path for r in records], CacheSpec(size=(8, 6)), None)
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    seen = []

    def transform(image: torch.Tensor) -> torch.Tensor:
        seen.append((image.dtype, tuple(image.shape)))
        image[:] = 0  # a transform may work in place; the cache must not change
        return image.float() / 255

    dataset = RecordDataset(records, cache, transform, targets)
    image, item = dataset[3]
    assert seen == [(torch.uint8, (3, 8, 6))]
    assert image.dtype == torch.float32 and image.shape == (3, 8, 6)
    assert cache[3].any()
    raw, _ = RecordDataset(records, cache, None, targets)[3]
    assert torch.equal(raw, torch.from_numpy(np.array(cache[3])).permute(2, 0, 1))
    assert set(item) == {"class18", "mask", "gender", "age", "age_value", "index"}
    assert all(t.ndim == 0 for t in item.values())
    assert item["index"].item() == 3 and item["class18"].item() == records[3].label()
    assert item["age_value"].dtype == torch.float32


def test_record_dataset_subsets_share_one_cache(records, tmp_path):
    cache = ImageCache.open([r.path for r in records], CacheSpec(size=(8, 6)), tmp_path / "cache")
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    train = RecordDataset(records, cache, None, targets, indices=[0, 2, 4])
    val = RecordDataset(records, cache, lambda x: x.float(), targets, indices=[1, 3])
    assert len(train) == 3 and len(val) == 2
    assert train[1][1]["index"].item() == 2 and val[0][1]["index"].item() == 1
    assert train.target("class18").tolist() == [targets["class18"][i] for i in (0, 2, 4)]
    images, batch = next(iter(DataLoader(val, batch_size=2)))
    assert images.shape == (2, 3, 8, 6) and batch["index"].tolist() == [1, 3]


def test_record_dataset_checks_sizes(records):
    cache = ImageCache.open([r.path for r in records[:3]], CacheSpec(size=(8, 6)), None)
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    with pytest.raises(ValueError, match="cache"):
        RecordDataset(records, cache, None, targets)
    with pytest.raises(ValueError, match="target"):
        RecordDataset(records[:3], cache, None, targets)
    with pytest.raises(ValueError, match="indices"):
        RecordDataset(records[:3], cache, None, record_targets(records[:3], DEFAULT_AGE_BANDS), indices=[3])


def test_feature_dataset_with_a_data_loader(records):
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    features = torch.arange(5 * 4, dtype=torch.float32).reshape(5, 4)
    dataset = FeatureDataset(features, targets)
    batches = list(DataLoader(dataset, batch_size=2))
    assert [b[0].shape for b in batches] == [(2, 4), (2, 4), (1, 4)]
    assert torch.equal(torch.cat([b[0] for b in batches]), features)
    assert torch.cat([b[1]["class18"] for b in batches]).tolist() == targets["class18"].tolist()
    subset = FeatureDataset(features, targets, indices=[4, 0])
    assert torch.equal(subset[0][0], features[4]) and subset[0][1]["index"].item() == 4
    with pytest.raises(ValueError):
        FeatureDataset(features[0], targets)


def test_the_occluder_is_painted_only_on_photos_of_a_worn_mask(records):
    cache = ImageCache.open([r.path for r in records], CacheSpec(size=(8, 6)), None)
    targets = record_targets(records, DEFAULT_AGE_BANDS)
    painted = []

    def occlude(image: torch.Tensor) -> torch.Tensor:
        painted.append(image.clone())
        return torch.zeros_like(image)

    dataset = RecordDataset(records, cache, None, targets, occlude=occlude)
    images = [dataset[i][0] for i in range(len(records))]
    worn = [i for i, (mask, _, _) in enumerate(PEOPLE) if mask == 0]
    assert worn == [0, 3] and len(painted) == 2
    for i, image in enumerate(images):
        assert (not image.any()) == (i in worn)  # incorrect and not worn photos are left as they are
    assert torch.equal(painted[0], torch.from_numpy(np.array(cache[0])).permute(2, 0, 1))  # a copy of the entry
    assert cache[0].any()
    missing = {**targets, "mask": np.full(len(records), -1)}  # a source without mask labels: never painted
    painted.clear()
    assert all(RecordDataset(records, cache, None, missing, occlude=occlude)[i][0].any() for i in range(5))
    assert painted == []


def test_the_surround_is_set_around_every_photo_after_the_occluder(records):
    cache = ImageCache.open([r.path for r in records], CacheSpec(size=(8, 6)), None)
    targets = {**record_targets(records, DEFAULT_AGE_BANDS), "mask": np.full(len(records), -1)}  # no mask labels
    seen = []

    def occlude(image: torch.Tensor) -> torch.Tensor:
        return torch.full_like(image, 7)

    def surround(image: torch.Tensor) -> torch.Tensor:
        seen.append(int(image[0, 0, 0]))
        return image + 1

    dataset = RecordDataset(records, cache, None, targets, occlude=occlude, surround=surround)
    assert [int(dataset[i][0][0, 0, 0]) for i in range(len(records))] == [int(cache[i][0, 0, 0]) + 1
                                                                           for i in range(len(records))]
    assert len(seen) == len(records)  # every photo, with or without a mask label
    labelled = record_targets(records, DEFAULT_AGE_BANDS)
    seen.clear()
    worn = RecordDataset(records, cache, None, labelled, occlude=occlude, surround=surround)[0][0]
    assert seen == [7] and int(worn[0, 0, 0]) == 8  # the occluder first, then the surround
