"""The `numnet` command line, run in-process through numnet.cli.main (plus one real subprocess of the script).

Every training here is tiny (500 training images, 1-4 epochs, a 16-unit hidden layer): this checks the plumbing,
not the accuracy. A user error must be one line `numnet: error: ...` on stderr with exit status 2.
"""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import numnet
from numnet import config as cfgmod
from numnet.cli import DEFAULT_MODEL, main

DATA = ["--train-size", "500", "--validation-size", "500"]
TINY = DATA + ["--epochs", "1", "--sizes", "784,16,10"]
RECIPES = ["nielsen-ch1", "nielsen-ch1-100", "nielsen-ch3-ce", "nielsen-ch3-l2", "nielsen-ch3-100",
           "nielsen-overfit", "nielsen-overfit-l2", "saito-two-layer", "default"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr); output must be plain text (not a TTY: no bars, no escapes)."""
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    for text in (out, err):
        assert "\x1b" not in text, "ANSI escape in output"
        assert "\r" not in text, "carriage return in output"
        assert "Traceback" not in text
    return rc, out, err


def assert_user_error(rc, err, *words):
    assert rc == 2
    assert err.endswith("\n") and err.count("\n") == 1, f"expected one line on stderr, got {err!r}"
    assert err.startswith("numnet: error: ")
    for w in words:
        assert w in err, f"{w!r} not in {err!r}"


def is_png(path):
    data = Path(path).read_bytes()
    return len(data) > 60 and data.startswith(PNG)


def same_model(a, b):
    """Bit-identical parameters (and the same architecture)."""
    na, nb = numnet.load(a), numnet.load(b)
    assert na.sizes == nb.sizes
    assert [type(l) for l in na.layers] == [type(l) for l in nb.layers]
    pa, pb = na.param_arrays(), nb.param_arrays()
    return len(pa) == len(pb) and all(x.dtype == y.dtype and np.array_equal(x, y) for x, y in zip(pa, pb))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained for 2 epochs, with its history: {'model': Path, 'history': Path}."""
    d = tmp_path_factory.mktemp("trained")
    model, history = d / "model.npz", d / "history.json"
    rc = main(["train", *DATA, "--epochs", "2", "--sizes", "784,16,10", "--seed", "1", "--out", str(model),
               "--history", str(history), "--quiet"])
    assert rc == 0
    return {"model": model, "history": history}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A [4, 3, 2] model: not an MNIST model."""
    path = tmp_path_factory.mktemp("small") / "small.npz"
    numnet.Network.from_sizes([4, 3, 2], activation="tanh", cost="cross_entropy", seed=0).save(path)
    return path


# ---------------------------------------------------------------------------------------------- subprocess
def _script():
    exe = Path(sys.executable).parent / ("numnet.exe" if os.name == "nt" else "numnet")
    return str(exe) if exe.exists() else shutil.which("numnet")


def test_console_script(tmp_path):
    script = _script()
    if script is None:
        pytest.skip("the numnet console script is not installed (pip install -e .)")
    ok = subprocess.run([script, "recipes", "--names"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert set(RECIPES) <= set(ok.stdout.split())
    bad = subprocess.run([script, "train", "--lr", "-1"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.startswith("numnet: error:")
    assert bad.stderr.count("\n") == 1 and bad.stderr.endswith("\n")
    assert "Traceback" not in bad.stderr and "lr" in bad.stderr
    assert not (tmp_path / DEFAULT_MODEL).exists()


# ---------------------------------------------------------------------------------------------- train
def test_train_default_model_path(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TINY, "--seed", "0")
    assert rc == 0, err
    assert err == ""
    lines = out.splitlines()
    assert any(re.match(r"^epoch 1/1  \d+\.\ds  loss \d+\.\d+  val_loss \d+\.\d+  val_accuracy \d+\.\d+%", line) for line in lines), out
    final = lines[-1]
    assert re.match(r"^test accuracy \d+\.\d\d% \(cost \d+\.\d+\) after 1 epoch .*model saved to ", final), final
    assert final.endswith(DEFAULT_MODEL)
    net = numnet.load(tmp_path / DEFAULT_MODEL)
    assert net.sizes == [784, 16, 10]


def test_train_threads_limits_the_blas_pool_while_training(capsys, tmp_path, monkeypatch):
    """--threads 1: the BLAS pools have one thread during training (read by a callback), and are restored after."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    seen = []
    real_fit = numnet.Network.fit

    def fit(self, *a, **k):
        seen.append({p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"})
        return real_fit(self, *a, **k)

    monkeypatch.setattr(numnet.Network, "fit", fit)
    monkeypatch.chdir(tmp_path)
    before = {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}
    rc, out, err = run(capsys, "train", *TINY, "--seed", "0", "--threads", "1")
    assert rc == 0, err
    assert seen == [{1}]
    assert {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"} == before
    assert cfgmod.check_settings({"threads": 3}, "x")["threads"] == 3


def test_default_run_points_to_the_best_recipe(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key, value in {"sizes": [784, 16, 10], "epochs": 1, "train_size": 500, "validation_size": 200}.items():
        monkeypatch.setitem(cfgmod.DEFAULTS, key, value)  # a tiny stand-in for the default run
    rc, out, err = run(capsys, "train", "--seed", "0")
    assert rc == 0, err
    assert out.splitlines()[-1].endswith("numnet train --recipe best")
    rc, out, err = run(capsys, "train", "--seed", "0", "--lr", "0.1")  # a changed run: no pointer
    assert rc == 0, err
    assert "--recipe best" not in out


def test_train_outputs(capsys, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    rc, out, err = run(capsys, "train", *TINY, "--seed", "0", "--out", "sub/m.npz", "--history", "h.json",
                       "--plot", "plots", "--json-summary", "s.json")
    assert rc == 0, err
    assert numnet.load(tmp_path / "sub" / "m.npz").sizes == [784, 16, 10]
    assert not (tmp_path / DEFAULT_MODEL).exists()
    h = json.loads((tmp_path / "h.json").read_text())
    assert h["epoch"] == [1] and len(h["val_accuracy"]) == 1 and h["lr"] == [0.2]
    pngs = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert pngs == ["accuracy.png", "cost.png"]
    assert all(is_png(tmp_path / "plots" / p) for p in pngs)
    s = json.loads((tmp_path / "s.json").read_text())
    assert 0.0 <= s["test_accuracy"] <= 1.0 and s["test_cost"] > 0
    assert s["epochs"] == 1 and s["seed"] == 0 and s["recipe"] is None
    assert s["model"] == str(Path("sub/m.npz"))
    assert s["config"]["sizes"] == [784, 16, 10] and s["config"]["train_size"] == 500
    assert 0.0 <= s["best_val_accuracy"] <= 1.0 and s["best_epoch"] == 1
    assert f"{100 * s['test_accuracy']:.2f}%" in out


@pytest.mark.parametrize("flag, path", [("--out", "missing/m.npz"), ("--history", "missing/h.json"),
                                        ("--json-summary", "missing/s.json"), ("--out", "adir"),
                                        ("--history", "adir")])
def test_train_output_paths_checked_before_training(capsys, tmp_path, monkeypatch, flag, path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir").mkdir()
    rc, out, err = run(capsys, "train", *TINY, flag, path)
    assert_user_error(rc, err, flag, path.split("/")[0])
    assert "epoch" not in out  # no training was wasted
    assert not (tmp_path / DEFAULT_MODEL).exists()


def test_train_quiet(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TINY, "--quiet")
    assert rc == 0, err
    assert out.count("\n") == 1 and out.startswith("test accuracy")


def test_train_config_file_and_flag_override(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text('sizes = [784, 12, 10]\nlr = 0.1\nbatch_size = 32\nseed = 3\nepochs = 1\n'
                                       'train_size = 500\nvalidation_size = 500\noptimizer = "momentum"\n')
    rc, out, err = run(capsys, "train", "--config", "run.toml", "--lr", "0.05", "--json-summary", "s.json")
    assert rc == 0, err
    cfg = json.loads((tmp_path / "s.json").read_text())["config"]
    assert cfg["sizes"] == [784, 12, 10]      # from the file
    assert cfg["batch_size"] == 32 and cfg["seed"] == 3 and cfg["optimizer"] == "momentum"
    assert cfg["lr"] == 0.05                  # the flag wins
    assert cfg["cost"] == "log_likelihood"    # default
    assert numnet.load(tmp_path / DEFAULT_MODEL).sizes == [784, 12, 10]


def test_train_recipe_config_and_flags_precedence(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "run.toml").write_text("batch_size = 20\nlr = 1.0\n")
    rc, out, err = run(capsys, "train", "--recipe", "nielsen-ch1", "--config", "run.toml", "--lr", "0.5", *DATA,
                       "--epochs", "1", "--json-summary", "s.json", "--quiet")
    assert rc == 0, err
    cfg = json.loads((tmp_path / "s.json").read_text())["config"]
    assert cfg["sizes"] == [784, 30, 10] and cfg["cost"] == "quadratic"  # recipe
    assert cfg["batch_size"] == 20                                        # file beats recipe
    assert cfg["lr"] == 0.5                                               # flag beats file


def test_train_recipe(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", "--recipe", "nielsen-ch1", "--epochs", "1", *DATA, "--seed", "2",
                       "--json-summary", "s.json")
    assert rc == 0, err
    s = json.loads((tmp_path / "s.json").read_text())
    cfg = s["config"]
    assert s["recipe"] == "nielsen-ch1"
    assert cfg["sizes"] == [784, 30, 10] and cfg["cost"] == "quadratic" and cfg["lr"] == 3.0
    assert cfg["activation"] == "sigmoid" and cfg["init"] == "large" and cfg["batch_size"] == 10
    assert cfg["epochs"] == 1 and cfg["train_size"] == 500 and cfg["validation_size"] == 500  # flags
    assert "--recipe nielsen-ch1" in out and "Nielsen ch.1" in out  # the header names it and its description
    net = numnet.load(tmp_path / DEFAULT_MODEL)
    assert net.sizes == [784, 30, 10] and net.cost.name == "quadratic"


def test_train_unknown_recipe(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", "--recipe", "nielsen-ch99", *TINY)
    assert_user_error(rc, err, "nielsen-ch99")


def test_train_config_unknown_key(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text("lr = 0.1\nlearning_rate = 0.5\n")
    rc, out, err = run(capsys, "train", "--config", "bad.toml", *TINY)
    assert_user_error(rc, err, "learning_rate", "bad.toml")
    assert not (tmp_path / DEFAULT_MODEL).exists()


@pytest.mark.parametrize("content", ["lr = [\n", "lr = 0.1\nlr = 0.2\n", "this is not toml\n"])
def test_train_config_invalid_toml(capsys, tmp_path, monkeypatch, content):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.toml").write_text(content)
    rc, out, err = run(capsys, "train", "--config", "bad.toml", *TINY)
    assert_user_error(rc, err, "bad.toml")


def test_train_config_missing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", "--config", "nope.toml", *TINY)
    assert_user_error(rc, err, "nope.toml")


@pytest.mark.parametrize("flags, word", [
    (["--lr", "0"], "lr"),
    (["--lr", "-1"], "lr"),
    (["--epochs", "0"], "epochs"),
    (["--batch-size", "0"], "batch"),
    (["--keep-prob", "1.5"], "keep"),
    (["--keep-prob", "0"], "keep"),
    (["--beta", "1.0", "--optimizer", "momentum"], "beta"),
    (["--beta1", "1.2", "--optimizer", "adam"], "beta1"),
    (["--decay", "-1", "--schedule", "inverse-time"], "decay"),
    (["--schedule", "nonsense"], "schedule"),
    (["--optimizer", "nonsense"], "optimizer"),
    (["--cost", "nonsense"], "cost"),
    (["--activation", "nonsense"], "activation"),
    (["--init", "nonsense"], "initializer"),
    (["--sizes", "784,x"], "sizes"),
    (["--sizes", "784"], "sizes"),
    (["--sizes", "100,10"], "784"),
    (["--train-size", "0"], "train_size"),
    (["--train-size", "70000"], "train-size"),
    (["--validation-size", "-5"], "validation_size"),
    (["--lr", "abc"], "--lr"),
    (["--epochs", "1.5"], "--epochs"),
    (["--threads", "0"], "threads"),
    (["--threads", "two"], "--threads"),
    (["--dtype", "float16"], "--dtype"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_train_bad_values(capsys, tmp_path, monkeypatch, flags, word):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", *TINY, *flags)  # later flags override TINY's
    assert_user_error(rc, err, word)
    assert not (tmp_path / DEFAULT_MODEL).exists()


@pytest.mark.parametrize("argv, word", [
    (["evaluate"], "model"),                    # missing positional argument
    (["frobnicate"], "frobnicate"),             # unknown command
    (["plot", "h.json", "--bogus"], "--bogus"),
])
def test_argument_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, word):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, *argv)
    assert_user_error(rc, err, word)


def test_no_command_prints_help(capsys):
    rc, out, err = run(capsys)
    assert rc == 2
    assert "train" in out and "evaluate" in out


# ---------------------------------------------------------------------------------------------- checkpoint / resume
def test_checkpoint_and_resume_equals_uninterrupted_run(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = [*DATA, "--sizes", "784,16,10", "--seed", "5"]
    rc, out, err = run(capsys, "train", *common, "--epochs", "2", "--checkpoint-dir", "D", "--out", "first.npz")
    assert rc == 0, err
    ckpt = tmp_path / "D"
    assert {"checkpoint.npz", "history.json", "run.json"} <= {p.name for p in ckpt.iterdir()}
    assert json.loads((ckpt / "run.json").read_text())["seed"] == 5
    assert len(json.loads((ckpt / "history.json").read_text())["epoch"]) == 2

    rc, out, err = run(capsys, "train", "--resume", "D", "--epochs", "4", "--out", "resumed.npz",
                       "--history", "resumed.json")
    assert rc == 0, err
    assert "resuming" in out.lower()
    assert "epoch 3/4" in out and "epoch 4/4" in out and "epoch 1/4" not in out
    assert json.loads((tmp_path / "resumed.json").read_text())["epoch"] == [1, 2, 3, 4]
    assert len(json.loads((ckpt / "history.json").read_text())["epoch"]) == 4

    rc, out, err = run(capsys, "train", *common, "--epochs", "4", "--out", "straight.npz",
                       "--history", "straight.json")
    assert rc == 0, err
    assert same_model(tmp_path / "resumed.npz", tmp_path / "straight.npz")
    assert not same_model(tmp_path / "first.npz", tmp_path / "straight.npz")
    h1 = json.loads((tmp_path / "resumed.json").read_text())
    h2 = json.loads((tmp_path / "straight.json").read_text())
    assert h1["val_accuracy"] == h2["val_accuracy"] and h1["batch_cost"] == h2["batch_cost"]


@pytest.fixture
def checkpoint(tmp_path, monkeypatch):
    """A 1-epoch checkpoint directory "D" in the (current) tmp_path."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY, "--seed", "5", "--checkpoint-dir", "D", "--quiet"]) == 0
    return tmp_path / "D"


def test_resume_can_change_lr(capsys, checkpoint, tmp_path):
    capsys.readouterr()
    rc, out, err = run(capsys, "train", "--resume", "D", "--epochs", "3", "--lr", "0.05", "--history", "h.json")
    assert rc == 0, err
    h = json.loads((tmp_path / "h.json").read_text())
    assert h["epoch"] == [1, 2, 3]
    assert h["lr"] == pytest.approx([0.2, 0.05, 0.05])
    assert json.loads((checkpoint / "run.json").read_text())["lr"] == 0.05


def test_resume_missing_dir(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = run(capsys, "train", "--resume", "missing_dir", "--epochs", "2")
    assert_user_error(rc, err, "missing_dir")


def test_resume_dir_without_checkpoint(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    rc, out, err = run(capsys, "train", "--resume", "empty", "--epochs", "2")
    assert_user_error(rc, err, "empty")


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_resume_damaged_checkpoint(capsys, checkpoint, damage):
    capsys.readouterr()
    f = checkpoint / "checkpoint.npz"
    if damage == "garbage":
        f.write_bytes(b"this is not a zip archive \x00\x01\x02\xff" * 10)
    else:
        data = f.read_bytes()
        f.write_bytes(data[:len(data) // 2])
    rc, out, err = run(capsys, "train", "--resume", "D", "--epochs", "2")
    assert_user_error(rc, err, "checkpoint")


def test_resume_cannot_change_architecture(capsys, checkpoint):
    capsys.readouterr()
    rc, out, err = run(capsys, "train", "--resume", "D", "--sizes", "784,10", "--epochs", "2")
    assert_user_error(rc, err, "--sizes")
    rc, out, err = run(capsys, "train", "--resume", "D", "--activation", "tanh", "--epochs", "2")
    assert_user_error(rc, err, "--activation")


def test_resume_rejects_recipe_and_config(capsys, checkpoint, tmp_path):
    # --resume uses the checkpointed run's settings: a recipe or config file would be silently ignored
    capsys.readouterr()
    rc, out, err = run(capsys, "train", "--resume", "D", "--recipe", "nielsen-ch1", "--epochs", "2")
    assert_user_error(rc, err, "--recipe")
    (tmp_path / "c.toml").write_text("lr = 0.01\n")
    rc, out, err = run(capsys, "train", "--resume", "D", "--config", "c.toml", "--epochs", "2")
    assert_user_error(rc, err, "--config")


def test_resume_keep_prob_without_dropout_layers(capsys, checkpoint):
    capsys.readouterr()
    rc, out, err = run(capsys, "train", "--resume", "D", "--keep-prob", "0.5", "--epochs", "2")
    assert_user_error(rc, err, "dropout")


def test_resume_bad_value(capsys, checkpoint):
    capsys.readouterr()
    rc, out, err = run(capsys, "train", "--resume", "D", "--lr", "-1", "--epochs", "2")
    assert_user_error(rc, err, "lr")


# ---------------------------------------------------------------------------------------------- evaluate
def test_evaluate(capsys, trained):
    rc, out, err = run(capsys, "evaluate", trained["model"])
    assert rc == 0, err
    m = re.match(r"^test: accuracy (\d+\.\d\d)% \((\d+)/10000\), cost \d+\.\d+$", out.splitlines()[0])  # then the per-class table (issue #11)
    assert m, out
    assert abs(float(m.group(1)) - int(m.group(2)) / 100) < 0.006


def test_evaluate_confusion(capsys, trained):
    rc, out, err = run(capsys, "evaluate", trained["model"], "--confusion")
    assert rc == 0, err
    lines = out.splitlines()
    correct = int(re.search(r"\((\d+)/10000\)", lines[0]).group(1))
    head = [i for i, line in enumerate(lines) if line.startswith("true\\pred")]
    assert len(head) == 1
    assert lines[head[0]].split()[1:] == [str(j) for j in range(10)] + ["recall"]
    rows = lines[head[0] + 1:head[0] + 11]
    C = np.array([[int(v) for v in row.split()[1:11]] for row in rows])
    assert [row.split()[0] for row in rows] == [str(i) for i in range(10)]
    assert C.shape == (10, 10)
    assert C.sum() == 10000
    assert np.trace(C) == correct
    np.testing.assert_array_equal(C.sum(axis=1), np.bincount(numnet.load_mnist()[2][1], minlength=10))


def test_evaluate_worst(capsys, trained, tmp_path):
    out_dir = tmp_path / "worst"
    rc, out, err = run(capsys, "evaluate", trained["model"], "--worst", "3", "--worst-dir", out_dir)
    assert rc == 0, err
    rows = re.findall(r"^\s+(\d+): (\d) -> (\d)\s+(\d\.\d{3})$", out, flags=re.M)
    assert len(rows) == 3
    assert all(t != p for _, t, p, _ in rows)
    confs = [float(c) for *_, c in rows]
    assert confs == sorted(confs, reverse=True)
    pngs = sorted(out_dir.iterdir())
    assert len(pngs) == 3 and all(p.suffix == ".png" and is_png(p) for p in pngs)
    from PIL import Image

    with Image.open(pngs[0]) as img:
        assert img.size == (112, 112)
    assert {f"test-{i}-true{t}-pred{p}.png" for i, t, p, _ in rows} == {p.name for p in pngs}


def test_evaluate_validation_split(capsys, trained):
    rc, out, err = run(capsys, "evaluate", trained["model"], "--split", "validation")
    assert rc == 0, err
    assert out.startswith("validation: accuracy")


def test_evaluate_missing_model(capsys, tmp_path):
    rc, out, err = run(capsys, "evaluate", tmp_path / "nope.npz")
    assert_user_error(rc, err, "nope.npz")


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "directory"])
def test_evaluate_corrupt_model(capsys, trained, tmp_path, damage):
    bad = tmp_path / "bad.npz"
    if damage == "garbage":
        bad.write_bytes(b"PK\x03\x04 not really a zip file" + bytes(range(256)))
    elif damage == "truncated":
        data = trained["model"].read_bytes()
        bad.write_bytes(data[:len(data) // 2])
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        bad.mkdir()
    rc, out, err = run(capsys, "evaluate", bad)
    assert_user_error(rc, err, "bad.npz")


def test_evaluate_non_mnist_model(capsys, small_model):
    rc, out, err = run(capsys, "evaluate", small_model)
    assert_user_error(rc, err, "784")


# ---------------------------------------------------------------------------------------------- predict
def test_predict(capsys, trained, tmp_path):
    from numnet.images import digit_to_image

    _, _, (Xt, yt) = numnet.load_mnist()
    paths = []
    for i in (0, 1):
        p = tmp_path / f"digit{i}.png"
        digit_to_image(Xt[i], p, scale=3)
        paths.append(p)
    rc, out, err = run(capsys, "predict", trained["model"], *paths)
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 2
    for path, line in zip(paths, lines):
        m = re.match(re.escape(str(path)) + r": (\d) \(probability (\d\.\d{3})\); next: \d \(\d\.\d{3}\), "
                                           r"\d \(\d\.\d{3}\)", line)
        assert m, line
        assert 0.0 <= float(m.group(2)) <= 1.0


def test_predict_missing_image(capsys, trained, tmp_path):
    rc, out, err = run(capsys, "predict", trained["model"], tmp_path / "nope.png")
    assert_user_error(rc, err, "nope.png")


def test_predict_not_an_image(capsys, trained, tmp_path):
    f = tmp_path / "notes.png"
    f.write_text("this is text, not an image\n")
    rc, out, err = run(capsys, "predict", trained["model"], f)
    assert_user_error(rc, err, "notes.png")


def test_predict_blank_image(capsys, trained, tmp_path):
    from PIL import Image

    f = tmp_path / "blank.png"
    Image.new("L", (28, 28), 255).save(f)
    rc, out, err = run(capsys, "predict", trained["model"], f)
    assert_user_error(rc, err, "blank")


def test_predict_missing_model(capsys, tmp_path):
    rc, out, err = run(capsys, "predict", tmp_path / "nope.npz", tmp_path / "x.png")
    assert_user_error(rc, err, "nope.npz")


def test_predict_non_mnist_model(capsys, small_model, tmp_path):
    from numnet.images import digit_to_image

    p = tmp_path / "d.png"
    digit_to_image(numnet.load_mnist()[2][0][0], p)
    rc, out, err = run(capsys, "predict", small_model, p)
    assert_user_error(rc, err, "784")


# ---------------------------------------------------------------------------------------------- gradcheck
def test_gradcheck_builtin(capsys):
    rc, out, err = run(capsys, "gradcheck", "--sizes", "4,3,2", "--examples", "4")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[-1] == "all gradients agree"
    checks = lines[:-1]
    assert len(checks) >= 20  # 5 hidden activations x 4 output/cost pairs, plus dropout and batch norm
    assert all(line.endswith("  ok") for line in checks)
    for name in ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softmax", "dropout", "batch norm"):
        assert name in out


def test_gradcheck_model(capsys, small_model):
    rc, out, err = run(capsys, "gradcheck", "--model", small_model, "--examples", "4")
    assert rc == 0, err
    assert out.splitlines()[-1] == "all gradients agree"
    assert str(small_model) in out


def test_gradcheck_errors(capsys, tmp_path):
    rc, out, err = run(capsys, "gradcheck", "--examples", "0")
    assert_user_error(rc, err, "--examples")
    rc, out, err = run(capsys, "gradcheck", "--model", tmp_path / "nope.npz")
    assert_user_error(rc, err, "nope.npz")


# ---------------------------------------------------------------------------------------------- plot
def test_plot(capsys, trained, tmp_path):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "figs"
    rc, out, err = run(capsys, "plot", trained["history"], "--out", out_dir)
    assert rc == 0, err
    written = [Path(line) for line in out.splitlines() if not line.startswith("curves:")]
    assert {p.name for p in written} == {"cost.png", "accuracy.png"}
    assert out.splitlines()[-1].startswith("curves:")  # the training-curve rules' reading (issue #11)
    assert all(is_png(p) and p.parent == out_dir for p in written)


def test_plot_missing_history(capsys, tmp_path):
    rc, out, err = run(capsys, "plot", tmp_path / "nope.json", "--out", tmp_path)
    assert_user_error(rc, err, "nope.json")


def test_plot_bad_history(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    rc, out, err = run(capsys, "plot", bad, "--out", tmp_path)
    assert_user_error(rc, err, "bad.json")


# ---------------------------------------------------------------------------------------------- recipes
def test_recipes_list(capsys):
    rc, out, err = run(capsys, "recipes")
    assert rc == 0, err
    names = [line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith("run one")]
    assert set(RECIPES) <= set(names)
    ch1 = next(line for line in out.splitlines() if line.startswith("nielsen-ch1 "))
    assert "Nielsen ch.1" in ch1 and "[published: 95.42%, best of 3 runs]" in ch1
    ce = next(line for line in out.splitlines() if line.startswith("nielsen-ch3-ce "))
    assert "[published: 95.49%]" in ce
    assert "numnet train --recipe NAME" in out


def test_recipes_names(capsys):
    rc, out, err = run(capsys, "recipes", "--names")
    assert rc == 0, err
    names = out.split("\n")[:-1]
    assert names == sorted(names)
    assert set(RECIPES) <= set(names)
    assert all(n and " " not in n for n in names)


def test_recipes_show(capsys):
    rc, out, err = run(capsys, "recipes", "--show", "nielsen-ch1")
    assert rc == 0, err
    settings = dict(line.split(" = ", 1) for line in out.splitlines())
    assert json.loads(settings["sizes"]) == [784, 30, 10]
    assert json.loads(settings["cost"]) == "quadratic"
    assert json.loads(settings["lr"]) == 3.0
    assert json.loads(settings["batch_size"]) == 10


def test_recipes_show_unknown(capsys):
    rc, out, err = run(capsys, "recipes", "--show", "nope")
    assert_user_error(rc, err, "nope")


# ---------------------------------------------------------------------------------------------- compare-optimizers
def test_compare_optimizers(capsys, tmp_path):
    pytest.importorskip("numnet.experiments", reason="numnet.experiments (compare-optimizers) is not written yet")
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "cmp"
    rc, out, err = run(capsys, "compare-optimizers", "--epochs", "50", "--out", out_dir)
    assert rc == 0, err
    assert "train accuracy" in out
    for sub in ("optimizers", "batch-modes"):
        files = [p for p in (out_dir / sub).rglob("*") if p.is_file()]
        assert files, f"nothing written in {out_dir / sub}"
    rc, out, err = run(capsys, "compare-optimizers", "--epochs", "0", "--out", out_dir)
    assert_user_error(rc, err, "--epochs")


def test_compare_optimizers_on_the_course_data(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    out_dir = tmp_path / "course"
    rc, out, err = run(capsys, "compare-optimizers", "--course-data", "--epochs", "5", "--out", out_dir)
    assert rc == 0, err
    assert "course notebook" in out
    md = (out_dir / "optimizers" / "results.md").read_text(encoding="utf-8")
    assert "the course notebook's 300 points" in md and "float64" in md
