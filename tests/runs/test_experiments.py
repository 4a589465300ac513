import numpy as np
import pytest

from numnet.datasets import course_moons
from numnet.experiments import (COURSE_ACCURACY, MOONS_SIZES, compare_batch_modes, compare_optimizers,
                                course_batch_order, course_weights, format_table)
from numnet.network import Network

PNG = b"\x89PNG\r\n\x1a\n"
KEYS = {"accuracy", "costs", "seconds"}


def is_png(path):
    data = path.read_bytes()
    return len(data) > 100 and data.startswith(PNG)


def check_results(res, names, epochs):
    assert list(res) == names
    for name, r in res.items():
        assert KEYS <= set(r), name
        assert 0.0 <= r["accuracy"] <= 1.0
        assert isinstance(r["accuracy"], float)
        assert len(r["costs"]) == epochs
        assert all(np.isfinite(r["costs"]))
        assert r["seconds"] >= 0


# ---------------------------------------------------------------------------------------------- compare_optimizers
def test_compare_optimizers_results():
    res = compare_optimizers(epochs=300)
    check_results(res, ["gd", "momentum", "adam"], 300)
    for name, r in res.items():
        assert r["course"] == COURSE_ACCURACY[name]
    adam = res["adam"]["costs"]
    assert adam[-1] < adam[0] - 0.1          # Adam clearly decreases the cost
    assert np.mean(adam[-20:]) < np.mean(adam[:20])
    # at this small rate plain GD moves slowly: Adam is ahead after 300 epochs
    assert adam[-1] < res["gd"]["costs"][-1]


def test_compare_optimizers_same_start_and_deterministic():
    a = compare_optimizers(epochs=30)
    b = compare_optimizers(epochs=30)
    for name in a:
        assert a[name]["costs"] == b[name]["costs"]
        assert a[name]["accuracy"] == b[name]["accuracy"]
    # same initial weights and batch order: the first mini-batch's cost is identical for every optimizer,
    # so the first epoch means agree closely
    firsts = [a[name]["costs"][0] for name in a]
    assert max(firsts) - min(firsts) < 0.01
    c = compare_optimizers(epochs=30, seed=4)
    assert c["adam"]["costs"] != a["adam"]["costs"]


