"""A network as a list of layers: the command line's `--layers "conv 20 5, pool 2, dense 100, dense 10"`, the TOML
`[[network.layers]]` tables, and the layers they build (`Network.from_layers`).

Each entry is a table {"type": ..., ...}; in text, a comma-separated item "TYPE N N word key=value":

| type | numbers | keys (text: key=value) | builds |
|---|---|---|---|
| conv | filters, kernel | stride, padding, activation, batch_norm | Conv2D [BatchNorm2D] activation |
| pool / maxpool, avgpool | size | stride | MaxPool2D / AvgPool2D |
| dense | units | activation, batch_norm | [Flatten] Dense [BatchNorm] activation |
| dropout | keep_prob | | Dropout |

A bare word is the entry's activation (`conv 20 5 sigmoid`), `bn` sets batch_norm. Hidden conv and dense layers use
their own activation or the network's; the last entry must be the dense output layer, with the output activation
(default: the cost's usual one). A Flatten goes in before the first dense layer that follows feature maps. A max-pool
right after a conv layer is placed before the conv's activation when that never decreases (ReLU, sigmoid, tanh:
max f(z) = f(max z), the same function on a quarter of the values); after batch norm (γ may be negative) it is not.
"""
from __future__ import annotations

import math

import numpy as np

from ..nn.conv import AvgPool2D, BatchNorm2D, Conv2D, Flatten, MaxPool2D
from ..nn.layers import BatchNorm, Dense, Dropout, Layer, make_activation, resolve_hidden

#: type -> (its numbers in order, its other keys); aliases map to a type
FIELDS = {
    "conv": (("filters", "kernel"), ("stride", "padding", "activation", "batch_norm")),
    "maxpool": (("size",), ("stride",)),
    "avgpool": (("size",), ("stride",)),
    "dense": (("units",), ("activation", "batch_norm")),
    "dropout": (("keep_prob",), ()),
}
ALIASES = {"pool": "maxpool", "max_pool": "maxpool", "avg_pool": "avgpool", "fc": "dense", "conv2d": "conv"}
#: activations that never decrease, so max-pooling their outputs equals activating the max-pooled inputs
MONOTONE = {"sigmoid", "tanh", "relu", "leaky_relu", "elu", "identity"}
_INTS = {"filters", "kernel", "size", "stride", "padding", "units"}


def parse_layers(text: str) -> list[dict]:
    """"conv 20 5, pool 2, dense 100 sigmoid, dropout 0.5, dense 10" → a list of layer tables (checked)."""
    specs = []
    for n, item in enumerate(str(text).split(",")):
        words = item.split()
        if not words:
            raise ValueError(f"layer {n + 1} of {text!r} is empty")
        kind = ALIASES.get(words[0].lower(), words[0].lower())
        if kind not in FIELDS:
            check_layers([{"type": kind}])  # the unknown-type error, listing the known
        spec: dict = {"type": kind}
        numbers = FIELDS.get(kind, ((), ()))[0]
        positional = 0
        for word in words[1:]:
            if "=" in word:
                key, value = word.split("=", 1)
                spec[key] = {"true": True, "false": False}.get(value.lower(), value) if key == "batch_norm" \
                    else value if key == "activation" else _number(value)
            elif word.lower() == "bn":
                spec["batch_norm"] = True
            elif _is_number(word):
                if positional >= len(numbers):
                    raise ValueError(f"layer {n + 1} ({item.strip()!r}): {kind} takes {len(numbers)} number(s) "
                                     f"({', '.join(numbers) or 'none'})")
                spec[numbers[positional]] = _number(word)
                positional += 1
            else:
                spec["activation"] = word
        specs.append(spec)
    return check_layers(specs)


def _is_number(word) -> bool:
    try:
        float(word)
        return True
    except ValueError:
        return False


def _number(word):
    return int(word) if word.lstrip("+-").isdigit() else float(word) if _is_number(word) else word


