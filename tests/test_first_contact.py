"""A new user's first hour (issue 24): resume saves where the run saved, a finished run is not "resumed" into an
overwritten model, Ctrl-C keeps the trained model, two runs cannot write one model file, the model file records
its split for `diagnose`, `watch` stops."""
import json

import numpy as np
import pytest
from conftest import assert_user_error, run_cli

import numnet
from numnet.cli import DEFAULT_MODEL, main
from numnet.runs import RunInterrupted, run as run_api
from numnet.runs.outputs import OutputBusy, hold_output, read_training_meta
from numnet.train.callbacks import Callback

DATA = ["--train-size", "300", "--validation-size", "300"]
TINY = DATA + ["--sizes", "784,8,10", "--seed", "3"]


cli, one_line_error = run_cli, assert_user_error  # `numnet argv` in-process; one `numnet: error:` line


def test_resume_saves_to_the_runs_own_out_not_the_default(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--checkpoint-dir", "D", "--out", "mine.npz")
    assert rc == 0, err
    assert json.loads((tmp_path / "D" / "run.json").read_text())["out"] == str(tmp_path / "mine.npz")
    (tmp_path / DEFAULT_MODEL).write_bytes(b"someone else's model")
    before = (tmp_path / "mine.npz").read_bytes()
    rc, out, err = cli(capsys, "train", "--resume", "D", "--epochs", "2")
    assert rc == 0, err
    assert out.splitlines()[-1].endswith(str(tmp_path / "mine.npz"))
    assert (tmp_path / DEFAULT_MODEL).read_bytes() == b"someone else's model"     # untouched
    assert (tmp_path / "mine.npz").read_bytes() != before


def test_resume_of_a_run_already_past_its_epochs_is_an_error_that_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "2", "--checkpoint-dir", "D", "--out", "m.npz")
    assert rc == 0, err
    before = (tmp_path / "m.npz").read_bytes()
    rc, out, err = cli(capsys, "train", "--resume", "D", "--epochs", "1")
    one_line_error(rc, err, "already at epoch 2", "--epochs 1 leaves nothing to train", "above 2")
    rc, out, err = cli(capsys, "train", "--resume", "D")            # finished: nothing to do either
    one_line_error(rc, err, "already at epoch 2", "finished")
    assert (tmp_path / "m.npz").read_bytes() == before


