"""Populations: K networks of one architecture trained at once, as one set of arrays with a leading member axis
(W of shape (K, n_in, n_out), b (K, n_out), batch-norm statistics (K, n)); ensembles: a population whose
prediction is its members' mean probability.

Every layer, cost and optimizer already computes per member (docs/architecture.md, "A population axis"), so a
population is a `Network` whose arrays are stacked (`stack`) plus what differs: per-member metrics,
histories, L2 and hyperparameters, and the one trainer (`numnet.train.loop`) stopping a diverging member
alone. The contract is equivalence: member i of a population trained with seed S equals its network trained
alone with the same settings and seed S (the same mini-batches), to float rounding.

Dropout: a network alone draws its masks from the run's generator, so the members' runs alone (one seed S)
all draw the same masks. A population therefore draws, for each dropout layer and batch, the mask one network
draws, and applies it to every member (`masks="shared"`, the default: exact equivalence).
`masks="independent"` draws one mask per member from the same stream instead (members decorrelated; each
member's masks are still Bernoulli(keep_prob), but no longer those of its run alone).
"""
from __future__ import annotations

import math

import numpy as np

from ..train.loop import fit as train_fit
from ..utils.archive import declared_shape, read_archive, write_archive
from ..utils.backend import CPU, array_module, to_host
from ..utils.checks import positive_int
from . import memory
from .evaluation import Evaluation
from .network import QUIET, Network

ENSEMBLE_FORMAT = "numnet-ensemble"
ENSEMBLE_VERSION = 1
MASKS = ("shared", "independent")
#: fit options a population does not take: they keep one network's state (best weights, files, a plateau)
_PER_NETWORK = ("early_stopping", "checkpoint_dir", "resume")
#: rows × members × widest layer evaluated at once (bounds the memory of predict and measure)
EVAL_ELEMENTS = 1 << 24


class SharedMasks:
    """The run's generator as a population's dropout layers see it: a draw for inputs (K, n, …) has a single
    network's shape (n, …), the mask each member's run alone draws, broadcast over the members."""

    def __init__(self, rng, k):
        self.rng, self.k = rng, k

    def random(self, shape, **kwargs):
        shape = tuple(shape)
        if len(shape) >= 3 and shape[0] == self.k:
            shape = shape[1:]
        return self.rng.random(shape, **kwargs)


