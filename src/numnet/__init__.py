"""numnet: neural networks from scratch in NumPy — vectorized, gradient-checked, with bundled MNIST.

    >>> import numnet
    >>> (X, y), val, test = numnet.load_mnist()
    >>> net = numnet.Network.from_sizes([784, 30, 10], cost="cross_entropy", seed=1)
    >>> history = net.fit(X, y, epochs=5, batch_size=10, optimizer=numnet.SGD(0.5), validation_data=val)
    >>> net.evaluate(*test).accuracy

The package tree is the architecture: each folder imports only from the folders listed above it (a test checks it).
    utils/   checks, registry, atomic files, the NPZ + JSON archive, tables, array backends (devices), BLAS gemm
    nn/      layers (forward/backward on explicit state), costs, initializers: the parts, each in its registry
    train/   the loop and its callbacks, optimizers (explicit state), schedules, history, checkpoints
    model/   Network: build, input checks, passes, evaluation, files; gradcheck, transfer
    data/    IDX, bundled MNIST, splits, toy sets, augmentation, digit images
    report/  plots, error analysis, diagnosis
    runs/    a whole run from settings (defaults < recipe < config < overrides), recipes, experiments
    search/  hyperparameter search on Optuna, learning-rate finder, the scikit-learn estimator
    lab/     the local web lab (framework-free core, Starlette server, static page)
    cli/     the `numnet` command: parse, call runs/ (and model/, report/, search/, lab/), print
    nielsen/  the book's own interface on the same engine
docs/architecture.md explains the design and what to touch to add a part.
"""
import sys as _sys

from .data import flip_labels, load_mnist, make_moons, shift_images, train_dev_split
from .model import Ensemble, Evaluation, Network, Population, gradcheck, load, load_checkpoint, numerical_gradient, transfer
from .nn import (ACTIVATIONS, COSTS, ELU, AvgPool2D, BatchNorm2D, Conv2D, MaxPool2D, INITIALIZERS, LAYERS, Activation, BatchNorm, Cost, CrossEntropyCost,
                 Dense, Dropout, Flatten, Identity, Layer, LeakyReLU, LogLikelihoodCost, Maxout, QuadraticCost, ReLU,
                 Sigmoid, Softmax, Standardize, Tanh)
from .train import (OPTIMIZERS, SCHEDULES, SGD, Adam, FusedSGD, Callback, Constant, CosineDecay, EarlyStopping,
                    ExponentialDecay, GradientHealth, GradientHealthWarning, History, InverseSqrtDecay, InverseTimeDecay,
                    LambdaCallback,
                    Momentum, Optimizer, Plateau, RMSprop, Schedule, StepDecay, TrainingDiverged, ewa)
from .report.labels import label_issues

__version__ = "0.1.0"

__all__ = [
    "Network", "Population", "Ensemble", "load", "Evaluation", "gradcheck", "numerical_gradient", "load_mnist", "make_moons", "History", "ewa",
    "Layer", "Activation", "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softmax", "Identity", "Dropout", "Flatten",
    "Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm2D",
    "BatchNorm", "Maxout", "Standardize", "Cost", "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
    "Optimizer", "SGD", "FusedSGD", "Momentum", "RMSprop", "Adam",
    "Schedule", "Constant", "InverseTimeDecay", "InverseSqrtDecay", "ExponentialDecay", "StepDecay", "CosineDecay", "Plateau",
    "Callback", "LambdaCallback", "EarlyStopping", "TrainingDiverged", "load_checkpoint",
    "GradientHealth", "GradientHealthWarning",
    "LAYERS", "ACTIVATIONS", "COSTS", "INITIALIZERS", "OPTIMIZERS", "SCHEDULES",
    "transfer", "label_issues", "flip_labels", "train_dev_split", "shift_images",
]

# Module paths from before the package was laid out in folders keep working (`numnet.datasets`, ...).
_OLD_MODULES = {"files": "utils.files", "layers": "nn.layers", "costs": "nn.costs", "initializers": "nn.initializers",
                "network": "model.network", "training": "train.loop", "optimizers": "train.optimizers",
                "schedules": "train.schedules", "history": "train.history", "progress": "train.progress",
                "datasets": "data", "images": "data.images", "config": "runs.settings",
                "experiments": "runs.experiments", "plots": "report.plots", "analysis": "report.analysis"}


class _OldModuleFinder:
    """Resolves an old module path to its new module when first imported (nothing is imported before)."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):
        prefix, _, name = fullname.rpartition(".")
        if prefix != __name__ or name not in _OLD_MODULES:
            return None
        import importlib
        import importlib.util

        module = importlib.import_module(f"{__name__}.{_OLD_MODULES[name]}")
        return importlib.util.spec_from_loader(fullname, _AliasLoader(module))


class _AliasLoader:
    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass


_sys.meta_path.append(_OldModuleFinder)
