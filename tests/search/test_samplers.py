"""Samplers, pruning and the report (numnet.search.samplers, .objective, .report, .stages): a seeded rerun never
repeats points; the grid with two workers covers each point once; no trial is pruned at its last epoch; β has a
readable name in Optuna's tools; refining reports the best of every stage and narrows; best.toml trains on the
whole set; a progress bar over trials; the dashboard extra."""
import json
import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from numnet.data import load_mnist  # noqa: E402
from numnet.search import parse_space, refine, search  # noqa: E402
from numnet.search.report import read_rows  # noqa: E402
from numnet.search.study import open_storage  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TINY = {"epochs": 1, "train_size": 300, "validation_size": 500, "sizes": [784, 8, 10], "optimizer": "momentum"}
SPACE = {**TINY, "search": {"lr": {"dist": "log", "low": 1e-3, "high": 1.0},
                           "beta": {"dist": "one-minus-log", "low": 0.8, "high": 0.99}}}


@pytest.fixture(scope="module")
def tiny():
    (X, y), (Xv, yv), (Xt, yt) = load_mnist(validation_size=500)
    return (X[:300], y[:300]), (Xv, yv), (Xt[:200], yt[:200])


def _points(study):
    return [json.dumps(t.params, sort_keys=True) for t in study.trials]


# ---------------------------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_seeded_rerun_does_not_repeat_its_points(tmp_path, tiny, sampler):
    """--trials 2 --seed 5, then --trials 4 --seed 5: trials 2-3 are new points, and the four are those of a
    single --trials 4 --seed 5 run (a trial's point depends on the seed and its number)."""
    kw = dict(data=tiny, seed=5, sampler=sampler, report=False)
    search(SPACE, trials=2, out=tmp_path / "a", **kw)
    continued = search(SPACE, trials=4, out=tmp_path / "a", **kw)
    pts = _points(continued.study)
    assert len(pts) == 4 and len(set(pts)) == 4, pts
    once = search(SPACE, trials=4, out=tmp_path / "b", **kw)
    assert _points(once.study) == pts


def test_after_a_crash_fresh_trials_do_not_repeat_earlier_points(tmp_path, tiny):
    """A worker died mid-trial: the rerun retries its point once, and its fresh trials are new points (a
    restarted sampler used to draw its first points again)."""
    import socket

    search(SPACE, trials=2, data=tiny, out=tmp_path, seed=5, report=False)
    storage = open_storage(str(tmp_path / "journal.log"))
    study = optuna.load_study(study_name="numnet-search", storage=storage,
                              sampler=optuna.samplers.RandomSampler(seed=99))
    crashed = study.ask()
    parse_space(SPACE).suggest(crashed)
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer runs: the crashed worker's
    crashed.set_user_attr("worker", {"host": socket.gethostname(), "pid": dead.pid, "trial": crashed.number})
    r = search(SPACE, trials=4, data=tiny, out=tmp_path, seed=5, report=False)
    counted = [t for t in r.study.trials if t.state.name != "FAIL"]
    assert r.study.trials[crashed.number].state.name == "FAIL" and len(counted) == 4
    pts = [json.dumps(t.params, sort_keys=True) for t in counted]
    assert len(set(pts)) == 4, pts
    assert json.dumps(crashed.params, sort_keys=True) in pts  # retried once


def test_grid_with_two_workers_covers_each_point_once(tmp_path):
    space = tmp_path / "space.toml"
    space.write_text('epochs = 8\ntrain_size = 300\nvalidation_size = 200\nsizes = [784, 8, 10]\n'
                     '[search.lr]\ndist = "log"\nlow = 0.001\nhigh = 0.1\nsteps = 4\n'
                     '[search.batch_size]\ndist = "choice"\nvalues = [16, 32, 64]\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OPENBLAS_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "numnet", "search", str(space), "--sampler", "grid", "--workers", "2",
                        "--seed", "3", "--trials", "100", "--out", str(tmp_path / "o")], env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    study = optuna.load_study(study_name="space", storage=open_storage(str(tmp_path / "o" / "journal.log")))
    empty = [t for t in study.trials if t.user_attrs.get("nothing_queued")]  # a worker's ask after the last point
    assert all(t.state.name == "FAIL" and not t.params for t in empty)
    ran = [t for t in study.trials if t not in empty]
    pts = sorted((round(t.params["lr"], 12), t.params["batch_size"]) for t in ran)
    lrs = [round(10 ** x, 12) for x in (-3, -3 + 2 / 3, -3 + 4 / 3, -1)]
    assert pts == sorted((lr, b) for lr in lrs for b in (16, 32, 64)), pts
    assert all(t.state.name == "COMPLETE" for t in ran)
    assert len(read_rows(tmp_path / "o" / "trials.csv")) == 12


# ---------------------------------------------------------------------------------------------- pruning
class AlwaysPrune:
    """A pruner that says "prune" at every step."""

    def __new__(cls):
        class _Always(optuna.pruners.BasePruner):
            def prune(self, study, trial):
                return True

        return _Always()


