"""Convolutional networks (issue 21): Conv2D, MaxPool2D, AvgPool2D, BatchNorm2D against naive loops, gradient-
checked in float64, bounded im2col memory, the strict device stand-in, save/load with shapes."""
import math

import numpy as np
import pytest

import numnet
from numnet import (AvgPool2D, BatchNorm2D, Conv2D, Dense, Dropout, Flatten, MaxPool2D, Network, ReLU, SGD, Sigmoid,
                    Softmax)
from numnet.model.gradcheck import relative_error
from numnet.nn import conv as C
from numnet.utils import backend as B

import strict_xp


# ---------------------------------------------------------------------------------------------- naive references
def naive_conv(x, W, b, stride, padding):
    n, c, h, w = x.shape
    o, _, k, _ = W.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for e in range(n):
        for f in range(o):
            for r in range(oh):
                for s in range(ow):
                    patch = xp[e, :, r * stride:r * stride + k, s * stride:s * stride + k]
                    out[e, f, r, s] = (patch * W[f]).sum() + b[f]
    return out


def naive_pool(x, size, stride, reduce):
    n, c, h, w = x.shape
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.zeros((n, c, oh, ow))
    for e in range(n):
        for ch in range(c):
            for r in range(oh):
                for s in range(ow):
                    out[e, ch, r, s] = reduce(x[e, ch, r * stride:r * stride + size, s * stride:s * stride + size])
    return out


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 0), (1, 2), (2, 1), (3, 1)])
def test_conv2d_forward_equals_the_naive_loops(stride, padding):
    rng = np.random.default_rng(0)
    layer = Conv2D(3, 4, 3, stride=stride, padding=padding, seed=1, dtype="float64")
    layer.params["b"] = rng.standard_normal(4)
    x = rng.standard_normal((2, 3, 7, 6))
    y = layer(x)
    expected = naive_conv(x, layer.params["W"], layer.params["b"], stride, padding)
    assert y.shape == expected.shape == (2, 4, *[(d + 2 * padding - 3) // stride + 1 for d in (7, 6)])
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    assert layer.output_shape((3, 7, 6)) == y.shape[1:]


@pytest.mark.parametrize("size,stride", [(2, None), (3, None), (3, 2), (2, 1)])
def test_pooling_forward_equals_the_naive_loops(size, stride):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 8))
    for layer, reduce in ((MaxPool2D(size, stride), np.max), (AvgPool2D(size, stride), np.mean)):
        y = layer(x)
        np.testing.assert_allclose(y, naive_pool(x, size, stride or size, reduce), rtol=1e-12, atol=1e-14)
        assert layer.output_shape((3, 7, 8)) == y.shape[1:]


def test_max_pool_routes_the_gradient_to_one_winner_per_window():
    x = np.zeros((1, 1, 2, 2))  # a tie: every input is the max (a ReLU's zeros)
    layer = MaxPool2D(2)
    y, cache = layer.forward({}, x)
    dx, _ = layer.backward({}, cache, np.ones_like(y))
    assert dx.sum() == 1 and dx[0, 0, 0, 0] == 1


