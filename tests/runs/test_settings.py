"""numnet.config: defaults, recipes, TOML files, validation and precedence (defaults < recipe < file < flags)."""
import math

import pytest

from numnet import config as cfgmod
from numnet.config import DEFAULTS, check_settings, load_recipe, merge, parse_int_list, read_toml, recipe_names

EXPECTED_RECIPES = {"nielsen-ch1", "nielsen-ch1-100", "nielsen-ch3-ce", "nielsen-ch3-l2", "nielsen-ch3-100",
                    "nielsen-overfit", "nielsen-overfit-l2", "saito-two-layer", "default"}


# ---------------------------------------------------------------------------------------------- parse_int_list
@pytest.mark.parametrize("text, expected", [
    ("784,30,10", [784, 30, 10]),
    (" 784, 30 ,10 ", [784, 30, 10]),
    ("784,10", [784, 10]),
    ("5", [5]),
])
def test_parse_int_list(text, expected):
    assert parse_int_list(text, "--sizes") == expected


@pytest.mark.parametrize("text", ["784,x", "784;30;10", "784,30.5,10", "a,b"])
def test_parse_int_list_rejects_non_integers(text):
    with pytest.raises(ValueError) as e:
        parse_int_list(text, "--sizes")
    assert "--sizes" in str(e.value) and repr(text) in str(e.value)


# ---------------------------------------------------------------------------------------------- check_settings
def test_check_types_accepts_and_normalises():
    cfg = {"sizes": "784, 30, 10", "lr": 3, "epochs": 2, "keep_prob": [0.5, 1], "batch_norm": True,
           "augment": "shift", "seed": 0, "validation_size": 0, "description": "a note", "published": 95.0}
    out = check_settings(cfg, "test")
    assert out["sizes"] == [784, 30, 10]
    assert cfg["sizes"] == "784, 30, 10"  # the input is not modified
    assert out["lr"] == 3 and out["keep_prob"] == [0.5, 1] and out["description"] == "a note"
    assert check_settings({}, "test") == {}
    assert check_settings({"keep_prob": 1.0, "l2": 0.0}, "test") == {"keep_prob": 1.0, "l2": 0.0}


@pytest.mark.parametrize("cfg, word", [
    ({"bogus": 1}, "bogus"),
    ({"learning_rate": 0.1}, "learning_rate"),
    ({"sizes": [784]}, "sizes"),
    ({"sizes": [784, 0, 10]}, "sizes"),
    ({"sizes": [784, -30, 10]}, "sizes"),
    ({"sizes": [784, 30.0, 10]}, "sizes"),
    ({"sizes": [784, True, 10]}, "sizes"),
    ({"sizes": 784}, "sizes"),
    ({"sizes": "784,x"}, "sizes"),
    ({"published_runs": 0}, "published_runs"),
    ({"published_runs": 1.5}, "published_runs"),
    ({"published_runs": True}, "published_runs"),
    ({"epochs": 0}, "epochs"),
    ({"epochs": -3}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"epochs": "10"}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"train_size": 0}, "train_size"),
    ({"early_stopping": 0}, "early_stopping"),
    ({"step": 0}, "step"),
    ({"lr_patience": -1}, "lr_patience"),
    ({"validation_size": -1}, "validation_size"),
    ({"seed": -1}, "seed"),
    ({"seed": 1.5}, "seed"),
    ({"lr": 0}, "lr"),
    ({"lr": -1.0}, "lr"),
    ({"lr": "fast"}, "lr"),
    ({"lr": math.inf}, "lr"),
    ({"lr": math.nan}, "lr"),
    ({"lr": True}, "lr"),
    ({"l2": -0.1}, "l2"),
    ({"beta": "high"}, "beta"),
    ({"eps": math.inf}, "eps"),
    ({"decay": [0.1]}, "decay"),
    ({"keep_prob": 0}, "keep_prob"),
    ({"keep_prob": 1.5}, "keep_prob"),
    ({"keep_prob": -0.5}, "keep_prob"),
    ({"keep_prob": [0.5, 0]}, "keep_prob"),
    ({"keep_prob": True}, "keep_prob"),
    ({"keep_prob": "0.5"}, "keep_prob"),
    ({"augment": "rotate"}, "augment"),
    ({"batch_norm": "yes"}, "batch_norm"),
    ({"monitor_training": 1}, "monitor_training"),
])
def test_check_types_rejections(cfg, word):
    with pytest.raises(ValueError) as e:
        check_settings(cfg, "my-source")
    msg = str(e.value)
    assert msg.startswith("my-source: ")
    assert word in msg
    assert "\n" not in msg


# ---------------------------------------------------------------------------------------------- merge / precedence
def test_merge_without_layers_is_the_defaults():
    cfg = merge()
    assert {k: cfg[k] for k in DEFAULTS} == DEFAULTS
    assert all(cfg[k] is None for k in set(cfg) - set(DEFAULTS))  # parameters of registered parts: not given
    cfg["lr"] = 99.0
    assert DEFAULTS["lr"] != 99.0  # a copy


def test_defaults_are_valid():
    assert check_settings(DEFAULTS, "defaults") == DEFAULTS


