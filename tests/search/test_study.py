"""Hyperparameter search (numnet.search, `numnet search`): distributions on their own scales, bad input,
pruning, two workers on a journal file and on a real PostgreSQL server, a SIGKILLed worker, coarse to fine,
reproducibility, the report files. Every trial is tiny (300 training images, 1-3 epochs, small nets)."""
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")
stats = pytest.importorskip("scipy.stats")

from conftest import free_port  # noqa: E402
from numnet.cli import main  # noqa: E402
from numnet.data import load_mnist  # noqa: E402
from numnet.search import SearchError, SpaceError, load_space, parse_space, refine, search  # noqa: E402
from numnet.search.report import read_rows  # noqa: E402
from numnet.search.study import open_storage  # noqa: E402

SRC = str(Path(__file__).resolve().parents[2] / "src")
TINY = {"epochs": 2, "train_size": 300, "validation_size": 1000, "sizes": [784, 16, 10], "optimizer": "momentum"}
SPACE = {**TINY, "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1.0},
                           "beta": {"dist": "one-minus-log", "low": 0.8, "high": 0.99},
                           "hidden": {"dist": "int-log", "low": 8, "high": 32},
                           "batch_size": {"dist": "choice", "values": [16, 32, 64]}}}


def _toml(d: dict) -> str:
    lines, tables = [], []
    for k, v in d.items():
        if k == "search":
            for name, spec in v.items():
                tables.append(f"[search.{name}]")
                tables += [f"{a} = {json.dumps(b)}" for a, b in spec.items()]
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines + tables) + "\n"


def write_space(folder, d=SPACE, name="space.toml") -> Path:
    path = Path(folder) / name
    path.write_text(_toml(d))
    return path


@pytest.fixture(scope="module")
def tiny():
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=1000)
    return (X[:300], y[:300]), (Xv, yv), (Xt[:500], yt[:500])


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = "1"
    return env


def _cli(*argv, **kw):
    return subprocess.run([sys.executable, "-m", "numnet", *map(str, argv)], env=_env(), capture_output=True,
                          text=True, timeout=kw.get("timeout", 120))


# ---------------------------------------------------------------------------------------------- distributions
def _samples(spec, n=1500, seed=0, name="lr"):
    """n values of setting `name` drawn through Optuna's random sampler and the space's suggest (no training)."""
    space = parse_space({"search": {name: spec}})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        t = study.ask()
        values, _ = space.suggest(t)
        out.append(values[name])
        study.tell(t, 0.0)
    return np.array(out)


def _uniform_p(x, a, b):
    return stats.kstest((np.asarray(x, float) - a) / (b - a), "uniform").pvalue


def test_log_samples_uniformly_in_the_exponent():
    x = _samples({"dist": "log", "low": 1e-4, "high": 1.0})
    assert x.min() >= 1e-4 and x.max() <= 1.0
    assert _uniform_p(np.log10(x), -4, 0) > 1e-3           # r uniform in [-4, 0]
    assert abs(np.mean(x < 1e-2) - 0.5) < 0.05             # half of the draws below 1e-2 (linear: 1%)


def test_one_minus_log_samples_one_minus_beta_on_a_log_scale():
    beta = _samples({"dist": "one-minus-log", "low": 0.9, "high": 0.999}, seed=1, name="beta")
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    assert _uniform_p(np.log10(1 - beta), -3, -1) > 1e-3
    assert abs(np.mean(beta > 0.99) - 0.5) < 0.05         # [0.99, 0.999] gets half the draws (linear: 9%)


def test_int_log_samples_integers_on_a_log_scale():
    x = _samples({"dist": "int-log", "low": 8, "high": 512})
    assert x.dtype.kind == "i" and x.min() >= 8 and x.max() <= 512
    assert abs(np.mean(x <= 64) - 0.5) < 0.06              # log2: 8..64 is half of 8..512 (linear: 11%)