class CtrlC(Callback):
    def on_epoch_end(self, trainer, epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt


def test_ctrl_c_without_a_checkpoint_folder_keeps_the_trained_model(tmp_path):
    out = tmp_path / "m.npz"
    (tmp_path / "m.npz").write_bytes(b"the previous model")
    with pytest.raises(RunInterrupted) as info:
        run_api(overrides={"sizes": [784, 8, 10], "epochs": 5, "train_size": 200, "validation_size": 100, "seed": 1},
                out=out, callbacks=[CtrlC()], verbose=0)
    saved = tmp_path / "m-interrupted.npz"
    assert info.value.saved == saved and f"saved to {saved}" in str(info.value)
    assert numnet.load(saved).sizes == [784, 8, 10]
    assert out.read_bytes() == b"the previous model"                # --out keeps the finished model only


def test_ctrl_c_of_a_run_that_writes_no_model_leaves_no_file(tmp_path, monkeypatch):
    """out=None (a search trial): interrupted, it saves nothing, in the current folder or elsewhere."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunInterrupted) as info:
        run_api(overrides={"sizes": [784, 8, 10], "epochs": 5, "train_size": 200, "validation_size": 100, "seed": 1},
                out=None, callbacks=[CtrlC()], verbose=0)
    assert info.value.saved is None and list(tmp_path.iterdir()) == []


def test_a_second_run_on_the_same_out_is_refused(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with hold_output(tmp_path / "m.npz"):
        rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--out", "m.npz")
        one_line_error(rc, err, "m.npz is in use by another numnet run")
        with pytest.raises(OutputBusy):
            with hold_output(tmp_path / "m.npz"):
                pass
    assert not (tmp_path / "m.npz").exists() and not (tmp_path / ".m.npz.lock").exists()
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--out", "m.npz")     # free again
    assert rc == 0, err
    assert not (tmp_path / ".m.npz.lock").exists()


def test_model_file_records_its_split_and_loads_as_before(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--train-dev-size", "50", "--out", "m.npz")
    assert rc == 0, err
    meta = read_training_meta(tmp_path / "m.npz")
    assert meta["seed"] == 3 and meta["train_size"] == 300 and meta["train_dev_size"] == 50
    assert meta["validation_size"] == 300
    assert numnet.load(tmp_path / "m.npz").sizes == [784, 8, 10]
    net = numnet.Network.from_sizes([3, 2])
    net.save(tmp_path / "plain.npz")
    assert read_training_meta(tmp_path / "plain.npz") is None
    with pytest.raises(ValueError, match="architecture"):
        net.save(tmp_path / "bad.npz", meta={"layers": []})


def test_diagnose_uses_the_recorded_split_and_refuses_another_seed(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--train-dev-size", "60", "--out", "m.npz")
    assert rc == 0, err
    rc, plain, err = cli(capsys, "diagnose", "m.npz", "--human-error", "0.2")     # no flags: the model's split
    assert rc == 0, err
    assert "training-dev error" in plain
    rc, same, err = cli(capsys, "diagnose", "m.npz", "--human-error", "0.2", "--seed", "3")
    assert rc == 0 and same == plain
    rc, out, err = cli(capsys, "diagnose", "m.npz", "--human-error", "0.2", "--seed", "4")
    one_line_error(rc, err, "--seed 3, not 4", "wrong ladder")
    rc, out, err = cli(capsys, "diagnose", "m.npz", "--human-error", "0.2", "--train-dev-size", "70")
    one_line_error(rc, err, "--train-dev-size 60, not 70")


def test_watch_returns_when_the_run_has_finished_and_fails_on_a_missing_folder(capsys, tmp_path, monkeypatch):
    from numnet.search.watch import watch
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "2", "--checkpoint-dir", "D", "--out", "m.npz")
    assert rc == 0, err
    assert json.loads((tmp_path / "D" / "run.json").read_text())["state"] == "finished"
    lines = []
    assert watch(tmp_path / "D", interval=0.01, plot=False, log=lines.append, max_polls=50) == 2
    assert lines[-1] == "the run finished"
    rc, out, err = cli(capsys, "watch", "D", "--no-plot", "--interval", "0.1")   # the command returns too
    assert rc == 0 and "the run finished" in out
    with pytest.raises(FileNotFoundError, match="no run at .*mistyped"):
        watch(tmp_path / "Dd", interval=0.01, plot=False, log=lines.append, grace=0.05, max_polls=1000)
    # a stopped (Ctrl-C) run is finished for watch too, and its resume keeps run.json's settings readable
    with pytest.raises(RunInterrupted):
        run_api(overrides={"sizes": [784, 8, 10], "epochs": 5, "train_size": 200, "validation_size": 100, "seed": 1},
                out=tmp_path / "s.npz", checkpoint_dir=tmp_path / "S", callbacks=[CtrlC()], verbose=0)
    assert json.loads((tmp_path / "S" / "run.json").read_text())["state"] == "stopped"
    assert watch(tmp_path / "S", interval=0.01, plot=False, log=lines.append, max_polls=50) == 1  # checkpointed
    rc, out, err = cli(capsys, "train", "--resume", "S", "--epochs", "3")
    assert rc == 0, err
    assert out.splitlines()[-1].endswith(str(tmp_path / "s.npz"))


# ---------------------------------------------------------------------------------------------- help and text
def help_of(capsys, *argv):
    with pytest.raises(SystemExit):
        main([*argv, "--help"])
    return " ".join(capsys.readouterr().out.split())        # whitespace-normalised


def test_help_explains_the_arguments_and_shows_the_defaults(capsys):
    from numnet.runs.settings import DEFAULTS
    text = help_of(capsys, "predict")
    assert "IMAGE one or more digit images" in text
    assert "--split {test,validation,train} which MNIST set" in help_of(capsys, "evaluate")
    text = help_of(capsys, "search")
    assert "tpe (Bayesian" in text and "hyperband (successive halving" in text
    text = help_of(capsys, "train")
    assert f"(default {DEFAULTS['epochs']})" in text and f"default {DEFAULTS['batch_size']})" in text
    assert f"(default {','.join(map(str, DEFAULTS['sizes']))})" in text


def test_lr_find_help_lists_only_the_flags_it_reads(capsys):
    text = help_of(capsys, "lr-find")
    for used in ("--sizes", "--optimizer", "--batch-size", "--l2", "--beta1", "--train-size", "--seed"):
        assert used in text
    for ignored in ("--epochs", "--schedule", "--early-stopping", "--augment", "--monitor-training", "--device",
                    "--gradient-health", "--fine-tune-lr", "--standardize", "--decay", " --lr "):
        assert ignored not in text, ignored


def test_recipes_show_has_no_project_internal_text(capsys):
    from numnet.runs.settings import recipe_names
    for name in recipe_names():
        rc, out, err = cli(capsys, "recipes", "--show", name)
        assert rc == 0 and "issue" not in out.lower(), out


def test_did_you_mean_for_recipes_settings_and_keras_spellings(capsys, tmp_path):
    rc, out, err = cli(capsys, "train", "--recipe", "bestt")
    one_line_error(rc, err, "unknown recipe 'bestt' (did you mean best?)")
    rc, out, err = cli(capsys, "train", "--optimizer", "adam", "--beta_1", "0.9")
    one_line_error(rc, err, "--beta_1", "(did you mean --beta1?)")
    rc, out, err = cli(capsys, "train", "--learning_rate", "0.1")
    one_line_error(rc, err, "(did you mean --lr?)")
    config = tmp_path / "run.toml"
    config.write_text("beta_2 = 0.99\nlearning_rate = 0.1\n")
    rc, out, err = cli(capsys, "train", "--config", config)
    one_line_error(rc, err, "beta_2", "(did you mean beta2?)", "(did you mean lr?)")


def test_network_summary_lists_layers_shapes_and_parameter_counts():
    net = numnet.Network.from_sizes([784, 32, 10], activation="relu", cost="log_likelihood", init="he", seed=0)
    text = net.summary()
    lines = text.splitlines()
    assert lines[0].split() == ["#", "layer", "output", "shape", "params"]
    assert lines[2].split() == ["0", "Dense", "(None,", "32)", "25,120"]        # 784·32 + 32
    assert lines[4].split() == ["2", "Dense", "(None,", "10)", "330"]           # 32·10 + 10
    assert "total params: 25,450 (trainable 25,450, frozen 0)" in text
    net.freeze(1)
    assert "Dense (frozen)" in net.summary() and "(trainable 330, frozen 25,120)" in net.summary()


def test_predict_prints_the_top_three_a_low_confidence_note_and_the_input(capsys, tmp_path, monkeypatch):
    from numnet.images import digit_to_image, load_digit
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "train", *TINY, "--epochs", "1", "--out", "m.npz")
    assert rc == 0, err
    _, _, (Xt, _) = numnet.load_mnist()
    digit_to_image(Xt[0], tmp_path / "d.png", scale=3)
    blob = np.zeros((28, 28))
    blob[6:22, 6:22] = 1.0                                   # a square: no digit the model knows
    digit_to_image(blob, tmp_path / "n.png", scale=3)
    rc, out, err = cli(capsys, "predict", "m.npz", "d.png", "n.png", "--show-input", "seen.png", "--ascii")
    assert rc == 0, err
    lines = out.splitlines()
    top = [line for line in lines if line.startswith(("d.png:", "n.png:"))]
    assert len(top) == 2 and all("; next: " in line for line in top)
    proba = numnet.load(tmp_path / "m.npz").predict_proba(np.stack([load_digit(tmp_path / "d.png"),
                                                                    load_digit(tmp_path / "n.png")]))
    for line, p in zip(top, proba):
        assert ("low confidence" in line) == (p.max() < 0.6)
    assert any("low confidence" in line for line in top), top
    assert (tmp_path / "seen-1.png").exists() and (tmp_path / "seen-2.png").exists()
    assert "the 28x28 input it read: seen-1.png" in out
    art = [line for line in lines if line.startswith("  ") and len(line) == 58]
    assert len(art) == 56 and any(set(line.strip()) - {" ", "."} for line in art)
