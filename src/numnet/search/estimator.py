"""A scikit-learn classifier around a numnet Network, so scikit-learn's tools (cross_val_score,
GridSearchCV, pipelines) work on numnet models:

    from sklearn.model_selection import cross_val_score
    from numnet.search import NumnetClassifier
    cross_val_score(NumnetClassifier(hidden=(32,), epochs=20), X, y, cv=5)
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..model.network import Network
from ..train.optimizers import OPTIMIZERS, make_optimizer


class NumnetClassifier(ClassifierMixin, BaseEstimator):
    """A multilayer perceptron trained by numnet: softmax output and log-likelihood cost (any labels:
    strings, integers); every argument is a hyperparameter get_params/set_params see.

    hidden: hidden layer sizes; activation: hidden activation; optimizer: sgd, momentum, rmsprop, adam;
    lr: its rate (None: the optimizer's default); beta, beta1, beta2: its parameters (None: defaults);
    epochs, batch_size, l2 (λ), keep_prob (dropout; None: none), init, seed, dtype.
    """

    def __init__(self, hidden=(100,), activation="relu", optimizer="adam", lr=None, beta=None, beta1=None,
                 beta2=None, epochs=10, batch_size=64, l2=0.0, keep_prob=None, init="he", seed=0, dtype="float32"):
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

    def fit(self, X, y):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
        y = np.asarray(y)
        check_classification_targets(y)
        self.classes_, labels = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError("the training labels hold a single class; a classifier needs at least two")
        hidden = [self.hidden] if np.isscalar(self.hidden) else list(self.hidden)
        self.n_features_in_ = X.shape[1]
        sizes = [X.shape[1], *map(int, hidden), len(self.classes_)]
        self.network_ = Network.from_sizes(sizes, activation=self.activation, output="softmax",
                                           cost="log_likelihood", init=self.init, seed=self.seed, dtype=self.dtype,
                                           keep_prob=self.keep_prob)
        self.history_ = self.network_.fit(X, labels, epochs=int(self.epochs), batch_size=int(self.batch_size),
                                          optimizer=self._optimizer(), l2=self.l2, seed=self.seed, verbose=0)
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "network_")
        return self.network_.predict_proba(np.asarray(X))

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
