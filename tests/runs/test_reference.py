"""Seeded runs stay what main produced before the architecture changes (tests/runs/reference/, made at 2 BLAS
threads): at 2 threads the final weights byte for byte and the History (epoch times aside) exactly; at 1 and 4
threads, where the BLAS sums products in another order, the weights within float rounding, the same predictions
on the scenario's validation images and the same History within rounding. Each thread count runs in its own
process (OPENBLAS_NUM_THREADS is read when NumPy loads)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REF = Path(__file__).resolve().parent / "reference"
REF_THREADS = 2
#: weights after 2-15 epochs from the same start (float32 drifts by up to about 7e-4 at 1 thread), the order of the
#: BLAS sums aside
TOL = {np.dtype("float64"): dict(rtol=1e-8, atol=1e-10), np.dtype("float32"): dict(rtol=2e-3, atol=2e-3)}

RUNNER = """
import json, sys
import numpy as np
sys.path.insert(0, {ref!r})
import numnet, scenarios
out = {{}}
(_, _), (Xv, _) = scenarios._data("float64")
for name, f in sorted(scenarios.SCENARIOS.items()):
    net, h = f()
    np.savez({out!r} + "/" + name + ".npz", **net.get_weights())
    ref = net.copy()
    ref.set_weights(dict(np.load({ref!r} + "/" + name + ".npz")))
    out[name] = {{"history": scenarios.history_record(h), "predictions": net.predict(Xv).tolist(),
                 "reference_predictions": ref.predict(Xv).tolist()}}
json.dump(out, open({out!r} + "/runs.json", "w"))
"""


@pytest.fixture(scope="module", params=[1, REF_THREADS, 4])
def runs(request, tmp_path_factory):
    threads = request.param
    out = tmp_path_factory.mktemp(f"threads{threads}")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads)}
    subprocess.run([sys.executable, "-c", RUNNER.format(ref=str(REF), out=str(out))], check=True, env=env)
    return threads, out, json.loads((out / "runs.json").read_text())


def _scenarios():
    sys.path.insert(0, str(REF))
    import scenarios

    return sorted(scenarios.SCENARIOS)


@pytest.mark.parametrize("name", _scenarios())
def test_seeded_run_matches_reference(runs, name):
    threads, out, records = runs
    expected, got = np.load(REF / f"{name}.npz"), np.load(out / f"{name}.npz")
    reference_history = json.loads((REF / f"{name}.json").read_text())
    assert sorted(got.files) == sorted(expected.files)
    for k in expected.files:
        assert got[k].dtype == expected[k].dtype, k
        if threads == REF_THREADS:
            assert got[k].tobytes() == expected[k].tobytes(), f"{name}: weights {k} differ"
        else:
            np.testing.assert_allclose(got[k], expected[k], **TOL[expected[k].dtype], err_msg=f"{name}: {k}")
    predictions, reference = records[name]["predictions"], records[name]["reference_predictions"]
    assert predictions == reference, f"{name}: {sum(a != b for a, b in zip(predictions, reference))} predictions differ"
    history = records[name]["history"]
    if threads == REF_THREADS:
        assert history == reference_history
    else:
        for field, values in reference_history.items():
            np.testing.assert_allclose(np.asarray(history[field], dtype=float).ravel() if history[field] else [],
                                       np.asarray(values, dtype=float).ravel() if values else [], rtol=1e-3,
                                       atol=1e-3, err_msg=f"{name}: history {field}")
