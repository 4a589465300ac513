"""The device code path without a GPU: numnet on a strict NumPy-backed array module (tests/strict_xp.py) that
refuses implicit host conversion and counts host synchronisations, like CuPy would make them.

What this proves: layers, costs, optimizers, the network and the trainer compute with the module of their
arrays, never convert device arrays to NumPy behind the user's back, and read the device a bounded number of
times per epoch (not once per batch); results equal the NumPy run's. It is not a CUDA run: tests/test_gpu.py
(`pytest -m gpu`) trains on a real GPU.
"""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import strict_xp
from strict_xp import SYNCS, StrictArray

import numnet
from numnet import Adam, FusedSGD, Momentum, Network, SGD
from numnet.runs.run import place
from numnet.train.loop import CHECK_EVERY
from numnet.utils import backend as B

HERE = Path(__file__).resolve().parents[1]  # tests/ (strict_xp.py lives there)
SRC = HERE.parent / "src"
#: a "cupy" package for subprocesses: the strict module posing as CuPy, seeing {gpus} GPUs
FAKE_CUPY = ("import types\nimport strict_xp as _s\n"
             "ndarray, asarray, asnumpy = _s.StrictArray, _s.put, _s.get\n"
             "cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: {gpus}))\n"
             "random, linalg = _s.MODULE.random, _s.MODULE.linalg\n"
             "def __getattr__(name):\n    return getattr(_s.MODULE, name)\n")


@pytest.fixture
def strict():
    B.register_backend(strict_xp.BACKEND)
    SYNCS.reset()
    yield strict_xp.NAME
    B.unregister_backend(strict_xp.NAME)


def data(n=600, features=12, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, features)) * 2
    y = rng.integers(0, classes, n)
    X = (centres[y] + rng.standard_normal((n, features))).astype(np.float32)
    return X, y


NETWORKS = {  # name: (from_sizes arguments, optimizer)
    "sgd-softmax": (dict(sizes=[12, 16, 3], activation="relu", cost="log_likelihood", init="he"), lambda: SGD(0.1)),
    "momentum-batchnorm": (dict(sizes=[12, 16, 8, 3], activation="tanh", cost="log_likelihood", batch_norm=True),
                           lambda: Momentum(0.1, 0.9)),
    "adam-sigmoid-xent": (dict(sizes=[12, 16, 3], activation="sigmoid", cost="cross_entropy"), lambda: Adam(0.01)),
    "sgd-quadratic-elu": (dict(sizes=[12, 10, 3], activation="elu", cost="quadratic"), lambda: SGD(0.5)),
    "adam-maxout": (dict(sizes=[12, 8, 3], activation="maxout", cost="log_likelihood"), lambda: Adam(0.01)),
    # the fused SGD step: SciPy's gemm on the host, the generic array-module path on the device
    "fused-sgd-maxout": (dict(sizes=[12, 8, 3], activation="maxout", cost="log_likelihood"),
                         lambda: FusedSGD(0.1)),
    "fused-sgd-batchnorm": (dict(sizes=[12, 16, 8, 3], activation="relu", cost="log_likelihood", batch_norm=True),
                            lambda: FusedSGD(0.1)),
}


def train(name, device, epochs=1, batch_size=10, seed=3, **extra):
    X, y = data()
    kwargs, optimizer = NETWORKS[name]
    net = Network.from_sizes(**kwargs, seed=seed, **extra)
    if device != "cpu":
        net.to(device)
    hist = net.fit(X[:500], y[:500], epochs=epochs, batch_size=batch_size, optimizer=optimizer(), seed=seed,
                   validation_data=(X[500:], y[500:]), verbose=0)
    return net, hist


def host_arrays(net):
    return {k: B.to_host(v) for k, v in net.arrays().items()}


# ---------------------------------------------------------------------------------------------- the strict module
def test_the_strict_module_is_strict(strict):
    a = B.to_device(np.arange(6.0).reshape(2, 3), strict)
    assert isinstance(a, StrictArray) and B.array_module(a) is strict_xp.MODULE and B.device_of(a) == strict
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(3)  # host and device arrays do not mix
    assert isinstance(a.sum(), StrictArray) and SYNCS.total == 0
    assert float(a.sum()) == 15.0 and SYNCS.counts == {"float": 1}
    assert np.array_equal(B.to_host(a), np.arange(6.0).reshape(2, 3))


