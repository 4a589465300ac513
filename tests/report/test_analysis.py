"""numnet.analysis: confusion matrix, its text table, the most confident mistakes, bias/variance diagnosis."""
import math

import numpy as np
import pytest
from conftest import softmax as _softmax

import numnet
from numnet.analysis import confusion_matrix, diagnose, format_confusion, worst_mistakes


# ---------------------------------------------------------------------------------------------- confusion_matrix
def test_confusion_matrix_hand_example_with_a_class_never_predicted():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 0, 1, 1]  # class 2 is never predicted
    C = confusion_matrix(y_true, y_pred)
    expected = np.array([[1, 1, 0],
                         [0, 2, 0],
                         [1, 2, 0]])
    np.testing.assert_array_equal(C, expected)
    assert C.sum() == len(y_true)
    assert np.trace(C) == 3  # correct predictions
    assert C[:, 2].sum() == 0  # nothing predicted as 2
    assert C[2].sum() == 3  # three examples of class 2


def test_confusion_matrix_explicit_classes_adds_empty_rows_and_columns():
    C = confusion_matrix(np.array([0, 1, 1]), np.array([0, 1, 0]), classes=4)
    assert C.shape == (4, 4)
    np.testing.assert_array_equal(C[:2, :2], [[1, 0], [1, 1]])
    assert C[2:].sum() == 0 and C[:, 2:].sum() == 0


def test_confusion_matrix_matches_a_loop():
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 10, 500), rng.integers(0, 10, 500)
    C = confusion_matrix(y_true, y_pred, classes=10)
    loop = np.zeros((10, 10), dtype=int)
    for t, p in zip(y_true, y_pred):
        loop[t, p] += 1
    np.testing.assert_array_equal(C, loop)


@pytest.mark.parametrize("y_true, y_pred, classes", [
    ([0, 1, 2], [0, 1], None),                        # different lengths
    ([[0, 1]], [[0, 1]], None),                       # not 1-D
    ([0.0, 1.0], [0.0, 1.0], None),                   # not integer labels
    ([0, -1], [0, 1], None),                          # negative label
    ([0, 3], [0, 1], 3),                              # true label outside [0, classes)
    ([0, 1], [0, 5], 3),                              # predicted label outside [0, classes)
])
def test_confusion_matrix_bad_inputs(y_true, y_pred, classes):
    with pytest.raises(ValueError):
        confusion_matrix(y_true, y_pred, classes=classes)


# ---------------------------------------------------------------------------------------------- format_confusion
def test_format_confusion_text():
    C = confusion_matrix([0, 0, 1, 1, 2, 2, 2], [0, 1, 1, 1, 0, 1, 1])
    text = format_confusion(C)
    lines = text.splitlines()
    assert len(lines) == 4  # header + one row per true class
    assert lines[0].split() == ["true\\pred", "0", "1", "2", "recall"]
    assert lines[1].split() == ["0", "1", "1", "0", "50.00%"]
    assert lines[2].split() == ["1", "0", "2", "0", "100.00%"]
    assert lines[3].split() == ["2", "1", "2", "0", "0.00%"]
    assert len({len(line) for line in lines}) == 1  # columns line up


def test_format_confusion_class_without_examples_has_no_recall():
    text = format_confusion(confusion_matrix([0, 1], [0, 0], classes=3))
    last = text.splitlines()[-1].split()
    assert last == ["2", "0", "0", "0", "-"]


def test_format_confusion_wide_counts_stay_aligned():
    C = np.array([[12345, 1], [0, 7]])
    lines = format_confusion(C).splitlines()
    assert "12345" in lines[1]
    assert len({len(line) for line in lines}) == 1


# ---------------------------------------------------------------------------------------------- worst_mistakes
def _hand_network():
    """Dense(2, 3) + softmax with logits z = [x0, x1, 0]: the probabilities are known in closed form."""
    net = numnet.Network([numnet.Dense(2, 3, dtype="float64"), numnet.Softmax()], "log_likelihood")
    dense = net.layers[0]
    dense.params["W"][...] = [[1.0, 0.0, 0.0],
                              [0.0, 1.0, 0.0]]
    dense.params["b"][...] = 0.0
    return net




