"""The README's API section: its callback classes run as shown (one stops training, one records every batch)."""
import ast
import re
from pathlib import Path


import numnet
from conftest import blobs

README = Path(__file__).resolve().parents[1] / "README.md"


def _readme_classes() -> dict:
    """Execute the class definitions of the README's Python blocks (nothing else) and return them."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    namespace = {"numnet": numnet}
    for block in blocks:
        for node in ast.parse(block).body:
            if isinstance(node, ast.ClassDef):
                exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)
    return {k: v for k, v in namespace.items() if isinstance(v, type)}


def test_readme_callbacks_stop_and_record(capsys):
    classes = _readme_classes()
    assert {"StopAtCost", "RecordBatches"} <= set(classes)
    X, y = blobs(400)
    net = numnet.Network.from_sizes([2, 8, 2], activation="relu", cost="log_likelihood", init="he", seed=0)
    rec = classes["RecordBatches"]()
    h = net.fit(X, y, epochs=50, batch_size=64, optimizer=numnet.SGD(0.2), validation_data=(X, y),
                callbacks=[classes["StopAtCost"](), rec])
    flat = [c for epoch in h.batch_cost for c in epoch]
    assert rec.costs == flat                    # every mini-batch, in order
    assert flat[-1] < 0.05 and all(c >= 0.05 for c in flat[:-1])   # stopped right after the first cheap batch
    assert len(h) < 50
    printed = capsys.readouterr().out.split("\n")
    assert printed[0] == f"1 {h.val_accuracy[0]}"
