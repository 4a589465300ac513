"""scikit-learn's own estimator checks on NumnetClassifier and NumnetRegressor (no expected failures), and the
properties the checks rely on, asserted directly."""
import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from numnet.search import NumnetClassifier, NumnetRegressor  # noqa: E402

# small networks and enough epochs for the checks' own accuracy/R² floors, fast
CHECKED = [NumnetClassifier(hidden=(16,), epochs=30, lr=0.01, batch_size=32),
           NumnetClassifier(hidden=(16,), epochs=30, optimizer="sgd", lr=0.2, batch_size=16),  # plain SGD: no divergence
           NumnetRegressor(hidden=(16,), epochs=60, lr=0.01, batch_size=32)]


@parametrize_with_checks(CHECKED)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)) * [1, 10, 100, 1000, 1e4] + 500   # unscaled on purpose
    y = (X[:, 0] - 500 + (X[:, 1] - 500) / 10 > 0).astype(int)
    return X, y


def test_unfitted_and_input_shapes_are_refused_with_scikit_learns_errors():
    from scipy import sparse
    from sklearn.exceptions import NotFittedError
    X, y = _data()
    with pytest.raises(NotFittedError):
        NumnetClassifier().predict(X)
    clf = NumnetClassifier(hidden=(8,), epochs=3).fit(X, y)
    assert clf.n_features_in_ == 5
    with pytest.raises(ValueError, match="Reshape your data"):
        clf.predict(X[0])                               # a 1-D row is refused, not taken as one sample
    with pytest.raises(ValueError, match="5 features"):
        clf.predict(X[:, :4])
    with pytest.raises(TypeError, match="[Ss]parse"):
        NumnetClassifier().fit(sparse.csr_matrix(X), y)
    with pytest.raises(ValueError, match="requires y"):
        NumnetRegressor().fit(X, None)
    with pytest.raises(ValueError, match="1 sample"):
        NumnetClassifier().fit(X[:1], y[:1])


def test_random_state_is_the_seed_and_seed_wins_when_given():
    X, y = _data()
    a = NumnetClassifier(hidden=(8,), epochs=2, random_state=3).fit(X, y).predict_proba(X)
    b = NumnetClassifier(hidden=(8,), epochs=2, seed=3, random_state=99).fit(X, y).predict_proba(X)
    c = NumnetClassifier(hidden=(8,), epochs=2, random_state=4).fit(X, y).predict_proba(X)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_unscaled_inputs_train_with_plain_sgd_because_they_are_standardized():
    X, y = _data(400)
    clf = NumnetClassifier(hidden=(16,), epochs=20, optimizer="sgd", lr=0.5).fit(X, y)   # no TrainingDiverged
    assert clf.score(X, y) > 0.9
    assert clf.network_.layers[0].name == "standardize"


def test_sample_weight_repeats_samples_and_order_does_not_matter():
    X, y = _data(60)
    w = np.random.default_rng(1).integers(0, 3, len(X))
    weighted = NumnetClassifier(hidden=(8,), epochs=3).fit(X, y, sample_weight=w).predict_proba(X)
    perm = np.random.default_rng(2).permutation(int(w.sum()))
    Xr, yr = np.repeat(X, w, axis=0)[perm], np.repeat(y, w)[perm]
    assert np.array_equal(NumnetClassifier(hidden=(8,), epochs=3).fit(Xr, yr).predict_proba(X), weighted)
    with pytest.raises(ValueError, match="whole-number"):
        NumnetClassifier().fit(X, y, sample_weight=np.full(len(X), 0.5))


def test_regressor_fits_unscaled_targets_and_several_outputs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    Y = np.column_stack([1000 * X[:, 0] + 5000, -3 * X[:, 1]])
    reg = NumnetRegressor(hidden=(32,), epochs=60, lr=0.01).fit(X, Y)
    assert reg.predict(X).shape == (300, 2) and reg.score(X, Y) > 0.9
    one = NumnetRegressor(hidden=(32,), epochs=60, lr=0.01).fit(X, Y[:, 0])
    assert one.predict(X).shape == (300,) and one.score(X, Y[:, 0]) > 0.9
