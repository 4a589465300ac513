import json
import math

import numpy as np
import pytest

from numnet.schedules import (
    SCHEDULES, Constant, CosineDecay, ExponentialDecay, InverseTimeDecay, Plateau, Schedule,
    StepDecay, from_config, make_schedule,
)


def rates(schedule, lr0, n):
    return [schedule.lr(e, lr0) for e in range(n)]


# ----------------------------------------------------------------------------- sequences

def test_constant():
    assert rates(Constant(), 0.1, 4) == [0.1, 0.1, 0.1, 0.1]


def test_inverse_time_sequence():
    # α0 / (1 + decay·epoch) with α0 = 0.2, decay = 1: 0.2, 0.1, 0.2/3, 0.05
    assert rates(InverseTimeDecay(), 0.2, 4) == pytest.approx([0.2, 0.1, 0.2 / 3, 0.05], rel=1e-15)
    # decay 0.5, α0 = 1: 1, 1/1.5, 1/2, 1/2.5
    assert rates(InverseTimeDecay(0.5), 1.0, 4) == pytest.approx([1, 2 / 3, 0.5, 0.4], rel=1e-15)
    assert rates(InverseTimeDecay(0.0), 0.3, 3) == [0.3, 0.3, 0.3]


def test_exponential_sequence():
    # 0.1 · 0.5^epoch
    assert rates(ExponentialDecay(0.5), 0.1, 4) == pytest.approx([0.1, 0.05, 0.025, 0.0125], rel=1e-15)
    assert rates(ExponentialDecay(), 1.0, 3) == pytest.approx([1.0, 0.95, 0.9025], rel=1e-15)


def test_step_sequence():
    # 0.8 · 0.5^floor(epoch/3)
    expected = [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]
    assert rates(StepDecay(step=3, factor=0.5), 0.8, 7) == pytest.approx(expected, rel=1e-15)
    assert rates(StepDecay(), 1.0, 21)[9:12] == pytest.approx([1.0, 0.5, 0.5])


def test_cosine_sequence():
    # epochs = 4, α0 = 1, min_lr = 0: (1 + cos(π e/4))/2 = 1, (2+√2)/4, 1/2, (2−√2)/4, 0, then 0
    r2 = math.sqrt(2)
    expected = [1.0, (2 + r2) / 4, 0.5, (2 - r2) / 4, 0.0, 0.0]
    assert rates(CosineDecay(4), 1.0, 6) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # min_lr = 0.1, α0 = 0.5, epochs 2: 0.5, 0.1 + 0.4·0.5 = 0.3, 0.1, 0.1
    assert rates(CosineDecay(2, min_lr=0.1), 0.5, 4) == pytest.approx([0.5, 0.3, 0.1, 0.1], rel=1e-12)


def test_cosine_min_lr_above_lr0_rejected():
    with pytest.raises(ValueError, match="min_lr"):
        CosineDecay(5, min_lr=0.5).lr(0, 0.1)


def test_lr_returns_python_float_and_accepts_numpy_scalars():
    value = ExponentialDecay(0.5).lr(np.int64(2), np.float64(1.0))
    assert type(value) is float and value == 0.25


@pytest.mark.parametrize("epoch", [-1, 1.5, True, "3", None])
def test_bad_epoch(epoch):
    with pytest.raises(ValueError, match="epoch"):
        Constant().lr(epoch, 0.1)


@pytest.mark.parametrize("lr0", [0.0, -0.1, float("nan"), float("inf"), "0.1"])
def test_bad_lr0(lr0):
    with pytest.raises(ValueError, match="lr0"):
        Constant().lr(0, lr0)


def test_non_plateau_schedules_ignore_observe_and_never_stop():
    for s in (Constant(), InverseTimeDecay(), ExponentialDecay(), StepDecay(), CosineDecay(3)):
        s.observe(None)
        s.observe(0.5)
        assert s.stopped is False


# ----------------------------------------------------------------------------- plateau

