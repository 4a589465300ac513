"""The benchmark scripts' arithmetic and reports (their full runs are too long for the test suite)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name):
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(BENCH))


@pytest.fixture(scope="module")
def reproduce():
    return _load("reproduce")


@pytest.fixture(scope="module")
def speed():
    return _load("speed")


# ---------------------------------------------------------------------------------------------- reproduce.py
def test_mean_std(reproduce):
    assert reproduce.mean_std([]) is None
    assert reproduce.mean_std([0.5]) == (0.5, 0.0)
    m, s = reproduce.mean_std([0.9, 0.95, None, 1.0])
    assert m == pytest.approx(0.95) and s == pytest.approx(0.05)


def test_summarize_compares_best_epoch_or_test(reproduce):
    runs = [{"seed": 1, "test_accuracy": 0.950, "best_val_accuracy": 0.952, "best_epoch": 20, "seconds": 10},
            {"seed": 2, "test_accuracy": 0.948, "best_val_accuracy": 0.950, "best_epoch": 25, "seconds": 12},
            {"seed": 3, "error": "boom"}]
    best = reproduce.summarize("r", {"published": 95.42, "published_note": "best epoch on test data"}, runs)
    assert best["best_epoch_figure"] and best["compared"] == best["best_val"]
    assert best["meets"] is True  # 95.1 >= 95.42 - 0.5
    assert best["n_ok"] == 2 and best["errors"] == ["seed 3: boom"]
    test = reproduce.summarize("r", {"published": 95.6, "published_note": "test accuracy"}, runs)
    assert not test["best_epoch_figure"] and test["meets"] is False  # 94.9 < 95.1
    assert reproduce.summarize("r", {}, runs)["meets"] is None
    text = reproduce.report([best, test], [1, 2, 3], "python benchmarks/reproduce.py")
    assert "| r | 95.42% (best epoch on test data) | 94.90 ± 0.14% | 95.10 ± 0.14% (epochs 20, 25) | best epoch | yes" \
        in text
    assert "## Failed runs" in text and "r, seed 3: boom" in text


def _run(seed, best, test=0.9):
    return {"seed": seed, "test_accuracy": test, "best_val_accuracy": best, "best_epoch": 30, "seconds": 10}


def test_summarize_best_of_k_runs_groups_seeds_in_order(reproduce):
    info = {"published": 95.42, "published_note": "best epoch on test data, best of three runs",
            "published_runs": 3}
    runs = [_run(1, 0.955), _run(2, 0.953), _run(3, 0.86), _run(4, 0.951), {"seed": 5, "error": "boom"},
            _run(6, 0.957), _run(7, 0.99)]
    row = reproduce.summarize("ch1", info, runs)
    # seeds 1-3 give their best (95.5); seeds 4-6 hold a failed run and 7 has no full group: left out
    assert row["groups"] == [([1, 2, 3], 0.955)]
    assert row["compared"] == (0.955, 0.0) and row["meets"] is True
    assert row["best_val"][0] == pytest.approx((0.955 + 0.953 + 0.86 + 0.951 + 0.957 + 0.99) / 6)
    assert reproduce.compared_cell(row) == "best epoch, best of 3 runs (seeds 1, 2, 3: 95.50%)"
    two = reproduce.summarize("ch1", info, [_run(s, b) for s, b in enumerate([0.95, 0.86, 0.94, 0.80, 0.85, 0.70], 1)])
    assert [g[1] for g in two["groups"]] == [0.95, 0.85]
    assert two["compared"][0] == pytest.approx(0.90) and two["meets"] is False  # 90.0 < 94.92
    assert reproduce.compared_cell(two).startswith("best epoch, best of 3 runs: 90.00 ± 7.07% over 2 groups (seeds 1")
    short = reproduce.summarize("ch1", info, runs[:2])
    assert short["compared"] is None and short["meets"] is None
    assert "no complete group of 3 seeds" in reproduce.compared_cell(short)
    # a single run per published figure: the plain mean, as before
    plain = reproduce.summarize("ch1", {**info, "published_runs": 1}, runs[:3])
    assert plain["compared"] == plain["best_val"] and plain["meets"] is False


def test_from_json_recomputes_the_comparison_with_the_current_recipe(reproduce, tmp_path):
    runs = [_run(1, 0.9551), _run(2, 0.9535), _run(3, 0.8628)]
    old = reproduce.summarize("nielsen-ch1", {"published": 95.42, "published_note": "best epoch on test data"}, runs)
    assert old["meets"] is False  # the mean, 92.38%
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"generated": "then", "command": "c", "seeds": [1, 2, 3], "rows": [old],
                                 "moons": None}), encoding="utf-8")
    out, again = tmp_path / "R.md", tmp_path / "again.json"
    assert reproduce.main(["--from-json", str(saved), "--out", str(out), "--json", str(again)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Rewritten from those runs' saved results" in text and "--from-json" in text
    assert "| 92.38 ± 5.28% (epochs 30, 30, 30) | best epoch, best of 3 runs (seeds 1, 2, 3: 95.51%) | yes |" in text
    row = json.loads(again.read_text(encoding="utf-8"))["rows"][0]
    assert row["published_runs"] == 3 and row["meets"] is True and row["runs"] == runs


def test_update_moons_needs_from_json(reproduce, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        reproduce.main(["--update-moons", "--out", str(tmp_path / "R.md")])
    assert e.value.code == 2 and "--update-moons goes with --from-json" in capsys.readouterr().err


def test_moons_report_shows_the_course_data_replay(reproduce):
    moons = {"course": {"gd": 0.797, "momentum": 0.797, "adam": 0.94}, "generated": "today",
             "course_data": {"gd": {"accuracy": 239 / 300}, "momentum": {"accuracy": 239 / 300},
                             "adam": {"accuracy": 0.94}}, "per_seed": {}}
    text = "\n".join(reproduce.moons_report(moons))
    assert "| optimizer | course (training accuracy) | numnet |" in text
    assert "| gd | 79.7% | 79.7% |" in text and "| adam | 94.0% | 94.0% |" in text
    assert "Run today." in text and "seed" not in text.split("replayed exactly")[1]


def test_moons_report_counts_the_course_ordering(reproduce):
    moons = {"course": {"gd": 0.797, "momentum": 0.797, "adam": 0.94},
             "per_seed": {1: {"gd": {"accuracy": 0.80}, "momentum": {"accuracy": 0.81}, "adam": {"accuracy": 0.95}},
                          2: {"gd": {"accuracy": 0.90}, "momentum": {"accuracy": 0.90}, "adam": {"accuracy": 0.92}}}}
    text = "\n".join(reproduce.moons_report(moons))
    assert "| adam | 94.0% | 95.0% | 92.0% | 93.50 ± 2.12% |" in text
    assert "in 1 of 2 seeds (1)" in text


# ---------------------------------------------------------------------------------------------- speed.py
def test_epoch_flops_counts_forward_backward_and_input_gradients(speed):
    # [784,30,10]: layer 1 forward + dW (no dX), layer 2 forward + dW + dX; 2 FLOPs per multiply-add
    assert speed.epoch_flops([784, 30, 10], 1) == 2 * 2 * 784 * 30 + 3 * 2 * 30 * 10
    assert speed.epoch_flops([4, 3], 5) == 5 * 2 * 2 * 4 * 3


def test_products_epochs_time_the_epochs_products(speed):
    X = np.random.default_rng(0).random((50, 6), dtype=np.float32)
    cfg = {"sizes": [6, 4, 2], "batch_size": 16}
    times = speed.interleaved({"products": speed.products_epochs(cfg, X, "float32")}, 2)["products"]
    assert len(times) == 2 and all(t > 0 for t in times)


def test_interleaved_takes_one_epoch_of_each_in_turn(speed):
    calls = []

    def epochs(name):
        calls.append(f"{name} warm-up")
        i = 0
        while True:
            i += 1
            calls.append(f"{name} {i}")
            yield i * (10 if name == "b" else 1)

    out = speed.interleaved({"a": epochs("a"), "b": epochs("b")}, 2)
    assert out == {"a": [1, 2], "b": [10, 20]}
    assert calls == ["a warm-up", "a 1", "b warm-up", "b 1", "a 2", "b 2"]
    assert speed.interleaved({"c": epochs("c")}, 3) == {"c": [1, 2, 3]}


def _fake_results(numnet_b, torch_b, products_b, race):
    bound = {"float32": 0.1, "float64": 0.2}
    return {"configs": {"B": {"bound": bound, "products": {"float32": products_b}, "rows": [
        {"framework": "numnet", "dtype": "float32", "s_per_epoch": numnet_b},
        {"framework": "PyTorch 2.13.0+cpu", "dtype": "float32", "s_per_epoch": torch_b}]}},
        "speedup": {"float32": 8.5, "float64": 6.0}, "target": race}


def test_targets_section_states_each_target_and_the_cause_of_a_miss(speed):
    race = {"accuracy": 0.98, "runs": {
        "numnet": [{"seconds": 10.0, "reached": True}, {"seconds": 12.0, "reached": True},
                   {"seconds": 30.0, "reached": False}],
        "PyTorch": [{"seconds": 11.0, "reached": True}, {"seconds": 14.0, "reached": True},
                    {"seconds": 15.0, "reached": True}]}}
    text = "\n".join(speed.targets_section(_fake_results(0.2, 0.3, 0.16, race)))
    assert "Config B, faster than PyTorch per epoch (float32): numnet 0.200 s vs PyTorch 0.300 s: **met**" in text
    assert "within 1.5× of the lower bound at batch 128 (float32): 2.00×: **NOT met**" in text
    assert "take 0.160 s = 1.60× the bound" in text and "62% of its large-matrix throughput" in text
    assert "(float32): 8.5×: **met**" in text and "float64" not in text
    assert "numnet 12.0 s vs PyTorch 14.0 s: **met**" in text
    text = "\n".join(speed.targets_section(_fake_results(0.14, 0.13, 0.12, None)))
    assert "**NOT met**" in text and "1.40×: **met**" in text and "Measured cause" not in text


def test_targets_section_gives_the_cause_of_a_lost_race(speed):
    race = {"accuracy": 0.98, "runs": {
        "numnet": [{"seconds": 8.0, "epochs": 8, "reached": True}, {"seconds": 9.0, "epochs": 9, "reached": True},
                   {"seconds": 10.0, "epochs": 10, "reached": True}],
        "PyTorch": [{"seconds": 10.0, "epochs": 8, "reached": True}, {"seconds": 7.5, "epochs": 6, "reached": True},
                    {"seconds": 8.75, "epochs": 7, "reached": True}]}}
    text = "\n".join(speed.targets_section(_fake_results(0.2, 0.3, 0.16, race)))
    assert "numnet 9.0 s vs PyTorch 8.8 s: **NOT met**. Measured cause: numnet's epochs (training and test " \
           "evaluation) take 1.00 s against PyTorch's 1.25 s (0.80×), but it needed more epochs to first reach the " \
           "target in 2 of 3 seeds (epochs per seed: numnet 8, 9, 10; PyTorch 8, 6, 7)" in text


def test_speed_report_rewritten_from_json(speed, tmp_path):
    res = _fake_results(0.2, 0.3, 0.16, None)
    res["configs"]["B"].update(title="B", gflop=16.0, fit_overhead={"float32": 0.03})
    for r in res["configs"]["B"]["rows"]:
        r.update(x_bound="2.0×", note="", times=[r["s_per_epoch"]], vs_numnet="1.00")
    res.update(date="then", command="python benchmarks/speed.py --configs B --repeats 2 --no-target",
               notes=[], matmul={"n": 2048, "repeats": 5, "gflops": {"float32": 150.0, "float64": 75.0}},
               train_size=50000, scale=1.0, reference_examples=5000,
               machine={"cpu": "x", "logical_cpus": 2, "usable_cores": 2, "platform": "p", "python": "3",
                        "numpy": "2", "numnet": "0.1", "torch": "2.13", "torch_threads": 2, "sklearn": None,
                        "env": {}, "blas": [], "load_at_start": [0.1, 0.1, 0.1]})
    saved, out = tmp_path / "speed.json", tmp_path / "B.md"
    saved.write_text(json.dumps(res), encoding="utf-8")
    assert speed.main(["--from-json", str(saved), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Run then with `python benchmarks/speed.py --configs B --repeats 2 --no-target`" in text
    assert "Report rewritten from that run's saved timings" in text and "--from-json" in text
    assert "median** of 2 epochs" in text and "Config B, faster than PyTorch per epoch" in text
    with pytest.raises(SystemExit) as e:
        speed.main(["--from-json", str(tmp_path / "missing.json")])
    assert "cannot use --from-json file" in str(e.value)


def test_targets_section_when_nobody_reaches_the_target(speed):
    race = {"accuracy": 0.98, "runs": {"numnet": [{"seconds": 5.0, "reached": False}],
                                       "PyTorch": [{"seconds": 6.0, "reached": False}]}}
    text = "\n".join(speed.targets_section(_fake_results(0.2, 0.3, 0.16, race)))
    assert "numnet not reached vs PyTorch not reached: **NOT met**" in text


def test_report_rewritten_from_json_with_a_discussion(reproduce, tmp_path):
    runs = [{"seed": 1, "test_accuracy": 0.95, "best_val_accuracy": 0.952, "best_epoch": 20, "seconds": 10}]
    row = reproduce.summarize("r", {"published": 95.42, "published_note": "best epoch on test data"}, runs)
    moons = {"course": {"gd": 0.797, "momentum": 0.797, "adam": 0.94},
             "per_seed": {"1": {"gd": {"accuracy": 0.8}, "momentum": {"accuracy": 0.8}, "adam": {"accuracy": 0.9}}}}
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps({"generated": "then", "command": "python benchmarks/reproduce.py --seeds 1",
                                 "seeds": [1], "rows": [row], "moons": moons}), encoding="utf-8")
    disc = tmp_path / "why.md"
    disc.write_text("## Why\n\nBecause.\n", encoding="utf-8")
    out = tmp_path / "RESULTS.md"
    assert reproduce.main(["--from-json", str(saved), "--discussion", str(disc), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "Generated then by" in text and "python benchmarks/reproduce.py --seeds 1" in text
    assert "| r | 95.42% (best epoch on test data) | 95.00 ± 0.00% |" in text
    assert "| adam | 94.0% | 90.0% |" in text and "in 1 of 1 seeds (1)" in text
    assert text.rstrip().endswith("Because.")


@pytest.mark.parametrize("content", [None, "not json", "{}"])
def test_from_json_rejects_a_missing_or_broken_file(reproduce, tmp_path, content, capsys):
    path = tmp_path / "results.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        reproduce.main(["--from-json", str(path), "--out", str(tmp_path / "R.md")])
    assert e.value.code == 2
    assert "cannot use --from-json file" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists()


def test_thread_scaling_runs_each_framework_in_its_own_process(speed, tmp_path):
    """--threads: one process per (round, thread count, optimizer, framework), alternating; each saw its own
    pool size; SGD and Adam are timed; numnet's rows carry the products / update / rest split."""
    out, raw = tmp_path / "threads.md", tmp_path / "threads.json"
    rc = speed.main(["--threads", "1,2", "--configs", "B", "--quick", "--no-torch", "--train-size", "300",
                     "--rounds", "2", "--out", str(out), "--json", str(raw)])
    assert rc == 0
    res = json.loads(raw.read_text())
    runs = res["runs"]
    assert [(r["round"], r["threads"], r["optimizer"]) for r in runs] == [
        (r, t, o) for r in (0, 1) for t in (1, 2) for o in ("sgd", "adam")]
    for r in runs:
        assert r["env"]["OPENBLAS_NUM_THREADS"] == str(r["threads"]) == r["env"]["OMP_NUM_THREADS"]
        assert r["framework"] == "numnet" and len(r["seconds"]) == 1 and r["products"] > 0 and r["update"] > 0
    text = out.read_text()
    assert "| 1 | B | sgd | numnet |" in text and "| 2 | B | adam | numnet |" in text
    with pytest.raises(SystemExit):
        speed.parse_args(["--threads", "0,2"])


