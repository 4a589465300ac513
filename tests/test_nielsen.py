"""numnet.nielsen: the book's interface (network.py / network2.py / mnist_loader.py) on the engine."""
import json

import numpy as np
import pytest

from numnet import nielsen
from numnet.nielsen import CrossEntropyCost, Network, Network1, QuadraticCost


@pytest.fixture(scope="module")
def mnist():
    return nielsen.load_data_wrapper()


@pytest.fixture(scope="module")
def small(mnist):
    training, validation, test = mnist
    return training[:1000], validation[:1000], test[:500]


def book_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def book_feedforward(weights, biases, a):
    for w, b in zip(weights, biases):
        a = book_sigmoid(w @ a + b)
    return a


def book_backprop(weights, biases, x, y, cost):
    """network2.py's per-example backprop, written out in column orientation (the reference)."""
    activation, activations, zs = x, [x], []
    for w, b in zip(weights, biases):
        z = w @ activation + b
        zs.append(z)
        activation = book_sigmoid(z)
        activations.append(activation)
    delta = cost.delta(zs[-1], activations[-1], y)
    nabla_b, nabla_w = [delta], [delta @ activations[-2].T]
    for l in range(2, len(weights) + 1):
        sp = book_sigmoid(zs[-l]) * (1 - book_sigmoid(zs[-l]))
        delta = (weights[-l + 1].T @ delta) * sp
        nabla_b.insert(0, delta)
        nabla_w.insert(0, delta @ activations[-l - 1].T)
    return nabla_b, nabla_w


TINY_W = [[[0.1, -0.2, 0.3], [0.4, 0.5, -0.6], [-0.7, 0.8, 0.9], [1.0, -1.1, 0.2]],
          [[0.3, -0.1, 0.2, 0.5], [-0.4, 0.6, -0.2, 0.1]]]
TINY_B = [[[0.1], [-0.2], [0.3], [0.0]], [[0.5], [-0.5]]]


def write_book_json(path, **overrides):
    data = {"sizes": [3, 4, 2], "weights": TINY_W, "biases": TINY_B, "cost": "CrossEntropyCost"}
    data.update(overrides)
    for k in [k for k, v in data.items() if v is None]:
        del data[k]
    path.write_text(json.dumps(data))
    return path


# ----------------------------------------------------------------------------- save / load
def test_book_json_loads_and_feeds_forward_like_the_book(tmp_path):
    path = write_book_json(tmp_path / "net.json")
    for dtype, tol in (("float32", 1e-6), ("float64", 1e-12)):
        net = nielsen.load(path, dtype=dtype)
        assert net.sizes == [3, 4, 2] and net.num_layers == 3 and net.cost is CrossEntropyCost
        x = np.array([[0.5], [-1.0], [2.0]])
        expected = book_feedforward([np.array(w) for w in TINY_W], [np.array(b) for b in TINY_B], x)
        out = net.feedforward(x)
        assert out.shape == (2, 1)
        np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)
        np.testing.assert_allclose(net.weights[0], TINY_W[0], rtol=tol)
        np.testing.assert_allclose(net.biases[1], TINY_B[1], rtol=tol)
    # several columns at once, and a flat vector as a single column
    cols = np.array([[0.5, 0.0], [-1.0, 1.0], [2.0, -3.0]])
    assert net.feedforward(cols).shape == (2, 2)
    np.testing.assert_allclose(net.feedforward(cols)[:, :1], net.feedforward(cols[:, 0]))


