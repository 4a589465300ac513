"""The tuning tools beside the search: the learning-rate finder (`numnet lr-find`), watching a run
(`numnet watch`) and the scikit-learn estimator (NumnetClassifier)."""
import json
import threading
import time

import numpy as np
import pytest

from numnet.cli import main
from numnet.model.network import Network
from numnet.search.lrfind import lr_find
from numnet.search.watch import watch
from numnet.train.optimizers import make_optimizer

PNG = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- lr-find
def _regression(n=400, d=6, seed=0):
    """Linear regression (targets scaled into [0, 1]) and its divergence threshold 2/λ_max of the quadratic
    cost's Hessian (inputs with a column of ones for the bias)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([3, 1, 1, 0.5, 0.3, 2])[:d]
    y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    y = ((y - y.min()) / (y.max() - y.min()))[:, None]
    Xt = np.hstack([X, np.ones((n, 1))])
    return X, y, 2 / np.linalg.eigvalsh(Xt.T @ Xt / n).max()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lr_find_finds_the_divergence_threshold_of_a_quadratic(seed):
    X, y, threshold = _regression(seed=seed)
    net = Network.from_sizes([X.shape[1], 1], output="identity", cost="quadratic", init="he", seed=seed,
                             dtype="float64")
    r = lr_find(net, make_optimizer("sgd", lr=0.1), X, y, batch_size=32, lr_min=1e-4, lr_max=10.0, steps=300,
                seed=seed)
    assert threshold / 3 <= r.blowup_lr <= 3 * threshold, (r.blowup_lr, threshold)
    assert r.suggested_lr == pytest.approx(r.blowup_lr / 2)
    assert r.suggested_lr < threshold                      # the suggestion trains stably
    assert len(r.rates) < 300 and np.all(np.diff(r.rates) > 0)   # stopped once the cost blew up


def test_lr_find_without_a_blow_up_says_so():
    X, y, threshold = _regression()
    net = Network.from_sizes([X.shape[1], 1], output="identity", cost="quadratic", seed=0, dtype="float64")
    r = lr_find(net, make_optimizer("sgd", lr=0.1), X, y, batch_size=32, lr_min=1e-5, lr_max=threshold / 10,
                steps=100)
    assert r.blowup_lr is None and "raise --max-lr" in r.summary() and len(r.rates) == 100


def test_lr_find_command(tmp_path, capsys):
    rc = main(["lr-find", "--train-size", "1000", "--sizes", "784,16,10", "--steps", "80", "--start-lr", "1e-4",
               "--end-lr", "100", "--plot", str(tmp_path / "lr.png"), "--seed", "0"])
    out = capsys.readouterr().out
    assert rc == 0 and "suggested: --lr " in out
    assert (tmp_path / "lr.png").read_bytes().startswith(PNG)
    suggested = float(out.split("suggested: --lr ")[1].split()[0])
    assert 1e-4 < suggested < 100
    rc = main(["lr-find", "--start-lr", "1", "--end-lr", "0.1", "--train-size", "100"])
    err = capsys.readouterr().err
    assert rc == 2 and "min-lr < max-lr" in err


# ---------------------------------------------------------------------------------------------- watch
def _train(folder, epochs=3):
    return main(["train", "--train-size", "300", "--validation-size", "300", "--epochs", str(epochs), "--sizes",
                 "784,16,10", "--checkpoint-dir", str(folder), "--out", str(folder.parent / "m.npz"), "--quiet",
                 "--seed", "0"])


def test_watch_once_prints_the_epochs_and_draws_the_curves(tmp_path, capsys):
    run = tmp_path / "run"
    assert _train(run) == 0
    capsys.readouterr()
    assert main(["watch", str(run), "--once"]) == 0
    out = capsys.readouterr().out
    assert "val acc" in out and len([line for line in out.splitlines() if line.strip()[:1].isdigit()]) == 3
    assert (run / "cost.png").read_bytes().startswith(PNG) and (run / "accuracy.png").read_bytes().startswith(PNG)
    rc = main(["watch", str(tmp_path / "nothing"), "--once"])
    assert rc == 2 and "no history to watch" in capsys.readouterr().err


def test_watch_follows_a_growing_history(tmp_path):
    run = tmp_path / "run"
    assert _train(run, epochs=3) == 0
    history = json.loads((run / "history.json").read_text())
    full = {k: v for k, v in history.items()}
    first = {k: (v[:1] if isinstance(v, list) else v) for k, v in full.items()}
    (run / "history.json").write_text(json.dumps(first))
    settings = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**settings, "state": "running"}))   # as while it trains
    seen, lines = [], []

    def follow():
        seen.append(watch(run, interval=0.05, max_polls=600, plot=False, log=lines.append))

    t = threading.Thread(target=follow)
    t.start()
    time.sleep(0.5)
    (run / "history.json").write_text(json.dumps(full))
    time.sleep(0.3)
    (run / "run.json").write_text(json.dumps({**settings, "state": "finished"}))   # watch returns by itself
    t.join(timeout=30)
    assert seen == [3]
    assert lines[0].startswith("epoch") and len(lines) == 3   # the header with epoch 1, then epochs 2-3, the end
    assert lines[1].splitlines()[0].split()[0] == "2"
    assert lines[2] == "the run finished"


# ---------------------------------------------------------------------------------------------- scikit-learn
def test_numnet_classifier_with_cross_val_score_and_grid_search():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.base import clone
    from sklearn.datasets import make_moons
    from sklearn.model_selection import GridSearchCV, cross_val_score

    from numnet.search import NumnetClassifier

    X, y = make_moons(300, noise=0.2, random_state=0)
    clf = NumnetClassifier(hidden=(16,), epochs=40, lr=0.01, seed=0)
    scores = cross_val_score(clf, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.85
    assert clone(clf).get_params() == clf.get_params() and clf.set_params(lr=0.02).lr == 0.02
    names = np.array(["left", "right"])[y]
    g = GridSearchCV(NumnetClassifier(hidden=(16,), epochs=20, seed=0), {"lr": [1e-4, 1e-2]}, cv=3).fit(X, names)
    assert g.best_params_ == {"lr": 1e-2}
    assert set(g.predict(X[:10])) <= {"left", "right"}
    proba = g.predict_proba(X[:10])
    assert proba.shape == (10, 2) and np.allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert 0.85 < g.score(X, names) <= 1.0
    assert sklearn.__version__


# ---------------------------------------------------------------------------------------------- benchmark
def test_grid_vs_random_picture(tmp_path):
    """benchmarks/search.py picture: 25 grid points try 5 rates, 25 random points 25; random gets closer."""
    pytest.importorskip("optuna")
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "search.py"
    spec = importlib.util.spec_from_file_location("bench_search", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    stats = bench.picture(tmp_path, repeats=5)
    assert stats["grid"]["distinct_rates_mean"] == 5 and stats["random"]["distinct_rates_mean"] == 25
    assert stats["grid"]["distinct_betas_mean"] == 5 and stats["random"]["distinct_betas_mean"] == 25
    assert stats["random"]["best_log10_gap_mean"] < stats["grid"]["best_log10_gap_mean"]
    assert (tmp_path / "grid-vs-random.png").read_bytes().startswith(PNG)
    assert bench.parse_space_file(path.parent / "mnist-space.toml").params["beta"].dist == "one-minus-log"
