"""fcnn.estimators: scikit-learn's estimator checks, the constructor, the engine's
gradients, fcnn's additions (activations, dropout, dtype, class_weight,
callbacks, progress, model_), sparse input, pickling and scikit-learn's tooling.
Numerical agreement with scikit-learn lives in test_estimators_fidelity.py."""

from __future__ import annotations

import copy
import inspect
import os
import pickle
import tracemalloc
import warnings
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_iris, make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.neural_network import MLPClassifier as SkClassifier
from sklearn.neural_network import MLPRegressor as SkRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fcnn
from fcnn.estimators import MLPClassifier, MLPRegressor
from fcnn.estimators._engine import ACTIVATIONS, Engine
from fcnn.gradcheck import numerical_gradient
from fcnn.training import Callback

# Short runs end before converging; the tests that mean to see the warning use pytest.warns.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SMALL = {"hidden_layer_sizes": (16,), "max_iter": 50, "learning_rate_init": 0.01, "random_state": 0}


@pytest.fixture(autouse=True)
def _scipy_array_api(monkeypatch: pytest.MonkeyPatch) -> None:
    # scikit-learn's check_array_api_input skips itself unless SCIPY_ARRAY_API is set
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


@pytest.fixture(scope="module")
def iris() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@parametrize_with_checks(
    [
        MLPClassifier(**SMALL),
        MLPRegressor(**SMALL),
        MLPClassifier(**{**SMALL, "max_iter": 20}, solver="lbfgs"),
        MLPRegressor(**SMALL, solver="sgd", learning_rate="adaptive", activation="tanh"),
        MLPClassifier(**SMALL, activation="leaky_relu", dropout=0.1, solver="sgd"),
        MLPRegressor(**SMALL, activation="gelu", norm="layer", batch_size=32),
        MLPClassifier(**SMALL, activation="silu", batch_size=32),
        MLPClassifier(**SMALL, norm="batch"),
    ],
)
def test_sklearn_estimator_checks(estimator, check) -> None:
    check(estimator)


# -- the constructor is scikit-learn's, then fcnn's additions ------------------------------


@pytest.mark.parametrize(("ours", "theirs", "additions"), [
    (MLPClassifier, SkClassifier,
     ["dropout", "norm", "dtype", "class_weight", "callbacks", "progress"]),
    (MLPRegressor, SkRegressor, ["dropout", "norm", "dtype", "callbacks", "progress"]),
])
def test_constructor_is_sklearns_then_fcnns_additions(ours, theirs, additions) -> None:
    mine = inspect.signature(ours).parameters
    reference = inspect.signature(theirs).parameters
    assert list(mine)[: len(reference)] == list(reference)
    assert list(mine)[len(reference):] == additions
    for name, parameter in reference.items():
        assert mine[name].default == parameter.default, name
        assert mine[name].kind == parameter.kind, name
    assert ours().get_params().keys() == set(mine)


@pytest.mark.parametrize(("param", "value", "words"), [
    ("activation", "swish", "'activation' parameter of MLPClassifier must be a str among"),
    ("solver", "rmsprop", "'solver' parameter"),
    ("learning_rate", "cosine", "'learning_rate' parameter"),
    ("n_iter_no_change", 0, "'n_iter_no_change' parameter"),
    ("dropout", 1.0, "'dropout' parameter"),
    ("dtype", "int32", "'dtype' parameter"),
    ("class_weight", "even", "'class_weight' parameter"),
])
def test_unsupported_values_are_value_errors_naming_what_is_supported(iris, param, value, words):
    X, y = iris
    est = MLPClassifier(**{param: value})  # __init__ only stores
    with pytest.raises(ValueError, match=words):
        est.fit(X, y)


