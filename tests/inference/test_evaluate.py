"""Mask-status scoring of a run on labelled face crops (the real crowd crops of `data import-boxes`)."""


import numpy as np
import pytest
from sklearn.metrics import f1_score

from helpers import train_tiny_run
from maskcls.errors import MaskclsError
from maskcls.inference.evaluate import evaluate_crops, mask_marginal, read_crop_labels, save_evaluation, score_masks


def test_mask_marginal_sums_the_six_classes_of_each_state():
    probs = np.zeros((2, 18))
    probs[0, [0, 5]] = 0.5
    probs[1, [7, 12, 17]] = [0.2, 0.3, 0.5]
    assert np.allclose(mask_marginal(probs), [[1, 0, 0], [0, 0.2, 0.8]])


def test_score_matches_sklearn():
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    pred[:5] = 1
    f1, accuracy, per_state, cm = score_masks(truth, pred)
    assert f1 == pytest.approx(f1_score(truth, pred, labels=[0, 1, 2], average="macro", zero_division=0))
    assert accuracy == pytest.approx((truth == pred).mean()) and sum(map(sum, cm)) == 200
    assert set(per_state) == {"wear", "incorrect", "not wear"}


def test_labels_may_not_leave_the_folder(tmp_path):
    (tmp_path / "labels.csv").write_text("file,mask\n../x.jpg,mask\n")
    with pytest.raises(MaskclsError, match="inside"):
        read_crop_labels(tmp_path)
    (tmp_path / "labels.csv").write_text("file,mask\na.jpg,maybe\n")
    with pytest.raises(MaskclsError, match="line 2"):
        read_crop_labels(tmp_path)
    with pytest.raises(MaskclsError, match="not found"):
        read_crop_labels(tmp_path / "nowhere")


def test_evaluate_a_tiny_run_on_crops(tmp_path):
    run = train_tiny_run(tmp_path)
    root = tmp_path / "synthetic"
    crops = tmp_path / "crops"
    photos = sorted((root / "train" / "images").glob("*/*.jpg"))[:6]
    lines = ["file,mask"]
    for i, photo in enumerate(photos):
        (crops / "images").mkdir(parents=True, exist_ok=True)
        (crops / "images" / f"{i}.jpg").write_bytes(photo.read_bytes())
        lines.append(f"images/{i}.jpg,{['wear', 'incorrect', 'normal'][i % 3]}")
    (crops / "images" / "bad.jpg").write_bytes(b"not a jpeg")
    lines.append("images/bad.jpg,mask")
    (crops / "labels.csv").write_text("\n".join(lines) + "\n")
    score, predictions = evaluate_crops(run, crops)
    masks = predictions.masks
    assert score.count == 6 and len(score.skipped) == 1 and "bad.jpg" in score.skipped[0]
    assert masks.shape == (7, 3) and np.isnan(masks[6]).all() and np.allclose(masks[:6].sum(axis=1), 1, atol=1e-5)
    out = save_evaluation(run, score, predictions)
    assert {p.name for p in out.iterdir()} == {"score.json", "predictions.csv", "confusion.png"}
    assert save_evaluation(run, score, predictions) != out
