"""Models in files: the architecture as JSON, the arrays by name, an NPZ archive that never uses pickle.

A mixin of `Network` (its I/O job) and `load`. Layer and cost names resolve only through the registries, and
only a layer's documented fields are accepted; everything is validated before anything large is allocated."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..nn.costs import COSTS
from ..nn.layers import LAYERS, Layer
from ..utils.archive import declared_shape, write_archive
from ..utils.checks import is_int
from .build import check_dtype

FORMAT = "numnet-model"
FORMAT_VERSION = 1
#: constructor arguments a model file may not set (they are not part of a layer's description)
_NOT_FROM_FILES = ("rng", "seed", "dtype")
#: elements a layer described in a file may declare beyond the arrays stored for it (its integer fields
#: multiplied: a Dense layer's n_in·n_out); more is refused before the layer allocates anything
MAX_UNSTORED_ELEMENTS = 10**6


class Persistence:
    """`architecture`, `arrays`, `save`, `from_architecture`."""

    def architecture(self) -> dict:
        """The JSON description of the network (format, version, dtype, cost, layers)."""
        specs = []
        for layer in self.layers:
            spec = {"type": layer.name, **layer.config()}
            if not layer.trainable:
                spec["trainable"] = False
            specs.append(spec)
        return {"format": FORMAT, "version": FORMAT_VERSION, "dtype": self.dtype.name, "cost": self.cost.name,
                "layers": specs}

    def arrays(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer, named "<layer index>.<name>" (the arrays of a model file)."""
        out = {}
        for i, layer in enumerate(self.layers):
            for k, v in {**layer.params, **layer.buffers}.items():
                out[f"{i}.{k}"] = v
        return out

    def save(self, path, meta=None) -> Path:
        """Write the model: an NPZ archive of the arrays plus `__meta__`, the architecture as UTF-8 JSON.
        Written atomically, from either device (files hold host arrays: load, then `.to("cuda")`); loads with
        `numnet.load` and never uses pickle. `meta`: extra JSON fields stored beside the architecture (e.g.
        {"training": ...}; loading ignores them; they may not replace an architecture field)."""
        arch = self.architecture()
        if meta and set(meta) & set(arch):
            raise ValueError(f"meta may not replace the architecture's fields {sorted(set(meta) & set(arch))}")
        return write_archive(path, {**arch, **(meta or {})}, self.arrays())

    @classmethod
    def from_architecture(cls, arch: dict, arrays: dict, source="model") -> "Network":
        """Build a network from an architecture dict and its arrays, validating every field; layer and cost
        names resolve only through the registries, and only a layer's documented fields are accepted."""
        if not isinstance(arch, dict):
            raise ValueError(f"{source}: architecture must be a JSON object")
        if arch.get("format") != FORMAT:
            raise ValueError(f"{source}: not a numnet model (field 'format' is {arch.get('format')!r})")
        if arch.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source}: unsupported model format version {arch.get('version')!r} "
                             f"(this numnet reads version {FORMAT_VERSION})")
        for field in ("dtype", "cost", "layers"):
            if field not in arch:
                raise ValueError(f"{source}: missing field {field!r}")
        try:
            dt = check_dtype(arch["dtype"])
        except ValueError as e:
            raise ValueError(f"{source}: field 'dtype': {e}") from None
        if not isinstance(arch["cost"], str) or arch["cost"] not in COSTS:
            raise ValueError(f"{source}: unknown cost {arch['cost']!r}; known: {', '.join(sorted(COSTS.names()))}")
        specs = arch["layers"]
        if not isinstance(specs, list) or not specs:
            raise ValueError(f"{source}: field 'layers' must be a non-empty list")
        layers = []
        for i, spec in enumerate(specs):
            layers.append(_layer_from_spec(spec, i, dt, arrays, source))
        expected = {f"{i}.{k}" for i, layer in enumerate(layers) for k in (*layer.params, *layer.buffers)}
        extra = sorted(set(arrays) - expected)
        if extra:
            raise ValueError(f"{source}: unexpected array(s) {', '.join(repr(k[:60]) for k in extra[:5])}"
                             f"{' ...' if len(extra) > 5 else ''}: the layers described hold only "
                             f"{', '.join(sorted(expected)) or 'none'}")
        try:
            return cls(layers, arch["cost"])
        except ValueError as e:
            raise ValueError(f"{source}: {e}") from None


