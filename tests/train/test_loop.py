"""Training with `fit`: learning, reproducibility, batch sizes, L2 by hand, divergence, argument checks,
monitoring, early stopping with restoration of the best weights, exact checkpoint/resume, and one real
MNIST epoch."""
import warnings

import numpy as np
import pytest
from conftest import blobs

import numnet
from numnet import SGD, Adam, EarlyStopping, Momentum, Network, RMSprop, TrainingDiverged, load_checkpoint

HISTORY_FIELDS = ("epoch", "train_cost", "train_accuracy", "val_cost", "val_accuracy", "lr", "batch_cost")




def same_history(h1, h2):
    for f in HISTORY_FIELDS:
        assert h1[f] == h2[f], f


def same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == wb[k].dtype
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


# ------------------------------------------------------------------------------------------ learning
def test_learns_two_blobs():
    X, y = blobs()
    Xv, yv = blobs(100, seed=1)
    net = Network.from_sizes([2, 8, 2], seed=0)
    before = net.evaluate(Xv, yv)
    h = net.fit(X, y, epochs=10, batch_size=10, optimizer=SGD(0.5), seed=0, validation_data=(Xv, yv))
    after = net.evaluate(Xv, yv)
    assert after.accuracy >= 0.95
    assert after.cost < before.cost / 2
    assert len(h) == 10 and h.epoch == list(range(1, 11))
    assert all(len(b) == 20 for b in h.batch_cost)  # 200 examples / batch 10


@pytest.mark.parametrize("opt", [lambda: Momentum(0.5), lambda: RMSprop(0.01), lambda: Adam(0.01)],
                         ids=["momentum", "rmsprop", "adam"])
def test_learns_moons_with_each_optimizer(opt):
    X, y = numnet.make_moons(300, noise=0.15, seed=0)
    net = Network.from_sizes([2, 16, 16, 2], activation="relu", cost="log_likelihood", init="he", seed=1)
    net.fit(X, y, epochs=40, batch_size=16, optimizer=opt(), seed=0)
    assert net.evaluate(X, y).accuracy >= 0.9


def test_binary_single_output_learns():
    X, y = blobs()
    net = Network.from_sizes([2, 4, 1], activation="tanh", seed=0)
    net.fit(X, y, epochs=5, batch_size=10, optimizer=SGD(0.5), seed=0)
    assert net.evaluate(X, y).accuracy >= 0.95
    assert np.mean(net.predict(X) == y) == net.evaluate(X, y).accuracy


def test_fit_keeps_parameter_identity_and_dtype():
    X, y = blobs(40)
    net = Network.from_sizes([2, 4, 2], seed=0)
    W = net.layers[0].W
    net.fit(X.astype(np.float64), y, epochs=2, batch_size=8, optimizer=Adam(0.01), seed=0)
    assert net.layers[0].W is W and net.layers[0].params["W"] is W
    assert W.dtype == np.float32 and net.dtype == np.float32


# ------------------------------------------------------------------------------------------ reproducibility
@pytest.mark.parametrize("keep_prob", [None, 0.7])
def test_same_seed_same_run_different_seed_different_run(keep_prob):
    X, y = blobs(100)
    Xv, yv = blobs(50, seed=1)

    def run(seed):
        net = Network.from_sizes([2, 8, 2], keep_prob=keep_prob, seed=3)
        h = net.fit(X, y, epochs=3, batch_size=10, optimizer=Adam(0.01), seed=seed, validation_data=(Xv, yv))
        return net, h

    a, ha = run(7)
    b, hb = run(7)
    c, _ = run(8)
    same_weights(a, b)
    same_history(ha, hb)
    wa, wc = a.get_weights(), c.get_weights()
    assert any(not np.array_equal(wa[k], wc[k]) for k in wa)


# ------------------------------------------------------------------------------------------ batch sizes
def test_stochastic_batch_size_one():
    X, y = blobs(60)
    net = Network.from_sizes([2, 4, 2], seed=0)
    h = net.fit(X, y, epochs=2, batch_size=1, optimizer=SGD(0.1), seed=0)
    assert [len(b) for b in h.batch_cost] == [60, 60]
    assert net.evaluate(X, y).accuracy >= 0.9