def test_array_module_and_transfers_on_the_host():
    x = np.ones(3)
    assert B.array_module(x, 1.0, None) is np and B.device_of(x) == "cpu" and B.device_of(2.0) == "cpu"
    assert B.to_device(x, "cpu") is x and B.to_host(x) is x and B.to_scalar(np.float32(2)) == 2.0
    assert B.device_generator(rng := np.random.default_rng(0), np) is rng
    with pytest.raises(B.DeviceError, match="unknown device"):
        B.to_device(x, "tpu")


# ---------------------------------------------------------------------------------------------- training on it
@pytest.mark.parametrize("name", list(NETWORKS))
def test_an_epoch_on_the_strict_module_matches_numpy_without_host_syncs_per_batch(strict, name):
    cpu_net, cpu_hist = train(name, "cpu")
    SYNCS.reset()
    net, hist = train(name, strict)
    assert net.device == strict and all(isinstance(p, StrictArray) for p in net.param_arrays())
    batches = 50  # 500 examples, batch 10
    assert SYNCS.total <= batches // CHECK_EVERY + 12, SYNCS.counts  # not one per batch
    for key, v in host_arrays(net).items():
        np.testing.assert_allclose(v, cpu_net.arrays()[key], rtol=2e-5, atol=2e-6, err_msg=key)
    np.testing.assert_allclose(hist.batch_cost[0], cpu_hist.batch_cost[0], rtol=1e-5)
    assert all(isinstance(c, float) for c in hist.batch_cost[0])
    assert hist.val_accuracy[0] == pytest.approx(cpu_hist.val_accuracy[0], abs=1e-9)
    assert isinstance(hist.val_cost[0], float)


def test_syncs_grow_with_batches_over_check_every_not_with_batches(strict):
    SYNCS.reset()
    train("sgd-softmax", strict, batch_size=10)  # 50 batches
    few = SYNCS.total
    SYNCS.reset()
    train("sgd-softmax", strict, batch_size=1)  # 500 batches
    assert SYNCS.total - few <= 500 // CHECK_EVERY, SYNCS.counts


def test_dropout_on_the_device_draws_device_masks_and_stays_seeded(strict):
    nets = [train("sgd-softmax", strict, keep_prob=0.8)[0] for _ in range(2)]
    cpu = train("sgd-softmax", "cpu", keep_prob=0.8)[0]
    a, b = host_arrays(nets[0]), host_arrays(nets[1])
    assert all(np.array_equal(a[k], b[k]) for k in a)  # seeded: the same masks again
    assert all(np.isfinite(v).all() for v in a.values())
    assert not all(np.array_equal(a[k], cpu.arrays()[k]) for k in a)  # device masks differ from the CPU's


def test_gradient_health_and_progress_bar_on_the_device(strict):
    from numnet.train.health import GradientHealth

    X, y = data()
    net = Network.from_sizes([12, 16, 3], activation="relu", cost="log_likelihood", seed=1).to(strict)
    health = GradientHealth(warn=False)
    net.fit(X[:500], y[:500], epochs=1, batch_size=10, seed=1, callbacks=[health], verbose=2, progress=True,
            log=lambda msg: None)
    assert SYNCS.total < 50, SYNCS.counts  # the bar reads the cost when it redraws, not per batch
    assert health.records and all(isinstance(v, float) for v in health.records[0]["grad_norm"].values())


def test_divergence_on_the_device_is_caught_within_check_every_batches(strict):
    X, y = data()
    net = Network.from_sizes([12, 16, 3], activation="relu", cost="log_likelihood", seed=1).to(strict)
    with pytest.raises(numnet.TrainingDiverged, match=r"the cost (became nan|rose to)"):
        net.fit(X[:500] * 1e4, y[:500], epochs=3, batch_size=10, optimizer=SGD(50.0), seed=1, verbose=0)


def test_predict_evaluate_and_copy_on_the_device(strict):
    net, _ = train("sgd-softmax", strict)
    X, y = data()
    cpu = Network.from_architecture(net.architecture(), host_arrays(net))
    ev, ev_cpu = net.evaluate(X, y), cpu.evaluate(X, y)
    assert ev.accuracy == ev_cpu.accuracy and ev.cost == pytest.approx(ev_cpu.cost, rel=1e-6)
    assert isinstance(net.predict(X), StrictArray)
    assert np.array_equal(B.to_host(net.predict(X)), cpu.predict(X))
    twin = net.copy()
    assert twin.device == strict and twin.param_arrays()[0] is not net.param_arrays()[0]
    assert net.to("cpu").device == "cpu" and isinstance(net.param_arrays()[0], np.ndarray)