def check_layers(specs) -> list[dict]:
    """Layer tables checked and canonical (types, required numbers, no unknown keys); else a ValueError."""
    if isinstance(specs, str):
        return parse_layers(specs)
    if not isinstance(specs, list) or not specs:
        raise ValueError(f"layers must be a non-empty list of layer tables, got {specs!r}")
    out = []
    for n, spec in enumerate(specs):
        where = f"layer {n + 1}"
        if not isinstance(spec, dict) or "type" not in spec:
            raise ValueError(f"{where} must be a table with a 'type', got {spec!r}")
        kind = ALIASES.get(str(spec["type"]).lower(), str(spec["type"]).lower())
        if kind not in FIELDS:
            raise ValueError(f"{where} has unknown type {spec['type']!r}; known: conv, pool (maxpool), avgpool, "
                             f"dense, dropout")
        required, optional = FIELDS[kind]
        unknown = sorted(set(spec) - {"type", *required, *optional})
        if unknown:
            raise ValueError(f"{where} ({kind}) has unknown key(s) {', '.join(unknown)}; "
                             f"allowed: {', '.join((*required, *optional))}")
        clean = {"type": kind}
        for key in (*required, *optional):
            if key not in spec:
                if key in required:
                    raise ValueError(f"{where} ({kind}) needs {key}")
                continue
            clean[key] = _checked_value(key, spec[key], f"{where} ({kind}) {key}")
        out.append(clean)
    if out[0]["type"] in ("maxpool", "avgpool"):
        raise ValueError("the first layer must be conv, dense or dropout, not a pooling layer")
    if out[-1]["type"] != "dense":
        raise ValueError("the last layer must be the dense output layer (e.g. 'dense 10')")
    return out


def _checked_value(key, v, what):
    if key in _INTS:
        low = 0 if key == "padding" else 1
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            raise ValueError(f"{what} must be an integer >= {low}, got {v!r}")
    elif key == "keep_prob":
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise ValueError(f"{what} must be in (0, 1], got {v!r}")
        v = float(v)
    elif key == "batch_norm":
        if not isinstance(v, bool):
            raise ValueError(f"{what} must be true or false, got {v!r}")
    elif key == "activation":
        if not isinstance(v, str):
            raise ValueError(f"{what} must be a name, got {v!r}")
        v = resolve_hidden(v) if v not in ("softmax", "identity", "linear") else v
    return v


def format_layers(specs) -> str:
    """The text form of checked layer tables (what `parse_layers` reads back)."""
    items = []
    for spec in specs:
        required, optional = FIELDS[spec["type"]]
        words = [spec["type"], *(str(spec[k]) for k in required)]
        words += [("bn" if spec[k] else "batch_norm=false") if k == "batch_norm" else f"{k}={spec[k]}"
                  for k in optional if k in spec]
        items.append(" ".join(words))
    return ", ".join(items)


def build_layers(specs, input_shape, activation="relu", output="softmax", init="he", seed=None,
                 dtype="float32") -> list[Layer]:
    """The layers of checked `specs` on per-example inputs `input_shape`, drawing weights in order from `seed`."""
    specs = check_layers(specs)
    rng = np.random.default_rng(seed)
    shape = tuple(input_shape)
    layers: list[Layer] = []

    def add(layer):
        nonlocal shape
        shape = layer.output_shape(shape)
        layers.append(layer)

    pooled = set()  # max-pool entries already placed before their conv's activation
    for n, spec in enumerate(specs):
        if n in pooled:
            continue
        kind, last = spec["type"], n == len(specs) - 1
        act = spec.get("activation", output if last else activation)
        norm = spec.get("batch_norm", False)
        if kind == "conv":
            first = {"input_shape": shape} if not layers else {}
            if len(shape) != 3:
                raise ValueError(f"layer {n + 1} (conv) needs feature maps (channels, height, width), gets {shape}")
            add(Conv2D(shape[0], spec["filters"], spec["kernel"], spec.get("stride", 1), spec.get("padding", 0),
                       init=init, bias=not norm, rng=rng, dtype=dtype, **first))
            if norm:
                add(BatchNorm2D(spec["filters"], dtype=dtype))
            following = specs[n + 1] if n + 1 < len(specs) else {}
            if following.get("type") == "maxpool" and not norm and make_activation(act).name in MONOTONE:
                add(MaxPool2D(following["size"], following.get("stride")))  # max f(z) = f(max z): pool first,
                pooled.add(n + 1)                                          # on a quarter of the values
            add(make_activation(act))
        elif kind in ("maxpool", "avgpool"):
            add((MaxPool2D if kind == "maxpool" else AvgPool2D)(spec["size"], spec.get("stride")))
        elif kind == "dropout":
            add(Dropout(spec["keep_prob"]))
        else:
            if len(shape) != 1:
                add(Flatten(shape if not layers else None))
            add(Dense(math.prod(shape), spec["units"], init=init, bias=not norm, rng=rng, dtype=dtype))
            if norm:
                add(BatchNorm(spec["units"], dtype=dtype))
            add(make_activation(act))
    return layers