def test_full_batch_and_batch_larger_than_n():
    X, y = blobs(60)
    for bs in (60, 1000):
        net = Network.from_sizes([2, 4, 2], seed=0)
        c0 = net.evaluate(X, y).cost
        h = net.fit(X, y, epochs=30, batch_size=bs, optimizer=SGD(1.0), seed=0)
        assert [len(b) for b in h.batch_cost] == [1] * 30
        # with full-batch gradient descent each batch cost is the cost of the whole set before the step
        assert h.batch_cost[0][0] == pytest.approx(c0, rel=1e-5)
        assert net.evaluate(X, y).cost < c0


def test_last_partial_batch_is_used():
    X, y = blobs(25)
    h = Network.from_sizes([2, 3, 2], seed=0).fit(X, y, epochs=1, batch_size=10, seed=0)
    assert len(h.batch_cost[0]) == 3


# ------------------------------------------------------------------------------------------ example order
def test_shuffle_false_visits_examples_in_order():
    X, y = blobs(30)
    in_order = Network.from_sizes([2, 4, 2], seed=0)
    h1 = in_order.fit(X, y, epochs=3, batch_size=7, seed=0, shuffle=False)
    given = Network.from_sizes([2, 4, 2], seed=0)
    h2 = given.fit(X, y, epochs=3, batch_size=7, seed=5, shuffle=lambda epoch, n: np.arange(n))
    same_history(h1, h2)
    same_weights(in_order, given)
    shuffled = Network.from_sizes([2, 4, 2], seed=0)
    h3 = shuffled.fit(X, y, epochs=3, batch_size=7, seed=0)
    assert h3.batch_cost != h1.batch_cost


def test_shuffle_callable_sets_each_epochs_batches():
    X, y = blobs(12)
    calls = []

    def order(epoch, n):
        calls.append((epoch, n))
        return np.roll(np.arange(n), 5 * epoch)

    net = Network.from_sizes([2, 3, 2], seed=1)
    h = net.fit(X, y, epochs=3, batch_size=12, optimizer=SGD(0.5), seed=0, shuffle=order)
    assert calls == [(0, 12), (1, 12), (2, 12)]
    # one full batch per epoch: the order of its examples does not change the step
    ref = Network.from_sizes([2, 3, 2], seed=1)
    same_history(h, ref.fit(X, y, epochs=3, batch_size=12, optimizer=SGD(0.5), seed=0, shuffle=False))
    # with batches of 4 the first batch of epoch 1 is examples 7..10 (the order rolled by 5)
    first = []
    net = Network.from_sizes([2, 3, 2], seed=1)
    net.fit(X, y, epochs=2, batch_size=4, optimizer=SGD(1e-12), seed=0, shuffle=order,
            on_epoch_end=lambda epoch, hist: first.append(hist.batch_cost[-1][0]))
    probe = Network.from_sizes([2, 3, 2], seed=1)
    idx = np.roll(np.arange(12), 5)[:4]
    assert first[1] == pytest.approx(probe.evaluate(X[idx], y[idx]).cost, rel=1e-5)


@pytest.mark.parametrize("shuffle,match", [
    ("yes", "shuffle must be True, False, .replacement. or a callable"),
    (1, "shuffle must be True, False, .replacement. or a callable"),
    (lambda e, n: np.arange(n - 1), r"permutation of 0..11"),
    (lambda e, n: np.zeros(n, dtype=int), r"permutation of 0..11"),
    (lambda e, n: np.arange(n, dtype=float), r"permutation of 0..11"),
    (lambda e, n: np.arange(1, n + 1), r"permutation of 0..11"),
    (lambda e, n: np.arange(n).reshape(3, 4), r"shape \(12,\)"),
])
def test_invalid_shuffle(shuffle, match):
    X, y = blobs(12)
    with pytest.raises(ValueError, match=match):
        Network.from_sizes([2, 3, 2], seed=0).fit(X, y, epochs=1, batch_size=4, shuffle=shuffle)