def _layer_from_spec(spec, i, dt, arrays, source) -> Layer:
    if not isinstance(spec, dict) or "type" not in spec:
        raise ValueError(f"{source}: layer {i} lacks field 'type'")
    kind = spec["type"]
    if not isinstance(kind, str) or kind not in LAYERS.names():
        raise ValueError(f"{source}: layer {i} has unknown type {kind!r}; known: {', '.join(sorted(LAYERS.names()))}")
    params = LAYERS.params(kind)
    kwargs = {k: v for k, v in spec.items() if k not in ("type", "trainable")}
    bad = sorted(k for k in kwargs if k not in params or k in _NOT_FROM_FILES)
    if bad:
        allowed = [p for p in params if p not in _NOT_FROM_FILES]
        raise ValueError(f"{source}: layer {i} ({kind}) has unknown field(s) {', '.join(map(repr, bad))}; "
                         f"allowed: {', '.join(allowed) or 'none'}")
    _check_declared_size(kwargs, i, kind, arrays, source)
    if "dtype" in params:
        kwargs["dtype"] = dt
    try:
        layer = LAYERS.get(kind)(**kwargs)
    except TypeError as e:
        raise ValueError(f"{source}: layer {i} ({kind}) has bad fields: {e}") from None
    except ValueError as e:
        raise ValueError(f"{source}: layer {i} ({kind}): {e}") from None
    trainable = spec.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError(f"{source}: layer {i} ({kind}): field 'trainable' must be true or false")
    layer.trainable = trainable
    for store in (layer.params, layer.buffers):
        for k, target in store.items():
            key = f"{i}.{k}"
            if key not in arrays:
                raise ValueError(f"{source}: missing array {key!r}")
            shape = tuple(declared_shape(arrays, key))
            if shape != target.shape:
                raise ValueError(f"{source}: array {key!r} has shape {shape}, expected {target.shape}")
            src = np.asarray(arrays[key])
            if not np.issubdtype(src.dtype, np.floating):
                raise ValueError(f"{source}: array {key!r} has dtype {src.dtype}, expected floating point")
            if not np.isfinite(src).all():
                raise ValueError(f"{source}: array {key!r} contains NaN or infinite values")
            with np.errstate(over="ignore"):
                cast = src.astype(target.dtype)
            if not np.isfinite(cast).all():  # a float64 1e300 is inf in float32
                raise ValueError(f"{source}: array {key!r} holds values too large for {target.dtype} "
                                 f"(largest magnitude {float(np.max(np.abs(src))):.3g})")
            target[...] = cast
    try:
        layer.check_state()
    except ValueError as e:
        raise ValueError(f"{source}: layer {i} ({kind}): {e}") from None
    return layer


def _check_declared_size(kwargs, i, kind, arrays, source) -> None:
    """Refuse a layer whose integer fields (n_in, n_out, n, ...) multiply to far more elements than the arrays
    stored for it, before its constructor allocates them: a file cannot make numnet allocate gigabytes."""
    declared = math.prod(v for v in kwargs.values() if is_int(v) and v > 0)
    prefix = f"{i}."
    stored = sum(math.prod(declared_shape(arrays, k)) for k in arrays if k.startswith(prefix))
    if declared > max(stored, MAX_UNSTORED_ELEMENTS):
        fields = ", ".join(f"{k}={v}" for k, v in kwargs.items() if is_int(v))
        raise ValueError(f"{source}: layer {i} ({kind}) declares {fields} ({declared} elements) but the file "
                         f"stores {stored} for it: refusing to allocate it")