X_HAND = np.array([[3.0, 0.0],    # 0: predicts 0 with e^3/(e^3+2) ~ 0.909; true 1 -> mistake
                   [0.0, 5.0],    # 1: predicts 1, true 1 -> correct
                   [0.0, 2.0],    # 2: predicts 1 with e^2/(e^2+2) ~ 0.787; true 2 -> mistake
                   [5.0, 0.0],    # 3: predicts 0 with e^5/(e^5+2) ~ 0.987; true 2 -> the worst mistake
                   [-3.0, -3.0],  # 4: predicts 2, true 2 -> correct
                   [1.0, 0.0],    # 5: predicts 0, true 0 -> correct
                   [3.0, 0.0]])   # 6: same as 0 (a tie in confidence), true 2 -> mistake after 0
Y_HAND = np.array([1, 1, 2, 2, 2, 0, 2])


def test_hand_network_probabilities():
    proba = _hand_network().predict_proba(X_HAND)
    for x, p in zip(X_HAND, proba):
        np.testing.assert_allclose(p, _softmax([x[0], x[1], 0.0]), rtol=1e-12)


def test_worst_mistakes_ordering():
    net = _hand_network()
    p5, p3, p2 = (_softmax([5, 0, 0])[0], _softmax([3, 0, 0])[0], _softmax([0, 2, 0])[1])
    mistakes = worst_mistakes(net, X_HAND, Y_HAND, k=10)
    assert [(i, t, p) for i, t, p, _ in mistakes] == [(3, 2, 0), (0, 1, 0), (6, 2, 0), (2, 2, 1)]
    confs = [c for *_, c in mistakes]
    assert confs == pytest.approx([p5, p3, p3, p2], rel=1e-12)
    assert confs == sorted(confs, reverse=True)
    for i, t, p, c in mistakes:
        assert isinstance(i, int) and isinstance(t, int) and isinstance(p, int) and isinstance(c, float)


def test_worst_mistakes_k_limits_and_ties_keep_index_order():
    net = _hand_network()
    assert [m[0] for m in worst_mistakes(net, X_HAND, Y_HAND, k=1)] == [3]
    assert [m[0] for m in worst_mistakes(net, X_HAND, Y_HAND, k=3)] == [3, 0, 6]


def test_worst_mistakes_none_when_all_correct():
    net = _hand_network()
    correct = net.predict(X_HAND)
    assert worst_mistakes(net, X_HAND, correct, k=5) == []


@pytest.mark.parametrize("k", [0, -1, 2.5, "3", None])
def test_worst_mistakes_bad_k(k):
    with pytest.raises(ValueError):
        worst_mistakes(_hand_network(), X_HAND, Y_HAND, k=k)


def test_worst_mistakes_single_sigmoid_output_uses_the_0_5_threshold():
    # one sigmoid unit, z = x: p(class 1) = sigmoid(x); prediction is class 1 when p > 0.5 (as Network.predict)
    net = numnet.Network([numnet.Dense(1, 1, dtype="float64"), numnet.Sigmoid()], "cross_entropy")
    net.layers[0].params["W"][...] = 1.0
    net.layers[0].params["b"][...] = 0.0
    X = np.array([[4.0], [-3.0], [2.0], [-1.0]])
    y = np.array([1, 1, 0, 0])  # 0 correct; 1 predicted 0 with 1-sigmoid(-3); 2 predicted 1 with sigmoid(2)
    mistakes = worst_mistakes(net, X, y, k=5)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    assert [(i, t, p) for i, t, p, _ in mistakes] == [(1, 1, 0), (2, 0, 1)]
    assert [c for *_, c in mistakes] == pytest.approx([1 - sig(-3), sig(2)], rel=1e-12)
    np.testing.assert_array_equal(net.predict(X), [1, 0, 1, 0])