# ------------------------------------------------------------------------------------------ L2 by hand
def test_one_full_batch_sgd_step_with_l2_by_hand():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((12, 3))
    y = rng.integers(0, 2, 12)
    lr, lam, n = 0.3, 2.0, len(X)
    net = Network.from_sizes([3, 4, 2], activation="tanh", seed=1, dtype="float64")
    ref = net.copy()
    _, grads = ref.loss_and_grads(X, y, l2=0.0)
    expected = {}
    for i, layer in enumerate(ref.layers):
        for k in layer.params:
            p, g = layer.params[k], grads[i][k]
            if k == "W":
                expected[f"{i}.{k}"] = p - lr * (g + (lam / n) * p)  # W − α(dW + (λ/n)W)
            else:
                expected[f"{i}.{k}"] = p - lr * g  # biases are not decayed
    net.fit(X, y, epochs=1, batch_size=n, optimizer=SGD(lr), l2=lam, seed=5)
    got = net.get_weights()
    for k, v in expected.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-12, atol=1e-14, err_msg=k)
    # and it is not the l2 = 0 step
    assert not np.allclose(got["0.W"], ref.layers[0].W - lr * grads[0]["W"], rtol=1e-9)


def test_l2_uses_training_set_size_not_batch_size():
    """With identical examples every mini-batch has the same gradient whatever the shuffle, so two steps of
    batch 3 on 6 examples can be computed by hand: W ← W − α(dW + (λ/n)W) with n = 6."""
    x = np.array([[0.5, -1.0, 2.0]])
    X = np.repeat(x, 6, axis=0)
    y = np.ones(6, dtype=int)
    lr, lam = 0.2, 3.0
    net = Network.from_sizes([3, 4, 2], activation="sigmoid", seed=2, dtype="float64")
    ref = net.copy()
    for _ in range(2):
        _, grads = ref.loss_and_grads(x, [1], l2=0.0)
        for layer, lg in zip(ref.layers, grads):
            for k in layer.params:
                p, g = layer.params[k], lg[k]
                if k == "W":
                    p -= lr * (g + (lam / 6) * p)
                else:
                    p -= lr * g
    net.fit(X, y, epochs=1, batch_size=3, optimizer=SGD(lr), l2=lam, seed=0)
    got, exp = net.get_weights(), ref.get_weights()
    for k in exp:
        np.testing.assert_allclose(got[k], exp[k], rtol=1e-12, atol=1e-14, err_msg=k)


def test_l2_shrinks_weights():
    X, y = blobs(200)
    norms = {}
    for lam in (0.0, 5.0):
        net = Network.from_sizes([2, 16, 2], seed=0)
        net.fit(X, y, epochs=10, batch_size=10, optimizer=SGD(0.5), l2=lam, seed=0)
        norms[lam] = sum(float(np.sum(l.W ** 2)) for l in net.layers if hasattr(l, "W"))
    assert norms[5.0] < 0.8 * norms[0.0]


def test_l2_enters_monitored_cost():
    X, y = blobs(50)
    net = Network.from_sizes([2, 4, 2], seed=0)
    h = net.fit(X, y, epochs=1, batch_size=10, l2=4.0, seed=0, monitor_training=True, validation_data=(X, y))
    ev = net.evaluate(X, y, l2=4.0, n_train=50)
    assert h.train_cost[-1] == pytest.approx(ev.cost, rel=1e-6)
    assert h.val_cost[-1] == pytest.approx(ev.cost, rel=1e-6)
    assert h.val_cost[-1] > net.evaluate(X, y).cost


# ------------------------------------------------------------------------------------------ divergence
def test_divergence_raises():
    X, y = blobs(100)
    net = Network.from_sizes([2, 16, 1], activation="relu", output="identity", cost="quadratic", init="large",
                             seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning on the way either
        with pytest.raises(TrainingDiverged, match="diverged") as info:
            net.fit(X, y, epochs=5, batch_size=10, optimizer=SGD(1e6), seed=0)
    assert isinstance(info.value, ValueError)


# ------------------------------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize("kwargs,match", [
    ({"epochs": 0}, "epochs"), ({"epochs": -1}, "epochs"), ({"epochs": 1.5}, "epochs"),
    ({"epochs": True}, "epochs"), ({"epochs": "3"}, "epochs"), ({"epochs": None}, "epochs"),
    ({"batch_size": 0}, "batch_size"), ({"batch_size": -5}, "batch_size"), ({"batch_size": 2.0}, "batch_size"),
    ({"l2": -0.1}, "l2"), ({"l2": float("nan")}, "l2"), ({"l2": float("inf")}, "l2"), ({"l2": "x"}, "l2"),
    ({"l2": None}, "l2"),
    ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"), ({"seed": "a"}, "seed"), ({"seed": True}, "seed"),
    ({"optimizer": "sgd"}, "optimizer"), ({"validation_data": (np.zeros((2, 2)),)}, "validation_data"),
    ({"early_stopping": 0}, "patience"), ({"early_stopping": "yes"}, "early_stopping"),
    ({"early_stopping": 2}, "validation_data"),
])
def test_invalid_fit_arguments(kwargs, match):
    X, y = blobs(20)
    net = Network.from_sizes([2, 3, 2], seed=0)
    args = {"epochs": 1, "batch_size": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, **args)


