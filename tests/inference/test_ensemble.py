"""Ensemble maths: soft weights, hard votes and their ties, task-level products, run weights and parsing."""

import numpy as np
import pytest

from maskcls.errors import MaskclsError
from maskcls.inference.ensemble import (
    Ensemble,
    combine_tasks,
    hard_vote,
    parse_tasks,
    parse_weights,
    soft_vote,
    spread,
    task_marginals,
)
from maskcls.labels import encode


def one_hot(*labels: int, p: float = 1.0) -> np.ndarray:
    """Rows putting ``p`` on each label and the rest evenly on the other classes."""
    rows = np.full((len(labels), 18), (1 - p) / 17)
    rows[np.arange(len(labels)), labels] = p
    return rows


def random_probs(rng, *shape) -> np.ndarray:
    x = rng.random((*shape, 18)) ** 3
    return x / x.sum(-1, keepdims=True)


def test_soft_vote_is_the_weighted_mean():
    probs = np.stack([one_hot(0, 1), one_hot(2, 1)])
    assert np.allclose(soft_vote(probs), (probs[0] + probs[1]) / 2)
    weighted = soft_vote(probs, [3, 1])  # weights are normalised
    assert np.allclose(weighted, 0.75 * probs[0] + 0.25 * probs[1])
    assert weighted.argmax(1).tolist() == [0, 1]
    assert soft_vote(probs, [0, 1]).argmax(1).tolist() == [2, 1]


def test_hard_vote_majority_and_ties_by_summed_probability():
    # Three members: two say class 4 weakly, one says class 9 strongly: the majority wins, not the mass.
    probs = np.stack([one_hot(4, p=0.4), one_hot(4, p=0.4), one_hot(9, p=1.0)])
    assert hard_vote(probs).tolist() == [4]
    assert soft_vote(probs).argmax(1).tolist() == [9]
    # Two members tie 1–1: the class with the larger summed probability wins, whichever member comes first.
    tie = np.stack([one_hot(4, p=0.6), one_hot(9, p=0.9)])
    assert hard_vote(tie).tolist() == [9]
    assert hard_vote(tie[::-1]).tolist() == [9]
    # Weights change the count: member 0 alone outweighs the other two.
    assert hard_vote(probs, [0.2, 0.2, 0.6]).tolist() == [9]
    labels, combined = Ensemble("hard").combine(probs)
    assert labels.tolist() == [4] and np.allclose(combined, soft_vote(probs))


def test_task_marginals_and_their_product():
    rng = np.random.default_rng(0)
    probs = random_probs(rng, 2, 5)
    marg = task_marginals(probs[0])
    joint = probs[0].reshape(5, 3, 2, 3)
    assert np.allclose(marg["mask"], joint.sum((2, 3))) and np.allclose(marg["gender"], joint.sum((1, 3)))
    assert np.allclose(marg["age"], joint.sum((1, 2)))
    # Mask from member 0, gender and age from member 1.
    combined = combine_tasks(probs, {"mask": [1, 0], "gender": [0, 1], "age": [0, 1]})
    assert np.allclose(combined.sum(1), 1, atol=1e-6)
    got, m0, m1 = task_marginals(combined), task_marginals(probs[0]), task_marginals(probs[1])
    assert np.allclose(got["mask"], m0["mask"], atol=1e-6)
    assert np.allclose(got["gender"], m1["gender"], atol=1e-6) and np.allclose(got["age"], m1["age"], atol=1e-6)
    m, g, a = 2, 1, 0
    assert np.isclose(combined[3, encode(m, g, a)], m0["mask"][3, m] * m1["gender"][3, g] * m1["age"][3, a])
    # A weighted set for one task, the default weights for the tasks not named.
    mixed = combine_tasks(probs, {"age": [0.25, 0.75]})
    assert np.allclose(task_marginals(mixed)["age"], 0.25 * m0["age"] + 0.75 * m1["age"], atol=1e-6)
    assert np.allclose(task_marginals(mixed)["mask"], (m0["mask"] + m1["mask"]) / 2, atol=1e-6)


def test_run_weights_are_shared_by_a_runs_folds():
    assert spread([0.6, 0.4], [0, 0, 0, 1]).tolist() == pytest.approx([0.2, 0.2, 0.2, 0.4])
    rng = np.random.default_rng(1)
    probs = random_probs(rng, 3, 4)  # run 0 = folds 0 and 1, run 1 = member 2
    _, combined = Ensemble(weights=(0.5, 0.5)).combine(probs, [0, 0, 1])
    assert np.allclose(combined, 0.5 * (probs[0] + probs[1]) / 2 + 0.5 * probs[2], atol=1e-6)
    _, by_task = Ensemble(tasks={"mask": (0.0, 1.0)}).combine(probs, [0, 0, 1])
    assert np.allclose(task_marginals(by_task)["mask"], task_marginals(probs[2])["mask"], atol=1e-6)


def test_parsing_weights_and_tasks():
    assert parse_weights("0.6,0.4", 2) == (0.6, 0.4) and parse_weights(None, 2) is None
    assert parse_tasks("mask=0,gender=1,age=0:0.3+1:0.7", 2) == {"mask": (1.0, 0.0), "gender": (0.0, 1.0),
                                                                   "age": (0.3, 0.7)}
    assert parse_tasks("age=0+1", 2) == {"age": (1.0, 1.0)}
    for bad, needle in (("0.6", r"1 weight\(s\) for 2"), ("a,b", "expected numbers"), ("-1,2", "non-negative")):
        with pytest.raises(MaskclsError, match=needle):
            parse_weights(bad, 2)
    for bad, needle in (("hair=0", "TASK=RUN"), ("mask=2", "run 2 does not exist"), ("mask=0,mask=1", "twice"),
                        ("mask=x", "RUN or RUN:WEIGHT")):
        with pytest.raises(MaskclsError, match=needle):
            parse_tasks(bad, 2)
    with pytest.raises(MaskclsError, match="--vote soft"):
        Ensemble.parse(2, "hard", tasks="mask=0")
