"""Michael Nielsen's book interface (network.py / network2.py / mnist_loader.py) on numnet's vectorized engine.

    >>> from numnet import nielsen
    >>> training_data, validation_data, test_data = nielsen.load_data_wrapper()
    >>> net = nielsen.Network([784, 30, 10], cost=nielsen.CrossEntropyCost, seed=1)
    >>> net.SGD(training_data, 30, 10, 0.5, lmbda=5.0, evaluation_data=validation_data,
    ...         monitor_evaluation_accuracy=True)

Chapter 1's network.py is `Network1` (quadratic cost, N(0, 1) weights, `SGD(..., test_data=...)` printing
"Epoch j: correct / total"); `Network` is chapter 3's network2.py, and takes chapter 1's `test_data=` keyword too.

Data keeps the book's forms: examples are (x, y) tuples with x a (784, 1) column; y is a one-hot (10, 1)
column (training data) or an int label (validation / test data). Lists are stacked into matrices once per
call and every mini-batch goes through the engine as one matrix product per layer.

Ownership: the engine (`net.engine`, a `numnet.Network`) owns the parameters. `net.weights[l]` is a
transposed *view* (n_out, n_in) of the engine's W (n_in, n_out) and `net.biases[l]` an (n_out, 1) view of
its b, so in-place writes (`net.weights[0][i, j] = v`, `net.biases[1][...] = b`) change the engine network;
assigning `net.weights = [...]` or `net.weights[l] = array` copies the values in (shapes must match). The
lists are rebuilt on each access. Parameters are float32 by default (`dtype="float64"` for the book's
precision); values written in are cast to that type.

Differences from the book: randomness comes from a `seed` keyword (not NumPy's global state); the label form
is detected, so `convert` may be omitted (given explicitly it must match the data); cost instances work as
well as classes (`save` writes the class name); cost names from files resolve only through an explicit dict.
"""
from .network import Network, Network1, load
from .parts import (CrossEntropyCost, QuadraticCost, load_data, load_data_wrapper, sigmoid, sigmoid_prime,
                    vectorized_result)

__all__ = ["QuadraticCost", "CrossEntropyCost", "Network", "Network1", "load", "sigmoid", "sigmoid_prime",
           "vectorized_result", "load_data", "load_data_wrapper"]