def test_batch_norm_2d_normalises_each_channel_over_examples_and_positions():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 5, 5)) * np.array([1, 3, 0.5])[:, None, None] + np.array([2, -1, 0])[:, None, None]
    layer = BatchNorm2D(3, dtype="float64")
    layer.params["gamma"][:] = [1, 2, 3]
    layer.params["beta"][:] = [0, 1, -1]
    y, cache = layer.forward(layer.variables, x, training=True)
    mu, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = (x - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5) * np.array([1, 2, 3])[:, None, None] \
        + np.array([0, 1, -1])[:, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    np.testing.assert_allclose(layer.updates(cache)["running_mean"], 0.1 * mu, rtol=1e-12)
    np.testing.assert_allclose(layer.updates(cache)["running_var"], 0.9 + 0.1 * var, rtol=1e-12)


# ---------------------------------------------------------------------------------------------- gradient checks
def small(*middle, channels=2, size=8, cost="log_likelihood", classes=4):
    """conv-family layers `middle` on (channels, size, size) inputs, then flatten → dense → softmax, float64."""
    layers, shape = list(middle), (channels, size, size)
    for layer in layers:
        shape = layer.output_shape(shape)
    layers += [Flatten(), Dense(math.prod(shape), classes, seed=5, dtype="float64"), Softmax()]
    return Network(layers, cost)


def conv(i, o, k, **kw):
    return Conv2D(i, o, k, seed=i * 10 + o, dtype="float64", **kw)


NETS = {
    "conv-relu-maxpool": lambda: small(conv(2, 3, 3, input_shape=(2, 8, 8)), ReLU(), MaxPool2D(2)),
    "conv-sigmoid-avgpool": lambda: small(conv(2, 3, 3, input_shape=(2, 8, 8)), Sigmoid(), AvgPool2D(2)),
    "stride-padding-overlapping-pool": lambda: small(conv(2, 3, 3, stride=2, padding=1, input_shape=(2, 8, 8)),
                                                     ReLU(), MaxPool2D(3, stride=1)),
    "two-conv-pool (dx of a conv)": lambda: small(conv(2, 3, 3, input_shape=(2, 8, 8)), ReLU(), MaxPool2D(2),
                                                  conv(3, 4, 2, padding=1), ReLU(), MaxPool2D(2)),
    "conv-batchnorm2d-relu-pool-dropout": lambda: small(conv(2, 3, 3, input_shape=(2, 8, 8), bias=False),
                                                        BatchNorm2D(3, dtype="float64"), ReLU(), MaxPool2D(2),
                                                        Dropout(0.8)),
    "xavier-tanh-avg": lambda: small(conv(2, 3, 5, init="xavier", input_shape=(2, 8, 8)), numnet.Tanh(),
                                     AvgPool2D(2, stride=1)),
}


@pytest.mark.parametrize("name", list(NETS))
def test_gradcheck_in_float64(name):
    net = NETS[name]()
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((5, 2, 8, 8)), rng.integers(0, 4, 5)
    result = numnet.gradcheck(net, X, y, l2=0.5, n_train=20, max_checks=30)
    assert result.passed(1e-7), result.errors
    assert {k.split(".")[1] for k in result.errors} >= {"W", "b"}


def test_gradcheck_of_the_input_gradient_through_every_layer_kind():
    """dx of conv (stride, padding), both pools and BatchNorm2D against finite differences of the cost in x."""
    net = small(conv(2, 3, 3, stride=2, padding=2, input_shape=(2, 8, 8)), BatchNorm2D(3, dtype="float64"),
                ReLU(), AvgPool2D(2, stride=1), conv(3, 2, 2), MaxPool2D(2))
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((3, 2, 8, 8)), np.eye(4)[rng.integers(0, 4, 3)]

    def cost(x):
        return float(net.cost.value(net.forward_pass(x, True)[0], Y))

    tape = []
    a, _ = net.forward_pass(X, True, None, tape)
    delta = net.cost.delta(a, Y)
    for i in range(len(net.layers) - 2, -1, -1):
        delta, _ = net.layers[i].backward(net.layers[i].variables, tape[i], delta, True)
    numeric = numnet.numerical_gradient(cost, X)
    assert relative_error(delta, numeric) < 1e-7


def test_he_and_xavier_use_fan_in_channels_times_kernel_area():
    he = Conv2D(8, 64, 5, seed=0).params["W"]
    assert he.shape == (64, 8, 5, 5)
    assert np.std(he) == pytest.approx(math.sqrt(2 / (8 * 25)), rel=0.05)
    xavier = Conv2D(8, 64, 5, init="xavier", seed=0).params["W"]
    assert np.std(xavier) == pytest.approx(math.sqrt(2 / (8 * 25 + 64 * 25)), rel=0.05)
    assert not Conv2D(8, 64, 5, seed=0).params["b"].any()


# ---------------------------------------------------------------------------------------------- bounded memory
def test_im2col_works_in_chunks_under_its_budget_with_identical_results(monkeypatch):
    net = NETS["two-conv-pool (dx of a conv)"]()
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((9, 2, 8, 8)), rng.integers(0, 4, 9)
    whole_cost, whole = net.loss_and_grads(X, y)
    sizes = []
    real = C.im2col

    def recording(*args):
        col = real(*args)
        sizes.append(col.nbytes)
        return col

    monkeypatch.setattr(C, "im2col", recording)
    first = net.layers[0]
    per_example = 2 * 9 * 36 * 8  # C·k²·OH·OW float64 values of one example in the first conv
    monkeypatch.setattr(Conv2D, "col_budget", 2 * per_example)
    cost, grads = net.loss_and_grads(X, y)
    assert max(sizes) <= 2 * per_example and len(sizes) > 4  # several chunks per layer and pass
    assert first._chunk(X, 6, 6) == 2
    assert cost == pytest.approx(whole_cost, rel=1e-13)
    for g, h in zip(grads, whole):
        for k in g:
            np.testing.assert_allclose(g[k], h[k], rtol=1e-11, atol=1e-14)


def test_the_default_budget_bounds_a_big_batch():
    layer = Conv2D(40, 64, 5)
    x = np.zeros((1, 40, 28, 28), dtype=np.float32)
    per_example = 40 * 25 * 24 * 24 * 4
    assert layer._chunk(x, 24, 24) * per_example <= C.COL_BUDGET < (layer._chunk(x, 24, 24) + 1) * per_example


# ---------------------------------------------------------------------------------------------- shapes and files
def test_shapes_that_do_not_chain_are_clear_errors():
    with pytest.raises(ValueError, match="feature maps"):
        Network([Dense(784, 10), Conv2D(1, 2, 3)])
    with pytest.raises(ValueError, match="channels"):
        Network([Conv2D(1, 2, 3, input_shape=(1, 8, 8)), Conv2D(3, 2, 3), Flatten(), Dense(8, 2)])
    with pytest.raises(ValueError, match="at least 9"):
        Network([Conv2D(1, 2, 9, input_shape=(1, 8, 8)), Flatten(), Dense(2, 2)])
    with pytest.raises(ValueError, match="input_shape"):
        Conv2D(1, 2, 3, input_shape=(3, 8, 8))


def test_a_conv_model_saves_and_loads_with_its_shapes(tmp_path):
    net = NETS["conv-batchnorm2d-relu-pool-dropout"]()
    X = np.random.default_rng(6).standard_normal((4, 2, 8, 8))
    net.fit(X, [0, 1, 2, 3], epochs=1, batch_size=2, verbose=0, optimizer=SGD(0.1), seed=0)
    back = numnet.load(net.save(tmp_path / "m.npz"))
    assert back.input_shape == (2, 8, 8) and back.architecture() == net.architecture()
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    np.testing.assert_array_equal(back.forward(X.reshape(4, -1)), net.forward(X))  # flat rows are reshaped


# ---------------------------------------------------------------------------------------------- the device path
@pytest.fixture
def strict():
    B.register_backend(strict_xp.BACKEND)
    yield strict_xp.NAME
    B.unregister_backend(strict_xp.NAME)


def tiny_images(n=60, seed=0):
    """Two classes of 1×8×8 images: a bright vertical or horizontal bar, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.random((n, 1, 8, 8)).astype(np.float32) * 0.3
    X[y == 0, 0, :, 3] += 1
    X[y == 1, 0, 3, :] += 1
    return X, y


def image_net(seed=0, dtype="float32"):
    return Network([Conv2D(1, 4, 3, input_shape=(1, 8, 8), seed=seed, dtype=dtype), BatchNorm2D(4, dtype=dtype),
                    ReLU(), MaxPool2D(2), AvgPool2D(3, stride=1), Flatten(), Dense(4, 2, seed=seed, dtype=dtype),
                    Softmax()], "log_likelihood")


def test_training_on_the_strict_device_matches_numpy(strict, monkeypatch):
    X, y = tiny_images()
    nets = {}
    for device in ("cpu", strict):
        monkeypatch.setattr(Conv2D, "col_budget", 4 * 36 * 9 * 4 if device != "cpu" else C.COL_BUDGET)  # chunks
        net = image_net().to(device)
        # a fixed order: a device run draws its device generator's seed from the host generator each epoch,
        # so its later shuffles differ from the CPU's by design
        hist = net.fit(X, y, epochs=3, batch_size=10, optimizer=SGD(0.1), seed=1, verbose=0, shuffle=False)
        nets[device] = (net, hist)
    (cpu, ch), (dev, dh) = nets["cpu"], nets[strict]
    assert dev.device == strict and all(isinstance(p, strict_xp.StrictArray) for p in dev.param_arrays())
    for k, v in dev.arrays().items():
        np.testing.assert_allclose(B.to_host(v), cpu.arrays()[k], rtol=2e-4, atol=2e-5, err_msg=k)
    np.testing.assert_allclose(dh.batch_cost[-1], ch.batch_cost[-1], rtol=1e-4)
    assert dev.evaluate(X, y).accuracy == cpu.evaluate(X, y).accuracy > 0.9  # it learned the bars


def test_a_small_conv_net_learns_and_predicts_flat_rows():
    X, y = tiny_images(200, seed=1)
    net = image_net(seed=2)
    net.fit(X[:150], y[:150], epochs=5, batch_size=10, optimizer=SGD(0.1), seed=0, verbose=0)
    assert net.evaluate(X[150:], y[150:]).accuracy >= 0.95
    np.testing.assert_array_equal(net.predict(X[150:].reshape(50, 64)), net.predict(X[150:]))


# ---------------------------------------------------------------------------------------------- layer lists
from numnet.cli import main  # noqa: E402
from numnet.model.layerspec import format_layers, parse_layers  # noqa: E402
from numnet.runs.settings import read_toml  # noqa: E402


def test_a_layer_list_in_text_and_its_tables():
    specs = parse_layers("conv 20 5, pool 2, conv 40 5 stride=1 bn, avgpool 2, dropout 0.5, dense 100 sigmoid, "
                         "dense 10")
    assert specs[0] == {"type": "conv", "filters": 20, "kernel": 5}
    assert specs[1] == {"type": "maxpool", "size": 2}
    assert specs[2] == {"type": "conv", "filters": 40, "kernel": 5, "stride": 1, "batch_norm": True}
    assert specs[4] == {"type": "dropout", "keep_prob": 0.5} and specs[5]["activation"] == "sigmoid"
    assert parse_layers(format_layers(specs)) == specs
    net = Network.from_layers(specs, seed=0)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds == ["Conv2D", "MaxPool2D", "ReLU", "Conv2D", "BatchNorm2D", "ReLU", "AvgPool2D", "Dropout",
                     "Flatten", "Dense", "Sigmoid", "Dense", "Softmax"]
    assert net.input_shape == (1, 28, 28) and net.layers[9].n_in == 40 * 4 * 4 and net.n_out == 10
    assert "b" not in net.layers[3].params  # batch norm's β replaces the bias
    twin = Network.from_layers(specs, seed=0)
    assert all(np.array_equal(a, twin.arrays()[k]) for k, a in net.arrays().items())  # seeded


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
def test_max_pool_before_a_monotone_activation_is_the_same_function(activation):
    """The builder pools a conv's output before its activation (a quarter of the values to activate): outputs
    and gradients equal the book's order conv → activation → pool."""
    net = Network.from_layers("conv 3 3, pool 2, dense 4", (2, 8, 8), activation=activation, seed=1, dtype="float64")
    assert [layer.name for layer in net.layers[:3]] == ["conv2d", "max_pool2d", activation]
    book = Network([net.layers[0], net.layers[2], net.layers[1], *net.layers[3:]], net.cost)
    rng = np.random.default_rng(7)
    X, y = rng.standard_normal((6, 2, 8, 8)), rng.integers(0, 4, 6)
    c1, g1 = net.loss_and_grads(X, y)
    c2, g2 = book.loss_and_grads(X, y)
    assert c1 == pytest.approx(c2, rel=1e-14)
    for a, b in zip(g1, g2):
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-15)
    kinds = [layer.name for layer in Network.from_layers("conv 3 3 bn, pool 2, dense 4", (2, 8, 8), seed=1).layers]
    assert kinds[:4] == ["conv2d", "batch_norm2d", "relu", "max_pool2d"]  # γ < 0 would not commute