def test_batchnorm_needs_batches_of_two():
    X, y = blobs(20)
    net = Network.from_sizes([2, 3, 2], batch_norm=True, seed=0)
    with pytest.raises(ValueError, match="batch"):
        net.fit(X, y, epochs=1, batch_size=1, seed=0)


# ------------------------------------------------------------------------------------------ monitoring
def test_validation_monitoring():
    X, y = blobs(100)
    Xv, yv = blobs(60, seed=1)
    net = Network.from_sizes([2, 6, 2], seed=0)
    h = net.fit(X, y, epochs=3, batch_size=10, optimizer=SGD(0.5), seed=0, validation_data=(Xv, yv))
    assert len(h.val_cost) == len(h.val_accuracy) == 3
    assert all(isinstance(v, float) for v in h.val_cost + h.val_accuracy)
    assert h.train_cost == [None] * 3 and h.train_accuracy == [None] * 3
    ev = net.evaluate(Xv, yv)
    assert h.val_accuracy[-1] == ev.accuracy
    assert h.val_cost[-1] == pytest.approx(ev.cost, rel=1e-6)
    assert h.lr == [0.5] * 3


def test_training_monitoring():
    X, y = blobs(100)
    net = Network.from_sizes([2, 6, 2], seed=0)
    h = net.fit(X, y, epochs=2, batch_size=10, optimizer=SGD(0.5), seed=0, monitor_training=True)
    assert h.val_cost == [None, None]
    ev = net.evaluate(X, y)
    assert h.train_accuracy[-1] == ev.accuracy
    assert h.train_cost[-1] == pytest.approx(ev.cost, rel=1e-6)


def test_on_epoch_end_and_verbose(capsys):
    X, y = blobs(40)
    seen = []
    net = Network.from_sizes([2, 3, 2], seed=0)
    net.fit(X, y, epochs=2, batch_size=10, seed=0, verbose=1, on_epoch_end=lambda e, h: seen.append((e, len(h))))
    assert seen == [(1, 1), (2, 2)]
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "epoch 2/2" in out


# ------------------------------------------------------------------------------------------ early stopping
def _early_stopping_run(es):
    X, y = numnet.make_moons(200, noise=0.3, seed=0)
    Xv, yv = numnet.make_moons(100, noise=0.3, seed=1)
    net = Network.from_sizes([2, 16, 2], activation="tanh", seed=0)
    snapshots = {}
    h = net.fit(X, y, epochs=100, batch_size=10, optimizer=SGD(1.0), seed=0, validation_data=(Xv, yv),
                early_stopping=es, on_epoch_end=lambda e, hist: snapshots.__setitem__(e, net.get_weights()))
    return net, h, snapshots, (Xv, yv)


def test_early_stopping_stops_and_restores_best_weights():
    es = EarlyStopping(patience=2)
    net, h, snaps, (Xv, yv) = _early_stopping_run(es)
    n = len(h)
    assert n < 100  # it stopped
    best = max(h.val_accuracy)
    best_epoch = h.val_accuracy.index(best) + 1  # first epoch reaching the best
    assert es.best_epoch == best_epoch
    assert n == best_epoch + 2  # exactly `patience` epochs without improvement
    assert best_epoch < n
    # the network now holds the best epoch's weights, not the last epoch's
    assert net.evaluate(Xv, yv).accuracy == best
    for k, v in snaps[best_epoch].items():
        np.testing.assert_array_equal(net.get_weights()[k], v)
    assert any(not np.array_equal(snaps[best_epoch][k], snaps[n - 1][k]) for k in snaps[best_epoch])


def test_early_stopping_integer_patience():
    net, h, snaps, (Xv, yv) = _early_stopping_run(2)
    assert len(h) < 100
    assert net.evaluate(Xv, yv).accuracy == max(h.val_accuracy)


