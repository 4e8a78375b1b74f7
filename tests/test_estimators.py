"""fcnn.estimators: scikit-learn's own estimator checks, equivalence with
fcnn.train, partial_fit, pickling, labels, dtypes, and accuracy against
scikit-learn's MLP."""

from __future__ import annotations

import copy
import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine, make_regression
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPClassifier as SklearnMLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fcnn
from fcnn import estimators
from fcnn.estimators import MLPClassifier, MLPRegressor

# Short runs end before converging; the tests that mean to see the warning use pytest.warns.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Small networks and few epochs keep the ~55 checks per instance to about a second.
SMALL = {"hidden_layer_sizes": (16,), "max_iter": 50, "learning_rate_init": 0.01, "random_state": 0}


@pytest.fixture(autouse=True)
def _scipy_array_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # scikit-learn's check_array_api_input (run on NumPy input for every
    # estimator) skips itself unless SCIPY_ARRAY_API is set; set it so that it
    # runs instead of being reported as skipped.
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@parametrize_with_checks(
    [
        MLPClassifier(**SMALL),
        MLPRegressor(**SMALL),
        MLPClassifier(**SMALL, activation="leaky_relu", dropout=0.1, solver="sgd"),
        MLPClassifier(**SMALL, activation="tanh", solver="adamw", dtype="float32"),
        MLPRegressor(**SMALL, activation="logistic", solver="sgd", alpha=1e-3),
    ],
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


# -- the estimator is fcnn.train -------------------------------------------------------


def _train_by_hand(X, y, *, seed, sizes, loss, activation="relu", dropout=0.0, solver="adam",
                   lr=1e-2, alpha=0.0, batch_size=32, epochs=30, **train_kwargs):
    rng = np.random.default_rng(seed)
    model = fcnn.mlp(sizes, activation, dropout=dropout, rng=rng)
    if solver == "sgd":
        optimizer = fcnn.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True,
                             weight_decay=alpha / batch_size)
    else:
        optimizer = fcnn.Adam(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                              weight_decay=alpha / batch_size)
    history = fcnn.train(model, loss, optimizer, X, y, epochs=epochs, batch_size=batch_size,
                         progress=False, rng=rng, **train_kwargs)
    return model, history


@pytest.mark.parametrize(
    "options",
    [
        {"solver": "adam", "alpha": 0.0, "dropout": 0.0, "activation": "relu"},
        {"solver": "sgd", "alpha": 0.05, "dropout": 0.2, "activation": "leaky_relu"},
    ],
)
def test_classifier_fit_is_fcnn_train_bit_for_bit(iris, options) -> None:
    X, y = iris
    # n_iter_no_change above max_iter: scikit-learn's stopping rule never fires
    est = MLPClassifier(hidden_layer_sizes=(12, 8), batch_size=32, learning_rate_init=1e-2,
                        max_iter=30, n_iter_no_change=100, random_state=7, **options)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(30\)"):
        est.fit(X, y)
    model, history = _train_by_hand(X, y, seed=7, sizes=[4, 12, 8, 3], loss=fcnn.NLLLoss(),
                                     lr=1e-2, batch_size=32, epochs=30, **options)
    assert est.loss_curve_ == history.loss
    assert est.n_iter_ == 30 and est.t_ == 30 * 150
    for p_est, p_hand in zip(est.model_.parameters(), model.parameters(), strict=True):
        assert_array_equal(p_est.weights, p_hand.weights)
    assert_array_equal(est.predict_proba(X), fcnn.softmax(fcnn.predict(model, X)))
    assert est.best_loss_ == min(history.loss)


def test_regressor_fit_is_fcnn_train_bit_for_bit() -> None:
    X, y = make_regression(120, 5, noise=1.0, random_state=0)
    y = y / y.std()
    est = MLPRegressor(hidden_layer_sizes=(10,), batch_size=16, learning_rate_init=1e-2,
                       max_iter=20, n_iter_no_change=100, alpha=0.01, random_state=3)
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    model, history = _train_by_hand(X, y, seed=3, sizes=[5, 10, 1], loss=fcnn.MSELoss(),
                                    alpha=0.01, batch_size=16, epochs=20)
    assert est.loss_curve_ == history.loss
    prediction = est.predict(X)
    assert prediction.shape == (120,)
    assert_array_equal(prediction, fcnn.predict(model, X).ravel())


