import numpy as np
import pytest

from numnet.experiments import COURSE_ACCURACY, compare_batch_modes, compare_optimizers, format_table

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