def test_thread_table_takes_medians_over_rounds_and_divides_by_pytorch():
    sys.path.insert(0, str(BENCH))
    try:
        import speed_threads as st
    finally:
        sys.path.remove(str(BENCH))
    runs = [{"threads": 2, "config": "C", "optimizer": "adam", "framework": "numnet", "seconds": [s, s],
             "products": 0.5, "update": u} for s, u in ((3.0, 1.0), (2.0, 0.5), (9.0, 0.75))]
    runs += [{"threads": 2, "config": "C", "optimizer": "adam", "framework": "torch", "seconds": [s]}
             for s in (1.0, 1.5, 2.0)]
    rows = {r[3]: r for r in st.table(runs, None)}
    assert rows["numnet"] == (2, "C", "adam", "numnet", "3.000", "2.00", "0.500", "0.750", "1.750")
    assert rows["torch"][4:6] == ("1.500", "-")


# ---------------------------------------------------------------------------------------------- speed.py --device cuda
def test_speed_device_cuda_defaults_to_the_gpu_configs(speed):
    assert speed.parse_args(["--device", "cuda"]).configs == ["B", "C", "D", "E"]
    assert speed.parse_args([]).configs == ["A", "B", "C"]
    assert speed.parse_args(["--device", "cuda", "--configs", "d"]).configs == ["D"]


