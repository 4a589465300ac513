"""numnet: neural networks from scratch in NumPy — vectorized, gradient-checked, with bundled MNIST.

    >>> import numnet
    >>> (X, y), val, test = numnet.load_mnist()
    >>> net = numnet.Network.from_sizes([784, 30, 10], cost="cross_entropy", seed=1)
    >>> history = net.fit(X, y, epochs=5, batch_size=10, optimizer=numnet.SGD(0.5), validation_data=val)
    >>> net.evaluate(*test).accuracy
"""
from .costs import CrossEntropyCost, LogLikelihoodCost, QuadraticCost
from .datasets import load_mnist, make_moons
from .gradcheck import gradcheck
from .history import History, ewa
from .layers import ELU, BatchNorm, Dense, Dropout, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .network import Evaluation, Network, load
from .optimizers import SGD, Adam, Momentum, RMSprop
from .schedules import Constant, CosineDecay, ExponentialDecay, InverseTimeDecay, Plateau, StepDecay
from .training import EarlyStopping, TrainingDiverged, load_checkpoint

__version__ = "0.1.0"

__all__ = [
    "Network", "load", "Evaluation", "gradcheck", "load_mnist", "make_moons", "History", "ewa",
    "Dense", "Sigmoid", "Tanh", "ReLU", "LeakyReLU", "ELU", "Softmax", "Identity", "Dropout", "BatchNorm",
    "QuadraticCost", "CrossEntropyCost", "LogLikelihoodCost",
    "SGD", "Momentum", "RMSprop", "Adam",
    "Constant", "InverseTimeDecay", "ExponentialDecay", "StepDecay", "CosineDecay", "Plateau",
    "EarlyStopping", "TrainingDiverged", "load_checkpoint",
]