# ---------------------------------------------------------------------------------------------- diagnose
HIGH_BIAS = "high avoidable bias"
HIGH_VARIANCE = "high variance"


def _kinds(result):
    return [a.split(":")[0] for a in result["advice"]]


def test_diagnose_high_variance():
    r = diagnose(train_error=0.01, dev_error=0.11)
    assert _kinds(r) == [HIGH_VARIANCE]
    assert r["avoidable_bias"] == pytest.approx(0.01)
    assert r["variance"] == pytest.approx(0.10)
    assert r["data_mismatch"] is None


def test_diagnose_high_bias():
    # the course's example: train 15%, dev 16% -> high bias, *not* high variance (a 1% gap is not high,
    # although 0.16 - 0.15 is 0.010000000000000009 in floating point)
    r = diagnose(train_error=0.15, dev_error=0.16)
    assert _kinds(r) == [HIGH_BIAS]
    assert r["avoidable_bias"] == pytest.approx(0.15)
    assert r["variance"] == pytest.approx(0.01)


def test_diagnose_high_bias_and_high_variance():
    r = diagnose(train_error=0.15, dev_error=0.30)
    assert _kinds(r) == [HIGH_BIAS, HIGH_VARIANCE]
    assert r["variance"] == pytest.approx(0.15)


def test_diagnose_bayes_error_moves_the_focus_to_variance():
    # human-level 7.5%, train 8%, dev 10%: avoidable bias 0.5% < variance 2% -> work on variance
    r = diagnose(train_error=0.08, dev_error=0.10, bayes_error=0.075)
    assert _kinds(r) == [HIGH_VARIANCE]
    assert r["avoidable_bias"] == pytest.approx(0.005)
    assert r["variance"] == pytest.approx(0.02)


def test_diagnose_close_to_bayes():
    r = diagnose(train_error=0.005, dev_error=0.01)
    assert len(r["advice"]) == 1
    assert HIGH_BIAS not in r["advice"][0] and HIGH_VARIANCE not in r["advice"][0]


def test_diagnose_data_mismatch_with_training_dev_set():
    # train 1%, training-dev 1.5%, dev 10%: the gap is between distributions, not variance
    r = diagnose(train_error=0.01, dev_error=0.10, train_dev_error=0.015)
    assert r["variance"] == pytest.approx(0.005)
    assert r["data_mismatch"] == pytest.approx(0.085)
    assert _kinds(r) == ["data mismatch"]


def test_diagnose_tolerance():
    relaxed = diagnose(0.05, 0.08, tolerance=0.05)  # bias 5% (not above 5%), variance 3%
    assert len(relaxed["advice"]) == 1 and relaxed["advice"][0].startswith("errors are close")
    assert _kinds(diagnose(0.05, 0.08, tolerance=0.02)) == [HIGH_BIAS, HIGH_VARIANCE]


@pytest.mark.parametrize("kwargs", [
    {"train_error": 1.5, "dev_error": 0.1},
    {"train_error": -0.01, "dev_error": 0.1},
    {"train_error": 0.1, "dev_error": 2},
    {"train_error": 0.1, "dev_error": float("nan")},
    {"train_error": "0.1", "dev_error": 0.1},
    {"train_error": None, "dev_error": 0.1},
    {"train_error": True, "dev_error": 0.1},
    {"train_error": 0.1, "dev_error": 0.2, "bayes_error": 1.2},
    {"train_error": 0.1, "dev_error": 0.2, "bayes_error": -0.5},
    {"train_error": 0.1, "dev_error": 0.2, "train_dev_error": 1.5},
    {"train_error": 0.1, "dev_error": 0.2, "train_dev_error": "x"},
])
def test_diagnose_bad_inputs(kwargs):
    with pytest.raises(ValueError):
        diagnose(**kwargs)
