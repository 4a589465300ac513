"""Populations (issue 20): K networks trained at once as one stacked state. The contract is equivalence: member i
of a population trained with seed S equals `Network.from_sizes(..., seed=seeds[i]).fit(..., seed=S)` with its
own hyperparameters, to 1e-10 in float64 and float rounding in float32, for every optimizer, L2, dropout, batch
norm and on the strict device stand-in; a diverging member stops alone."""
import numpy as np
import pytest

import numnet
from numnet import Adam, FusedSGD, Momentum, Network, Population, RMSprop, SGD
from numnet.model import memory
from numnet.train.callbacks import Callback
from numnet.utils import backend as B

import strict_xp

SEEDS = [4, 5, 6]
RATES = [0.1, 0.03, 0.3]


def data(n=240, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 2
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, features))).astype(np.float32), y


def optimizer(name, values):
    """The optimizer `name` with per-member settings `values` (or one member's, as numbers)."""
    v = values
    return {"sgd": lambda: SGD(v[0]), "fused_sgd": lambda: FusedSGD(v[0]),
            "momentum": lambda: Momentum(v[0], beta=v[1]), "rmsprop": lambda: RMSprop(v[0], beta=v[1]),
            "adam": lambda: Adam(v[0], beta1=v[1])}[name]()


BETAS = [0.9, 0.5, 0.8]
LR = {"sgd": RATES, "fused_sgd": RATES, "momentum": RATES, "rmsprop": [0.01, 0.003, 0.001],
      "adam": [0.01, 0.003, 0.001]}


def train_both(build, name="sgd", l2=0.0, device="cpu", epochs=2, batch_size=10, dtype="float64", **fit):
    """(the population, its histories, the members trained alone with their histories)."""
    X, y = data()
    val = (X[200:], y[200:])
    pop = Population.from_sizes(seeds=SEEDS, dtype=dtype, **build)
    if device != "cpu":
        pop.to(device)
    hist = pop.fit(X[:200], y[:200], epochs=epochs, batch_size=batch_size, optimizer=optimizer(name, [LR[name], BETAS]),
                   l2=l2, seed=11, validation_data=val, **fit)
    alone = []
    for i, seed in enumerate(SEEDS):
        net = Network.from_sizes(seed=seed, dtype=dtype, **build)
        if device != "cpu":
            net.to(device)
        h = net.fit(X[:200], y[:200], epochs=epochs, batch_size=batch_size, seed=11, validation_data=val,
                    optimizer=optimizer(name, [LR[name][i], BETAS[i]]), l2=l2[i] if np.ndim(l2) else l2, **fit)
        alone.append((net, h))
    return pop, hist, alone


def assert_members_equal(pop, hist, alone, rtol=1e-10, atol=1e-12):
    for i, (net, h) in enumerate(alone):
        member = pop.member(i)
        assert isinstance(member, Network) and member.architecture() == net.architecture()
        for k, v in net.arrays().items():
            np.testing.assert_allclose(B.to_host(member.arrays()[k]), B.to_host(v), rtol=rtol, atol=atol, err_msg=k)
        for field in ("val_cost", "val_accuracy", "lr"):
            np.testing.assert_allclose(hist[i][field], h[field], rtol=rtol, atol=atol, err_msg=field)
        np.testing.assert_allclose(np.concatenate(hist[i].batch_cost), np.concatenate(h.batch_cost), rtol=rtol,
                                   atol=atol)


RELU = dict(sizes=[12, 16, 3], activation="relu", cost="log_likelihood")


