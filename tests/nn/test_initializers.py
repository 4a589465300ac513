"""Initializer options: Saito's weight_init_std (the "normal" initializer, N(0, std²)), parameters through the
registry ({"name": ..., **options}), and a constant bias (bias_init)."""
import numpy as np
import pytest

import numnet
from numnet import INITIALIZERS, Dense, Maxout, Network
from numnet.cli import main
from numnet.nn.initializers import initialize
from numnet.runs.run import build_network, resolve_settings


def test_normal_is_weight_init_std():
    W, b = initialize("normal", 400, 500, np.random.default_rng(0), "float64")
    assert abs(W.std() / 0.01 - 1) < 0.02 and not b.any()
    W, b = initialize({"name": "normal", "std": 0.5}, 400, 500, np.random.default_rng(0), "float64")
    assert abs(W.std() / 0.5 - 1) < 0.02
    # Saito: W = weight_init_std * randn(n_in, n_out)
    np.testing.assert_allclose(W, 0.5 * np.random.default_rng(0).standard_normal((400, 500)))
    assert "normal" in INITIALIZERS


def test_bad_options_are_clear_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="std must be > 0"):
        initialize({"name": "normal", "std": 0}, 3, 2, rng)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) for initializer 'he': std"):
        initialize({"name": "he", "std": 0.1}, 3, 2, rng)
    with pytest.raises(ValueError, match="needs a 'name'"):
        initialize({"std": 0.1}, 3, 2, rng)
    with pytest.raises(ValueError, match="bias_init must be a finite number"):
        Dense(3, 2, bias_init="x")
    with pytest.raises(ValueError, match="bias=True"):
        Dense(3, 2, bias=False, bias_init=0.1)


def test_bias_init_constant_and_same_weights():
    plain = Dense(5, 4, init="he", seed=3)
    const = Dense(5, 4, init="he", bias_init=0.01, seed=3)
    np.testing.assert_array_equal(const.W, plain.W)  # the same draws: only the biases change
    np.testing.assert_array_equal(const.b, np.float32(0.01))
    m = Maxout(5, 4, pieces=3, bias_init=-0.5, seed=3)
    np.testing.assert_array_equal(m.params["b"], np.float32(-0.5))


def test_from_sizes_and_save_round_trip(tmp_path):
    net = Network.from_sizes([6, 5, 3], init={"name": "normal", "std": 0.1}, bias_init=0.01, seed=1)
    assert all(np.all(l.b == np.float32(0.01)) for l in net.layers if isinstance(l, Dense))
    bn = Network.from_sizes([6, 5, 3], batch_norm=True, bias_init=0.01, seed=1)  # the BN-fed Dense has no bias
    assert bn.layers[0].b is None and np.all(bn.layers[-2].b == np.float32(0.01))
    back = numnet.load(net.save(tmp_path / "n.npz"))
    assert back.layers[0].config() == {"n_in": 6, "n_out": 5, "init": {"name": "normal", "std": 0.1}, "bias": True,
                                       "bias_init": 0.01}
    np.testing.assert_array_equal(back.layers[0].W, net.layers[0].W)


def test_default_config_unchanged():
    assert Dense(3, 2).config() == {"n_in": 3, "n_out": 2, "init": "default", "bias": True}


def test_settings_and_cli(tmp_path, capsys):
    cfg = resolve_settings(overrides={"init": "normal", "init_std": 0.05, "bias_init": 0.01, "sizes": [4, 6, 3],
                                      "seed": 0})
    net = build_network(cfg)
    assert net.layers[0].init == {"name": "normal", "std": 0.05} and np.all(net.layers[0].b == np.float32(0.01))
    with pytest.raises(ValueError, match="init_std"):
        resolve_settings(overrides={"init_std": -1.0})
    out = tmp_path / "m.npz"
    rc = main(["train", "--init", "normal", "--init-std", "0.01", "--bias-init", "0.01", "--activation", "sigmoid",
               "--sizes", "784,16,10", "--epochs", "1", "--train-size", "200", "--validation-size", "100",
               "--out", str(out), "--quiet"])
    assert rc == 0, capsys.readouterr()
    assert numnet.load(out).layers[0].init == {"name": "normal", "std": 0.01}
    capsys.readouterr()
    rc = main(["train", "--init", "he", "--init-std", "0.1", "--epochs", "1", "--train-size", "100"])
    err = capsys.readouterr().err
    assert rc == 2 and "std" in err and err.startswith("numnet: error:")


def test_toml_network_table_takes_the_new_settings(tmp_path):
    from numnet.runs.settings import read_toml

    path = tmp_path / "run.toml"
    path.write_text('[network]\nsizes = [4, 6, 3]\nactivation = "maxout"\npieces = 3\ninit = "normal"\n'
                    'init_std = 0.05\nbias_init = 0.01\nstandardize = true\n[training]\ngradient_health = true\n')
    cfg = resolve_settings(config=str(path))
    assert (cfg["pieces"], cfg["init_std"], cfg["bias_init"], cfg["standardize"], cfg["gradient_health"]) == \
        (3, 0.05, 0.01, True, True)
    net = build_network(cfg)
    assert isinstance(net.layers[0], Maxout) and net.layers[0].init == {"name": "normal", "std": 0.05}
    path.write_text("[network]\npieces = 1\n")
    with pytest.raises(ValueError, match="pieces must be an integer >= 2"):
        read_toml(path)