def test_plateau_halving_and_stop():
    s = Plateau(patience=2, factor=0.5, min_fraction=1 / 8)
    lr0 = 1.0
    metrics = [0.5, 0.6, 0.6, 0.55,   # two epochs without improvement -> halve
               0.7, 0.65, 0.7,        # improvement resets wait; then two more flat -> halve
               0.6, 0.6]              # two more flat -> 1/8 -> stopped
    seen = []
    for epoch, m in enumerate(metrics):
        seen.append(s.lr(epoch, lr0))
        s.observe(m)
        seen.append(s.stopped)
    assert seen == [1.0, False, 1.0, False, 1.0, False, 1.0, False,   # after 0.55: halved
                    0.5, False, 0.5, False, 0.5, False,                # after 2nd 0.7: halved
                    0.25, False, 0.25, True]
    assert s.lr(9, lr0) == 0.125
    assert (s.best, s.wait, s.reductions) == (0.7, 0, 3)
    # once stopped, further observations change nothing
    s.observe(0.1)
    s.observe(0.1)
    assert s.lr(10, lr0) == 0.125 and s.reductions == 3


def test_plateau_default_stops_at_lr0_over_1024():
    s = Plateau(patience=1)
    s.observe(0.9)
    for i in range(10):
        assert not s.stopped
        s.observe(0.9)
    assert s.stopped and s.reductions == 10
    assert s.lr(11, 0.5) == 0.5 / 1024


def test_plateau_min_delta():
    s = Plateau(patience=1, min_delta=0.01)
    s.observe(0.50)
    s.observe(0.505)          # not better by more than 0.01
    assert s.reductions == 1 and s.best == 0.50
    s.observe(0.52)           # better by 0.02
    assert s.best == 0.52 and s.wait == 0


def test_plateau_factor_rounding_still_stops():
    s = Plateau(patience=1, factor=0.1, min_fraction=0.001)
    for m in [0.1, 0.1, 0.1, 0.1]:
        s.observe(m)
    assert s.reductions == 3 and s.stopped


def test_plateau_needs_validation_data():
    with pytest.raises(ValueError, match="validation data"):
        Plateau().observe(None)


@pytest.mark.parametrize("metric", [float("nan"), float("inf"), "0.5"])
def test_plateau_bad_metric(metric):
    with pytest.raises(ValueError, match="metric"):
        Plateau().observe(metric)


# ----------------------------------------------------------------------------- state round trip

def test_plateau_state_round_trip():
    script = [0.1, 0.2, 0.2, 0.2, 0.15, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3]
    a = Plateau(patience=3, factor=0.5, min_fraction=1 / 4)
    for m in script[:5]:
        a.observe(m)
    state = json.loads(json.dumps(a.state_dict()))
    b = Plateau(patience=3, factor=0.5, min_fraction=1 / 4)
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    for epoch, m in enumerate(script[5:], start=5):
        assert a.lr(epoch, 0.2) == b.lr(epoch, 0.2)
        assert a.stopped == b.stopped
        a.observe(m)
        b.observe(m)
    assert a.state_dict() == b.state_dict() and a.stopped and b.stopped


@pytest.mark.parametrize("schedule", [Constant(), InverseTimeDecay(0.3), ExponentialDecay(0.9),
                                      StepDecay(2, 0.1), CosineDecay(5, 0.01)])
def test_stateless_state_round_trip(schedule):
    state = json.loads(json.dumps(schedule.state_dict()))
    clone = from_config(schedule.config())
    clone.load_state_dict(state)
    assert rates(clone, 0.1, 8) == rates(schedule, 0.1, 8)


@pytest.mark.parametrize("state, field", [
    ({"best": 0.5, "wait": 0}, "reductions"),
    ({"name": "plateau", "best": 0.5, "wait": 0, "reductions": 0, "extra": 1}, "extra"),
    ({"name": "step", "best": 0.5, "wait": 0, "reductions": 0}, "name"),
    ({"name": "plateau", "best": "x", "wait": 0, "reductions": 0}, "best"),
    ({"name": "plateau", "best": float("nan"), "wait": 0, "reductions": 0}, "best"),
    ({"name": "plateau", "best": 0.5, "wait": -1, "reductions": 0}, "wait"),
    ({"name": "plateau", "best": 0.5, "wait": 10, "reductions": 0}, "wait"),
    ({"name": "plateau", "best": 0.5, "wait": 0, "reductions": 1.5}, "reductions"),
])
def test_plateau_bad_state(state, field):
    s = Plateau(patience=10)
    with pytest.raises(ValueError, match=field):
        s.load_state_dict(state)
    assert s.state_dict() == {"name": "plateau", "best": None, "wait": 0, "reductions": 0}