def test_early_stopping_is_train_validation_split_with_sklearn_rule(iris) -> None:
    X, y = iris
    kwargs = {"hidden_layer_sizes": (8,), "batch_size": 16, "learning_rate_init": 3e-2,
              "max_iter": 60, "n_iter_no_change": 4, "tol": 1e-4, "random_state": 11}
    est = MLPClassifier(early_stopping=True, validation_fraction=0.2, **kwargs).fit(X, y)

    snapshots = []

    def remember(epoch, logs):
        snapshots.append([p.weights.copy() for p in model.parameters()])

    rng = np.random.default_rng(11)
    model = fcnn.mlp([4, 8, 3], rng=rng)
    optimizer = fcnn.Adam(model.parameters(), lr=3e-2, weight_decay=1e-4 / 16)
    history = fcnn.train(model, fcnn.NLLLoss(), optimizer, X, y, epochs=60, batch_size=16,
                         validation_split=0.2, callbacks=[remember], progress=False, rng=rng)
    accuracy = history.history["val_accuracy"]
    # scikit-learn's rule, from its documentation: stop once the score has not
    # improved by tol for more than n_iter_no_change epochs; keep the best weights.
    best, count, stop_epoch, best_epoch = -np.inf, 0, None, None
    for epoch, score in enumerate(accuracy, 1):
        count = count + 1 if score < best + 1e-4 else 0
        if score > best:
            best, best_epoch = score, epoch
        if count > 4:
            stop_epoch = epoch
            break
    assert stop_epoch is not None and stop_epoch < 60

    assert est.n_iter_ == stop_epoch
    assert est.validation_scores_ == accuracy[:stop_epoch]
    assert est.validation_loss_curve_ == history.history["val_loss"][:stop_epoch]
    assert est.loss_curve_ == history.loss[:stop_epoch]
    assert est.best_validation_score_ == best
    assert est.best_loss_ is None
    for p, w in zip(est.model_.parameters(), snapshots[best_epoch - 1], strict=True):
        assert_array_equal(p.weights, w)


def test_tol_stops_training_without_a_convergence_warning(iris) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), tol=10.0, n_iter_no_change=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.fit(X, y)
    # the first epoch improves on best_loss_=inf; none after it can improve by
    # 10, so the count of epochs without improvement passes 3 at the 5th epoch
    assert est.n_iter_ == 5
    assert len(est.loss_curve_) == 5
    assert est.validation_scores_ is None and est.validation_loss_curve_ is None


def test_verbose_shows_the_progress_bar_and_the_stopping_reason(iris, monkeypatch, capsys):
    X, y = iris
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs["progress"])
        return fcnn.train(*args, **kwargs)

    monkeypatch.setattr(estimators, "train", spy)
    MLPClassifier(hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=1, random_state=0).fit(X, y)
    MLPClassifier(hidden_layer_sizes=(4,), tol=10.0, n_iter_no_change=1, verbose=True,
                  random_state=0).fit(X, y)
    assert calls == [False, True]
    out = capsys.readouterr().out
    assert out.count("Training loss did not improve more than tol=10.000000") == 1