def test_save_load_round_trip_identical_outputs(tmp_path):
    net = Network([5, 7, 3], cost=QuadraticCost, seed=3)
    net.save(tmp_path / "a.json")
    data = json.loads((tmp_path / "a.json").read_text())
    assert set(data) == {"sizes", "weights", "biases", "cost"}
    assert data["sizes"] == [5, 7, 3] and data["cost"] == "QuadraticCost"
    assert np.array(data["weights"][0]).shape == (7, 5) and np.array(data["biases"][1]).shape == (3, 1)
    back = nielsen.load(tmp_path / "a.json")
    assert back.cost is QuadraticCost and back.engine.cost.name == "quadratic"
    x = np.random.default_rng(0).random((5, 4))
    np.testing.assert_array_equal(back.feedforward(x), net.feedforward(x))
    assert not list(tmp_path.glob(".*.tmp"))  # atomic write left nothing behind


def test_cost_class_and_instance_both_save(tmp_path):
    for cost in (CrossEntropyCost, CrossEntropyCost(), QuadraticCost, QuadraticCost(), "CrossEntropyCost"):
        net = Network([2, 3, 1], cost=cost, seed=0)
        net.save(tmp_path / "c.json")
        name = json.loads((tmp_path / "c.json").read_text())["cost"]
        assert name == net.cost.__name__ and nielsen.load(tmp_path / "c.json").cost is net.cost
    with pytest.raises(ValueError, match="cost"):
        Network([2, 3, 1], cost="os.system")
    with pytest.raises(ValueError, match="cost"):
        Network([2, 3, 1], cost=object)


@pytest.mark.parametrize("overrides, field", [
    ({"weights": None}, "weights"),
    ({"cost": None}, "cost"),
    ({"sizes": None}, "sizes"),
    ({"biases": None}, "biases"),
    ({"weights": [TINY_W[0]]}, "weights"),                       # one matrix short
    ({"weights": [np.array(TINY_W[0]).T.tolist(), TINY_W[1]]}, "weights"),  # transposed (engine orientation)
    ({"biases": [[0.1, -0.2, 0.3, 0.0], TINY_B[1]]}, "biases"),  # flat instead of (n, 1)
    ({"weights": [TINY_W[0], [[1, 2, 3, 4], [1, 2]]]}, "weights"),  # ragged
    ({"weights": [TINY_W[0], [["a"] * 4] * 2]}, "weights"),
    ({"sizes": [3, 4, 2.5]}, "sizes"),
    ({"cost": "os.system"}, "cost"),
    ({"cost": "__import__"}, "cost"),
    ({"cost": "LogLikelihoodCost"}, "cost"),
])
def test_rejected_files_name_the_field(tmp_path, overrides, field):
    path = write_book_json(tmp_path / "bad.json", **overrides)
    with pytest.raises(ValueError, match=field):
        nielsen.load(path)