def test_stateless_bad_state():
    with pytest.raises(ValueError, match="dict"):
        Constant().load_state_dict([1])
    with pytest.raises(ValueError, match="name"):
        Constant().load_state_dict({})
    with pytest.raises(ValueError, match="best"):
        StepDecay().load_state_dict({"name": "step", "best": 1})


# ----------------------------------------------------------------------------- config / registry

@pytest.mark.parametrize("schedule", [Constant(), InverseTimeDecay(0.3), ExponentialDecay(0.9),
                                      StepDecay(2, 0.1), CosineDecay(5, 0.01),
                                      Plateau(3, 0.25, 1 / 64, 0.001)])
def test_config_round_trip(schedule):
    config = json.loads(json.dumps(schedule.config()))
    clone = from_config(config)
    assert type(clone) is type(schedule)
    assert clone.config() == schedule.config()
    assert SCHEDULES[config["name"]] is type(schedule)


def test_config_contents():
    assert StepDecay(4, 0.25).config() == {"name": "step", "step": 4, "factor": 0.25}
    assert Constant().config() == {"name": "constant"}
    assert Plateau().config() == {"name": "plateau", "patience": 10, "factor": 0.5,
                                  "min_fraction": 1 / 1024, "min_delta": 0.0}
    assert repr(StepDecay(4, 0.25)) == "StepDecay(step=4, factor=0.25)"


def test_registry_names():
    assert set(SCHEDULES) == {"constant", "inverse_time", "inverse_sqrt", "exponential", "step", "cosine", "plateau"}
    assert all(issubclass(cls, Schedule) for cls in SCHEDULES.values())


def test_make_schedule_hyphen_and_case():
    s = make_schedule("inverse-time", decay=0.5)
    assert isinstance(s, InverseTimeDecay) and s.decay == 0.5
    assert isinstance(make_schedule("Cosine", epochs=3), CosineDecay)


def test_make_schedule_unknown_name_lists_known():
    with pytest.raises(ValueError, match="known: constant, inverse_time"):
        make_schedule("linear")
    with pytest.raises(ValueError, match="name"):
        make_schedule(3)


def test_make_schedule_unknown_or_missing_parameter():
    with pytest.raises(ValueError, match="gamma"):
        make_schedule("step", gamma=0.1)
    with pytest.raises(ValueError, match="epochs"):
        make_schedule("cosine")
    with pytest.raises(ValueError, match="name"):
        from_config({"step": 3})


# ----------------------------------------------------------------------------- invalid parameters

@pytest.mark.parametrize("make, param", [
    (lambda: InverseTimeDecay(-0.1), "decay must be >= 0"),
    (lambda: InverseTimeDecay(float("nan")), "decay"),
    (lambda: InverseTimeDecay("1"), "decay"),
    (lambda: ExponentialDecay(0.0), "rate must be > 0"),
    (lambda: ExponentialDecay(1.5), "rate must be <= 1"),
    (lambda: ExponentialDecay(float("inf")), "rate"),
    (lambda: StepDecay(step=0), "step must be a positive integer"),
    (lambda: StepDecay(step=2.5), "step"),
    (lambda: StepDecay(step=True), "step"),
    (lambda: StepDecay(factor=0.0), "factor must be > 0"),
    (lambda: StepDecay(factor=1.1), "factor must be <= 1"),
    (lambda: CosineDecay(0), "epochs must be a positive integer"),
    (lambda: CosineDecay(10.0), "epochs"),
    (lambda: CosineDecay(10, min_lr=-1e-3), "min_lr must be >= 0"),
    (lambda: Plateau(patience=0), "patience must be a positive integer"),
    (lambda: Plateau(factor=1.0), "factor must be < 1"),
    (lambda: Plateau(factor=0.0), "factor must be > 0"),
    (lambda: Plateau(min_fraction=0.0), "min_fraction must be > 0"),
    (lambda: Plateau(min_fraction=1.0), "min_fraction must be < 1"),
    (lambda: Plateau(min_delta=-0.1), "min_delta must be >= 0"),
    (lambda: Plateau(min_delta=None), "min_delta"),
])
def test_invalid_parameters(make, param):
    with pytest.raises(ValueError, match=param):
        make()