def test_same_seed_same_bits_and_random_state_objects(iris) -> None:
    X, y = iris
    kwargs = {"hidden_layer_sizes": (8,), "max_iter": 5, "dropout": 0.3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(random_state=5, **kwargs).fit(X, y)
        b = MLPClassifier(random_state=5, **kwargs).fit(X, y)
        c = MLPClassifier(random_state=np.random.RandomState(5), **kwargs).fit(X, y)
        d = MLPClassifier(random_state=np.random.RandomState(5), **kwargs).fit(X, y)
        e = MLPClassifier(random_state=6, **kwargs).fit(X, y)
    for first, second in ((a, b), (c, d)):
        assert first.loss_curve_ == second.loss_curve_
        for w1, w2 in zip(first.coefs_, second.coefs_, strict=True):
            assert_array_equal(w1, w2)
    assert not np.array_equal(a.coefs_[0], e.coefs_[0])


# -- partial_fit and pickling ------------------------------------------------------------


def test_partial_fit_is_one_epoch_of_train_per_call(iris) -> None:
    X, y = iris
    chunks = [slice(0, 50), slice(50, 150)]
    order = np.random.default_rng(0).permutation(150)  # every chunk holds every class
    X, y = X[order], y[order]
    est = MLPClassifier(hidden_layer_sizes=(8,), batch_size=25, random_state=2)
    for _ in range(3):
        for chunk in chunks:
            est.partial_fit(X[chunk], y[chunk], classes=[0, 1, 2])
    rng = np.random.default_rng(2)
    model = fcnn.mlp([4, 8, 3], rng=rng)
    optimizer = fcnn.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4 / 25)
    losses = []
    for _ in range(3):
        for chunk in chunks:
            history = fcnn.train(model, fcnn.NLLLoss(), optimizer, X[chunk], y[chunk], epochs=1,
                                 batch_size=25, progress=False, rng=rng)
            losses += history.loss
    assert est.loss_curve_ == losses
    assert est.n_iter_ == 6 and est.t_ == 3 * 150
    for p_est, p_hand in zip(est.model_.parameters(), model.parameters(), strict=True):
        assert_array_equal(p_est.weights, p_hand.weights)


def test_partial_fit_needs_classes_first_and_rejects_unknown_labels(iris) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), random_state=0)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        est.partial_fit(X, y)
    est.partial_fit(X[y < 2], y[y < 2], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.predict_proba(X).shape == (150, 3)
    with pytest.raises(ValueError, match=r"labels \[7\] that are not in classes_"):
        est.partial_fit(X[:3], [0, 7, 1])
    with pytest.raises(ValueError, match="not the same as on the first call"):
        est.partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="does not support early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("roundtrip", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_pickled_estimator_keeps_training_exactly(iris, roundtrip) -> None:
    X, y = iris
    straight = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e-2, random_state=4)
    moved = clone(straight)
    straight.partial_fit(X, y, classes=[0, 1, 2])
    moved.partial_fit(X, y, classes=[0, 1, 2])
    moved = roundtrip(moved)
    assert_array_equal(moved.predict_proba(X), straight.predict_proba(X))
    for _ in range(3):
        straight.partial_fit(X, y)
        moved.partial_fit(X, y)
    # a copy whose optimizer had lost track of the weights would not have moved
    for w1, w2 in zip(moved.coefs_, straight.coefs_, strict=True):
        assert_array_equal(w1, w2)
    assert moved.loss_curve_ == straight.loss_curve_


def test_fitted_attributes_and_unfitted_errors(iris) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(6, 5), max_iter=3, random_state=0)
    with pytest.raises(NotFittedError):
        est.predict(X)
    with pytest.raises(NotFittedError):
        est.coefs_  # noqa: B018
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert isinstance(est.model_, fcnn.Sequential)
    assert [w.shape for w in est.coefs_] == [(4, 6), (6, 5), (5, 3)]
    assert [b.shape for b in est.intercepts_] == [(6,), (5,), (3,)]
    assert est.n_layers_ == 4 and est.n_outputs_ == 3 and est.out_activation_ == "softmax"
    assert est.n_features_in_ == 4 and not hasattr(est, "feature_names_in_")
    assert est.loss_ == est.loss_curve_[-1]
    with pytest.raises(ValueError, match="read-only"):
        est.coefs_[0][0, 0] = 1.0


def test_feature_names_in_from_a_dataframe() -> None:
    data = load_iris(as_frame=True)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(data.data, data.target)
    assert_array_equal(est.feature_names_in_, data.data.columns)
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(data.data.to_numpy())