def test_dropout_needs_a_stochastic_solver(iris) -> None:
    with pytest.raises(ValueError, match=r"dropout=0\.2 needs a stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(*iris)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_norm_layers_train_with_lbfgs(iris, norm) -> None:
    X, y = iris
    sw = np.random.default_rng(0).integers(1, 4, len(y)).astype(float)
    est = MLPClassifier(hidden_layer_sizes=(8, 5), solver="lbfgs", max_iter=60, random_state=0,
                        norm=norm).fit(X, y, sample_weight=sw)
    assert est.n_iter_ > 10 and est.score(X, y) > 0.95
    first = est._norms[0]
    # the normalization layers' parameters were trained along with the weights
    assert not np.allclose(first.weight.weights, 1.0)
    assert_allclose(fcnn.softmax(fcnn.predict(est.model_, X)), est.predict_proba(X), rtol=1e-12)
    if norm == "batch":
        # running statistics: the whole (weighted) batch's at the final weights
        Z = X @ est.coefs_[0] + est.intercepts_[0]
        mean = np.average(Z, axis=0, weights=sw)
        W = sw.sum()
        var = (sw[:, None] * (Z - mean) ** 2).sum(axis=0) / (W - 1)
        assert_allclose(first.running_mean, mean, rtol=1e-12, atol=1e-12)
        assert_allclose(first.running_var, var, rtol=1e-12)
        assert int(first.num_batches_tracked) == 1
        assert first.momentum == 0.1  # restored


# -- the engine's gradients ------------------------------------------------------------------


@pytest.mark.parametrize("activation", sorted(set(ACTIVATIONS) - {"sigmoid"}))
@pytest.mark.parametrize(("out", "loss"), [("softmax", "log_loss"), ("logistic", "binary_log_loss"),
                                           ("identity", "squared_error"), ("exp", "poisson")])
def test_engine_gradient_matches_central_differences(activation, out, loss) -> None:
    _check_engine_gradient(activation, out, loss, None)


@pytest.mark.parametrize("norm", ["batch", "layer"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
def test_engine_gradient_with_norm_layers(activation, norm) -> None:
    _check_engine_gradient(activation, "softmax", "log_loss", norm)


def _check_engine_gradient(activation, out, loss, norm) -> None:
    rng = np.random.default_rng(0)
    # scikit-learn's squared error averages over the outputs but its delta does not
    # (the gradient is n_outputs times the loss's): one output keeps them consistent
    n, units = 7, [3, 5, 4, 1 if loss == "squared_error" else 3]
    norms = None
    if norm is not None:
        layer = fcnn.BatchNorm1d if norm == "batch" else fcnn.LayerNorm
        norms = [layer(u) for u in units[1:-1]]
    engine = Engine(units, activation, out, loss, alpha=0.3, dtype=np.float64, norms=norms)
    engine.flat[:] = rng.uniform(-0.8, 0.8, engine.flat.size)
    X = rng.standard_normal((n, units[0]))
    labels = rng.integers(0, 3, n)
    if loss in ("log_loss", "binary_log_loss"):
        Y = np.eye(3, dtype=bool)[labels]
    else:
        Y = rng.uniform(0.1, 2.0, (n, units[-1]))
    sw = rng.uniform(0.5, 2.0, n)
    lab = labels if loss == "log_loss" else None
    engine.backprop(X, Y, lab, sw)
    analytic = engine.grad.copy()
    numeric = np.empty_like(analytic)
    h = 1e-6
    for k in range(engine.flat.size):
        keep = engine.flat[k]
        engine.flat[k] = keep + h
        up = engine.backprop(X, Y, lab, sw)
        engine.flat[k] = keep - h
        down = engine.backprop(X, Y, lab, sw)
        engine.flat[k] = keep
        numeric[k] = (up - down) / (2 * h)
    assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["leaky_relu", "elu", "gelu", "silu", "tanh", "logistic", "relu"])
def test_engine_activations_are_fcnns_layers(name) -> None:
    X = np.linspace(-6, 6, 61).reshape(-1, 1) * np.ones((1, 3))
    Z = X.copy()
    ACTIVATIONS[name].forward(Z)
    layer = fcnn.LeakyReLU(0.01) if name == "leaky_relu" else fcnn.registry.ACTIVATIONS[name]()
    assert_allclose(Z, layer.forward(X.copy()), rtol=1e-13, atol=1e-15)


# -- fcnn's additions --------------------------------------------------------------------------


def test_binary_is_one_logistic_unit_and_multilabel_logistic_units(iris) -> None:
    X, y = iris
    binary = np.where(y == 0, "no", "yes")
    est = MLPClassifier(**SMALL).fit(X, binary)
    assert est.out_activation_ == "logistic" and est.coefs_[-1].shape == (16, 1)
    proba = est.predict_proba(X)
    assert proba.shape == (150, 2)
    assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
    assert est.score(X, binary) == 1.0  # setosa is linearly separable
    Xm, Ym = make_multilabel_classification(80, 6, n_classes=3, random_state=0)
    multi = MLPClassifier(**SMALL).fit(Xm, Ym)
    assert multi.out_activation_ == "logistic" and multi.n_outputs_ == 3
    assert multi.predict(Xm).shape == (80, 3) and set(np.unique(multi.predict(Xm))) <= {0, 1}


def test_class_weight_is_sample_weight_by_class(iris) -> None:
    X, y = iris
    weights = {0: 3.0, 1: 1.0, 2: 0.5}
    a = MLPClassifier(**SMALL, class_weight=weights).fit(X, y)
    b = MLPClassifier(**SMALL).fit(X, y, sample_weight=np.array([weights[c] for c in y]))
    for w1, w2 in zip(a.coefs_, b.coefs_, strict=True):
        assert_array_equal(w1, w2)
    balanced = MLPClassifier(**SMALL, class_weight="balanced")
    with pytest.raises(ValueError, match="'balanced' is not supported for partial_fit"):
        balanced.partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("activation", ["leaky_relu", "elu", "gelu", "silu"])
def test_fcnn_activations_learn(iris, activation) -> None:
    X, y = iris
    est = MLPClassifier(**{**SMALL, "max_iter": 200}, activation=activation).fit(X, y)
    assert est.score(X, y) > 0.9


def test_dropout_is_repeatable_and_off_in_prediction(iris) -> None:
    X, y = iris
    a = MLPClassifier(**{**SMALL, "max_iter": 200}, dropout=0.3).fit(X, y)
    b = MLPClassifier(**{**SMALL, "max_iter": 200}, dropout=0.3).fit(X, y)
    plain = MLPClassifier(**{**SMALL, "max_iter": 200}).fit(X, y)
    assert a.loss_curve_ == b.loss_curve_
    assert a.loss_curve_ != plain.loss_curve_
    assert_array_equal(a.predict_proba(X), a.predict_proba(X))
    assert a.score(X, y) > 0.9


def test_dropout_masks_follow_the_row_so_weights_equal_repeats() -> None:
    # a row weighted k trains as k copies of it, weight 0 as no row, with dropout on:
    # the masks are drawn from each row's values, not from its position in the data
    rng = np.random.RandomState(3)
    X, y = rng.rand(24, 5), np.arange(24) % 3
    sw = rng.randint(0, 4, size=24)
    params = {"hidden_layer_sizes": (12, 7), "dropout": 0.4,
              "max_iter": 40, "random_state": 1, "solver": "sgd", "learning_rate_init": 0.05}
    repeated = MLPClassifier(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9, atol=1e-12)
    plain = MLPClassifier(**{**params, "dropout": 0.0}).fit(X, y, sample_weight=sw)
    assert not np.allclose(plain.predict_proba(X), weighted.predict_proba(X), atol=1e-4)
    # the same rows dense or sparse get the same masks, so the same model
    sparse = MLPClassifier(**params).fit(sp.csr_matrix(X), y, sample_weight=sw)
    assert_allclose(sparse.predict_proba(X), weighted.predict_proba(X), rtol=1e-9, atol=1e-12)


def test_dropout_masks_keep_the_right_share_and_change_every_epoch() -> None:
    from fcnn.estimators import _engine

    X = np.random.default_rng(0).standard_normal((4000, 6))
    engine = Engine([6, 50, 2], "relu", "softmax", "log_loss", 0.0, np.float64, dropout=0.3)
    engine._buffers(4000)
    A = np.ones((4000, 50))
    keys = _engine.row_keys(X, seed=5)
    assert len(np.unique(keys)) == 4000
    engine.dropout_keys = keys
    first = engine._drop(0, A, 4000).copy()
    kept = first > 0
    assert abs(kept.mean() - 0.7) < 0.01  # 200,000 draws: 5 standard deviations is 0.005
    assert set(np.unique(first)) == {0.0, 1 / 0.7}
    # per unit and per row the share is right too: no column or row is always kept
    assert abs(kept.mean(axis=0) - 0.7).max() < 0.05
    assert 0 < kept.mean(axis=1).min() and kept.mean(axis=1).max() < 1
    # an identical row has an identical key; a shifted epoch key, a fresh mask
    assert _engine.row_keys(X[[7, 7]], seed=5)[0] == keys[7]
    engine.dropout_keys = _engine._mix(keys ^ np.uint64(12345))
    again = engine._drop(0, A, 4000) > 0
    assert abs((again == kept).mean() - (0.7**2 + 0.3**2)) < 0.01  # independent masks


def test_dropout_fits_repeat_and_partial_fits_move_on(iris) -> None:
    X, y = iris
    params = {**SMALL, "dropout": 0.3, "max_iter": 5}
    a = MLPClassifier(**params).fit(X, y)
    first = a.loss_curve_.copy()
    a.fit(X, y)  # a refit starts over: the same masks, the same model
    assert a.loss_curve_ == first
    b = MLPClassifier(**params)
    losses = [b.partial_fit(X, y, classes=[0, 1, 2]).loss_ for _ in range(3)]
    c = MLPClassifier(**params)
    c.partial_fit(X, y, classes=[0, 1, 2])
    # a second partial_fit on the same data draws new masks (the epoch counts on)
    d = copy.deepcopy(c)
    d._dropout_epochs = 0
    assert c.partial_fit(X, y).loss_ != d.partial_fit(X, y).loss_
    assert len(set(losses)) == 3


@pytest.mark.parametrize("norm", ["batch", "layer"])
def test_norm_layers_train_predict_and_travel(iris, norm, tmp_path) -> None:
    X, y = iris
    est = MLPClassifier(**{**SMALL, "hidden_layer_sizes": (8, 6), "max_iter": 100}, norm=norm)
    est.fit(X, y)
    assert est.score(X, y) > 0.9
    kinds = [type(layer).__name__ for layer in est.model_.layers]
    expected = "BatchNorm1d" if norm == "batch" else "LayerNorm"
    assert kinds == ["Linear", expected, "ReLU", "Linear", expected, "ReLU", "Linear"]
    assert_allclose(fcnn.softmax(fcnn.predict(est.model_, X)), est.predict_proba(X), rtol=1e-12)
    moved = pickle.loads(pickle.dumps(est))
    assert_array_equal(moved.predict_proba(X), est.predict_proba(X))
    moved.partial_fit(X, y)
    est.partial_fit(X, y)
    assert_array_equal(moved.predict_proba(X), est.predict_proba(X))
    # early stopping restores the normalization layers of the best epoch too
    snapshots = []
    best = MLPClassifier(**{**SMALL, "max_iter": 100}, norm=norm, early_stopping=True,
                         callbacks=[lambda epoch, logs: snapshots.append(best.predict_proba(X))])
    best.fit(X, y)
    assert best.n_iter_ < 100
    best_epoch = int(np.argmax(best.validation_scores_))
    assert_array_equal(best.predict_proba(X), snapshots[best_epoch])


def test_batch_norm_weights_equal_repeats() -> None:
    # BatchNorm1d's batch statistics take sample_weight as frequency weights: a row
    # weighted k trains as k copies of it, weight 0 as no row (one full batch: < 200 rows)
    rng = np.random.RandomState(5)
    X, y = rng.rand(30, 5), np.arange(30) % 3
    sw = rng.randint(0, 4, size=30)
    sw[:3] = 0, 3, 0
    params = {"hidden_layer_sizes": (12, 7), "norm": "batch", "max_iter": 40, "random_state": 2,
              "learning_rate_init": 0.01}
    repeated = MLPClassifier(**params).fit(X.repeat(sw, axis=0), y.repeat(sw))
    weighted = MLPClassifier(**params).fit(X, y, sample_weight=sw)
    assert repeated.n_iter_ == weighted.n_iter_ == 40
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-9, atol=1e-12)
    for mine, theirs in zip(weighted._norms, repeated._norms, strict=True):
        assert int(mine.num_batches_tracked) == int(theirs.num_batches_tracked) == 40
        # (the statistics are of order 1; 40 Adam steps amplify the sums' rounding to ~1e-10)
        assert_allclose(mine.running_mean, theirs.running_mean, rtol=1e-9, atol=1e-9)
        assert_allclose(mine.running_var, theirs.running_var, rtol=1e-9, atol=1e-9)
    # rows of weight 0 are absent rows
    absent = MLPClassifier(**params).fit(X[sw > 0], y[sw > 0], sample_weight=sw[sw > 0])
    assert_allclose(absent.predict_proba(X), weighted.predict_proba(X), rtol=1e-9, atol=1e-12)
    # the weights do reach the statistics: without them, another model
    unweighted_stats = MLPClassifier(**params).fit(X, y)
    assert not np.allclose(unweighted_stats._norms[0].running_mean, weighted._norms[0].running_mean,
                           atol=1e-3)


def _relative_error(analytic, numeric) -> float:
    return float(np.max(np.abs(analytic - numeric)) / np.max(np.abs(numeric)))


def test_batchnorm_weighted_backward_matches_central_differences() -> None:
    rng = np.random.default_rng(11)
    layer = fcnn.BatchNorm1d.example(4, rng=3)
    X = rng.standard_normal((9, 4)) * 2 + 1
    w = rng.uniform(0.2, 3.0, 9)  # positive, not integers
    R = rng.standard_normal((9, 4))

    def loss() -> float:
        return float(np.sum(R * layer.forward(X, sample_weight=w)))

    loss()
    dX = layer.backward(R)
    analytic = {"X": dX, "weight": layer.weight.grad.copy(), "bias": layer.bias.grad.copy()}
    errors = {}
    for name, arr in (("X", X), ("weight", layer.weight._weights), ("bias", layer.bias._weights)):
        numeric = numerical_gradient(loss, arr, eps=1e-6)  # central differences, in place
        errors[name] = _relative_error(analytic[name], numeric)
    assert max(errors.values()) <= 1e-6, errors
    # and the weights matter: the unweighted backward is another gradient
    layer.forward(X)
    assert _relative_error(layer.backward(R), analytic["X"]) > 1e-2


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_unit_weights_are_the_unweighted_path(momentum) -> None:
    rng = np.random.default_rng(12)
    a = fcnn.BatchNorm1d.example(6, rng=4)
    b = copy.deepcopy(a)
    a.momentum = b.momentum = momentum
    for _ in range(3):  # running statistics over a few steps
        X, R = rng.standard_normal((10, 6)) * 3 - 1, rng.standard_normal((10, 6))
        for p in (*a.parameters(), *b.parameters()):
            p.zero_grad()
        assert_allclose(a.forward(X, sample_weight=np.ones(10)), b.forward(X), rtol=1e-12, atol=1e-12)
        assert_allclose(a.backward(R), b.backward(R), rtol=1e-12, atol=1e-12)
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            assert_allclose(pa.grad, pb.grad, rtol=1e-12, atol=1e-12)
    for key, value in b.state_dict().items():
        assert_allclose(a.state_dict()[key], value, rtol=1e-12, atol=1e-12)
    assert int(a.num_batches_tracked) == 3


def test_batchnorm_zero_weight_rows_are_absent_rows() -> None:
    rng = np.random.default_rng(13)
    a = fcnn.BatchNorm1d.example(3, rng=5)
    b = copy.deepcopy(a)
    X, R = rng.standard_normal((8, 3)), rng.standard_normal((8, 3))
    w = np.array([0.0, 1.5, 2.0, 0.0, 0.5, 1.0, 0.0, 3.0])
    keep = w > 0
    R[~keep] = 0  # the engine's upstream gradient carries the weights: 0 on those rows
    y = a.forward(X, sample_weight=w)
    assert_allclose(y[keep], b.forward(X[keep], sample_weight=w[keep]), rtol=1e-12, atol=1e-12)
    dX = a.backward(R)
    assert_allclose(dX[keep], b.backward(R[keep]), rtol=1e-12, atol=1e-12)
    assert_array_equal(dX[~keep], 0)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert_allclose(pa.grad, pb.grad, rtol=1e-12, atol=1e-12)
    assert_allclose(a.running_mean, b.running_mean, rtol=1e-12, atol=1e-12)
    assert_allclose(a.running_var, b.running_var, rtol=1e-12, atol=1e-12)
    # the running variance is unbiased with W = sum(w) as the count
    W = w.sum()
    mu = w @ X / W
    var = w @ (X - mu) ** 2 / W
    assert_allclose(a.running_mean, 0.1 * mu, rtol=1e-12)
    assert_allclose(a.running_var, 0.9 + 0.1 * var * W / (W - 1), rtol=1e-12)
    with pytest.raises(ValueError, match="sums to 0"):
        a.forward(X, sample_weight=np.zeros(8))
    with pytest.raises(ValueError, match=">= 0"):
        a.forward(X, sample_weight=-w)


def test_dtype_float32_end_to_end(iris) -> None:
    X, y = iris
    forced = MLPClassifier(**SMALL, dtype="float32").fit(X, y)
    follows = MLPClassifier(**SMALL).fit(X.astype(np.float32), y)
    reg = MLPRegressor(**SMALL).fit(X[:, :3].astype(np.float32), X[:, 3])
    for est in (forced, follows, reg):
        assert all(w.dtype == np.float32 for w in est.coefs_ + est.intercepts_)
    assert forced.predict_proba(X.astype(np.float32)).dtype == np.float32
    assert reg.predict(X[:, :3].astype(np.float32)).dtype == np.float32
    assert MLPClassifier(**SMALL).fit((X * 10).astype(np.int64), y).coefs_[0].dtype == np.float64
    with pytest.raises(ValueError, match="float32"):
        MLPClassifier(**SMALL, dtype=np.float32).fit(np.full((4, 2), 1e300), [0, 1, 0, 1])


def test_callbacks_see_each_epoch_and_can_stop(iris) -> None:
    X, y = iris
    seen = []

    def stop_at_three(epoch, logs):
        seen.append((epoch, logs["loss"]))
        return epoch == 3

    class Recorder(Callback):
        def __init__(self):
            self.began = self.ended = None
            self.scores = []

        def on_train_begin(self, model, history):
            self.began = model

        def on_epoch_end(self, epoch, logs):
            self.scores.append(logs["val_score"])

        def on_train_end(self, history):
            self.ended = True

    recorder = Recorder()
    est = MLPClassifier(**SMALL, early_stopping=True, callbacks=[stop_at_three, recorder])
    est.fit(X, y)
    assert est.n_iter_ == 3 and [e for e, _ in seen] == [1, 2, 3]
    assert [loss for _, loss in seen] == est.loss_curve_
    assert recorder.began is est and recorder.ended
    assert recorder.scores == est.validation_scores_
    assert len(est.validation_loss_curve_) == 3
    with pytest.raises(TypeError, match="callbacks"):
        MLPClassifier(**SMALL, callbacks=[3]).fit(X, y)


def test_progress_bar_runs(iris, capsys) -> None:
    X, y = iris
    est = MLPClassifier(**{**SMALL, "max_iter": 3}, progress=True).fit(X, y)
    assert est.n_iter_ == 3
    assert capsys.readouterr().out == ""  # verbose=False: nothing on stdout


def test_model_is_the_network_as_fcnn_layers(iris, tmp_path) -> None:
    X, y = iris
    est = MLPClassifier(**{**SMALL, "hidden_layer_sizes": (8, 6)}, activation="tanh").fit(X, y)
    model = est.model_
    assert isinstance(model, fcnn.Sequential)
    assert_allclose(fcnn.softmax(fcnn.predict(model, X)), est.predict_proba(X), rtol=1e-12)
    fcnn.save(model, tmp_path / "iris.safetensors")
    loaded = fcnn.load(tmp_path / "iris.safetensors")
    assert_array_equal(fcnn.predict(loaded, X), fcnn.predict(model, X))
    reg = MLPRegressor(**SMALL, activation="identity").fit(X[:, :3], X[:, 3])
    assert_allclose(fcnn.predict(reg.model_, X[:, :3]).ravel(), reg.predict(X[:, :3]), rtol=1e-12)
    assert not hasattr(MLPClassifier(), "model_")


# -- input ---------------------------------------------------------------------------------------


def test_sparse_input_is_never_densified() -> None:
    rng = np.random.default_rng(0)
    n, d = 400, 100_000  # dense float64 would be 320 MB
    X = sp.random(n, d, density=2e-4, format="csr", random_state=0)
    y = rng.integers(0, 2, n)
    tracemalloc.start()
    try:
        est = MLPClassifier(hidden_layer_sizes=(3,), max_iter=2, random_state=0).fit(X, y)
        est.predict(X.tocsc())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, peak  # the weights are 2.4 MB; X itself 0.1 MB


def test_feature_names_in_from_a_dataframe() -> None:
    data = load_iris(as_frame=True)
    est = MLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=0)
    est.fit(data.data, data.target)
    assert_array_equal(est.feature_names_in_, data.data.columns)
    with pytest.warns(UserWarning, match="feature names"):
        est.predict(data.data.to_numpy())