@pytest.mark.parametrize("name", ["sgd", "fused_sgd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_trains_each_member_as_alone_float64(name):
    assert_members_equal(*train_both(RELU, name, l2=[0.0, 0.5, 2.0]))


@pytest.mark.parametrize("build", [dict(sizes=[12, 16, 8, 3], activation="tanh", cost="log_likelihood", batch_norm=True),
                                   dict(sizes=[12, 8, 3], activation="maxout", cost="log_likelihood"),
                                   dict(sizes=[12, 10, 3], activation="sigmoid", cost="cross_entropy"),
                                   dict(sizes=[12, 10, 3], activation="elu", cost="quadratic")])
def test_batch_norm_maxout_and_every_cost_train_each_member_as_alone(build):
    assert_members_equal(*train_both(build, "momentum", l2=1.0))


def test_dropout_members_draw_the_masks_of_their_runs_alone():
    """Shared masks (the default): each member's mask is the one its network alone draws from seed S."""
    assert_members_equal(*train_both(dict(RELU, sizes=[12, 16, 16, 3], keep_prob=[0.8, 0.6]), "adam"))


def test_independent_dropout_masks_differ_per_member_with_the_right_statistics():
    pop = Population.from_sizes([12, 400, 3], k=3, activation="relu", cost="log_likelihood", keep_prob=0.7,
                                masks="independent")
    X, _ = data(n=50)
    outputs = []
    pop.stack.forward_pass(pop.prepare_inputs(X), True, np.random.default_rng(0), outputs=outputs)
    hidden, dropped = outputs[1], outputs[2]  # ReLU output, dropout output: (K, n, 400)
    kept = (dropped != 0) | (hidden == 0)
    on = hidden != 0
    rate = kept[on].mean()
    assert abs(rate - 0.7) < 0.02  # Bernoulli(0.7) over ~ 3·50·200 live units
    assert not np.array_equal(kept[0], kept[1])  # each member its own mask
    np.testing.assert_allclose(dropped[kept & on], hidden[kept & on] / 0.7, rtol=1e-6)


def test_float32_members_equal_their_runs_alone_within_rounding():
    assert_members_equal(*train_both(RELU, "adam", dtype="float32", l2=0.5), rtol=2e-4, atol=2e-5)


@pytest.fixture
def strict():
    B.register_backend(strict_xp.BACKEND)
    yield strict_xp.NAME
    B.unregister_backend(strict_xp.NAME)


@pytest.mark.parametrize("name", ["sgd", "fused_sgd", "adam"])
def test_on_the_strict_device_each_member_equals_its_run_alone(strict, name):
    strict_xp.SYNCS.reset()
    pop, hist, alone = train_both(dict(RELU, keep_prob=0.8), name, l2=[0.1, 0.2, 0.0], device=strict, epochs=2)
    syncs = strict_xp.SYNCS.total  # the population's run and its members' runs alone
    assert pop.device == strict and isinstance(pop.param_arrays()[0], strict_xp.StrictArray)
    assert_members_equal(pop, hist, alone)
    strict_xp.SYNCS.reset()
    X, y = data()
    pop.fit(X[:200], y[:200], epochs=2, batch_size=10, optimizer=SGD(RATES), seed=1)
    assert strict_xp.SYNCS.total <= 12 < syncs  # no host read per batch (40 batches): a few per epoch


def test_a_diverging_member_stops_alone_where_its_run_alone_stops():
    X, y = data()
    rates = [0.01, 1e3, 0.02]
    pop = Population.from_sizes([12, 16, 3], seeds=SEEDS, activation="relu", cost="quadratic", output="identity",
                                dtype="float64")
    hist = pop.fit(X, np.eye(3)[y] * 5, epochs=3, batch_size=10, optimizer=SGD(rates), seed=2)
    assert set(hist.stopped) == {1} and "diverged" in hist.stopped[1] and "learning rate 1000;" in hist.stopped[1]
    assert len(hist[0]) == len(hist[2]) == 3 and len(hist[1]) < 3
    for i, lr in enumerate(rates):
        net = Network.from_sizes([12, 16, 3], seed=SEEDS[i], activation="relu", cost="quadratic", output="identity",
                                 dtype="float64")
        if i == 1:
            with pytest.raises(numnet.TrainingDiverged) as err:
                net.fit(X, np.eye(3)[y] * 5, epochs=3, batch_size=10, optimizer=SGD(lr), seed=2)
            assert str(err.value) == hist.stopped[1]
        else:
            net.fit(X, np.eye(3)[y] * 5, epochs=3, batch_size=10, optimizer=SGD(lr), seed=2)
        for k, v in net.arrays().items():  # the stopped member is frozen where its run alone ended
            np.testing.assert_allclose(pop.member(i).arrays()[k], v, rtol=1e-10, atol=1e-12)


def test_every_member_diverging_ends_the_run_with_every_reason():
    X, y = data()
    pop = Population.from_sizes([12, 16, 3], k=2, activation="relu", cost="quadratic", output="identity")
    hist = pop.fit(X, np.eye(3)[y] * 50, epochs=5, batch_size=10, optimizer=SGD(1e5), seed=2)
    assert sorted(hist.stopped) == [0, 1] and len(hist) == 0


def test_callbacks_see_per_member_logs_and_the_console_summarises(capsys):
    seen = []

    class Spy(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append((np.asarray(logs["val_accuracy"]).shape, np.asarray(logs["lr"]).shape,
                         trainer.active.copy()))

    X, y = data()
    pop = Population.from_sizes([12, 8, 3], k=4, activation="relu", cost="log_likelihood")
    pop.fit(X[:200], y[:200], epochs=2, optimizer=SGD([0.1, 0.2, 0.3, 0.4]), validation_data=(X[200:], y[200:]),
            callbacks=[Spy()], verbose=1, seed=0, schedule=numnet.StepDecay(step=1, factor=0.5))
    assert [s[:2] for s in seen] == [((4,), (4,))] * 2 and seen[0][2].all()
    out = capsys.readouterr().out
    assert "4/4 members training" in out and "best val accuracy" in out


def test_a_schedule_scales_each_members_rate():
    X, y = data()
    pop = Population.from_sizes([12, 8, 3], k=2, activation="relu", cost="log_likelihood")
    hist = pop.fit(X, y, epochs=3, optimizer=SGD([0.1, 0.4]), seed=0, schedule=numnet.StepDecay(step=1, factor=0.5))
    assert hist[0].lr == pytest.approx([0.1, 0.05, 0.025]) and hist[1].lr == pytest.approx([0.4, 0.2, 0.1])


def test_options_that_keep_one_networks_state_and_bad_member_counts_are_refused(tmp_path):
    X, y = data()
    pop = Population.from_sizes([12, 8, 3], k=2, activation="relu", cost="log_likelihood")
    with pytest.raises(ValueError, match="early_stopping .* not available for a population"):
        pop.fit(X, y, epochs=1, early_stopping=2, validation_data=(X, y))
    with pytest.raises(ValueError, match="plateau"):
        pop.fit(X, y, epochs=1, schedule=numnet.Plateau())
    with pytest.raises(ValueError, match="lr has 3 values but the population has 2 members"):
        pop.fit(X, y, epochs=1, optimizer=SGD([0.1, 0.2, 0.3]))
    with pytest.raises(ValueError, match="l2 must be .* 2 such numbers"):
        pop.fit(X, y, epochs=1, l2=[0.1, -1])
    with pytest.raises(ValueError, match="seeds must list one seed per member"):
        Population.from_sizes([12, 8, 3], k=3, seeds=[1, 2])
    with pytest.raises(ValueError, match=r"member must be an integer in \[0, 2\)"):
        pop.member(2)


def test_predictions_and_evaluations_per_member_and_as_an_ensemble(tmp_path):
    X, y = data()
    pop = Population.from_sizes([12, 8, 3], seeds=SEEDS, activation="relu", cost="log_likelihood")
    pop.fit(X, y, epochs=2, optimizer=SGD(RATES), seed=0)
    proba = pop.predict_proba(X)
    assert proba.shape == (3, len(X), 3)
    evaluations = pop.evaluate(X, y)
    for i in range(3):
        net = pop.member(i)
        np.testing.assert_allclose(proba[i], net.predict_proba(X), rtol=1e-6)
        assert evaluations[i].accuracy == net.evaluate(X, y).accuracy
        assert evaluations[i].cost == pytest.approx(net.evaluate(X, y).cost, rel=1e-5)
    ens = pop.ensemble()
    np.testing.assert_allclose(ens.predict_proba(X), proba.mean(axis=0), rtol=1e-6)
    assert ens.evaluate(X, y).accuracy == np.mean(proba.mean(axis=0).argmax(axis=1) == y)
    pop.save(tmp_path / "e.npz")
    loaded = numnet.load(tmp_path / "e.npz")
    assert isinstance(loaded, numnet.Ensemble) and loaded.members == 3
    np.testing.assert_array_equal(loaded.predict_proba(X), ens.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), ens.predict(X))
    assert [e.accuracy for e in loaded.evaluate_members(X, y)] == [e.accuracy for e in evaluations]
    pop.member(0).save(tmp_path / "one.npz")  # single-network files load as networks, as before
    assert isinstance(numnet.load(tmp_path / "one.npz"), Network)


def test_a_damaged_ensemble_file_is_refused_before_reading_arrays(tmp_path):
    from numnet.utils.archive import write_archive

    pop = Population.from_sizes([12, 8, 3], k=2)
    meta = {"format": "numnet-ensemble", "version": 1, "members": 3, "network": pop.architecture()}
    write_archive(tmp_path / "bad.npz", meta, {k: B.to_host(v) for k, v in pop.arrays().items()})
    with pytest.raises(ValueError, match=r"expected 3 members on its first axis"):
        numnet.load(tmp_path / "bad.npz")


def test_a_population_that_does_not_fit_the_memory_budget_is_refused_with_the_largest_that_fits():
    per = memory.estimate(784 * 100 + 100 + 100 * 10 + 10, [], 1, 0, 4, slots=0)
    with pytest.raises(ValueError, match=r"a population of 1000 members needs about 909\.9 MiB .* budget of "
                                         r"100\.0 MiB; the largest that fits is 109 members") as err:
        Population.from_sizes([784, 100, 10], k=1000, memory_budget="100M")
    assert "\n" not in str(err.value) and per * 109 <= 100 << 20 < per * 110
    pop = Population.from_sizes([784, 100, 10], k=4)
    X, y = np.zeros((20, 784), np.float32), np.arange(20) % 10
    with pytest.raises(ValueError, match="the largest that fits is"):
        pop.fit(X, y, epochs=1, batch_size=10, memory_budget=pop.estimate_per_member(10, 0) * 4 - 1)
    assert memory.parse_size("1.5G") == 3 << 29 and memory.parse_size("2048") == 2048
    with pytest.raises(ValueError, match="positive size"):
        memory.parse_size("lots")


def test_numnet_train_ensemble_saves_one_model_and_evaluate_reports_it_and_each_member(tmp_path, capsys):
    from numnet.cli import main

    out = tmp_path / "ens.npz"
    assert main(["train", "--ensemble", "3", "--sizes", "784,12,10", "--train-size", "300", "--validation-size",
                 "100", "--epochs", "1", "--seed", "5", "--quiet", "--out", str(out)]) == 0
    assert "ensemble of 3: test accuracy" in capsys.readouterr().out
    ens = numnet.load(out)
    assert isinstance(ens, numnet.Ensemble) and ens.members == 3
    (X, y), _, (Xt, yt) = numnet.load_mnist(validation_size=100)
    alone = Network.from_sizes([784, 12, 10], activation="relu", cost="log_likelihood", init="he", seed=6)  # member 1: seed 5+1
    alone.fit(X[:300], y[:300], epochs=1, batch_size=64, optimizer=SGD(0.2), seed=5)
    np.testing.assert_allclose(ens.member(1).predict_proba(Xt[:50]), alone.predict_proba(Xt[:50]), rtol=1e-4,
                               atol=1e-6)
    assert main(["evaluate", str(out)]) == 0
    text = capsys.readouterr().out
    assert "test: ensemble accuracy" in text and "member 2: accuracy" in text
    assert main(["train", "--ensemble", "2", "--early-stopping", "2", "--quiet"]) == 2
    assert "--ensemble does not take --early-stopping" in capsys.readouterr().err
    assert main(["train", "--ensemble", "100000", "--sizes", "784,300,10", "--memory", "1G", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the largest that fits is" in err and "budget of 1.0 GiB" in err


def test_the_progress_bar_shows_a_population_s_best_batch_cost():
    X, y = data()
    pop = Population.from_sizes([12, 8, 3], k=3, activation="relu", cost="log_likelihood")
    hist = pop.fit(X, y, epochs=1, optimizer=SGD(RATES), seed=0, verbose=2, progress=True)
    assert len(hist[0]) == 1


def test_fused_sgd_steps_large_members_as_one_gemm_each_equal_to_their_runs_alone():
    """Members of [80, 64] weights (5120 ≥ GEMM_MIN_MEMBER_SIZE) take the per-member gemm path."""
    from numnet.train import optimizers

    assert 80 * 64 >= optimizers.GEMM_MIN_MEMBER_SIZE
    X, y = np.random.default_rng(1).standard_normal((120, 80)), np.arange(120) % 3
    pop = Population.from_sizes([80, 64, 3], seeds=SEEDS, activation="relu", cost="log_likelihood", dtype="float64")
    pop.fit(X, y, epochs=2, batch_size=10, optimizer=FusedSGD(RATES), l2=[0.5, 0.0, 2.0], seed=3)
    for i, seed in enumerate(SEEDS):
        net = Network.from_sizes([80, 64, 3], seed=seed, activation="relu", cost="log_likelihood", dtype="float64")
        net.fit(X, y, epochs=2, batch_size=10, optimizer=SGD(RATES[i]), l2=[0.5, 0.0, 2.0][i], seed=3)
        for k, v in net.arrays().items():
            np.testing.assert_allclose(pop.member(i).arrays()[k], v, rtol=1e-10, atol=1e-12)