# ---------------------------------------------------------------------------------------------- files
def test_save_from_the_device_and_load_on_the_host(strict, tmp_path):
    net, _ = train("momentum-batchnorm", strict)
    path = net.save(tmp_path / "m.npz")
    loaded = numnet.load(path)
    assert loaded.device == "cpu"
    for key, v in host_arrays(net).items():
        assert np.array_equal(loaded.arrays()[key], v), key
    back = loaded.to(strict)
    assert back.device == strict


def test_checkpoint_on_the_device_resumes_like_an_uninterrupted_run(strict, tmp_path):
    X, y = data()
    kwargs = dict(sizes=[12, 16, 3], activation="relu", cost="log_likelihood", seed=2)
    whole = Network.from_sizes(**kwargs).to(strict)
    whole.fit(X, y, epochs=3, batch_size=20, optimizer=Adam(0.01), seed=2, verbose=0)
    part = Network.from_sizes(**kwargs).to(strict)
    part.fit(X, y, epochs=2, batch_size=20, optimizer=Adam(0.01), seed=2, verbose=0, checkpoint_dir=tmp_path,
             early_stopping=None)
    ckpt = numnet.load_checkpoint(tmp_path)
    assert ckpt.network.device == "cpu"
    place(ckpt.network, strict, ckpt.optimizer)  # as `run` does: optimizer state follows the parameters
    ckpt.network.fit(X, y, epochs=3, batch_size=20, seed=2, verbose=0, resume=ckpt)
    for key, v in host_arrays(whole).items():
        np.testing.assert_allclose(B.to_host(ckpt.network.arrays()[key]), v, rtol=1e-6, atol=1e-7, err_msg=key)