def test_no_trial_is_pruned_at_its_last_epoch(tmp_path, tiny):
    r = search({**SPACE, "epochs": 1}, trials=2, data=tiny, out=tmp_path / "one", pruner=AlwaysPrune(), seed=0)
    assert [t.state.name for t in r.study.trials] == ["COMPLETE", "COMPLETE"]
    assert "best" in r.paths
    r = search({**SPACE, "epochs": 3}, trials=1, data=tiny, out=tmp_path / "three", pruner=AlwaysPrune(), seed=0)
    t = r.study.trials[0]
    assert t.state.name == "PRUNED" and list(t.intermediate_values) == [1]


# ---------------------------------------------------------------------------------------------- names
def test_beta_has_a_readable_name_in_optuna_on_a_log_scale(tmp_path, tiny):
    r = search(SPACE, trials=2, data=tiny, out=tmp_path, seed=0)
    for t in r.study.trials:
        assert set(t.params) == {"lr", "one_minus_beta"}
        dist = t.distributions["one_minus_beta"]
        assert dist.log and math.isclose(dist.low, 0.01) and math.isclose(dist.high, 0.2)
        assert t.user_attrs["beta"] == pytest.approx(1 - t.params["one_minus_beta"])
    rows = read_rows(tmp_path / "trials.csv")
    assert float(rows[0]["beta"]) == pytest.approx(r.study.trials[0].user_attrs["beta"])


# ---------------------------------------------------------------------------------------------- refine
def test_refine_narrows_even_when_the_top_trials_span_the_range():
    space = parse_space({"search": {"lr": {"dist": "log", "low": 1e-4, "high": 1.0}}})
    top = [{"lr": 1e-2}, {"lr": 1e-4}, {"lr": 1.0}]  # best first
    new = refine(space, top).params["lr"]
    width = math.log10(new.high) - math.log10(new.low)
    assert width == pytest.approx(2.0)  # half of the old 4 decades, centred on the best
    assert new.low == pytest.approx(1e-3) and new.high == pytest.approx(1e-1)


def test_refine_reports_and_writes_the_best_of_every_stage(tmp_path, tiny, capsys):
    first = search(SPACE, trials=4, data=tiny, out=tmp_path, seed=0)
    best1 = max((t for t in first.study.trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    # stage 2 trains on 20 images: every trial below stage 1's best
    second = search({**SPACE}, trials=2, data=tiny, out=tmp_path, seed=1, refine_from=tmp_path, top=2,
                    train_size=20)
    assert max(t.value for t in second.study.trials) < best1.value
    assert int(second.best["stage"]) == 1 and int(second.best["number"]) == best1.number
    assert float(second.best["val_accuracy"]) == pytest.approx(best1.value)
    text = (tmp_path / "best.toml").read_text()
    assert f"lr = {json.dumps(best1.params['lr'])}" in text and "stage 1, trial" in text
    rows = read_rows(tmp_path / "trials.csv")
    assert [r["stage"] for r in rows] == ["1"] * 4 + ["2"] * 2


# ---------------------------------------------------------------------------------------------- best.toml
def test_best_toml_leaves_out_the_trials_train_size_unless_asked(tmp_path, tiny):
    search(SPACE, trials=1, data=tiny, out=tmp_path / "a", seed=0)
    text = (tmp_path / "a" / "best.toml").read_text()
    cfg = tomllib.loads(text)
    assert "train_size" not in cfg and "the trials ran with train_size = 300" in text
    assert cfg["sizes"] == [784, 8, 10] and cfg["epochs"] == 1
    search(SPACE, trials=1, data=tiny, out=tmp_path / "b", seed=0, keep_train_size=True)
    assert tomllib.loads((tmp_path / "b" / "best.toml").read_text())["train_size"] == 300


# ---------------------------------------------------------------------------------------------- progress
def test_a_progress_bar_over_the_trials(tmp_path, tiny, capsys):
    lines = []
    search(SPACE, trials=3, data=tiny, out=tmp_path, seed=0, progress=True, log=lines.append, report=False)
    err = capsys.readouterr().err
    assert "trials" in err and "3/3" in err and "best" in err
    assert sum(line.startswith("trial ") for line in lines) == 3  # the log lines still arrive, one per trial


def test_the_dashboard_extra_installs_optuna_dashboard():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    assert any(d.startswith("optuna-dashboard") for d in extras["dashboard"])
    assert 'numnet[dashboard]' in (ROOT / "README.md").read_text()


def test_studies_of_older_numnet_with_1_beta_are_still_read():
    p = parse_space(SPACE).params["beta"]
    assert p.optuna_name == "one_minus_beta"
    assert p.from_trial({"1-beta": 0.1}) == pytest.approx(0.9)       # numnet before this change
    assert p.from_trial({"one_minus_beta": 0.05}) == pytest.approx(0.95)
    assert p.from_trial({"lr": 0.1}) is None
