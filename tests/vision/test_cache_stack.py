"""Each training source's photos are cached on their own and read as one stack."""

import numpy as np
import pytest
from helpers import write_photo

from maskcls.vision import preprocess
from maskcls.vision.cache import CacheSpec, CacheStack


def test_a_stack_reads_its_parts_as_one_and_each_part_is_reused_on_its_own(tmp_path):
    shared = [tmp_path / "shared" / f"{n}.png" for n in range(3)]
    for n, path in enumerate(shared):
        write_photo(path, (40 * n, 90, 200), (40, 30))
    first_root = [tmp_path / "a" / f"{n}.png" for n in range(2)]
    second_root = [tmp_path / "b" / f"{n}.png" for n in range(4)]
    for path in first_root + second_root:
        write_photo(path, (200, 30, 30), (30, 40))
    (tmp_path / "b" / "3.png").write_bytes(b"not an image")
    spec = CacheSpec((16, 16))
    first = CacheStack.open([("a", first_root), ("shared", shared)], spec, tmp_path / "cache")
    assert len(first) == 5 and not first.reused and first.describe() == "a 2 built, shared 3 built"
    second = CacheStack.open([("b", second_root), ("shared", shared)], spec, tmp_path / "cache")
    assert second.describe() == "b 4 built, shared 3 reused" and not second.reused
    assert list(second.errors) == [3] and "3.png" in second.errors[3]
    for index, path in [*enumerate(second_root[:3]), *enumerate(shared, start=4)]:
        np.testing.assert_array_equal(second[index], preprocess.load_image(path, spec))
    with pytest.raises(IndexError):
        second[7]
    assert CacheStack.open([("b", second_root), ("shared", shared)], spec, tmp_path / "cache").reused
    assert first.key != second.key