class Population:
    """K networks of one architecture as one state: `Population.from_sizes([784, 30, 10], k=8, seeds=...)`,
    `fit(...)` (per-member histories), `member(i)` (an ordinary Network), per-member `evaluate` and
    `predict_proba`, `ensemble()`."""

    def __init__(self, stack: Network, masks="shared"):
        if not isinstance(stack, Network):
            raise ValueError(f"a population is built from a stacked Network, got {type(stack).__name__}")
        if masks not in MASKS:
            raise ValueError(f"masks must be one of {', '.join(MASKS)}, got {masks!r}")
        shapes = {v.shape[0] if v.ndim else None for v in stack.arrays().values()}
        if len(shapes) != 1 or None in shapes:
            raise ValueError("a population's arrays must all carry the same leading member axis")
        self.stack, self.members, self.masks = stack, shapes.pop(), masks

    # ------------------------------------------------------------------ building
    @classmethod
    def from_networks(cls, nets, masks="shared") -> "Population":
        """The networks' arrays stacked (copied) into one population; they must share architecture and device."""
        nets = list(nets)
        if not nets or not all(isinstance(n, Network) for n in nets):
            raise ValueError("a population needs at least one Network")
        arch, device = nets[0].architecture(), nets[0].device
        for i, n in enumerate(nets[1:], 1):
            if n.architecture() != arch or n.device != device:
                raise ValueError(f"network {i} differs from network 0 in architecture or device: a population's "
                                 "members share one architecture")
        stack = nets[0].copy()
        for layer_index, layer in enumerate(stack.layers):
            for store in ("params", "buffers"):
                own = getattr(layer, store)
                for k in own:
                    own[k] = array_module(own[k]).stack([getattr(n.layers[layer_index], store)[k] for n in nets])
        return cls(stack, masks)

    @classmethod
    def from_sizes(cls, sizes, k=None, *args, seeds=None, memory_budget=None, masks="shared", **kwargs):
        """K networks `Network.from_sizes(sizes, *args, seed=seeds[i], **kwargs)` as a population. `seeds`: one
        per member (default 0..k−1); `k` may be left out when seeds are given. The parameters' memory is
        estimated first and a K beyond `memory_budget` bytes (default: half the free memory) is refused."""
        if seeds is None:
            if k is None:
                raise ValueError("give the number of members k, or their seeds")
            seeds = list(range(positive_int(k, "k")))
        seeds = list(seeds)
        if k is not None and positive_int(k, "k") != len(seeds) or not seeds:
            raise ValueError(f"seeds must list one seed per member (k={k}), got {len(seeds)}")
        template = Network.from_sizes(sizes, *args, seed=seeds[0], **kwargs)  # checks every argument first
        per_member = memory.estimate(template.n_params, [], 1, 0, template.dtype.itemsize, slots=0)
        memory.check_fits(per_member, len(seeds), _budget(memory_budget, CPU))
        arrays = {key: np.empty((len(seeds),) + v.shape, v.dtype) for key, v in template.arrays().items()}
        for i, seed in enumerate(seeds):
            net = template if i == 0 else Network.from_sizes(sizes, *args, seed=seed, **kwargs)
            for key, v in net.arrays().items():
                arrays[key][i] = v
        for i, layer in enumerate(template.layers):
            for store in (layer.params, layer.buffers):
                for name in store:
                    store[name] = arrays[f"{i}.{name}"]
        return cls(template, masks)

    # ------------------------------------------------------------------ shapes and members
    def __len__(self) -> int:
        return self.members

    def __getattr__(self, name):
        """The architecture's description, shared by every member, from the stacked network (layers, cost, dtype,
        input_shape, n_in, n_out, sizes, device, architecture, ...)."""
        if name in ("stack", "members", "masks"):
            raise AttributeError(name)
        if name in _SHARED:
            return getattr(self.stack, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def member(self, i: int) -> Network:
        """Member i as an ordinary, independent Network (a copy, on the population's device)."""
        i = self._index(i)
        net = Network.from_architecture(self.stack.architecture(),
                                        {k: to_host(v[i]) for k, v in self.stack.arrays().items()})
        return net if self.device == CPU else net.to(self.device)

    def networks(self) -> list[Network]:
        return [self.member(i) for i in range(self.members)]

    def _index(self, i) -> int:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not -self.members <= i < self.members:
            raise ValueError(f"member must be an integer in [0, {self.members}), got {i!r}")
        return int(i) % self.members

    def to(self, device) -> "Population":
        self.stack.to(device)
        return self

    def ensemble(self) -> "Ensemble":
        """The members as an ensemble (the same arrays): predictions average their probabilities."""
        return Ensemble(self.stack, self.masks)

    # ------------------------------------------------------------------ what the trainer uses
    def prepare_inputs(self, X, what="X"):
        return self.stack.prepare_inputs(X, what)

    def prepare_targets(self, y, n, what="y"):
        return self.stack.prepare_targets(y, n, what)

    def forward_pass(self, X, training=False, rng=None, tape=None, outputs=None):
        return self.stack.forward_pass(X, training, self._masked(rng), tape, outputs)

    def backprop(self, X, Y, training=True, rng=None, l2=0.0, n_train=None, out=None, lazy=False):
        """One training pass of every member: (K costs, the stacked gradients); `l2` one value or K."""
        return self.stack.backprop(X, Y, training, self._masked(rng), l2, n_train, out, lazy)

    def _masked(self, rng):
        return SharedMasks(rng, self.members) if rng is not None and self.masks == "shared" else rng

    def param_arrays(self, trainable=False):
        return self.stack.param_arrays(trainable)

    def trainable_parameters(self):
        return self.stack.trainable_parameters()

    def arrays(self) -> dict:
        return self.stack.arrays()

    def l2_penalty(self, l2, n_train) -> np.ndarray:
        """(λ / 2n) Σ w² per member (K values)."""
        total = np.zeros(self.members)
        for layer in self.stack.layers:
            for k in layer.decay:
                p = layer.params[k]
                total += to_host((p * p).sum(axis=tuple(range(1, p.ndim)))).astype(np.float64)
        return 0.5 * np.asarray(l2, dtype=np.float64) / n_train * total

    def _chunk(self) -> int:
        return max(1, EVAL_ELEMENTS // (self.members * max(self.stack.sizes)))

    def measure(self, X, Y, labels, batch_size=None):
        """(total cost, number correct) per member over prepared (X, Y): two host arrays of K values."""
        bs = batch_size or self._chunk()
        total, correct = np.zeros(self.members), np.zeros(self.members)
        with np.errstate(**QUIET):
            for i in range(0, len(X), bs):
                a, z = self.stack.forward_pass(X[i:i + bs])
                Yb = Y[i:i + bs]
                total += to_host(self.stack.cost.value(a, Yb, z)).astype(np.float64) * a.shape[-2]
                correct += _n_correct(a, Yb, None if labels is None else labels[i:i + bs])
        return total, correct

    def task_accuracy(self, X, y, batch_size=10000) -> np.ndarray:
        """Each member's per-task accuracy (K, n_out) on multi-task targets."""
        return np.stack([self.member(i).task_accuracy(X, y, batch_size) for i in range(self.members)])

    # ------------------------------------------------------------------ training
    def fit(self, X, y, epochs, batch_size=10, optimizer=None, l2=0.0, validation_data=None, seed=None,
            verbose=None, callbacks=(), memory_budget=None, **options):
        """Train every member at once; returns their histories (`MemberHistories`: `[i]` is member i's
        History, `.stopped` the members stopped by divergence and why). Arguments as `Network.fit`; every
        optimizer hyperparameter and `l2` may be K values (one per member). Member i ends as its network
        trained alone with its own values and the same `seed` would."""
        for name in _PER_NETWORK:
            if options.get(name) is not None:
                raise ValueError(f"{name} keeps one network's state and is not available for a population; train "
                                 "the member alone (Population.member(i))")
        if getattr(options.get("schedule"), "name", None) == "plateau":
            raise ValueError("the plateau schedule follows one network's validation accuracy; a population takes "
                             "schedules that depend on the epoch only")
        self._check_hyper(optimizer)
        per_member = self.estimate_per_member(positive_int(batch_size, "batch_size"),
                                              len(getattr(optimizer, "slots", ())))
        memory.check_fits(per_member, self.members, _budget(memory_budget, self.device))
        return train_fit(self, X, y, epochs=epochs, batch_size=batch_size, optimizer=optimizer, l2=l2,
                         validation_data=validation_data, seed=seed, verbose=verbose, callbacks=callbacks, **options)

    def _check_hyper(self, optimizer) -> None:
        for k in getattr(optimizer, "hyper", ()):
            v = getattr(optimizer, k)
            if np.ndim(v) and len(v) != self.members:
                raise ValueError(f"optimizer {k} has {len(v)} values but the population has {self.members} members")

    def estimate_per_member(self, batch_size: int, slots: int = 2) -> int:
        """Estimated bytes one member needs in training (see `numnet.model.memory`)."""
        widths, shape = [self.stack.n_in], self.stack.input_shape
        for layer in self.stack.layers:
            shape = layer.output_shape(shape)
            widths.append(math.prod(shape))
        return memory.estimate(self.stack.n_params // self.members, widths, 1, batch_size,
                               self.stack.dtype.itemsize, slots, eval_rows=self._chunk())

    # ------------------------------------------------------------------ using it
    def predict_proba(self, X, batch_size=None):
        """Every member's output activations, shape (K, n, n_out), computed in chunks."""
        X = self.prepare_inputs(X)
        bs = batch_size or self._chunk()
        xp = array_module(X)
        with np.errstate(over="ignore", under="ignore"):
            parts = [self.stack.forward_pass(X[i:i + bs])[0] for i in range(0, len(X), bs)]
        return xp.concatenate(parts, axis=1) if parts else xp.zeros((self.members, 0, self.n_out), self.dtype)

    def predict(self, X, batch_size=None):
        """Every member's class indices, shape (K, n)."""
        return _classes(self.predict_proba(X, batch_size))

    def evaluate(self, X, y, l2=0.0, n_train=None, batch_size=None) -> list[Evaluation]:
        """Each member's (cost, accuracy) on (X, y), as `Network.evaluate` gives it for the member alone."""
        X = self.prepare_inputs(X)
        Y, labels = self.prepare_targets(y, len(X))
        if len(X) == 0:
            raise ValueError("cannot evaluate on an empty data set")
        total, correct = self.measure(X, Y, labels, batch_size)
        cost = total / len(X) + (self.l2_penalty(l2, n_train or len(X)) if np.any(l2) else 0.0)
        return [Evaluation(float(c), float(a) / len(X)) for c, a in zip(cost, correct)]

    # ------------------------------------------------------------------ files
    def save(self, path):
        """Write the members as one ensemble model file (`numnet.load` gives an Ensemble back)."""
        meta = {"format": ENSEMBLE_FORMAT, "version": ENSEMBLE_VERSION, "members": self.members,
                "network": self.stack.architecture()}
        return write_archive(path, meta, {k: to_host(v) for k, v in self.stack.arrays().items()})

    def __repr__(self):
        return f"{type(self).__name__}({self.members} × {self.stack.sizes}, cost={self.stack.cost.name!r})"


_SHARED = ("layers", "cost", "dtype", "input_shape", "output_shape", "n_in", "n_out", "sizes", "device",
           "regression", "architecture")


class Ensemble(Population):
    """A population used as one model: `predict_proba` is the members' mean probability, `predict` its class,
    `evaluate` the ensemble's (cost, accuracy); `evaluate_members` gives each member's."""

    def predict_proba(self, X, batch_size=None):
        return super().predict_proba(X, batch_size).mean(axis=0)

    def predict(self, X, batch_size=None):
        return _classes(self.predict_proba(X, batch_size))

    def evaluate(self, X, y, l2=0.0, n_train=None, batch_size=None) -> Evaluation:
        """The ensemble's mean cost and accuracy (its averaged probabilities against the targets)."""
        X = self.prepare_inputs(X)
        Y, labels = self.prepare_targets(y, len(X))
        if len(X) == 0:
            raise ValueError("cannot evaluate on an empty data set")
        a = self.predict_proba(X, batch_size)
        with np.errstate(**QUIET):
            cost = float(to_host(self.stack.cost.value(a, Y)))
        return Evaluation(cost, float(_n_correct(a, Y, labels)) / len(X))

    def evaluate_members(self, X, y, l2=0.0, n_train=None, batch_size=None) -> list[Evaluation]:
        return Population.evaluate(self, X, y, l2, n_train, batch_size)


def _classes(a):
    """Class indices from outputs (…, n, n_out): argmax, or output > 0.5 for a single unit."""
    if a.shape[-1] == 1:
        return (a[..., 0] > 0.5).astype(np.int64)
    return a.argmax(axis=-1)


def _n_correct(a, Y, labels):
    """Examples right per member (a host array of K, or a number for outputs (n, n_out)), as
    `Network.measure` counts them: the class, one unit's side of 0.5, or multi-label fractions."""
    xp = array_module(a)
    if a.shape[-1] == 1:
        right = ((a[..., 0] > 0.5) == (Y[:, 0] > 0.5)).sum(axis=-1)
    elif labels is not None:
        right = (a.argmax(axis=-1) == labels).sum(axis=-1)
    else:
        labelled = ~xp.isnan(Y)
        hits = ((a > 0.5) == (Y > 0.5)) & labelled
        right = hits.sum(axis=(-2, -1)) / max(int(labelled.sum()), 1) * a.shape[-2]
    return to_host(right).astype(np.float64)


def _budget(given, device):
    """The memory budget in bytes: the one given (bytes or a size such as "4G"), else the default share of the
    free memory of `device`."""
    if given is None:
        return memory.default_budget(device)
    return given if isinstance(given, int) and given > 0 else memory.parse_size(given)


def load(path):
    """A model file: a Network, or an Ensemble for a file written by `Population.save` / `numnet train
    --ensemble`. Layer and cost names resolve only through numnet's registries."""
    meta, arrays = read_archive(path, "model file")
    if isinstance(meta, dict) and meta.get("format") == ENSEMBLE_FORMAT:
        return load_ensemble(meta, arrays, str(path))
    return Network.from_architecture(meta, arrays, source=str(path))


def load_ensemble(meta, arrays, source="model") -> Ensemble:
    """An Ensemble from an ensemble file's description and stacked arrays, every member checked as a network
    file is (shapes from the headers before anything is read)."""
    if meta.get("version") != ENSEMBLE_VERSION:
        raise ValueError(f"{source}: unsupported ensemble format version {meta.get('version')!r} (this numnet "
                         f"reads version {ENSEMBLE_VERSION})")
    k = meta.get("members")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{source}: field 'members' must be a positive integer, got {k!r}")
    for key in arrays:
        if tuple(declared_shape(arrays, key))[:1] != (k,):
            raise ValueError(f"{source}: array {key!r} has shape {tuple(declared_shape(arrays, key))}, expected "
                             f"{k} members on its first axis")
    stacked = {key: np.asarray(arrays[key]) for key in arrays}
    nets = [Network.from_architecture(meta.get("network"), {key: v[i] for key, v in stacked.items()},
                                      source=f"{source} member {i}") for i in range(k)]
    return Population.from_networks(nets).ensemble()
