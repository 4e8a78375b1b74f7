"""fcnn's estimators give scikit-learn's numbers: the same arguments and
``random_state`` fit the same model, checked live against scikit-learn's own
``MLPClassifier``/``MLPRegressor`` (never against stored numbers).

Tolerance: ``max|a - b| / (1 + max|b|) <= 1e-9`` for the stochastic solvers
after 30 epochs, 1e-6 for lbfgs (SciPy's line search amplifies rounding).
Networks are small and data sets subsampled to keep the whole module quick.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.preprocessing import StandardScaler

from fcnn.estimators import MLPClassifier, MLPRegressor

TOL = {"sgd": 1e-9, "adam": 1e-9, "lbfgs": 1e-6}


def _scaled(X: np.ndarray) -> np.ndarray:
    return StandardScaler().fit_transform(X)


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    if name == "iris":
        X, y = load_iris(return_X_y=True)
        return _scaled(X), y
    if name == "digits":
        X, y = load_digits(return_X_y=True)
        return X[:400] / 16.0, y[:400]
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
        return _scaled(X)[:300], y[:300]
    if name == "multilabel":
        return make_multilabel_classification(
            n_samples=150, n_features=8, n_classes=4, random_state=0
        )
    X, y = load_diabetes(return_X_y=True)
    return X[:250], y[:250] / 100.0


def _weights(n: int) -> np.ndarray:
    return np.random.default_rng(0).uniform(0.2, 3.0, n)


def _error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    assert a.shape == b.shape
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def _fit_both(ours, theirs, X, y, sample_weight=None, expect_warning=True):
    """Fit both; they must warn alike (a ConvergenceWarning after max_iter epochs)."""
    seen = []
    for est in (ours, theirs):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            est.fit(X, y, sample_weight=sample_weight)
        seen.append([str(w.message) for w in caught if w.category is ConvergenceWarning])
    assert seen[0] == seen[1]
    if expect_warning and getattr(theirs, "solver", "") != "lbfgs":
        assert seen[0], "expected a ConvergenceWarning"
    return ours, theirs


def assert_same_model(ours, theirs, X, tol) -> float:
    """Every fitted number of ``theirs`` (scikit-learn) is ``ours`` within ``tol``."""
    worst = 0.0
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert ours.n_layers_ == theirs.n_layers_ and ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_, strict=True):
        assert a.dtype == b.dtype
        worst = max(worst, _error(a, b))
    if hasattr(theirs, "loss_curve_"):
        worst = max(worst, _error(ours.loss_curve_, theirs.loss_curve_))
        if theirs.best_loss_ is None:
            assert ours.best_loss_ is None
        else:
            worst = max(worst, _error(ours.best_loss_, theirs.best_loss_))
    else:
        assert not hasattr(ours, "loss_curve_")
    worst = max(worst, _error(ours.loss_, theirs.loss_))
    if theirs.validation_scores_ is not None if hasattr(theirs, "validation_scores_") else False:
        worst = max(worst, _error(ours.validation_scores_, theirs.validation_scores_))
        worst = max(worst, _error(ours.best_validation_score_, theirs.best_validation_score_))
    if hasattr(theirs, "predict_proba"):
        worst = max(worst, _error(ours.predict_proba(X), theirs.predict_proba(X)))
        np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    worst = max(worst, _error(ours.predict(X), theirs.predict(X)))
    assert worst <= tol, worst
    return worst


SGD_SCHEDULES = [
    {"solver": "sgd", "learning_rate": schedule, "nesterovs_momentum": nesterov}
    for schedule in ("constant", "invscaling", "adaptive")
    for nesterov in (True, False)
]
SOLVERS = [*SGD_SCHEDULES, {"solver": "adam"}, {"solver": "lbfgs"}]


def _id(options: dict) -> str:
    return "-".join(str(v) for v in options.values())


@pytest.mark.parametrize("options", SOLVERS, ids=_id)
@pytest.mark.parametrize("early_stopping", [False, True], ids=["", "early_stopping"])
@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample_weight"])
def test_iris_every_solver(options, early_stopping, weighted) -> None:
    # (lbfgs with early_stopping=True: scikit-learn ignores the flag, and so must fcnn)
    X, y = _data("iris")
    params = {"hidden_layer_sizes": (7,), "max_iter": 30, "random_state": 0,
              "learning_rate_init": 0.01 if options["solver"] != "sgd" else 0.05,
              "early_stopping": early_stopping, "n_iter_no_change": 50, **options}
    sw = _weights(len(y)) if weighted else None
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y, sw)
    assert_same_model(ours, theirs, X, TOL[options["solver"]])


@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
def test_iris_every_activation(activation, solver) -> None:
    X, y = _data("iris")
    params = {"hidden_layer_sizes": (6, 5), "activation": activation, "solver": solver,
              "max_iter": 30, "random_state": 3, "learning_rate_init": 0.02,
              "n_iter_no_change": 50}
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y)
    assert_same_model(ours, theirs, X, TOL[solver])


@pytest.mark.parametrize("name", ["digits", "breast_cancer", "multilabel"])
@pytest.mark.parametrize("options", [{"solver": "adam"}, {"solver": "sgd"}, {"solver": "lbfgs"},
                                     {"solver": "adam", "early_stopping": True},
                                     {"solver": "sgd", "early_stopping": True}], ids=_id)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample_weight"])
def test_classification_sets(name, options, weighted) -> None:
    X, y = _data(name)
    params = {"hidden_layer_sizes": (10,), "max_iter": 30, "random_state": 1,
              "learning_rate_init": 0.01, "n_iter_no_change": 50, **options}
    sw = _weights(len(y)) if weighted else None
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y, sw)
    assert ours.out_activation_ == ("softmax" if name == "digits" else "logistic")
    assert_same_model(ours, theirs, X, TOL[options["solver"]])


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
@pytest.mark.parametrize("options", [{"solver": "adam"}, {"solver": "sgd"}, {"solver": "lbfgs"},
                                     {"solver": "adam", "early_stopping": True},
                                     {"solver": "sgd", "learning_rate": "invscaling",
                                      "early_stopping": True}], ids=_id)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "sample_weight"])
def test_diabetes_regression(loss, options, weighted) -> None:
    X, y = _data("diabetes")
    lr = 0.01 if loss == "squared_error" else 0.001
    params = {"loss": loss, "hidden_layer_sizes": (8,), "max_iter": 30, "random_state": 2,
              "learning_rate_init": lr, "n_iter_no_change": 50, **options}
    sw = _weights(len(y)) if weighted else None
    ours, theirs = _fit_both(MLPRegressor(**params), SkRegressor(**params), X, y, sw)
    assert_same_model(ours, theirs, X, TOL[options["solver"]])


def test_default_stopping_rule_and_adaptive_schedule_stop_at_the_same_epoch() -> None:
    X, y = _data("iris")
    for params in ({"tol": 1e-2, "n_iter_no_change": 2, "solver": "adam"},
                   {"tol": 1e-2, "n_iter_no_change": 2, "solver": "sgd", "learning_rate": "adaptive"},
                   {"tol": 1e-2, "n_iter_no_change": 2, "solver": "adam", "early_stopping": True}):
        params = {"hidden_layer_sizes": (5,), "max_iter": 200, "random_state": 0, **params}
        ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y,
                                 expect_warning=False)
        assert ours.n_iter_ < 200
        assert_same_model(ours, theirs, X, 1e-9)
        assert ours._optimizer.learning_rate == theirs._optimizer.learning_rate


def test_verbose_prints_what_sklearn_prints() -> None:
    X, y = _data("iris")
    outputs = []
    for cls in (MLPClassifier, SkClassifier):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            cls(hidden_layer_sizes=(4,), solver="sgd", learning_rate="adaptive", tol=0.05,
                n_iter_no_change=1, early_stopping=True, max_iter=40, verbose=True,
                random_state=0).fit(X, y)
        outputs.append(buffer.getvalue())
    assert "Iteration 1, loss = " in outputs[0] and "Validation score: " in outputs[0]
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input(fmt) -> None:
    X, y = _data("digits")
    Xs = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    for params in ({"solver": "adam"}, {"solver": "lbfgs"}):
        params = {"hidden_layer_sizes": (9,), "max_iter": 30, "random_state": 0, **params}
        ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), Xs, y)
        assert_same_model(ours, theirs, Xs, TOL[params["solver"]])
        # the same model as from the dense matrix
        dense = MLPClassifier(**params)
        with pytest.warns(ConvergenceWarning):
            dense.fit(X, y)
        assert_same_model(ours, dense, X, TOL[params["solver"]])


def test_partial_fit_and_warm_start_continue_as_sklearn() -> None:
    X, y = _data("iris")
    order = np.random.default_rng(0).permutation(len(y))
    X, y = X[order], y[order]
    params = {"hidden_layer_sizes": (6,), "random_state": 4, "learning_rate_init": 0.01}
    ours, theirs = MLPClassifier(**params), SkClassifier(**params)
    sw = _weights(len(y))
    for est in (ours, theirs):
        for _ in range(4):
            est.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
            est.partial_fit(X[60:], y[60:], sample_weight=sw[60:])
    assert_same_model(ours, theirs, X, 1e-9)

    params = {"hidden_layer_sizes": (6,), "random_state": np.random.RandomState(8),
              "max_iter": 10, "warm_start": True, "solver": "sgd"}
    ours = MLPClassifier(**params)
    params["random_state"] = np.random.RandomState(8)
    theirs = SkClassifier(**params)
    for _ in range(3):
        _fit_both(ours, theirs, X, y)
    assert_same_model(ours, theirs, X, 1e-9)


@pytest.mark.parametrize("solver", ["adam", "sgd"])
def test_dense_sparse_and_pickled_partial_fits_continue_as_sklearn(solver) -> None:
    # the first layer's weights change their memory layout between dense and sparse X
    # (docs/estimators.md); the optimizer's moments have to follow them, also through pickle
    import pickle

    X, y = _data("digits")
    params = {"hidden_layer_sizes": (10, 7), "max_iter": 3, "random_state": 2, "solver": solver}
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y)
    for step, data in enumerate([sp.csr_matrix(X), X, sp.csc_matrix(X), X]):
        if step == 2:
            ours = pickle.loads(pickle.dumps(ours))
        for est in (ours, theirs):
            est.partial_fit(data, y)
        assert_same_model(ours, theirs, X, 1e-9)


def test_assigned_coefs_are_used_by_predict_and_partial_fit() -> None:
    X, y = _data("iris")
    params = {"hidden_layer_sizes": (5,), "max_iter": 5, "random_state": 0}
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y)
    rng = np.random.default_rng(1)
    new_coefs = [rng.standard_normal(c.shape) for c in theirs.coefs_]
    for est in (ours, theirs):
        est.coefs_ = [c.copy() for c in new_coefs]
        est.intercepts_[1] = est.intercepts_[1] + 0.5
    assert_same_model(ours, theirs, X, 1e-12)
    for est in (ours, theirs):
        est.coefs_[0][0, 0] = 3.0  # in place, too
        est.partial_fit(X, y)
    assert_same_model(ours, theirs, X, 1e-9)


def test_float32_trains_in_float32_like_sklearn() -> None:
    X, y = _data("iris")
    X32 = X.astype(np.float32)
    params = {"hidden_layer_sizes": (6,), "max_iter": 30, "random_state": 0,
              "learning_rate_init": 0.01}
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X32, y)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    assert ours.predict_proba(X32).dtype == np.float32
    # float32 rounding differs in summation order only
    assert_same_model(ours, theirs, X32, 1e-4)


def test_sklearn_messages() -> None:
    X, y = _data("iris")
    for cls in (MLPClassifier, SkClassifier):
        with pytest.raises(ValueError, match="The validation set is too small"):
            cls(early_stopping=True, validation_fraction=0.01).fit(X[:20], y[:20])
        est = cls(hidden_layer_sizes=(3,), max_iter=2, warm_start=True, random_state=0)
        with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(2\) reached"):
            est.fit(X, y)
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the same"):
            est.fit(X[y < 2], y[y < 2])
        regressor = MLPRegressor if cls is MLPClassifier else SkRegressor
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if regressor is SkRegressor:  # scikit-learn's overflows warn on the way
                    warnings.simplefilter("ignore", RuntimeWarning)
                regressor(solver="sgd", learning_rate_init=1e3, max_iter=20).fit(X * 100, y * 1e3)
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            cls(solver="lbfgs", max_iter=3).fit(X, y)
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
            cls(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])
        with pytest.raises(ValueError, match="The 'solver' parameter of"):
            cls(solver="rmsprop").fit(X, y)
    # n_iter_no_change=np.inf: never stops on its own, as scikit-learn's
    params = {"hidden_layer_sizes": (3,), "max_iter": 12, "tol": 10.0, "n_iter_no_change": np.inf,
              "random_state": 0}
    ours, theirs = _fit_both(MLPClassifier(**params), SkClassifier(**params), X, y)
    assert ours.n_iter_ == 12
    assert_same_model(ours, theirs, X, 1e-9)
