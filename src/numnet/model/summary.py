"""`Network.summary()`: Keras' model summary, a table of the layers with their output shapes and parameter
counts, and the totals (all, trainable, frozen)."""
from __future__ import annotations

from ..utils.tables import format_table


def summary(net) -> str:
    """The layers of `net` (index, type, output shape with None for the batch, parameters) and the totals."""
    rows, shape, total, trainable = [], net.input_shape, 0, 0
    for i, layer in enumerate(net.layers):
        shape = layer.output_shape(shape)
        count = sum(int(p.size) for p in layer.params.values())
        total += count
        trainable += count if layer.trainable else 0
        kind = type(layer).__name__ + ("" if layer.trainable or not count else " (frozen)")
        rows.append([i, kind, str((None, *shape)), f"{count:,}"])
    table = format_table(rows, ["#", "layer", "output shape", "params"], markdown=False)
    return (f"{table}\ninput: {(None, *net.input_shape)}; cost: {net.cost.name}; dtype: {net.dtype.name}\n"
            f"total params: {total:,} (trainable {trainable:,}, frozen {total - trainable:,})")
