"""Seeded runs stay what main produced before the architecture change (tests/reference/): the final weights
byte for byte and the History (epoch times aside) exactly, in float64 and in float32 (same BLAS threads)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest

REF = Path(__file__).resolve().parent / "reference"
sys.path.insert(0, str(REF))
import scenarios  # noqa: E402


@pytest.mark.parametrize("name", sorted(scenarios.SCENARIOS))
def test_seeded_run_matches_reference(name):
    net, history = scenarios.SCENARIOS[name]()
    expected = np.load(REF / f"{name}.npz")
    weights = net.get_weights()
    assert sorted(weights) == sorted(expected.files)
    for k in expected.files:
        assert weights[k].dtype == expected[k].dtype, k
        assert weights[k].tobytes() == expected[k].tobytes(), f"{name}: weights {k} differ"
    assert scenarios.history_record(history) == json.loads((REF / f"{name}.json").read_text())