def test_early_stopping_on_val_cost():
    es = EarlyStopping(patience=1, monitor="val_cost")
    net, h, snaps, (Xv, yv) = _early_stopping_run(es)
    assert len(h) < 100
    assert net.evaluate(Xv, yv).cost == pytest.approx(min(h.val_cost), rel=1e-6)


def test_early_stopping_rule_by_hand():
    """Ties are not improvements; improvements must exceed min_delta; stop after `patience` flat epochs."""
    net = Network.from_sizes([2, 2], seed=0)
    es = EarlyStopping(patience=2)
    assert [es.update(e, v, net) for e, v in enumerate([0.5, 0.6, 0.6, 0.6], start=1)] == [False] * 3 + [True]
    assert es.best_epoch == 2 and es.best == 0.6 and es.stopped_epoch == 4
    es = EarlyStopping(patience=2, monitor="val_cost", min_delta=0.1)
    # 1.0 -> 0.95 is not an improvement by more than 0.1; 0.8 is
    assert [es.update(e, v, net) for e, v in enumerate([1.0, 0.95, 0.8, 0.75, 0.72], start=1)] == \
        [False, False, False, False, True]
    assert es.best_epoch == 3
    with pytest.raises(ValueError, match="not measured"):
        EarlyStopping().update(1, None, net)


@pytest.mark.parametrize("kwargs", [{"patience": 0}, {"patience": 1.5}, {"patience": True}, {"monitor": "acc"},
                                    {"min_delta": -1}, {"min_delta": float("nan")}])
def test_early_stopping_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        EarlyStopping(**kwargs)


# ------------------------------------------------------------------------------------------ checkpoints
def _resume_case(tmp_path, make_net, make_opt, epochs_first=2, epochs_total=4, batch_size=16, n=120):
    X, y = blobs(n)
    Xv, yv = blobs(40, seed=1)
    full = make_net()
    h_full = full.fit(X, y, epochs=epochs_total, batch_size=batch_size, optimizer=make_opt(), seed=11,
                      validation_data=(Xv, yv))
    d = tmp_path / "ck"
    part = make_net()
    part.fit(X, y, epochs=epochs_first, batch_size=batch_size, optimizer=make_opt(), seed=11,
             validation_data=(Xv, yv), checkpoint_dir=d)
    ck = load_checkpoint(d)
    assert ck.epoch == epochs_first
    same_weights(ck.network, part)  # the checkpoint holds the trained weights
    h_res = ck.network.fit(X, y, epochs=epochs_total, batch_size=batch_size, resume=ck,
                           validation_data=(Xv, yv))
    same_weights(ck.network, full)
    same_history(h_res, h_full)
    return full, part, ck, (X, y, Xv, yv, d)


def test_resume_is_exact_with_adam(tmp_path):
    full, part, ck, (X, y, *_rest) = _resume_case(
        tmp_path, lambda: Network.from_sizes([2, 8, 2], seed=4), lambda: Adam(0.01))
    assert isinstance(ck.optimizer, Adam)
    # the optimizer state matters: resuming with a fresh Adam state gives different weights
    d = _rest[-1]
    ck2 = load_checkpoint(d)
    ck2.optimizer.load_state_dict(ck2.network.param_arrays(), [{}] * len(ck2.network.param_arrays()))
    ck2.network.fit(X, y, epochs=4, batch_size=16, resume=ck2)
    wf, w2 = full.get_weights(), ck2.network.get_weights()
    assert any(not np.array_equal(wf[k], w2[k]) for k in wf)


def test_resume_is_exact_with_dropout(tmp_path):
    full, part, ck, (X, y, Xv, yv, d) = _resume_case(
        tmp_path, lambda: Network.from_sizes([2, 12, 10, 2], activation="relu", keep_prob=0.6, seed=5),
        lambda: Adam(0.01))
    # the random generator's state matters: a fresh generator gives a different continuation
    ck2 = load_checkpoint(d)
    ck2.rng_state = np.random.default_rng(999).bit_generator.state
    ck2.network.fit(X, y, epochs=4, batch_size=16, resume=ck2)
    wf, w2 = full.get_weights(), ck2.network.get_weights()
    assert any(not np.array_equal(wf[k], w2[k]) for k in wf)


