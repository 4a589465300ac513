"""The issue #11 experiment scripts run end to end (tiny settings; the figures come from full runs)."""
import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _script(name):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transfer_script(capsys):
    res = _script("transfer").main(["--per-class", "10", "--seeds", "0", "--steps", "20", "--pretrain-epochs", "1",
                                    "--pretrain-size", "1000", "--hidden", "32"])
    out = capsys.readouterr().out
    assert "| 10 |" in out and set(k for _, k in res) == {"scratch", "frozen", "freeze first", "fine-tune"}


def test_multitask_script(capsys):
    _script("multitask").main(["--train-size", "600", "--missing", "0.5", "--seeds", "0", "--epochs", "1",
                               "--hidden", "16"])
    out = capsys.readouterr().out
    assert "| 0.5 | mean |" in out and "closed_loop" in out


def test_mismatch_script(capsys):
    _script("mismatch").main(["--train-size", "1000", "--epochs", "1", "--shift", "invert"])
    out = capsys.readouterr().out
    assert "synthesised 'invert' copies" in out and "largest gap" in out