def test_int_and_uniform_sample_linearly():
    x = _samples({"dist": "int", "low": 1, "high": 4})
    counts = np.bincount(x, minlength=5)[1:]
    assert stats.chisquare(counts).pvalue > 1e-3 and set(x) == {1, 2, 3, 4}
    kp = _samples({"dist": "uniform", "low": 0.5, "high": 1.0}, seed=2, name="keep_prob")
    assert _uniform_p(kp, 0.5, 1.0) > 1e-3


def test_choice_samples_each_value_equally():
    x = _samples({"dist": "choice", "values": [16, 32, 64, 128]})
    counts = np.array([np.sum(x == v) for v in (16, 32, 64, 128)])
    assert counts.sum() == len(x) and stats.chisquare(counts).pvalue > 1e-3


def test_hidden_and_layers_expand_to_sizes():
    space = parse_space({"sizes": [784, 30, 10], "search": {"hidden": {"dist": "int-log", "low": 8, "high": 64},
                                                          "layers": {"dist": "int", "low": 1, "high": 3}}})
    assert space.settings_for({"hidden": 20, "layers": 3})["sizes"] == [784, 20, 20, 20, 10]
    assert space.settings_for({"hidden": 20})["sizes"] == [784, 20, 10]


def test_base_run_from_a_recipe_or_a_config_file(tmp_path, tiny):
    (tmp_path / "base.toml").write_text('[network]\nsizes = [784, 12, 10]\n[optimizer]\nname = "adam"\n'
                                        '[training]\nepochs = 1\n')
    path = tmp_path / "space.toml"
    path.write_text('config = "base.toml"\nseed = 3\n[search.lr]\ndist = "log"\nlow = 1e-4\nhigh = 1e-2\n')
    space = load_space(path)
    assert space.base_settings()["optimizer"] == "adam" and space.fixed == {"seed": 3}
    r = search(path, trials=2, data=tiny, out=tmp_path / "o", seed=0, report=False)
    cfgs = [t.user_attrs["config"] for t in r.study.trials]
    assert all(c["sizes"] == [784, 12, 10] and c["optimizer"] == "adam" and c["seed"] == 3 for c in cfgs)
    space = parse_space({"recipe": "nielsen-ch1", "search": {"hidden": {"dist": "int", "low": 10, "high": 40}}})
    assert space.settings_for({"hidden": 20})["sizes"] == [784, 20, 10]
    with pytest.raises(SpaceError, match="unknown recipe"):
        parse_space({"recipe": "nope", "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1}}})
    with pytest.raises(SpaceError, match="config file not found"):
        parse_space({"config": str(tmp_path / "none.toml"), "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1}}})


def test_workers_get_cores_over_k_blas_threads():
    from numnet.search.study import blas_env

    env = blas_env(2, cores=16)
    assert env["OPENBLAS_NUM_THREADS"] == env["OMP_NUM_THREADS"] == "8"
    assert blas_env(4, cores=2)["OPENBLAS_NUM_THREADS"] == "1"
    assert env["PYTHONPATH"].split(os.pathsep)[0] == SRC


# ---------------------------------------------------------------------------------------------- bad input
BAD = {
    "unknown setting": ({"search": {"learning_rate": {"dist": "log", "low": 1e-3, "high": 1}}}, "unknown setting"),
    "unknown fixed": ({"epoch": 2, "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1}}}, "unknown setting"),
    "inverted": ({"search": {"lr": {"dist": "log", "low": 1.0, "high": 1e-3}}}, "inverted range"),
    "empty": ({"search": {"l2": {"dist": "uniform", "low": 1.0, "high": 1.0}}}, "empty or inverted"),
    "log at 0": ({"search": {"l2": {"dist": "log", "low": 0.0, "high": 1.0}}}, "above 0"),
    "beta outside": ({"search": {"beta": {"dist": "one-minus-log", "low": 0.9, "high": 1.0}}}, "inside (0, 1)"),
    "bad dist": ({"search": {"lr": {"dist": "loguniform", "low": 1e-3, "high": 1}}}, "dist must be one of"),
    "bad choice": ({"search": {"optimizer": {"dist": "choice", "values": ["sgd", "adamw"]}}}, "adamw"),
    "keep_prob": ({"search": {"keep_prob": {"dist": "uniform", "low": 0.5, "high": 1.5}}}, "keep_prob"),
    "nothing": ({"epochs": 2}, "nothing to search"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_space_is_one_line_exit_2(case, tmp_path, capsys):
    d, words = BAD[case]
    path = write_space(tmp_path, d)
    rc = main(["search", str(path), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert rc == 2 and err.startswith("numnet: error:") and err.count("\n") == 1, err
    assert words in err and "Traceback" not in err


def test_grid_over_a_continuous_range_needs_steps(tmp_path, capsys):
    path = write_space(tmp_path, {**TINY, "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1.0}}})
    rc = main(["search", str(path), "--sampler", "grid", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "needs `steps` for lr" in err and err.count("\n") == 1


def test_unreachable_storage_is_one_line(tmp_path, capsys):
    path = write_space(tmp_path)
    port = free_port()
    rc = main(["search", str(path), "--storage", f"postgresql+psycopg://nobody:secret@127.0.0.1:{port}/none",
               "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot open storage" in err and err.count("\n") == 1
    assert "secret" not in err


def test_bad_options_are_one_line(tmp_path, capsys):
    path = write_space(tmp_path)
    for argv in (["--trials", "0"], ["--workers", "0"], ["--budget", "-1"], ["--sampler", "bayes"]):
        rc = main(["search", str(path), "--out", str(tmp_path / "o"), *argv])
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("numnet: error:") and err.count("\n") == 1, (argv, err)


def test_an_existing_study_with_another_space_is_an_error(tmp_path, tiny, capsys):
    search(SPACE, trials=1, data=tiny, out=tmp_path, study="s", seed=0, report=False)
    other = {**SPACE, "search": {**SPACE["search"], "lr": {"dist": "log", "low": 1e-2, "high": 1.0}}}
    with pytest.raises(SearchError, match="different search"):
        search(other, trials=2, data=tiny, out=tmp_path, study="s", seed=0)
    path = write_space(tmp_path, other)
    rc = main(["search", str(path), "--study", "s", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2 and "different search (space differ)" in err


# ---------------------------------------------------------------------------------------------- pruning
def test_pruning_stops_a_bad_trial(tmp_path, tiny):
    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    good, bad = {"lr": 0.1, "beta": 0.9, "hidden": 16, "batch_size": 16}, {"lr": 1e-3, "beta": 0.8, "hidden": 8,
                                                                          "batch_size": 64}
    r = search({**SPACE, "epochs": 3}, trials=3, data=tiny, out=tmp_path, pruner=pruner, seed=0,
               enqueue=[good, good, bad])
    trials = r.study.trials
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    assert trials[0].user_attrs["epochs_run"] == 3
    assert trials[2].user_attrs["epochs_run"] == 1 and list(trials[2].intermediate_values) == [1]
    assert trials[2].params["lr"] == 1e-3
    rows = read_rows(tmp_path / "trials.csv")
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "PRUNED"]


# ---------------------------------------------------------------------------------------------- outputs
def test_report_files_and_best_config_trains(tmp_path, tiny, capsys):
    r = search(SPACE, trials=4, data=tiny, out=tmp_path, seed=0)
    rows = read_rows(tmp_path / "trials.csv")
    assert len(rows) == 4 and list(rows[0])[:7] == ["stage", "number", "state", "lr", "beta", "hidden", "batch_size"]
    for col in ("best_epoch", "val_accuracy", "seconds", "sizes"):
        assert all(row[col] for row in rows)
    best = max(rows, key=lambda row: float(row["val_accuracy"]))
    assert r.best["number"] == int(best["number"])
    names = sorted(p.name for p in r.paths["plots"])
    assert names == ["accuracy-vs-batch_size.png", "accuracy-vs-beta.png", "accuracy-vs-hidden.png",
                     "accuracy-vs-lr.png", "best-so-far.png", "parallel-coordinates.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in r.paths["plots"])
    assert r.dashboard == f"optuna-dashboard {tmp_path / 'journal.log'}"
    assert "val acc" in r.table and "4 trials: 4 complete" in r.table
    text = (tmp_path / "best.toml").read_text()
    assert f"lr = {json.dumps(float(best['lr']))}" in text and "sizes = [784, " in text
    rc = main(["train", "--config", str(tmp_path / "best.toml"), "--train-size", "300", "--out", str(tmp_path / "m.npz"),
               "--quiet"])
    assert rc == 0 and "test accuracy" in capsys.readouterr().out


def test_rerun_continues_the_study(tmp_path, tiny):
    search(SPACE, trials=2, data=tiny, out=tmp_path, study="c", seed=0)
    r = search(SPACE, trials=5, data=tiny, out=tmp_path, study="c", seed=0)
    assert [t.number for t in r.study.trials] == [0, 1, 2, 3, 4]
    r = search(SPACE, trials=5, data=tiny, out=tmp_path, study="c", seed=0)
    assert len(r.study.trials) == 5


def test_one_worker_and_a_seed_give_the_same_trials(tmp_path, tiny):
    runs = [search(SPACE, trials=4, data=tiny, out=tmp_path / f"r{i}", seed=7, report=False) for i in (1, 2)]
    a, b = ([(t.params, t.value) for t in r.study.trials] for r in runs)
    assert a == b and len({json.dumps(p, sort_keys=True) for p, _ in a}) == 4
    other = search(SPACE, trials=4, data=tiny, out=tmp_path / "r3", seed=8, report=False)
    assert [t.params for t in other.study.trials] != [p for p, _ in a]


def test_grid_sampler_with_steps_covers_the_grid(tmp_path, tiny):
    d = {**TINY, "epochs": 1, "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1e-1, "steps": 3},
                                         "batch_size": {"dist": "choice", "values": [32, 64]}}}
    r = search(d, trials=20, data=tiny, out=tmp_path, sampler="grid", seed=0)
    pts = sorted((round(t.params["lr"], 12), t.params["batch_size"]) for t in r.study.trials)
    assert pts == sorted((lr, b) for lr in (0.001, 0.01, 0.1) for b in (32, 64))


def test_tpe_hyperband_and_a_budget(tmp_path, tiny):
    r = search({**SPACE, "epochs": 3}, trials=6, data=tiny, out=tmp_path / "t", sampler="tpe", pruner="hyperband",
               seed=0)
    assert len(r.study.trials) == 6 and all(t.state.name in ("COMPLETE", "PRUNED") for t in r.study.trials)
    t0 = time.time()
    r = search(SPACE, trials=10_000, budget=1.0, data=tiny, out=tmp_path / "b", seed=0, report=False)
    assert time.time() - t0 < 15 and 1 <= len(r.study.trials) < 10_000


# ---------------------------------------------------------------------------------------------- refine
def test_refine_narrows_each_range_on_its_own_scale():
    space = parse_space({"search": {"lr": {"dist": "log", "low": 1e-5, "high": 1.0},
                                    "beta": {"dist": "one-minus-log", "low": 0.9, "high": 0.9999},
                                    "hidden": {"dist": "int-log", "low": 8, "high": 1024},
                                    "keep_prob": {"dist": "uniform", "low": 0.2, "high": 1.0},
                                    "activation": {"dist": "choice", "values": ["relu", "tanh", "sigmoid"]}}})
    top = [{"lr": 1e-3, "beta": 0.99, "hidden": 64, "keep_prob": 0.6, "activation": "relu"},
           {"lr": 1e-2, "beta": 0.999, "hidden": 256, "keep_prob": 0.8, "activation": "tanh"}]
    new = refine(space, top, margin=0.25).params
    assert new["lr"].low == pytest.approx(10 ** -3.25) and new["lr"].high == pytest.approx(10 ** -1.75)
    assert 1 - new["beta"].high == pytest.approx(10 ** -3.25) and 1 - new["beta"].low == pytest.approx(10 ** -1.75)
    assert (new["hidden"].low, new["hidden"].high) == (math.floor(64 / 2 ** 0.5), math.ceil(256 * 2 ** 0.5))
    assert new["keep_prob"].low == pytest.approx(0.55) and new["keep_prob"].high == pytest.approx(0.85)
    assert new["activation"].values == ["relu", "tanh"]
    # clipped to the old range; one point still gets a range (5% of the old span on each side)
    new = refine(space, [{"lr": 1.0, "beta": 0.95, "hidden": 8, "keep_prob": 1.0, "activation": "relu"}]).params
    assert new["lr"].high == 1.0 and new["lr"].low == pytest.approx(10 ** -0.25)
    assert new["hidden"].low == 8 and new["hidden"].high > 8
    assert new["keep_prob"].high == 1.0 and new["keep_prob"].low == pytest.approx(0.96)


def test_refine_from_a_search_runs_stage_2(tmp_path, tiny, capsys):
    path = write_space(tmp_path)
    first = search(path, trials=5, data=tiny, out=tmp_path / "s", seed=0)
    top = sorted((r for r in first.rows if r["state"] == "COMPLETE"), key=lambda r: -r["val_accuracy"])[:2]
    r = search(path, trials=3, data=tiny, out=tmp_path / "s", seed=1, refine_from=tmp_path / "s", top=2)
    assert r.stage == 2 and r.study.study_name == "space-stage2"
    rows = read_rows(tmp_path / "s" / "trials.csv")
    assert [row["stage"] for row in rows] == ["1"] * 5 + ["2"] * 3
    lrs = [t["lr"] for t in top]
    lo, hi = np.log10(min(lrs)), np.log10(max(lrs))
    pad = max(0.25 * (hi - lo), 0.05 * 3)
    for row in rows[5:]:
        assert 10 ** (lo - pad) * 0.999 <= float(row["lr"]) <= 10 ** (hi + pad) * 1.001
    assert "stage" in r.table and len(r.rows) == 8
    # the same command again continues stage 2 (refined from stage 1 again, not from stage 2)
    again = search(path, trials=4, data=tiny, out=tmp_path / "s", seed=1, refine_from=tmp_path / "s", top=2)
    assert again.study.study_name == "space-stage2" and len(again.study.trials) == 4
    assert [row["stage"] for row in read_rows(tmp_path / "s" / "trials.csv")] == ["1"] * 5 + ["2"] * 4


# ---------------------------------------------------------------------------------------------- workers
def _trials_of(storage, name):
    """The study's trials, read without creating it (a reader must not race the search to create it)."""
    return optuna.load_study(study_name=name, storage=open_storage(storage)).get_trials(deepcopy=False)


def _check_shared(trials, n, stdout, workers=2):
    """Trial numbers 0..N-1 once each, every one complete, run by both workers; each worker's log lines name
    disjoint trials that together are all of them (none lost, none run twice)."""
    numbers = [t.number for t in trials]
    info = f"{[(t.number, t.state.name) for t in trials]}\n{stdout}"
    assert numbers == list(range(len(trials))), "duplicate or lost trial numbers: " + info
    done = [t for t in trials if t.state.name == "COMPLETE"]
    assert n <= len(done) <= n + workers - 1 and len(done) == len(trials), info
    pids = {t.user_attrs["worker"]["pid"] for t in done}
    assert len(pids) == workers, "every worker should have run trials: " + info
    assert all(t.user_attrs["worker"]["trial"] == t.number for t in done), info
    logged = [[int(line.split("trial ")[1].split(":")[0]) for line in stdout.splitlines()
               if line.startswith(f"[worker {i}] trial ")] for i in range(workers)]
    assert all(logged) and not set(logged[0]) & set(logged[1]), info
    assert sorted(logged[0] + logged[1]) == numbers, info


def test_two_workers_share_a_journal_file(tmp_path):
    path = write_space(tmp_path, {**SPACE, "epochs": 5})
    p = _cli("search", path, "--workers", "2", "--trials", "10", "--seed", "0", "--out", tmp_path / "o")
    assert p.returncode == 0, p.stderr + p.stdout
    _check_shared(_trials_of(str(tmp_path / "o" / "journal.log"), "space"), 10, p.stdout)
    rows = read_rows(tmp_path / "o" / "trials.csv")
    assert len(rows) >= 10 and "dashboard: optuna-dashboard" in p.stdout


def _kill_and_rerun(tmp_path, storage, study, extra=(), wait=0.0):
    """Start a search, SIGKILL it while a trial runs, rerun the same command: the killed trial is failed and
    run again with the same settings, and the study reaches its trials."""
    epochs = 400  # about 1.5 s a trial: the kill lands mid-trial, not in the race with its last epoch
    path = write_space(tmp_path, {**SPACE, "epochs": epochs, "validation_size": 200})
    argv = [sys.executable, "-m", "numnet", "search", str(path), "--trials", "2", "--seed", "0",
            "--out", str(tmp_path / "o"), "--study", study, *extra]
    proc = subprocess.Popen(argv, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        running = []
        while time.time() < deadline and not running:
            time.sleep(0.1)
            try:
                running = [t for t in _trials_of(storage, study)
                           if t.state.name == "RUNNING" and "worker" in t.user_attrs
                           and 1 <= len(t.intermediate_values) <= epochs // 4]
            except (KeyError, FileNotFoundError, SearchError):  # not created yet
                pass
        assert running, "no trial started"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed = running[0]
    assert _trials_of(storage, study)[killed.number].state.name == "RUNNING"
    time.sleep(wait)
    p = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert f"trial {killed.number}: its worker died" in p.stdout
    trials = _trials_of(storage, study)
    assert trials[killed.number].state.name == "FAIL"
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == killed.number]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE" and retries[0].params == killed.params
    assert sum(t.state.name == "COMPLETE" for t in trials) == 2
    assert "retry_of" in read_rows(tmp_path / "o" / "trials.csv")[0]


def test_a_sigkilled_worker_s_trial_is_retried(tmp_path):
    """Journal file: the worker's process is gone (same host), so its trial is failed at once."""
    journal = tmp_path / "o" / "journal.log"
    _kill_and_rerun(tmp_path, str(journal), "space", ["--heartbeat", "30"])


# ---------------------------------------------------------------------------------------------- PostgreSQL
# the `postgres` fixture (a throwaway server) is in conftest.py


def test_two_workers_share_a_postgresql_study(tmp_path, postgres):
    path = write_space(tmp_path, {**SPACE, "epochs": 5})
    p = _cli("search", path, "--workers", "2", "--trials", "10", "--seed", "0", "--out", tmp_path / "o",
             "--storage", postgres, "--study", "pg")
    assert p.returncode == 0, p.stderr + p.stdout
    assert not (tmp_path / "o" / "journal.log").exists()
    _check_shared(_trials_of(postgres, "pg"), 10, p.stdout)
    assert f"dashboard: optuna-dashboard {postgres}" in p.stdout
    # the same command again continues (nothing left to do); another space is refused
    p = _cli("search", path, "--trials", "10", "--out", tmp_path / "o", "--storage", postgres, "--study", "pg")
    assert p.returncode == 0 and len(_trials_of(postgres, "pg")) == len(read_rows(tmp_path / "o" / "trials.csv"))
    other = write_space(tmp_path, {**SPACE, "epochs": 3, "optimizer": "sgd"}, "other.toml")
    p = _cli("search", other, "--trials", "10", "--out", tmp_path / "o", "--storage", postgres, "--study", "pg")
    assert p.returncode == 2 and "different search" in p.stderr and p.stderr.count("\n") == 1


def test_a_sigkilled_worker_s_trial_is_retried_on_postgresql(tmp_path, postgres):
    """PostgreSQL: Optuna's heartbeat (every second here) goes stale after 3 s; the rerun fails and retries."""
    _kill_and_rerun(tmp_path, postgres, "pg-kill", ["--heartbeat", "1", "--storage", postgres], wait=3.5)