def test_resume_is_exact_with_batchnorm_and_momentum(tmp_path):
    _resume_case(tmp_path, lambda: Network.from_sizes([2, 8, 2], activation="relu", batch_norm=True, seed=6),
                 lambda: Momentum(0.1))


def test_resume_from_directory_into_a_fresh_network(tmp_path):
    X, y = blobs(80)
    full = Network.from_sizes([2, 6, 2], seed=1)
    full.fit(X, y, epochs=3, batch_size=8, optimizer=RMSprop(0.01), seed=2)
    d = tmp_path / "c"
    Network.from_sizes([2, 6, 2], seed=1).fit(X, y, epochs=1, batch_size=8, optimizer=RMSprop(0.01), seed=2,
                                             checkpoint_dir=d)
    other = Network.from_sizes([2, 6, 2], seed=99)  # same architecture, different weights
    other.fit(X, y, epochs=3, batch_size=8, resume=d)
    same_weights(other, full)
    with pytest.raises(ValueError, match="architecture"):
        Network.from_sizes([2, 7, 2]).fit(X, y, epochs=3, batch_size=8, resume=d)


def test_checkpoint_files_written(tmp_path):
    X, y = blobs(40)
    d = tmp_path / "new" / "dir"
    Network.from_sizes([2, 3, 2], seed=0).fit(X, y, epochs=2, batch_size=8, seed=0, checkpoint_dir=d)
    assert (d / "checkpoint.npz").is_file() and (d / "history.json").is_file()
    with np.load(d / "checkpoint.npz", allow_pickle=False) as data:
        assert "__meta__" in data.files
    assert load_checkpoint(d).epoch == 2
    assert not [p for p in d.iterdir() if p.name.endswith(".tmp")]


def test_damaged_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError):
        load_checkpoint(empty)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "checkpoint.npz").write_bytes(b"\x00garbage\xff" * 100)
    with pytest.raises(ValueError):
        load_checkpoint(garbage)
    model = tmp_path / "model"
    model.mkdir()
    Network.from_sizes([2, 3, 2]).save(model / "checkpoint.npz")  # a model file is not a checkpoint
    with pytest.raises(ValueError, match="checkpoint"):
        load_checkpoint(model)
    # truncated real checkpoint
    X, y = blobs(20)
    good = tmp_path / "good"
    Network.from_sizes([2, 3, 2], seed=0).fit(X, y, epochs=1, batch_size=5, seed=0, checkpoint_dir=good)
    data = (good / "checkpoint.npz").read_bytes()
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    (trunc / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError):
        load_checkpoint(trunc)
    with pytest.raises(ValueError):
        Network.from_sizes([2, 3, 2]).fit(X, y, epochs=2, batch_size=5, resume=trunc)


# ------------------------------------------------------------------------------------------ MNIST
def test_mnist_one_epoch_nielsen_chapter1():
    """Nielsen ch.1: [784, 30, 10], sigmoid, quadratic cost, N(0, 1) init, SGD η = 3.0, mini-batch 10.
    One epoch reaches about 91% test accuracy (Nielsen reports 9129/10000 after epoch 0)."""
    (X, y), _, (Xt, yt) = numnet.load_mnist()
    net = Network.from_sizes([784, 30, 10], activation="sigmoid", cost="quadratic", init="large", seed=0)
    net.fit(X, y, epochs=1, batch_size=10, optimizer=SGD(3.0), seed=0)
    assert net.evaluate(Xt, yt).accuracy >= 0.90


def test_early_stopping_restores_best_weights_when_epochs_run_out_first():
    # patience is never exhausted (10 > epochs), yet training must end on the best validation epoch
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = (X[:, 0] + 0.5 * rng.standard_normal(200) > 0).astype(int)
    Xv = rng.standard_normal((100, 4))
    yv = (Xv[:, 0] > 0).astype(int)
    net = numnet.Network.from_sizes([4, 8, 2], activation="tanh", cost="log_likelihood", seed=0)
    es = numnet.EarlyStopping(patience=10)
    h = net.fit(X, y, epochs=8, batch_size=1, optimizer=numnet.SGD(2.0), validation_data=(Xv, yv), seed=0,
                early_stopping=es)
    assert len(h) == 8 and es.stopped_epoch == 0
    best = h.best_epoch("val_accuracy")
    assert best != len(h)  # otherwise the test would prove nothing
    assert net.evaluate(Xv, yv).accuracy == h.val_accuracy[best - 1]