# -- labels, targets, dtypes ---------------------------------------------------------------


def test_string_and_non_contiguous_labels(iris) -> None:
    X, y = iris
    names = np.array(["virginica", "setosa", "versicolor"])[y]  # not in sorted order
    est = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=1e-2, random_state=0)
    est.fit(X, names)
    assert_array_equal(est.classes_, ["setosa", "versicolor", "virginica"])
    assert est.score(X, names) > 0.95
    proba = est.predict_proba(X)
    assert_array_equal(est.classes_[proba.argmax(axis=1)], est.predict(X))

    gappy = np.array([3, 10, 7])[y]
    est = MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=1e-2, random_state=0)
    est.fit(X, gappy)
    assert_array_equal(est.classes_, [3, 7, 10])
    assert set(np.unique(est.predict(X))) <= {3, 7, 10}
    assert est.score(X, gappy) > 0.95


def test_binary_probabilities(iris) -> None:
    X, y = iris
    binary = np.where(y == 0, "no", "yes")
    est = MLPClassifier(hidden_layer_sizes=(8,), learning_rate_init=1e-2, random_state=0)
    est.fit(X, binary)
    proba = est.predict_proba(X)
    assert proba.shape == (150, 2)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert_allclose(np.exp(est.predict_log_proba(X)), proba, rtol=1e-12)
    assert est.score(X, binary) == 1.0  # setosa is linearly separable


def test_column_vector_y_warns_like_sklearn(iris) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        est.fit(X, y.reshape(-1, 1))
    with pytest.raises(ValueError, match="y should be a 1d array"):
        est.fit(X, np.eye(3)[y])


def test_regressor_target_shapes() -> None:
    X, Y = make_regression(80, 4, n_targets=3, random_state=0)
    Y = Y / Y.std(axis=0)
    kwargs = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert MLPRegressor(**kwargs).fit(X, Y[:, 0]).predict(X).shape == (80,)
        assert MLPRegressor(**kwargs).fit(X, Y[:, :1]).predict(X).shape == (80, 1)
        est = MLPRegressor(**kwargs).fit(X, Y)
    assert est.predict(X).shape == (80, 3)
    assert est.n_outputs_ == 3 and est.out_activation_ == "identity"
    with pytest.raises(ValueError, match="y has 1 output"):
        est.partial_fit(X, Y[:, 0])


