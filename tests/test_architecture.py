"""The architecture's promises: imports flow one way through the folders, parts plug in through registries
(a new activation, cost and optimizer defined here train through the CLI and a TOML config), callbacks are
the way into training, frozen layers stay bit-identical, settings accept nested tables, and the run layer
works in-process."""
import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

import numnet
from numnet import ACTIVATIONS, COSTS, OPTIMIZERS, Activation, Callback, Cost, Optimizer
from numnet.cli import main
from numnet.runs import RunError, resolve_settings, run

SRC = Path(numnet.__file__).resolve().parent
# a module may import from its own layer and the layers before it, never from a later one
LAYERS = ["utils", "nn", "train", "model", "data", "report", "runs", "search", "lab", "cli", "nielsen"]


def _numnet_imports(path: Path):
    """(line, imported numnet module) for every import in a file, at any depth (function-level too)."""
    rel = path.relative_to(SRC).with_suffix("")
    package = ["numnet", *rel.parts[:-1]] if rel.name != "__init__" else ["numnet", *rel.parts[:-1]]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                yield node.lineno, ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("numnet"):
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("numnet"):
                    yield node.lineno, alias.name


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_imports_flow_one_way():
    bad = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.parts[0] in ("__init__.py", "__main__.py"):
            continue
        own = LAYERS.index(rel.parts[0].removesuffix(".py"))
        for line, module in _numnet_imports(path):
            target = _layer(module)
            if target is not None and target > own:
                bad.append(f"{rel}:{line} imports {module}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycle_between_modules():
    graph = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        name = ".".join(["numnet", *rel.parts]).removesuffix(".__init__")
        graph[name] = {m for _, m in _numnet_imports(path) if m != name}

    def visit(node, stack, done):
        if node in stack:
            return stack[stack.index(node):] + [node]
        if node in done or node not in graph:
            return None
        done.add(node)
        for nxt in graph[node]:
            # importing a package runs its __init__, which imports its modules: only module-to-module edges
            if nxt == "numnet" or nxt in ("numnet." + p for p in LAYERS):
                continue
            cycle = visit(nxt, stack + [node], done)
            if cycle:
                return cycle
        return None

    done = set()
    for node in graph:
        cycle = visit(node, [], done)
        assert cycle is None, " -> ".join(cycle)


#: a function may run longer than this only when its docstring says why, in a sentence starting "Long:"
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 500


def test_modules_and_functions_are_short_or_say_why():
    too_long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(SRC)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and "Long:" not in (ast.get_docstring(node) or ""):
                    too_long.append(f"{rel}:{node.lineno} {node.name}(): {n} lines, no 'Long:' reason")
    assert not too_long, "\n".join(too_long)


def test_loop_and_cli_handlers_are_short():
    from numnet import cli
    from numnet.train.loop import Trainer

    loop = sum(len(inspect.getsource(f).splitlines()) for f in (Trainer.run, Trainer._run_epoch, Trainer._batches))
    assert loop <= 80, f"the epoch/batch loop is {loop} lines"
    for name, handler in cli.COMMANDS.items():
        n = len(inspect.getsource(handler).splitlines())
        assert n <= 40, f"numnet {name}'s handler is {n} lines: it should parse, call and print"


# ---------------------------------------------------------------------------------------------- plug-ins
class Softsign(Activation):
    """a = z / (1 + |z|);  da/dz = 1 / (1 + |z|)²."""

    name = "test_softsign"

    def forward(self, v, x, training=False, rng=None):
        d = 1 + np.abs(x)
        return x / d, d  # (output, cache): the cache comes back to backward

    def backward(self, v, d, dy, need_dx=True):
        return dy / (d * d), {}


class DoubleQuadratic(Cost):
    """C_x = ‖y − a‖²;  ∂C/∂a = 2(a − y)/n."""

    name = "test_double_quadratic"
    outputs = ("sigmoid",)

    def value(self, a, Y, z=None):
        d = a - Y
        return float(np.vdot(d, d)) / len(a)

    def grad(self, a, Y):
        return 2 * (a - Y) / len(a)


class GainSGD(Optimizer):
    """W ← W − α·gain·dW."""

    name = "test_gain_sgd"
    default_lr = 0.05

    def __init__(self, lr=0.05, gain=1.0):
        super().__init__(lr)
        self.gain = float(gain)

    def _update(self, p, g, slot, d):
        np.multiply(g, self.lr * self.gain, out=d)
        p -= d

    def config(self):
        return {**super().config(), "gain": self.gain}


@pytest.fixture
def plugins():
    ACTIVATIONS.register(Softsign)
    COSTS.register(DoubleQuadratic)
    OPTIMIZERS.register(GainSGD)
    yield
    ACTIVATIONS.unregister("test_softsign")
    COSTS.unregister("test_double_quadratic")
    OPTIMIZERS.unregister("test_gain_sgd")


TINY = ["--train-size", "300", "--validation-size", "100", "--epochs", "1", "--sizes", "784,12,10", "--quiet"]


def test_new_parts_train_through_the_cli(plugins, tmp_path, capsys):
    out = tmp_path / "m.npz"
    rc = main(["train", *TINY, "--activation", "test-softsign", "--cost", "test_double_quadratic",
               "--optimizer", "test_gain_sgd", "--gain", "2.0", "--seed", "3", "--out", str(out),
               "--checkpoint-dir", str(tmp_path / "ck")])
    assert rc == 0, capsys.readouterr().err
    net = numnet.load(out)
    assert [l.name for l in net.layers] == ["dense", "test_softsign", "dense", "sigmoid"]
    assert net.cost.name == "test_double_quadratic"
    ck = numnet.load_checkpoint(tmp_path / "ck")
    assert isinstance(ck.optimizer, GainSGD) and ck.optimizer.gain == 2.0 and ck.optimizer.lr == 0.05


def test_new_parts_train_through_a_toml_config(plugins, tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[network]\nsizes = [784, 12, 10]\nactivation = "test_softsign"\ncost = "test_double_quadratic"\n'
                   '[optimizer]\nname = "test_gain_sgd"\nlr = 0.1\ngain = 0.5\n'
                   '[training]\nepochs = 1\nbatch_size = 20\nseed = 4\n'
                   '[data]\ntrain_size = 300\nvalidation_size = 100\n')
    rc = main(["train", "--config", str(cfg), "--quiet", "--out", str(tmp_path / "m.npz"),
               "--json-summary", str(tmp_path / "s.json")])
    assert rc == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["config"]["optimizer"] == "test_gain_sgd" and summary["config"]["gain"] == 0.5
    assert summary["config"]["activation"] == "test_softsign" and summary["config"]["lr"] == 0.1


def test_new_parts_are_gradient_checked_and_listed(plugins, capsys):
    rc = main(["gradcheck", "--sizes", "5,4,3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "test_softsign hidden, sigmoid output, test_double_quadratic" in out
    assert "relu hidden, sigmoid output, test_double_quadratic" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = capsys.readouterr().out
    assert "test_softsign" in help_text and "test_gain_sgd" in help_text and "--gain" in help_text


def test_unknown_part_is_one_line(capsys):
    assert main(["train", "--activation", "swishy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numnet: error: ") and "unknown activation 'swishy'" in err and err.count("\n") == 1


def test_registry_rejects_a_second_class_under_a_taken_name():
    class Other(Activation):
        name = "relu"

    with pytest.raises(ValueError, match="already registered"):
        ACTIVATIONS.register(Other)


# ---------------------------------------------------------------------------------------------- callbacks
def _blobs(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return (rng.standard_normal((n, 2)) + np.where(y[:, None] == 1, 1.5, -1.5)).astype(np.float32), y


class StopAfterBatch(Callback):
    def __init__(self, batch):
        self.batch, self.seen = batch, []

    def on_batch_end(self, trainer, batch, cost):
        self.seen.append((trainer.epoch, batch))
        return trainer.epoch == 2 and batch == self.batch


class RecordBatches(Callback):
    def __init__(self):
        self.costs, self.epochs = [], []

    def on_batch_end(self, trainer, batch, cost):
        self.costs.append(cost)

    def on_epoch_end(self, trainer, epoch, logs):
        self.epochs.append((epoch, logs["val_accuracy"]))


def test_callback_stops_after_a_batch_and_records_every_batch():
    X, y = _blobs()
    net = numnet.Network.from_sizes([2, 6, 2], activation="tanh", seed=1)
    stop, rec = StopAfterBatch(3), RecordBatches()
    h = net.fit(X, y, epochs=5, batch_size=10, optimizer=numnet.SGD(0.5), seed=2, callbacks=[stop, rec],
                validation_data=(X, y))
    assert len(h) == 2 and len(h.batch_cost[1]) == 3          # epoch 2 stopped after its third batch
    assert stop.seen[-1] == (2, 3) and len(stop.seen) == 12 + 3
    assert rec.costs == [c for epoch in h.batch_cost for c in epoch]
    assert rec.epochs == list(zip(h.epoch, h.val_accuracy))


def test_callback_stops_after_an_epoch():
    X, y = _blobs()
    net = numnet.Network.from_sizes([2, 6, 2], activation="tanh", seed=1)

    class StopAtTwo(Callback):
        def on_epoch_end(self, trainer, epoch, logs):
            return epoch == 2

    h = net.fit(X, y, epochs=10, batch_size=10, optimizer=numnet.SGD(0.5), seed=2, callbacks=[StopAtTwo()])
    assert h.epoch == [1, 2]


def test_callbacks_must_be_callbacks():
    X, y = _blobs()
    net = numnet.Network.from_sizes([2, 6, 2], seed=1)
    with pytest.raises(ValueError, match="Callback instances"):
        net.fit(X, y, epochs=1, callbacks=[lambda *a: None])


class CountEpochs(Callback):
    def __init__(self):
        self.count = 0

    def on_epoch_end(self, trainer, epoch, logs):
        self.count += 1

    def state_dict(self):
        return {"count": self.count}

    def load_state_dict(self, state):
        self.count = state["count"]


def test_resume_restores_callback_state(tmp_path):
    X, y = _blobs()

    def net():
        return numnet.Network.from_sizes([2, 6, 2], activation="tanh", seed=1)

    full_cb, part_cb, resumed_cb = CountEpochs(), CountEpochs(), CountEpochs()
    full = net()
    h_full = full.fit(X, y, epochs=4, batch_size=10, optimizer=numnet.Adam(0.01), seed=5, callbacks=[full_cb])
    part = net()
    part.fit(X, y, epochs=2, batch_size=10, optimizer=numnet.Adam(0.01), seed=5, callbacks=[part_cb],
             checkpoint_dir=tmp_path)
    resumed = net()
    h = resumed.fit(X, y, epochs=4, batch_size=10, seed=5, callbacks=[resumed_cb], resume=tmp_path)
    assert resumed_cb.count == 4 == full_cb.count
    assert h.batch_cost == h_full.batch_cost
    for k, v in full.get_weights().items():
        np.testing.assert_array_equal(resumed.get_weights()[k], v)


# ---------------------------------------------------------------------------------------------- frozen layers
def test_frozen_layers_stay_bit_identical_and_get_no_gradient():
    X, y = _blobs()
    net = numnet.Network.from_sizes([2, 8, 8, 2], activation="relu", init="he", seed=3, batch_norm=True)
    net.freeze(2)  # the first Dense and the first BatchNorm
    frozen = [l for l in net.layers if l.params][:2]
    before = {k: v.copy() for k, v in net.get_weights().items()}
    net.fit(X, y, epochs=3, batch_size=16, optimizer=numnet.Adam(0.01), seed=1)
    after = net.get_weights()
    for i, layer in enumerate(net.layers):
        for k in {**layer.params, **layer.buffers}:
            same = np.array_equal(before[f"{i}.{k}"], after[f"{i}.{k}"])
            assert same == (layer in frozen), f"{i}.{k}"
    _, grads = net.loss_and_grads(X[:16], y[:16])
    assert all(grads[net.layers.index(l)] == {} for l in frozen)  # never computed
    loaded = numnet.Network.from_architecture(net.architecture(), net.arrays())
    assert [l.trainable for l in loaded.layers] == [l.trainable for l in net.layers]
    with pytest.raises(ValueError, match="cannot freeze 9 layers"):
        net.freeze(9)


def test_frozen_network_still_backpropagates_to_trainable_layers_above():
    X, y = _blobs()
    net = numnet.Network.from_sizes([2, 5, 2], activation="tanh", seed=0, dtype="float64")
    net.freeze(1)
    r = numnet.gradcheck(net, X[:6], y[:6])
    assert set(r.errors) == {"2.W", "2.b"} and r.max_error < 1e-7


# ---------------------------------------------------------------------------------------------- settings
def test_nested_tables_equal_flat_keys(tmp_path):
    nested, flat = tmp_path / "n.toml", tmp_path / "f.toml"
    nested.write_text('[optimizer]\nname = "adam"\nlr = 0.002\nbeta1 = 0.8\n'
                      '[schedule]\nname = "plateau"\npatience = 3\n[network]\nsizes = [784, 40, 10]\n'
                      '[training]\nepochs = 2\nseed = 1\n')
    flat.write_text('optimizer = "adam"\nlr = 0.002\nbeta1 = 0.8\nschedule = "plateau"\nlr_patience = 3\n'
                    'sizes = [784, 40, 10]\nepochs = 2\nseed = 1\n')
    assert resolve_settings(config=nested) == resolve_settings(config=flat)


@pytest.mark.parametrize("text,match", [
    ('[optimiser]\nname = "adam"\n', r"unknown table \[optimiser\]"),
    ('lr = 0.1\n[optimizer]\nlr = 0.2\n', "'lr' is given twice"),
    ('[optimizer]\nname = 3\n', "optimizer must be a name"),
    ('[optimizer]\nbogus = 1\n', "unknown setting"),
])
def test_bad_nested_tables(tmp_path, text, match):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        resolve_settings(config=p)


def test_each_optimizer_gets_its_own_default_rate():
    assert resolve_settings(overrides={"optimizer": "adam"})["lr"] == 0.001
    assert resolve_settings()["lr"] == 0.2
    assert resolve_settings(overrides={"optimizer": "adam", "lr": 0.01})["lr"] == 0.01


# ---------------------------------------------------------------------------------------------- run layer
def test_run_in_process_on_given_data(tmp_path):
    X, y = _blobs(200)
    data = ((X[:120], y[:120]), (X[120:160], y[120:160]), (X[160:], y[160:]))
    rec = RecordBatches()
    r = run(overrides={"sizes": [2, 8, 2], "epochs": 3, "batch_size": 20, "seed": 1, "optimizer": "adam"},
            data=data, out=tmp_path / "m.npz", callbacks=[rec], verbose=0)
    assert r.test is not None and 0 <= r.test.accuracy <= 1 and len(r.history) == 3
    assert r.settings["lr"] == 0.001 and r.paths["model"].exists() and len(rec.costs) == 18
    again = run(overrides={"sizes": [2, 8, 2], "epochs": 3, "batch_size": 20, "seed": 1, "optimizer": "adam"},
                data=data, out=None, verbose=0)
    assert again.history.batch_cost == r.history.batch_cost and "model" not in again.paths


def test_run_errors_are_run_errors(tmp_path):
    X, y = _blobs(60)
    data = ((X, y), (X[:0], y[:0]), (X, y))
    with pytest.raises(RunError, match="features but the network takes 784"):
        run(data=data, out=None, verbose=0)
    with pytest.raises(RunError, match="needs a validation set"):
        run(overrides={"sizes": [2, 3, 2], "early_stopping": 2}, data=data, out=None, verbose=0)
    with pytest.raises(RunError, match="is a directory"):
        run(overrides={"sizes": [2, 3, 2]}, data=data, out=tmp_path, verbose=0)