def test_precedence_defaults_recipe_file_flags(tmp_path):
    recipe = load_recipe("nielsen-ch1")  # sizes [784,30,10], lr 3.0, batch 10, quadratic, 30 epochs
    toml = tmp_path / "run.toml"
    toml.write_text('lr = 1.0\nbatch_size = 20\nl2 = 0.5\n')
    from_file = read_toml(toml)
    flags = check_settings({"lr": 0.25, "epochs": 2}, "command line")
    cfg = merge(recipe, from_file, flags)
    assert cfg["lr"] == 0.25                   # flag beats file and recipe
    assert cfg["epochs"] == 2                  # flag beats recipe
    assert cfg["batch_size"] == 20             # file beats recipe
    assert cfg["l2"] == 0.5                    # file beats default
    assert cfg["sizes"] == [784, 30, 10]       # recipe beats default
    assert cfg["cost"] == "quadratic"
    assert cfg["optimizer"] == DEFAULTS["optimizer"]  # untouched default
    assert cfg["dtype"] == DEFAULTS["dtype"]
    # the order of the layers is what decides
    assert merge(flags, from_file, recipe)["lr"] == 3.0


def test_merge_none_means_not_given():
    cfg = merge({"lr": 0.5}, {"lr": None, "seed": None})
    assert cfg["lr"] == 0.5 and cfg["seed"] is None


# ---------------------------------------------------------------------------------------------- TOML files
def test_read_toml(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('# a run\nsizes = [784, 64, 10]\noptimizer = "adam"\nlr = 1e-3\nepochs = 3\nbatch_norm = true\n'
                 'keep_prob = [0.8]\n')
    cfg = read_toml(p)
    assert cfg == {"sizes": [784, 64, 10], "optimizer": "adam", "lr": 0.001, "epochs": 3, "batch_norm": True,
                   "keep_prob": [0.8]}
    assert read_toml(str(p)) == cfg


def test_read_toml_unknown_key_is_named(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("lr = 0.1\nepocs = 3\n")
    with pytest.raises(ValueError) as e:
        read_toml(p)
    assert "epocs" in str(e.value) and str(p) in str(e.value)


def test_read_toml_table_is_an_unknown_key(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[train]\nlr = 0.1\n")
    with pytest.raises(ValueError, match="train"):
        read_toml(p)


def test_read_toml_bad_value(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("epochs = 0\n")
    with pytest.raises(ValueError, match="epochs"):
        read_toml(p)


@pytest.mark.parametrize("content", [b"lr = [\n", b"lr == 1\n", b"sizes = [784, 30, 10\n", b"lr = 0.1\nlr = 0.2\n",
                                     b"\xff\xfe lr = 1\n"])
def test_read_toml_invalid(tmp_path, content):
    p = tmp_path / "c.toml"
    p.write_bytes(content)
    with pytest.raises(ValueError) as e:
        read_toml(p)
    assert str(p) in str(e.value)


def test_read_toml_missing(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_toml(tmp_path / "nope.toml")
    with pytest.raises(ValueError, match="is a directory"):
        read_toml(tmp_path)  # a directory is not a config file (and not "not found")


# ---------------------------------------------------------------------------------------------- recipes
def test_recipe_names():
    names = recipe_names()
    assert EXPECTED_RECIPES <= set(names)
    assert names == sorted(names)


def test_unknown_recipe():
    with pytest.raises(ValueError) as e:
        load_recipe("nielsen-ch99")
    assert "nielsen-ch99" in str(e.value) and "nielsen-ch1" in str(e.value)


@pytest.mark.parametrize("name", recipe_names())
def test_every_recipe_loads_validates_and_builds(name):
    from numnet.runs.run import build_network, build_optimizer as _optimizer, build_schedule as _schedule

    r = load_recipe(name)
    assert check_settings(r, name) == r
    if "published" in r:
        assert isinstance(r.get("description"), str) and r["description"].strip()
        assert isinstance(r["published"], (int, float)) and 0 < r["published"] <= 100
    cfg = merge(r)
    # names that check_settings does not know (activation, cost, init, optimizer, schedule) resolve too; a
    # layer list (convolutional recipes) builds its network
    net = build_network({**cfg, "seed": 0})
    if cfg["data"] == "mnist":  # MNIST recipes take its 784 pixels and 10 classes
        assert net.n_in == 784 and net.n_out == 10
        assert cfg["layers"] is not None or (cfg["sizes"][0] == 784 and cfg["sizes"][-1] == 10)
    _optimizer(cfg)
    _schedule(cfg)


def test_nielsen_ch1_recipe():
    r = load_recipe("nielsen-ch1")
    assert r["sizes"] == [784, 30, 10]
    assert r["cost"] == "quadratic"
    assert r["lr"] == 3.0
    assert r["batch_size"] == 10
    assert r["epochs"] == 30
    # the book: "To generate results in this chapter I've taken best-of-three runs"
    assert r["published_runs"] == 3 and load_recipe("nielsen-ch1-100")["published_runs"] == 3
    assert "published_runs" not in load_recipe("nielsen-ch3-ce")


def test_info_keys_are_not_settings():
    assert not set(cfgmod.INFO_KEYS) & set(DEFAULTS)
