"""The building blocks of a network: layers (each with forward/backward and its parameters), costs and
initializers, each kind in its registry."""
from .conv import AvgPool2D, BatchNorm2D, Conv2D, Flatten, MaxPool2D
from .costs import COSTS, Cost, CrossEntropyCost, LogLikelihoodCost, QuadraticCost, make_cost
from .initializers import INITIALIZERS, initialize
from .layers import (ACTIVATIONS, ELU, LAYERS, Activation, BatchNorm, Dense, Dropout, Identity, Layer, LeakyReLU,
                     ReLU, Sigmoid, Softmax, Tanh, hidden_names, hidden_unit, make_activation, resolve_hidden)
from .maxout import Maxout
from .standardize import Standardize

__all__ = ["COSTS", "Cost", "CrossEntropyCost", "LogLikelihoodCost", "QuadraticCost", "make_cost", "INITIALIZERS",
           "initialize", "ACTIVATIONS", "LAYERS", "Layer", "Activation", "Dense", "Sigmoid", "Tanh", "ReLU",
           "LeakyReLU", "ELU", "Softmax", "Identity", "Dropout", "Flatten", "BatchNorm", "make_activation",
           "Maxout", "Standardize", "Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm2D", "hidden_names", "hidden_unit", "resolve_hidden"]