def test_rejected_files_invalid_json_missing_file_not_object(tmp_path):
    (tmp_path / "x.json").write_text('{"sizes": [3, 4, 2], "weights": [')
    with pytest.raises(ValueError, match="not valid JSON"):
        nielsen.load(tmp_path / "x.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        nielsen.load(tmp_path / "list.json")
    with pytest.raises(FileNotFoundError, match="nope.json"):
        nielsen.load(tmp_path / "nope.json")


# ----------------------------------------------------------------------------- parameters tied to the engine
def test_weights_biases_orientation_and_tie_to_engine():
    net = Network([4, 3, 2], seed=0)
    dense = [l for l in net.engine.layers if l.name == "dense"]
    assert [w.shape for w in net.weights] == [(3, 4), (2, 3)]
    assert [b.shape for b in net.biases] == [(3, 1), (2, 1)]
    np.testing.assert_array_equal(net.weights[0], dense[0].W.T)
    net.weights[0][2, 1] = 7.5
    assert dense[0].W[1, 2] == 7.5
    net.biases[1][1, 0] = -3.0
    assert dense[1].b[1] == -3.0
    # rebinding copies into the engine instead of detaching
    net.weights[1] = np.ones((2, 3))
    np.testing.assert_array_equal(dense[1].W, np.ones((3, 2)))
    net.biases = [np.zeros((3, 1)), np.full((2, 1), 0.5)]
    np.testing.assert_array_equal(dense[1].b, [0.5, 0.5])
    with pytest.raises(ValueError, match="shape"):
        net.weights = [np.ones((4, 3)), np.ones((2, 3))]
    # the engine's updates show through the views
    dense[0].W[...] = 0.25
    assert np.all(net.weights[0] == 0.25)
    net.cost = QuadraticCost
    assert net.engine.cost.name == "quadratic"


def test_initializers_statistics_and_seed():
    net = Network([784, 100], seed=5)
    net.default_weight_initializer()
    std = net.weights[0].std()
    assert abs(std - 1 / np.sqrt(784)) < 0.1 / np.sqrt(784)
    assert abs(net.biases[0].std() - 1) < 0.25
    net.large_weight_initializer()
    assert abs(net.weights[0].std() - 1) < 0.1
    a, b = Network([6, 5, 2], seed=9), Network([6, 5, 2], seed=9)
    np.testing.assert_array_equal(a.weights[0], b.weights[0])
    a.default_weight_initializer(seed=1)
    b.default_weight_initializer(seed=1)
    np.testing.assert_array_equal(a.biases[1], b.biases[1])
    assert abs(Network1([784, 100], seed=0).weights[0].std() - 1) < 0.1  # chapter 1: large init


# ----------------------------------------------------------------------------- gradients and one step match the book
def test_backprop_and_update_mini_batch_match_the_book():
    rng = np.random.default_rng(0)
    for cost in (CrossEntropyCost, QuadraticCost):
        net = Network([4, 5, 3], cost=cost, seed=2, dtype="float64")
        W = [w.copy() for w in net.weights]
        B = [b.copy() for b in net.biases]
        batch = [(rng.random((4, 1)), nielsen.vectorized_result(int(rng.integers(3)), 3)) for _ in range(6)]
        nb, nw = net.backprop(*batch[0])
        rb, rw = book_backprop(W, B, *batch[0], cost)
        for got, ref in zip(nb + nw, rb + rw):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        eta, lmbda, n = 0.5, 2.0, 50
        sum_b = [np.zeros_like(b) for b in B]
        sum_w = [np.zeros_like(w) for w in W]
        for x, y in batch:
            db, dw = book_backprop(W, B, x, y, cost)
            sum_b = [s + d for s, d in zip(sum_b, db)]
            sum_w = [s + d for s, d in zip(sum_w, dw)]
        W_new = [(1 - eta * lmbda / n) * w - eta / len(batch) * s for w, s in zip(W, sum_w)]
        B_new = [b - eta / len(batch) * s for b, s in zip(B, sum_b)]
        net.update_mini_batch(batch, eta, lmbda, n)
        for got, ref in zip(net.weights + net.biases, W_new + B_new):
            np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)


def test_cost_functions_on_columns():
    a, y = np.array([[0.8], [0.1]]), np.array([[1.0], [0.0]])
    assert np.isclose(QuadraticCost.fn(a, y), 0.5 * (0.04 + 0.01))
    assert np.isclose(CrossEntropyCost.fn(a, y), -np.log(0.8) - np.log(0.9))
    assert CrossEntropyCost.fn(np.array([[1.0], [0.0]]), y) == 0.0  # the book's nan_to_num: 0·log 0 → 0
    z = np.array([[1.0], [-2.0]])
    np.testing.assert_allclose(CrossEntropyCost.delta(z, a, y), a - y)
    np.testing.assert_allclose(QuadraticCost.delta(z, a, y), (a - y) * nielsen.sigmoid_prime(z))


