import io
import re

import numpy as np
import pytest

from numnet.progress import EpochProgress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_disabled_writes_nothing():
    out = io.StringIO()
    with EpochProgress(100, 1, 3, enabled=False, file=out) as bar:
        for _ in range(10):
            bar.update(10, 0.5)
    assert out.getvalue() == ""
    assert bar.running_cost == 0.5


def test_auto_disabled_when_not_a_tty(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    out = io.StringIO()
    with EpochProgress(10, 1, 1, file=out) as bar:
        bar.update(10, 1.0)
    assert not bar.enabled and out.getvalue() == ""


def test_auto_enabled_on_tty_unless_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    tty = FakeTTY()
    with EpochProgress(10, 1, 1, file=tty) as bar:
        bar.update(10, 1.0)
    assert bar.enabled and "epoch 1/1" in tty.getvalue()

    monkeypatch.setenv("CI", "true")
    tty = FakeTTY()
    with EpochProgress(10, 1, 1, file=tty) as bar:
        bar.update(10, 1.0)
    assert not bar.enabled and tty.getvalue() == ""


def test_enabled_shows_epoch_count_and_cost():
    out = io.StringIO()
    with EpochProgress(40, 3, 30, enabled=True, file=out) as bar:
        bar.update(10, 1.0)
        bar.update(10, np.float64(0.0))
        bar.update(20, 0.25)
    text = out.getvalue()
    assert "epoch 3/30" in text
    assert "40/40" in text
    assert "cost=0.3750" in text           # final mean: (10·1 + 10·0 + 20·0.25) / 40


def test_running_cost_is_example_weighted_mean():
    bar = EpochProgress(1000, 1, 1, enabled=False)
    assert bar.running_cost is None
    costs = np.random.default_rng(0).random(50)
    sizes = [32] * 49 + [8]
    for n, c in zip(sizes, costs):
        bar.update(n, c)
    assert bar.running_cost == pytest.approx(np.average(costs, weights=sizes), rel=1e-12)
    assert type(bar.running_cost) is float
    bar.close()


def test_close_twice_is_safe():
    out = io.StringIO()
    bar = EpochProgress(5, 1, 2, enabled=True, file=out)
    bar.update(5, 0.1)
    bar.close()
    written = out.getvalue()
    bar.close()
    assert out.getvalue() == written


@pytest.mark.parametrize("args, word", [
    ((0, 1, 1), "total_examples"),
    ((10.5, 1, 1), "total_examples"),
    ((10, 0, 5), "epoch"),
    ((10, 6, 5), "epoch"),
    ((10, 1, 0), "epochs"),
])
def test_bad_arguments(args, word):
    with pytest.raises(ValueError, match=word):
        EpochProgress(*args, enabled=False)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="n_examples"):
        EpochProgress(10, 1, 1, enabled=False).update(0, 1.0)


def test_epoch_line_after_the_bar_closes_keras_style(capsys):
    """The bar is erased before the epoch's one line (bar, time, loss, val_loss, val_accuracy) is printed, so the
    two never run into each other; `loss` is the mean of the epoch's batch costs, as in History.history."""
    import numnet
    from numnet.train.callbacks import Callback
    rng = np.random.default_rng(0)
    X, y = rng.random((90, 4)).astype("float32"), rng.integers(0, 2, 90)
    seen = []

    class Keep(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            seen.append(float(np.mean(trainer.batch_costs)))

    net = numnet.Network.from_sizes([4, 5, 2], seed=0)
    lines = []
    hist = net.fit(X, y, epochs=2, batch_size=32, validation_data=(X[:20], y[:20]), seed=0, verbose=2, progress=True,
            log=lines.append, callbacks=[Keep()])
    err = capsys.readouterr().err
    assert "epoch 1/2" in err                       # the bar was drawn ...
    assert len(lines) == 2
    for i, line in enumerate(lines, 1):
        m = re.match(rf"^epoch {i}/2  \u2501{{20}} 90/90  \d+\.\ds  loss (\d\.\d{{4}})  val_loss \d\.\d{{4}}  "
                     r"val_accuracy \d+\.\d\d%  lr 0\.1$", line)
        assert m, line
        assert float(m.group(1)) == pytest.approx(seen[i - 1], abs=1e-4)
    assert "cost" not in " ".join(lines)            # one cost notion: loss, also History.history's
    assert hist.history["loss"] == pytest.approx(seen, abs=1e-12)
    assert set(hist.history) == {"loss", "val_loss", "val_accuracy", "lr"} and len(hist.history["val_loss"]) == 2


def test_epoch_line_without_a_bar_has_no_bar():
    import numnet
    rng = np.random.default_rng(1)
    X, y = rng.random((40, 3)).astype("float32"), rng.integers(0, 2, 40)
    lines = []
    numnet.Network.from_sizes([3, 4, 2], seed=0).fit(X, y, epochs=1, batch_size=16, seed=0, verbose=1,
                                                     monitor_training=True, log=lines.append)
    assert re.match(r"^epoch 1/1  \d+\.\ds  loss \d\.\d{4}  accuracy \d+\.\d\d%  lr 0\.1$", lines[0]), lines
