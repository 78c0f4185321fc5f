import numpy as np
import pytest
from sklearn.metrics import classification_report, f1_score

from maskcls.metrics import SubmissionError, macro_f1, score_files, score_labels


@pytest.mark.parametrize("seed", range(20))
def test_macro_f1_matches_sklearn_on_random_submissions(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    # skewed classes, some absent from truth or predictions or both
    present = rng.choice(18, size=int(rng.integers(1, 18)), replace=False)
    y_true = rng.choice(present, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, 18, n))
    report = classification_report(y_true, y_pred, labels=range(18), zero_division=0, output_dict=True)
    assert abs(macro_f1(y_true, y_pred) - report["macro avg"]["f1-score"]) < 1e-9
    score = score_labels(y_true, y_pred)
    assert abs(score.macro_f1 - report["macro avg"]["f1-score"]) < 1e-9
    assert abs(score.accuracy - np.mean(y_true == y_pred)) < 1e-12
    mask_true, mask_pred = y_true // 6, y_pred // 6
    assert abs(score.task_f1["mask"] - f1_score(mask_true, mask_pred, labels=range(3), average="macro", zero_division=0)) < 1e-9
    for row in score.per_class:
        assert abs(row["f1"] - report[str(row["class"])]["f1-score"]) < 1e-9


def test_absent_classes_count_as_zero():
    y = np.array([0, 1, 2])
    assert macro_f1(y, y) == pytest.approx(3 / 18)
    assert macro_f1(y, y, n_classes=3) == 1.0


def write(path, rows):
    path.write_text("ImageID,ans\n" + "".join(f"{i},{a}\n" for i, a in rows))
    return path


def test_score_files_and_refusals(tmp_path):
    gt = write(tmp_path / "gt.csv", [("a.jpg", 0), ("b.jpg", 17), ("c.jpg", 4)])
    sub = write(tmp_path / "sub.csv", [("a.jpg", 0), ("b.jpg", 17), ("c.jpg", 5)])
    score = score_files(gt, sub)
    assert score.n == 3 and score.accuracy == pytest.approx(2 / 3)
    with pytest.raises(SubmissionError, match="2 rows but the ground truth"):
        score_files(gt, write(tmp_path / "short.csv", [("a.jpg", 0), ("b.jpg", 1)]))
    with pytest.raises(SubmissionError, match="line 3: ImageID c.jpg where the ground truth has b.jpg"):
        score_files(gt, write(tmp_path / "order.csv", [("a.jpg", 0), ("c.jpg", 1), ("b.jpg", 1)]))
    with pytest.raises(SubmissionError, match="line 2: ans 18 is outside"):
        score_files(gt, write(tmp_path / "range.csv", [("a.jpg", 18), ("b.jpg", 1), ("c.jpg", 1)]))
    with pytest.raises(SubmissionError, match="not an integer"):
        score_files(gt, write(tmp_path / "text.csv", [("a.jpg", "x"), ("b.jpg", 1), ("c.jpg", 1)]))
    with pytest.raises(SubmissionError, match="file not found"):
        score_files(gt, tmp_path / "none.csv")