def test_compare_optimizers_writes_files(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "opt"
    compare_optimizers(out_dir=out, epochs=20)
    for name in ("costs.png", "boundary_gd.png", "boundary_momentum.png", "boundary_adam.png"):
        assert is_png(out / name), name
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "| optimizer | final train accuracy | course figure | seconds |" in md
    assert "79.7%" in md and "94.0%" in md


# ---------------------------------------------------------------------------------------------- the course's own run
def notebook_replay(X, y, optimizer, epochs, lr=0.0007, beta=0.9, beta1=0.9, beta2=0.999, eps=1e-8):
    """The course notebook's algorithm, written independently in its own layout (examples are columns,
    W[l] of shape (n_l, n_(l-1))), from its formulas: He init from seed 3, epoch e shuffled with seed 11 + e,
    dZ3 = (A3 − Y)/m, momentum V ← βV + (1 − β)dW, Adam with bias-corrected moments and ε outside the root.
    Returns (per-epoch mean of the mini-batch costs, final training accuracy)."""
    rs = np.random.RandomState(3)
    dims = MOONS_SIZES
    W = [rs.randn(dims[l], dims[l - 1]) * np.sqrt(2 / dims[l - 1]) for l in range(1, 4)]
    b = [np.zeros((dims[l], 1)) for l in range(1, 4)]
    params = W + b
    V = [np.zeros_like(p) for p in params]
    S = [np.zeros_like(p) for p in params]
    t = 0
    Xc, Yc = X.T, y.reshape(1, -1).astype(float)
    m = Xc.shape[1]

    def forward(A0):
        Z1 = W[0] @ A0 + b[0]
        A1 = np.maximum(Z1, 0)
        Z2 = W[1] @ A1 + b[1]
        A2 = np.maximum(Z2, 0)
        A3 = 1 / (1 + np.exp(-(W[2] @ A2 + b[2])))
        return A1, A2, A3

    costs = []
    for epoch in range(epochs):
        perm = np.random.RandomState(11 + epoch).permutation(m)
        batch_costs = []
        for k in range(0, m, 64):
            idx = perm[k:k + 64]
            A0, Yb = Xc[:, idx], Yc[:, idx]
            A1, A2, A3 = forward(A0)
            batch_costs.append(-np.mean(Yb * np.log(A3) + (1 - Yb) * np.log(1 - A3)))
            dZ3 = (A3 - Yb) / len(idx)
            dZ2 = (W[2].T @ dZ3) * (A2 > 0)
            dZ1 = (W[1].T @ dZ2) * (A1 > 0)
            grads = [dZ1 @ A0.T, dZ2 @ A1.T, dZ3 @ A2.T] + [d.sum(axis=1, keepdims=True) for d in (dZ1, dZ2, dZ3)]
            t += 1
            for p, g, v, s in zip(params, grads, V, S):
                if optimizer == "gd":
                    p -= lr * g
                elif optimizer == "momentum":
                    v[...] = beta * v + (1 - beta) * g
                    p -= lr * v
                else:
                    v[...] = beta1 * v + (1 - beta1) * g
                    s[...] = beta2 * s + (1 - beta2) * g ** 2
                    p -= lr * (v / (1 - beta1 ** t)) / (np.sqrt(s / (1 - beta2 ** t)) + eps)
        costs.append(np.mean(batch_costs))
    accuracy = np.mean((forward(Xc)[2] > 0.5) == Yc)
    return costs, accuracy


def test_course_weights_are_the_notebooks_draws():
    net = Network.from_sizes(MOONS_SIZES, activation="relu", output="sigmoid", init="he", seed=0, dtype="float64")
    w = course_weights(net)
    assert [k for k in w] == ["0.W", "0.b", "2.W", "2.b", "4.W", "4.b"]
    assert [w[k].shape for k in ("0.W", "2.W", "4.W")] == [(2, 5), (5, 2), (2, 1)]
    # NumPy's legacy generator seeded with 3 starts 1.78862847, 0.43650985, 0.09649747, -1.8634927, ...;
    # the notebook's W1 = randn(5, 2)·√(2/2) is (5, 2) with rows of two, numnet's W is its transpose
    np.testing.assert_allclose(w["0.W"][:, 0], [1.78862847, 0.43650985], atol=1e-8)
    np.testing.assert_allclose(w["0.W"][:, 1], [0.09649747, -1.8634927], atol=1e-8)
    rs = np.random.RandomState(3)
    rs.randn(5, 2)
    np.testing.assert_array_equal(w["2.W"], (rs.randn(2, 5) * np.sqrt(2 / 5)).T)
    assert all(not w[k].any() for k in ("0.b", "2.b", "4.b"))
    net.set_weights(w)
    np.testing.assert_array_equal(net.get_weights()["4.W"], w["4.W"])


def test_course_batch_order():
    first = course_batch_order(0, 300)
    np.testing.assert_array_equal(np.sort(first), np.arange(300))
    np.testing.assert_array_equal(first, np.random.RandomState(11).permutation(300))
    assert first[:4].tolist() == [174, 113, 86, 239]
    assert not np.array_equal(course_batch_order(1, 300), first)
    np.testing.assert_array_equal(course_batch_order(1, 300), course_batch_order(1, 300))


@pytest.mark.parametrize("name", ["gd", "momentum", "adam"])
def test_course_replay_matches_the_notebooks_algorithm(name):
    X, y = course_moons()
    ref_costs, ref_accuracy = notebook_replay(X, y, name, epochs=40)
    res = compare_optimizers(epochs=40, course_data=True)[name]
    np.testing.assert_allclose(res["costs"], ref_costs, rtol=1e-10)
    assert res["accuracy"] == ref_accuracy


@pytest.mark.slow  # 20 s on 2 cores: the full 10,000-epoch replay (`numnet compare-optimizers --course-data`)
def test_course_replay_reproduces_the_course_table():
    """The whole experiment (10,000 epochs, about half a minute): the course's 79.7% / 79.7% / 94%."""
    res = compare_optimizers(course_data=True)
    assert {k: round(300 * r["accuracy"]) for k, r in res.items()} == {"gd": 239, "momentum": 239, "adam": 282}
    for name, r in res.items():
        assert round(100 * r["accuracy"], 1) == round(100 * COURSE_ACCURACY[name], 1)


# ---------------------------------------------------------------------------------------------- compare_batch_modes
def test_compare_batch_modes_results_and_files(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "modes"
    res = compare_batch_modes(out_dir=out, epochs=5, decay_epochs=40, n=100)
    names = ["batch", "minibatch", "stochastic", "sgd_constant", "sgd_decay", "adam_constant", "adam_decay"]
    assert list(res) == names
    for name in names[:3]:
        check_results({name: res[name]}, [name], 5)
    for name in names[3:]:
        check_results({name: res[name]}, [name], 40)
    assert [res[k]["batch_size"] for k in names[:3]] == [100, 64, 1]
    assert res["sgd_decay"]["final_lr"] < res["sgd_decay"]["lr"]
    assert res["sgd_constant"]["final_lr"] == res["sgd_constant"]["lr"]
    # one step per epoch vs 100 steps per epoch at the same rate: stochastic GD is far ahead per epoch
    assert res["stochastic"]["costs"][-1] < res["batch"]["costs"][-1]
    for f in ["costs.png", "costs_decay.png"] + [f"boundary_{k}.png" for k in names]:
        assert is_png(out / f), f
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "stochastic GD (batch 1)" in md and "Learning-rate decay" in md


def test_compare_batch_modes_without_decay_is_deterministic():
    a = compare_batch_modes(epochs=3, decay_epochs=0, n=60)
    b = compare_batch_modes(epochs=3, decay_epochs=0, n=60)
    assert list(a) == ["batch", "minibatch", "stochastic"]
    for k in a:
        assert a[k]["costs"] == b[k]["costs"]


# ---------------------------------------------------------------------------------------------- format_table
def test_format_table_markdown_and_plain():
    md = format_table([("gd", "79.7%"), ("adam", None)], ["optimizer", "acc"])
    assert md.splitlines() == ["| optimizer | acc |", "|---|---|", "| gd | 79.7% |", "| adam |  |"]
    plain = format_table([("a", 1), ("bbbb", 22)], ["x", "y"], markdown=False).splitlines()
    assert plain[0] == "x     y"
    assert plain[1] == "----  --"
    assert plain[3] == "bbbb  22"
    assert "\\|" in format_table([("a|b",)], ["c"])


def test_format_table_errors():
    with pytest.raises(ValueError, match="row 0"):
        format_table([(1, 2, 3)], ["a", "b"])
    with pytest.raises(ValueError, match="header"):
        format_table([], [])