def test_speed_device_cuda_without_a_gpu_is_a_clear_error(speed, monkeypatch):
    from numnet.utils import backend

    def missing(device):
        raise backend.DeviceError(backend.CUDA_HINT)

    monkeypatch.setattr(backend, "require_device", missing)
    sys.path.insert(0, str(BENCH))
    try:
        import speed_gpu
        monkeypatch.setattr(speed_gpu, "require_device", missing)
        with pytest.raises(SystemExit, match=r"--device cuda needs CuPy and a CUDA GPU"):
            speed.main(["--device", "cuda", "--quick", "--no-target"])
    finally:
        sys.path.remove(str(BENCH))


def test_minimal_cupy_loop_is_numnets_math(speed):
    """The GPU benchmark's minimal loop, run with NumPy as its module, gives numnet's weights after an epoch
    with the same batches (the same math: ReLU, softmax + log-likelihood, plain SGD)."""
    sys.path.insert(0, str(BENCH))
    try:
        import speed_gpu
    finally:
        sys.path.remove(str(BENCH))
    cfg = {**speed.CONFIGS["B"], "sizes": [20, 16, 12, 4], "batch_size": 8}
    rng = np.random.default_rng(0)
    X, y = rng.random((64, 20), dtype=np.float32), rng.integers(0, 4, 64)
    net = speed.make_numnet(cfg, "float32", 1)
    dense = [layer for layer in net.layers if layer.params]
    Ws, bs = [layer.W.copy() for layer in dense], [layer.b.copy() for layer in dense]
    np.random.seed(5)
    order = np.random.permutation(len(X))
    net.fit(X, y, epochs=1, batch_size=8, optimizer=speed.SGD(cfg["lr"]), shuffle=lambda e, n: order, verbose=0)
    np.random.seed(5)
    Y = np.eye(4, dtype=np.float32)[y]
    speed_gpu.cupy_loop(np, Ws, bs, X, Y, cfg["lr"], 8, len(X))
    for layer, W, b in zip(dense, Ws, bs):
        np.testing.assert_allclose(W, layer.W, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, layer.b, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------- photos.py
@pytest.fixture(scope="module")
def photos():
    return _load("photos")


def test_photo_render_draws_the_conditions_it_reports(photos):
    digit = np.zeros((28, 28), np.uint8)
    digit[6:22, 12:16] = 255  # a "1"
    img, cond = photos.render(digit, np.random.default_rng(3))
    again, cond2 = photos.render(digit, np.random.default_rng(3))
    assert cond == cond2 and np.array_equal(np.asarray(img), np.asarray(again))  # seeded
    assert img.mode == "L" and 600 * 3 // 4 <= min(img.size) and max(img.size) <= 3000
    assert cond["noise sigma"] in photos.NOISE and cond["pen"] in photos.PENS
    pixels = np.asarray(img, dtype=float)
    ink_dark = cond["polarity"] == "dark on light"
    assert (np.median(pixels) > 128) == ink_dark  # the paper is light exactly when the ink is dark


def test_photo_table_counts_each_condition(photos):
    rows = [{"noise sigma": s, "polarity": "p", "pen": "thin", "format": "PNG", "long side (px)": b, "label": 1,
             "clean": 1, "new": new, "new s": 0.5}
            for s, b, new in [(0, "600-1199", 1), (16, "2000-3000", 2), (4, "600-1199", -1), (16, "600-1199", 1)]]
    text = photos.table(rows, ["new"])
    assert "| all | all | 4 | 100.0% | 50.0% |" in text
    assert "| noise sigma | 16 | 2 | 100.0% | 50.0% |" in text
    lines = text.splitlines()
    assert [l.split("|")[2].strip() for l in lines if l.startswith("| noise sigma")] == ["0", "4", "16"]
    assert "| refused (not read) |  | 4 | - | 1 |" in text and "| 0.500 |" in text


def test_photos_benchmark_runs_on_a_few_digits(photos, tmp_path, capsys):
    import numnet

    model = tmp_path / "m.npz"
    numnet.Network.from_sizes([784, 16, 10], seed=0).save(model)
    work, report = tmp_path / "work", tmp_path / "photos.md"
    assert photos.main(["--n", "4", "--model", str(model), "--work", str(work), "--samples", "2",
                        "--report", str(report), "--old"]) == 0
    text = report.read_text()
    assert "| all | all | 4 |" in text and "new loader" in text
    assert len(list(work.iterdir())) == 2  # the first two rendered images kept, the rest removed
    assert "rerun: `python benchmarks/photos.py --n 4" in text


def test_fused_sgd_rows_in_the_report_and_the_thread_table(speed, tmp_path):
    raw = tmp_path / "r.json"
    assert speed.main(["--configs", "B", "--quick", "--no-torch", "--no-sklearn", "--no-target", "--no-float64",
                       "--fused-sgd", "--json", str(raw)]) == 0
    rows = json.loads(raw.read_text())["configs"]["B"]["rows"]
    assert [r["framework"] for r in rows] == ["numnet", speed.FUSED] and rows[1]["s_per_epoch"] > 0
    out = tmp_path / "threads.md"
    assert speed.main(["--threads", "1", "--configs", "B", "--quick", "--no-torch", "--train-size", "300",
                       "--rounds", "1", "--fused-sgd", "--kernels", "--out", str(out)]) == 0
    text = out.read_text()
    assert "| 1 | B | sgd | numnet |" in text and "| 1 | B | sgd | numnet+fused |" in text
    assert "| 1 | B | adam | numnet+kernels |" in text and "| 1 | B | adam | numnet+fused |" not in text


# ---------------------------------------------------------------------------------------------- ab_epoch.py
def test_ab_epoch_times_an_epoch_of_the_given_tree():
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(BENCH / "ab_epoch.py"), str(root), "[784,30,10]", "sigmoid", "100", "1"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 0 < float(out.stdout) < 60