# ---------------------------------------------------------------------------------------------- cupy stays out
def test_import_and_help_do_not_import_cupy(tmp_path):
    fake = tmp_path / "cupy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('cupy was imported')\n")
    code = ("import sys, contextlib, io, numnet, numnet.cli\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    numnet.cli.main(['--help']); numnet.cli.main(['train', '--help'])\n"
            "import numpy as np\n"
            "numnet.Network.from_sizes([4, 3, 2], seed=0).fit(np.random.rand(20, 4), np.arange(20) % 2, epochs=1,"
            " verbose=0)\n"
            "assert 'cupy' not in sys.modules\n")
    env = {"PYTHONPATH": f"{tmp_path}:{SRC}", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout


def test_device_cuda_without_cupy_or_gpu_is_one_clear_line(tmp_path):
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(
        "class _R:\n    @staticmethod\n    def getDeviceCount():\n        raise RuntimeError('no CUDA driver')\n"
        "class cuda:\n    runtime = _R\nclass ndarray:\n    pass\nasarray = asnumpy = None\n")
    (tmp_path / "absent").mkdir()
    for path in (tmp_path, tmp_path / "absent"):  # a CuPy that sees no GPU; no CuPy at all
        env = {"PYTHONPATH": f"{path}:{SRC}", "PATH": "/usr/bin:/bin"}
        r = subprocess.run([sys.executable, "-m", "numnet", "train", "--device", "cuda", "--epochs", "1"], env=env,
                           capture_output=True, text=True, timeout=120, cwd=tmp_path / "absent")
        assert r.returncode == 2
        assert r.stderr == 'numnet: error: --device cuda needs CuPy and a CUDA GPU: pip install "numnet[gpu]"\n'


def test_numnet_train_device_cuda_end_to_end_on_a_fake_cupy(tmp_path):
    """`numnet train --device cuda` through the CLI and `run`, with the strict module posing as CuPy (a CuPy
    with one GPU): the run trains on the device, saves a host model and reports host numbers."""
    fake = tmp_path / "cupy"
    fake.mkdir()
    (fake / "__init__.py").write_text(FAKE_CUPY.format(gpus=1))
    env = {"PYTHONPATH": f"{tmp_path}:{HERE}:{SRC}", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    code = ("import sys, numnet.cli, strict_xp\n"
            "status = numnet.cli.main(sys.argv[1:])\n"
            "print('syncs', strict_xp.SYNCS.total)\n"
            "sys.exit(status)\n")
    args = ["--device", "cuda", "--sizes", "784,32,10", "--train-size", "1000", "--validation-size", "200",
            "--epochs", "2", "--batch-size", "10", "--keep-prob", "0.9", "--seed", "1", "--quiet",
            "--out", str(tmp_path / "m.npz"), "--json-summary", str(tmp_path / "s.json")]
    r = subprocess.run([sys.executable, "-c", code, "train", *args], env=env, capture_output=True, text=True,
                       timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr + r.stdout
    syncs = int(r.stdout.split("syncs")[-1])
    assert syncs < 2 * 100 // CHECK_EVERY + 40  # 2 epochs of 100 batches, then the test evaluation and saving
    import json

    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["config"]["device"] == "cuda" and summary["test_accuracy"] > 0.6
    assert numnet.load(tmp_path / "m.npz").device == "cpu"


@pytest.mark.parametrize("cupy,expected", [(None, ["cpu"]), (0, ["cpu"]), (1, ["cpu", "cuda"])])
def test_usable_devices(tmp_path, cupy, expected):
    """No CuPy: just the CPU, and CuPy is not looked for by importing it; CuPy without a GPU: the CPU; with
    one: cuda too."""
    if cupy is not None:
        (tmp_path / "cupy").mkdir()
        (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY.format(gpus=cupy))
    code = ("import sys, json\nfrom numnet.utils.backend import usable_devices\n"
            "print(json.dumps([usable_devices(), 'cupy' in sys.modules]))\n")
    env = {"PYTHONPATH": f"{tmp_path}:{HERE}:{SRC}", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    import json

    assert json.loads(r.stdout) == [expected, cupy is not None]


def test_usable_devices_lists_a_registered_backend(strict):
    assert B.usable_devices()[0] == "cpu" and strict_xp.NAME in B.usable_devices()


def test_the_lab_trains_on_the_device_it_is_given(tmp_path):
    """The lab's Train panel with device "cuda" on a CuPy that sees one GPU (the strict module posing as
    CuPy): the run trains there and leaves a host model; without a GPU the same request is refused at once."""
    (tmp_path / "cupy").mkdir()
    (tmp_path / "cupy" / "__init__.py").write_text(FAKE_CUPY.format(gpus=1))
    (tmp_path / "lab").mkdir()
    code = ("import json, sys, time, numnet, strict_xp\nfrom numnet.lab.core import Lab\n"
            "lab = Lab(sys.argv[1])\n"
            "r = lab.start_training({'device': 'cuda', 'sizes': '784,16,10', 'epochs': 1, 'train_size': 500,"
            " 'validation_size': 100, 'name': 'gpu'})\n"
            "lab.train_job.thread.join(120)\n"
            "events = lab.training_status()['events']\n"
            "print(json.dumps([r['settings']['device'], events[-1], strict_xp.SYNCS.total > 0,"
            " numnet.load(sys.argv[1] + '/gpu.npz').device]))\n")
    env = {"PYTHONPATH": f"{tmp_path}:{HERE}:{SRC}", "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg"}
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lab")], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr + r.stdout
    import json

    device, last, synced, saved = json.loads(r.stdout.splitlines()[-1])
    assert device == "cuda" and last["type"] == "done" and last["model"] == "gpu.npz" and synced and saved == "cpu"

    from numnet.lab.core import Lab, LabError

    if "cuda" not in B.usable_devices():
        with pytest.raises(LabError, match=r'needs CuPy and a CUDA GPU: pip install "numnet\[gpu\]"'):
            Lab(tmp_path / "lab").start_training({"device": "cuda"})


def test_standardize_a_network_on_the_device(strict):
    X, y = data()
    net = Network.from_sizes([12, 8, 3], seed=0).to(strict).standardize(X)
    cpu = Network.from_sizes([12, 8, 3], seed=0).standardize(X)
    assert all(isinstance(v, StrictArray) for v in net.layers[0].buffers.values())
    net.standardize(X * 2)  # refit in place, on the device
    cpu.standardize(X * 2)
    np.testing.assert_array_equal(B.to_host(net.layers[0].buffers["std"]), cpu.layers[0].buffers["std"])
