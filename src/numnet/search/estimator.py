"""scikit-learn estimators around a numnet Network, so scikit-learn's tools (cross_val_score, GridSearchCV,
pipelines) work on numnet models; both pass scikit-learn's own `check_estimator`:

    from sklearn.model_selection import cross_val_score
    from numnet.search import NumnetClassifier, NumnetRegressor
    cross_val_score(NumnetClassifier(hidden=(32,), epochs=20), X, y, cv=5)

Inputs are checked by scikit-learn's `validate_data` (n_features_in_, feature_names_in_, NaN, empty or sparse
data refused with its messages). Two choices make fitting robust and repeatable:
- inputs are standardized inside the network by default (`standardize=True`; a Standardize first layer fitted on
  the training data), so unscaled data (pixels as 0..255, features in the thousands) trains without diverging;
  the regressor also standardizes its targets and maps predictions back;
- fit depends only on the training samples, not on their order: rows are put in a canonical order before
  training (sorted by a fixed random projection), so shuffled data or repeated rows give the same model.
`sample_weight` takes whole numbers: a weight of k counts the sample k times (0 leaves it out), exactly like
repeating it; fractional weights are refused.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, column_or_1d, validate_data

from ..model.network import Network
from ..train.optimizers import OPTIMIZERS, make_optimizer

__all__ = ["NumnetClassifier", "NumnetRegressor"]

#: sample weights repeat samples; their sum may be at most this many times the number of samples
MAX_WEIGHT_FACTOR = 100


class _NumnetEstimator(BaseEstimator):
    """What the classifier and the regressor share: hyperparameters, input checks, weights, training."""

    def __init__(self, hidden=(100,), activation="relu", optimizer="adam", lr=None, beta=None, beta1=None,
                 beta2=None, epochs=10, batch_size=64, l2=0.0, keep_prob=None, init="he", standardize=True,
                 random_state=0, seed=None, dtype="float32"):
        self.hidden = hidden
        self.activation = activation
        self.optimizer = optimizer
        self.lr = lr
        self.beta = beta
        self.beta1 = beta1
        self.beta2 = beta2
        self.epochs = epochs
        self.batch_size = batch_size
        self.l2 = l2
        self.keep_prob = keep_prob
        self.init = init
        self.standardize = standardize
        self.random_state = random_state
        self.seed = seed
        self.dtype = dtype

    def _optimizer(self):
        name = OPTIMIZERS.resolve(self.optimizer)
        params = {"lr": self.lr if self.lr is not None else OPTIMIZERS.get(name).default_lr}
        accepted = OPTIMIZERS.params(name)
        for key in ("beta", "beta1", "beta2"):
            value = getattr(self, key)
            if value is not None:
                if key not in accepted:
                    raise ValueError(f"optimizer {name} takes no {key}")
                params[key] = value
        return make_optimizer(name, **params)

    def _seed(self) -> int:
        """`seed` (numnet's spelling) when given, else scikit-learn's `random_state` (None: a fresh draw)."""
        if self.seed is not None:
            return int(self.seed)
        if isinstance(self.random_state, (int, np.integer)):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(2**31 - 1))

    def _train(self, X, targets, n_out, output, cost, sample_weight):
        """Build and fit the network on X (validated floats) and `targets` (rows aligned with X)."""
        X, targets = _repeat(X, targets, sample_weight)
        X, targets = _canonical_order(X, targets)
        seed = self._seed()
        hidden = [self.hidden] if np.isscalar(self.hidden) else list(self.hidden)
        net = Network.from_sizes([X.shape[1], *map(int, hidden), n_out], activation=self.activation, output=output,
                                 cost=cost, init=self.init, seed=seed, dtype=self.dtype, keep_prob=self.keep_prob)
        if self.standardize:
            net.standardize(X)
        self.history_ = net.fit(X, targets, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                optimizer=self._optimizer(), l2=self.l2, seed=seed, verbose=0)
        self.network_ = net
        return self

    def _inputs(self, X):
        check_is_fitted(self, "network_")
        return validate_data(self, X, reset=False, dtype=(np.float64, np.float32))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None and self.seed is None
        return tags


class NumnetClassifier(ClassifierMixin, _NumnetEstimator):
    """A multilayer perceptron trained by numnet: softmax output and log-likelihood cost (any labels:
    strings, integers); every argument is a hyperparameter get_params/set_params see.

    hidden: hidden layer sizes; activation: hidden activation; optimizer: sgd, momentum, rmsprop, adam;
    lr: its rate (None: the optimizer's default); beta, beta1, beta2: its parameters (None: defaults);
    epochs, batch_size, l2 (λ), keep_prob (dropout; None: none), init; standardize: fit x̂ = (x − μ)/σ on the
    training inputs inside the network; random_state (or `seed`, numnet's name, which wins when given): weights,
    order and dropout; dtype. `fit(X, y, sample_weight=None)`: whole-number weights (see the module).
    """

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), ensure_min_samples=2)
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("the training labels hold a single class; a classifier needs at least two")
        return self._train(X, labels, len(self.classes_), "softmax", "log_likelihood",
                           _weights(sample_weight, X))

    def predict_proba(self, X):
        """Class probabilities, one column per entry of `classes_`."""
        X = self._inputs(X)
        return self.network_.predict_proba(X).astype(np.float64)

    def predict(self, X):
        check_is_fitted(self, "network_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


class NumnetRegressor(RegressorMixin, _NumnetEstimator):
    """A multilayer perceptron for regression trained by numnet: identity output and the quadratic cost, one or
    several real targets. The same hyperparameters as NumnetClassifier; the targets are standardized too when
    `standardize` (predictions are mapped back), so their scale does not matter for the learning rate."""

    def fit(self, X, y, sample_weight=None):
        X, y = validate_data(self, X, y, dtype=(np.float64, np.float32), multi_output=True, y_numeric=True,
                             ensure_min_samples=2)
        y = np.asarray(y, dtype=np.float64)
        self._one_target = y.ndim == 1
        Y = y.reshape(len(y), -1)
        weights = _weights(sample_weight, X)
        if self.standardize:
            kept = Y if weights is None else np.repeat(Y, weights, axis=0)
            self.y_mean_, self.y_scale_ = kept.mean(axis=0), kept.std(axis=0)
            self.y_scale_[self.y_scale_ == 0] = 1.0
        else:
            self.y_mean_, self.y_scale_ = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
        return self._train(X, (Y - self.y_mean_) / self.y_scale_, Y.shape[1], "identity", "quadratic", weights)

    def predict(self, X):
        X = self._inputs(X)
        Y = self.network_.forward(X).astype(np.float64) * self.y_scale_ + self.y_mean_
        return Y[:, 0] if self._one_target else Y

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _weights(sample_weight, X):
    """Whole-number sample weights as integers (None: all ones); fractional, negative or all-zero weights and a
    sum above MAX_WEIGHT_FACTOR · n are refused."""
    if sample_weight is None:
        return None
    w = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if not np.all(w == np.round(w)):
        raise ValueError("numnet's estimators take whole-number sample weights (a weight of k counts the sample "
                         "k times), got fractional ones")
    if w.sum() == 0:
        raise ValueError("Sample weights must contain at least one non-zero number (all of them are zero)")
    if w.sum() > MAX_WEIGHT_FACTOR * len(w):
        raise ValueError(f"sample weights sum to {w.sum():.0f}, more than {MAX_WEIGHT_FACTOR} times the "
                         f"{len(w)} samples (numnet repeats a sample as many times as its weight)")
    return w.astype(np.int64)


def _repeat(X, targets, weights):
    if weights is None:
        return X, targets
    return np.repeat(X, weights, axis=0), np.repeat(targets, weights, axis=0)


def _canonical_order(X, targets):
    """X and targets with rows sorted by a fixed random projection of (X, targets): the same samples in any
    order (or repeated in place of a weight) give the same arrays, so the same model."""
    T = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    rows = np.hstack([np.asarray(X, dtype=np.float64), T])
    key = (rows * np.random.default_rng(0).standard_normal(rows.shape[1])).sum(axis=1)  # per row: order-free
    order = np.lexsort((*(rows[:, j] for j in range(min(rows.shape[1], 4))), key))
    return X[order], targets[order]