@pytest.mark.parametrize("text,message", [("conv 20 5, pool 2", "last layer must be the dense"),
                                          ("conv 20, dense 10", "needs kernel"),
                                          ("conv 20 5 5, dense 10", "takes 2 number"),
                                          ("blur 3, dense 10", "unknown type"),
                                          ("dropout 1.5, dense 10", r"\(0, 1\]"),
                                          ("pool 2, dense 10", "first layer"),
                                          ("conv 2 5 wobbly, dense 10", "activation"),
                                          ("conv 2 5 dilation=2, dense 10", "unknown key"),
                                          ("conv 2 0, dense 10", ">= 1"),
                                          ("conv 2 5,, dense 10", "empty")])
def test_bad_layer_lists_are_one_line_errors(text, message, capsys):
    with pytest.raises(ValueError, match=message):
        parse_layers(text)
    assert main(["train", "--layers", text]) == 2
    err = capsys.readouterr().err
    assert err.startswith("numnet: error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_toml_layer_tables_equal_the_text_form(tmp_path):
    (tmp_path / "c.toml").write_text('[network]\nactivation = "sigmoid"\n\n[[network.layers]]\ntype = "conv"\n'
                                     'filters = 20\nkernel = 5\n\n[[network.layers]]\ntype = "pool"\nsize = 2\n\n'
                                     '[[network.layers]]\ntype = "dense"\nunits = 10\n')
    cfg = read_toml(tmp_path / "c.toml")
    assert cfg["layers"] == parse_layers("conv 20 5, pool 2, dense 10") and cfg["activation"] == "sigmoid"
    (tmp_path / "bad.toml").write_text('[[network.layers]]\ntype = "conv"\nfilters = 20\n')
    with pytest.raises(ValueError, match="needs kernel"):
        read_toml(tmp_path / "bad.toml")


def test_conv_models_through_the_command_line(tmp_path, capsys):
    from numnet.images import digit_to_image

    model, ckpt = tmp_path / "conv.npz", tmp_path / "ckpt"
    common = ["--train-size", "300", "--validation-size", "100", "--seed", "1", "--lr", "0.1"]
    assert main(["train", "--layers", "conv 4 5, pool 2, dense 16, dense 10", "--epochs", "1", *common,
                 "--out", str(model), "--checkpoint-dir", str(ckpt)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "layers 'conv 4 5, maxpool 2, dense 16, dense 10'" in out and "test accuracy" in out
    net = numnet.load(model)
    assert [type(layer).__name__ for layer in net.layers][:3] == ["Conv2D", "MaxPool2D", "ReLU"]
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--out", str(model)]) == 0
    assert "resuming" in capsys.readouterr().out and len(numnet.load_checkpoint(ckpt).history) == 2
    assert main(["evaluate", str(model)]) == 0 and "accuracy" in capsys.readouterr().out.lower()
    _, _, (Xt, _) = numnet.load_mnist()
    digit_to_image(Xt[0], tmp_path / "d.png", scale=3)
    assert main(["predict", str(model), str(tmp_path / "d.png")]) == 0
    assert capsys.readouterr().out.startswith(f"{tmp_path / 'd.png'}: ")
    assert main(["gradcheck", "--model", str(model), "--examples", "2"]) == 0
    assert "0.W" in capsys.readouterr().out
    assert main(["train", "--layers", "conv 4 5, dense 10", "--keep-prob", "0.5", *common]) == 2
    assert "put dropout and batch norm in the list" in capsys.readouterr().err


def test_numnet_gradcheck_covers_the_conv_layers(capsys):
    assert main(["gradcheck", "--examples", "4"]) == 0
    out = capsys.readouterr().out
    for row in ("conv + relu + max pool", "avg pool", "batch norm 2d"):
        assert row in out
    assert "all gradients agree" in out


@pytest.mark.slow  # needs PyTorch (benchmarks only: `pip install torch`), which the default test run does not install
def test_the_lenet_network_equals_pytorchs_in_outputs_and_gradients():
    """numnet's conv/pool semantics are PyTorch's (Conv2d cross-correlation, MaxPool2d, C·H·W flattening): the
    benchmark's twin network (benchmarks/speed_conv.py) computes the same outputs and weight gradients."""
    torch = pytest.importorskip("torch")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    import speed_conv

    net = speed_conv.numnet_net(3).astype("float64")
    model = speed_conv.torch_twin(torch, speed_conv.numnet_net(3)).double()
    rng = np.random.default_rng(8)
    X, y = rng.random((5, 1, 28, 28)), rng.integers(0, 10, 5)
    logits = model(torch.from_numpy(X))
    np.testing.assert_allclose(net.forward(X), torch.softmax(logits, 1).detach().numpy(), rtol=1e-5, atol=1e-6)
    torch.nn.functional.cross_entropy(logits, torch.from_numpy(y)).backward()
    _, grads = net.loss_and_grads(X, y)
    ours = [g["W"] for g in grads if "W" in g]
    theirs = [m.weight.grad.numpy() for m in model if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a if a.ndim == 4 else a.T, b, rtol=1e-4, atol=1e-6)