def test_float32_stays_float32(iris) -> None:
    X, y = iris
    X32 = X.astype(np.float32)
    kwargs = {"hidden_layer_sizes": (8,), "max_iter": 3, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(**kwargs).fit(X32, y)
        forced = MLPClassifier(dtype="float32", **kwargs).fit(X, y)
        from_ints = MLPClassifier(**kwargs).fit((X * 10).astype(np.int64), y)
        reg = MLPRegressor(**kwargs).fit(X32[:, :3], X32[:, 3])
        pipe = make_pipeline(StandardScaler(), MLPClassifier(**kwargs)).fit(X32, y)
    for est in (clf, forced):
        assert est.model_.dtype == np.float32
        assert all(w.dtype == np.float32 for w in est.coefs_ + est.intercepts_)
        assert est.predict_proba(X).dtype == np.float32
        assert_allclose(est.predict_proba(X32).sum(axis=1), 1.0, rtol=1e-6)
    assert from_ints.model_.dtype == np.float64
    assert reg.model_.dtype == np.float32 and reg.predict(X32[:, :3]).dtype == np.float32
    # StandardScaler keeps float32, so the pipeline's network is float32 too
    assert pipe[-1].model_.dtype == np.float32
    # float32 and float64 training agree to float32 precision on the first steps
    assert_allclose(clf.loss_curve_, MLPClassifier(**kwargs).fit(X, y).loss_curve_, rtol=1e-4)


@pytest.mark.parametrize(
    ("param", "value", "match"),
    [
        ("hidden_layer_sizes", (10, 0), "hidden_layer_sizes must be a positive int"),
        ("hidden_layer_sizes", "wide", "hidden_layer_sizes must be a positive int"),
        ("activation", "identity", "activation must be one of"),
        ("solver", "lbfgs", "solver='lbfgs' is not offered"),
        ("solver", "rmsprop", "solver must be one of"),
        ("batch_size", 0, "batch_size must be an int >= 1"),
        ("max_iter", 2.5, "max_iter must be an int >= 1"),
        ("alpha", -1.0, r"alpha must be a real number in \[0.0, inf\]"),
        ("learning_rate_init", 0.0, "learning_rate_init must be a real number in"),
        ("dropout", 1.0, r"dropout must be a real number in \[0.0, 1.0\)"),
        ("validation_fraction", 1.0, "validation_fraction must be a real number in"),
        ("beta_2", 1.0, "beta_2 must be a real number in"),
        ("dtype", "int32", "dtype must be None"),
        ("init", "zeros", "init must be one of"),
    ],
)
def test_bad_hyperparameters_are_reported_at_fit(iris, param, value, match) -> None:
    X, y = iris
    est = MLPClassifier(**{param: value})  # __init__ only stores
    assert est.get_params()[param] == value
    with pytest.raises(ValueError, match=match):
        est.fit(X, y)


def test_early_stopping_needs_a_real_validation_set() -> None:
    X = np.arange(20.0).reshape(10, 2)
    with pytest.raises(ValueError, match=r"validation set of 1 .* Increase validation_fraction"):
        MLPRegressor(early_stopping=True).fit(X, X[:, 0])


def test_batch_size_above_sample_count_is_clipped_with_a_warning(iris) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(4,), batch_size=1000, max_iter=2, random_state=0)
    with pytest.warns(UserWarning, match="batch_size=1000 larger than the sample size"):
        est.fit(X, y)


# -- scikit-learn tooling ------------------------------------------------------------------


def test_pipeline_grid_search_cross_val_score_and_clone() -> None:
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(max_iter=60, learning_rate_init=1e-2, random_state=0))])
    grid = {"mlp__hidden_layer_sizes": [(4,), (16,)], "mlp__activation": ["relu", "leaky_relu"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
        scores = cross_val_score(search.best_estimator_, X, y,
                                 cv=KFold(3, shuffle=True, random_state=0))
    assert search.best_score_ > 0.9
    assert_allclose(scores.mean(), search.best_score_, rtol=1e-12)
    fresh = clone(search.best_estimator_)
    assert fresh.get_params()["mlp__hidden_layer_sizes"] == search.best_params_[
        "mlp__hidden_layer_sizes"]
    assert not hasattr(fresh[-1], "model_")


def test_model_ships_with_fcnn_save(iris, tmp_path) -> None:
    X, y = iris
    est = MLPClassifier(hidden_layer_sizes=(8,), dropout=0.1, learning_rate_init=1e-2,
                        random_state=0)
    est.fit(X, y)
    fcnn.save(est.model_, tmp_path / "iris.safetensors", classes=est.classes_.tolist())
    loaded = fcnn.load(tmp_path / "iris.safetensors")
    assert_array_equal(fcnn.predict(loaded, X), fcnn.predict(est.model_, X))


@pytest.mark.parametrize("load", [load_iris, load_wine])
def test_accuracy_on_par_with_sklearn_mlp(load) -> None:
    X, y = load(return_X_y=True)
    params = {"hidden_layer_sizes": (100,), "solver": "adam", "alpha": 1e-4,
              "learning_rate_init": 1e-3, "max_iter": 200, "random_state": 0}
    cv = KFold(5, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(**params)), X, y,
                               cv=cv)
        theirs = cross_val_score(
            make_pipeline(StandardScaler(), SklearnMLPClassifier(**params)), X, y, cv=cv)
    assert ours.mean() >= theirs.mean() - 0.02, (ours.mean(), theirs.mean())
    assert ours.mean() > 0.9