# ----------------------------------------------------------------------------- data
def test_load_data_wrapper_forms(mnist):
    training, validation, test = mnist
    assert (len(training), len(validation), len(test)) == (50000, 10000, 10000)
    x, y = training[0]
    assert x.shape == (784, 1) and x.dtype == np.float32 and y.shape == (10, 1) and y.sum() == 1
    x, y = test[0]
    assert x.shape == (784, 1) and isinstance(y, int) and 0 <= y < 10
    (X, labels), _, _ = nielsen.load_data()
    assert X.shape == (50000, 784)
    assert int(np.argmax(training[5][1])) == labels[5]
    np.testing.assert_array_equal(nielsen.vectorized_result(3).ravel(), np.eye(10)[3])
    with pytest.raises(ValueError):
        nielsen.vectorized_result(10)


def test_accuracy_and_total_cost_both_label_forms(small):
    training, validation, _ = small
    net = Network([784, 20, 10], seed=0)
    as_ints = [(x, int(np.argmax(y))) for x, y in training[:300]]
    acc = net.accuracy(training[:300])
    assert isinstance(acc, int)
    assert acc == net.accuracy(as_ints) == net.accuracy(training[:300], convert=True)
    assert net.accuracy(as_ints, convert=False) == acc
    c = net.total_cost(training[:300], 0.0)
    assert np.isclose(c, net.total_cost(as_ints, 0.0, convert=True), rtol=1e-6)
    assert np.isclose(c, net.total_cost(training[:300], 0.0, convert=False))
    # the book's formula, example by example
    book = sum(CrossEntropyCost.fn(net.feedforward(x).astype(float), y) for x, y in training[:300]) / 300
    assert np.isclose(c, book, rtol=1e-4)
    # L2 term: 0.5 * (lambda / len(data)) * sum ||w||^2
    l2 = 0.5 * (5.0 / 300) * sum(float(np.sum(w.astype(float) ** 2)) for w in net.weights)
    assert np.isclose(net.total_cost(training[:300], 5.0), c + l2, rtol=1e-6)
    # an explicit convert that contradicts the data is an error, not a silent wrong answer
    with pytest.raises(ValueError, match="convert"):
        net.accuracy(as_ints, convert=True)
    with pytest.raises(ValueError, match="convert"):
        net.total_cost(training[:300], 0.0, convert=True)


# ----------------------------------------------------------------------------- training
def test_sgd_monitoring_learns_and_is_reproducible(small, capsys):
    training, validation, _ = small
    runs = []
    for _ in range(2):
        net = Network([784, 30, 10], seed=1)
        runs.append(net.SGD(training, 3, 10, 0.5, lmbda=0.1, evaluation_data=validation,
                            monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                            monitor_training_cost=True, monitor_training_accuracy=True, seed=4))
    out = capsys.readouterr().out
    assert "Epoch 0 training complete" in out and "Accuracy on evaluation data:" in out
    assert f"Accuracy on evaluation data: {runs[0][1][-1]} / 1000" in out
    assert "Cost on training data:" in out
    ec, ea, tc, ta = runs[0]
    assert len(ec) == len(ea) == len(tc) == len(ta) == 3
    assert all(type(v) is int for v in ea + ta)
    assert ea[-1] > 600 and ta[-1] > 600
    assert tc[-1] < tc[0]
    assert runs[0] == runs[1]
    # no monitoring asked: four empty lists; a network seed alone also reproduces the run
    r1 = Network([784, 10, 10], seed=3).SGD(training[:200], 1, 10, 0.5, verbose=False)
    assert r1 == ([], [], [], [])
    n1, n2 = Network([784, 10, 10], seed=3), Network([784, 10, 10], seed=3)
    n1.SGD(training[:200], 1, 10, 0.5, verbose=False)
    n2.SGD(training[:200], 1, 10, 0.5, verbose=False)
    np.testing.assert_array_equal(n1.weights[0], n2.weights[0])


def test_sgd_early_stopping_the_books_way(small):
    training, validation, _ = small
    net = Network([784, 10, 10], seed=0)
    # eta tiny: accuracy cannot improve every epoch for long; stops within epochs
    _, ea, _, _ = net.SGD(training[:100], 20, 10, 1e-6, evaluation_data=validation[:100],
                          monitor_evaluation_accuracy=True, early_stopping_n=2, verbose=False)
    assert 3 <= len(ea) < 20