def test_string_labels(iris) -> None:
    X, y = iris
    names = np.array(["virginica", "setosa", "versicolor"])[y]
    est = MLPClassifier(**SMALL).fit(X, names)
    assert_array_equal(est.classes_, ["setosa", "versicolor", "virginica"])
    assert_array_equal(est.classes_[est.predict_proba(X).argmax(axis=1)], est.predict(X))


def test_unfitted_errors() -> None:
    with pytest.raises(NotFittedError):
        MLPClassifier().predict(np.ones((2, 2)))
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(np.ones((2, 2)))


# -- pickling and tooling ----------------------------------------------------------------------------


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
    for w1, w2 in zip(moved.coefs_, straight.coefs_, strict=True):
        assert_array_equal(w1, w2)
    assert moved.loss_curve_ == straight.loss_curve_


def test_pipeline_grid_search_cross_val_score_and_clone() -> None:
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier(max_iter=150, learning_rate_init=1e-2, random_state=0))])
    grid = {"mlp__hidden_layer_sizes": [(4,), (16,)], "mlp__activation": ["relu", "gelu"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X, y)
        scores = cross_val_score(search.best_estimator_, X, y,
                                 cv=KFold(3, shuffle=True, random_state=0))
    assert search.best_score_ > 0.9
    assert_allclose(scores.mean(), search.best_score_, rtol=1e-12)
    assert not hasattr(clone(search.best_estimator_)[-1], "coefs_")


def test_every_registered_activation_is_an_estimator_option():
    # the estimators read fcnn's activation table: a name registered there (Softplus, or a
    # user's own) is an option, trained through the layer's own forward and backward
    import warnings

    from sklearn.datasets import load_iris
    from sklearn.exceptions import ConvergenceWarning

    from fcnn.estimators import MLPClassifier
    from fcnn.registry import ACTIVATIONS

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    assert "softplus" in ACTIVATIONS
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier((8,), activation="softplus", learning_rate_init=0.05, max_iter=60,
                            random_state=0).fit(X, y)
    assert clf.loss_curve_[-1] < 0.5 * clf.loss_curve_[0]
    assert isinstance(clf.model_[1], fcnn.Softplus)
    # the fitted model is the engine's: fcnn's Sequential gives the same probabilities
    np.testing.assert_allclose(fcnn.softmax(fcnn.predict(clf.model_, X)), clf.predict_proba(X),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["adam", "sgd", "nesterov"])
def test_a_split_update_gives_the_same_numbers(kind) -> None:
    # updates of large networks run half their slices in a second thread
    from concurrent.futures import ThreadPoolExecutor

    from fcnn.estimators import _engine

    size = _engine._PARALLEL_MIN + 12345
    rng = np.random.default_rng(0)
    start = rng.standard_normal(size)
    results = []
    for pool in (None, ThreadPoolExecutor(1)):
        params = start.copy()
        if kind == "adam":
            opt: Any = _engine.Adam(params, 1e-3, 0.9, 0.999, 1e-8)
        else:
            opt = _engine.SGD(params, 0.1, "constant", 0.9, kind == "nesterov", 0.5)
        opt.pool = pool
        for step in range(3):
            opt.update_params(params, np.sin(params * (step + 1)))
        results.append(params)
        if pool is not None:
            pool.shutdown()
    assert not np.array_equal(results[0], start)
    assert_array_equal(results[0], results[1])


def test_one_blas_thread_means_one_update_thread() -> None:
    from threadpoolctl import threadpool_limits

    from fcnn.estimators import _engine

    assert _engine.update_pool(_engine._PARALLEL_MIN - 1) is None
    with threadpool_limits(1):
        assert _engine.update_pool(_engine._PARALLEL_MIN) is None
    with threadpool_limits(2):
        pool = _engine.update_pool(_engine._PARALLEL_MIN)
        if len(os.sched_getaffinity(0)) >= 2:
            assert pool is not None
            pool.shutdown()


@pytest.mark.parametrize("norm", [None, "batch"])
def test_a_zero_weight_batch_is_the_error_sklearn_raises_and_a_value_error(norm) -> None:
    X, y = np.random.default_rng(0).standard_normal((12, 3)), np.arange(12) % 2
    sw = np.ones(12)
    sw[4:8] = 0
    params = {"batch_size": 4, "shuffle": False, "max_iter": 3, "random_state": 0}
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero"):
        SkClassifier(**params).fit(X, y, sample_weight=sw)
    with pytest.raises(ZeroDivisionError, match="Weights sum to zero") as info:
        MLPClassifier(**params, norm=norm).fit(X, y, sample_weight=sw)
    assert isinstance(info.value, ValueError)
    assert "batch of 4 rows" in str(info.value)