def test_network1_chapter_one_style(mnist, small, capsys):
    training, validation = mnist[0][:3000], small[1]
    net = Network1([784, 30, 10], seed=0)
    assert net.cost is QuadraticCost
    counts = net.SGD(training, 3, 10, 3.0, test_data=validation)  # seed 0 reaches 667
    out = capsys.readouterr().out
    assert f"Epoch 2: {counts[-1]} / 1000" in out
    assert len(counts) == 3 and counts[-1] > 500
    assert net.evaluate(validation) == counts[-1]
    assert net.SGD(training[:100], 1, 10, 3.0) is None
    assert "Epoch 0 complete" in capsys.readouterr().out


@pytest.mark.parametrize("kwargs, match", [
    ({"epochs": 0}, "epochs"),
    ({"mini_batch_size": 0}, "mini_batch_size"),
    ({"mini_batch_size": 2.5}, "mini_batch_size"),
    ({"eta": 0}, "eta"),
    ({"eta": -1.0}, "eta"),
    ({"lmbda": -1.0}, "lmbda"),
    ({"monitor_evaluation_accuracy": True}, "evaluation_data"),
])
def test_sgd_bad_arguments(small, kwargs, match):
    training = small[0][:20]
    args = {"epochs": 1, "mini_batch_size": 10, "eta": 0.5, **kwargs}
    net = Network([784, 5, 10], seed=0)
    with pytest.raises(ValueError, match=match):
        net.SGD(training, args.pop("epochs"), args.pop("mini_batch_size"), args.pop("eta"), verbose=False, **args)


def test_bad_inputs_name_the_problem():
    net = Network([4, 3, 2], seed=0)
    with pytest.raises(ValueError, match=r"\(4, 1\)"):
        net.feedforward(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="NaN"):
        net.feedforward(np.full((4, 1), np.nan))
    good = (np.zeros((4, 1)), nielsen.vectorized_result(1, 2))
    with pytest.raises(ValueError, match=r"training_data\[1\]: x has shape"):
        net.SGD([good, (np.zeros((5, 1)), 1)], 1, 1, 0.1, verbose=False)
    with pytest.raises(ValueError, match="mixes label forms"):
        net.SGD([good, (np.zeros((4, 1)), 1)], 1, 1, 0.1, verbose=False)
    with pytest.raises(ValueError, match="outside"):
        net.accuracy([(np.zeros((4, 1)), 7)])
    with pytest.raises(ValueError, match="empty"):
        net.SGD([], 1, 1, 0.1)
    with pytest.raises(ValueError, match="pair"):
        net.accuracy([np.zeros((4, 1))])
    # a one-shot iterator (Python 3's zip from mnist_loader ports) is consumed once and works
    net.SGD(zip([np.zeros((4, 1))] * 3, [0, 1, 0]), 1, 2, 0.1, verbose=False)


def test_network2_accepts_chapter_ones_test_data_keyword(small, capsys):
    """The book's chapter-1 call `Network(...).SGD(training_data, epochs, mini_batch_size, eta, test_data=...)`
    works on network2's class too: test_data is monitored as evaluation accuracy."""
    training, validation, _ = small
    net = Network([784, 10, 10], seed=0)
    ec, ea, tc, ta = net.SGD(training[:200], 2, 10, 0.5, test_data=validation[:100], seed=0)
    assert len(ea) == 2 and ec == [] and tc == [] and ta == []
    assert f"Accuracy on evaluation data: {ea[-1]} / 100" in capsys.readouterr().out
    assert ea[-1] == net.accuracy(validation[:100])
    with pytest.raises(ValueError, match="not both"):
        net.SGD(training[:10], 1, 10, 0.5, test_data=validation[:10], evaluation_data=validation[:10])
