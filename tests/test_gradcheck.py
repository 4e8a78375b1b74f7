"""Every layer, loss and network against central differences in float64."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fcnn
from fcnn.gradcheck import check_layer, numerical_gradient, relative_error

LAYERS = {
    "linear": lambda n_in, n_out, seed: fcnn.Linear(n_in, n_out, rng=seed),
    "relu": lambda n_in, n_out, seed: fcnn.ReLU(),
    "leaky_relu": lambda n_in, n_out, seed: fcnn.LeakyReLU(0.1),
    "sigmoid": lambda n_in, n_out, seed: fcnn.Sigmoid(),
    "tanh": lambda n_in, n_out, seed: fcnn.Tanh(),
    "dropout": lambda n_in, n_out, seed: fcnn.Dropout(0.4, rng=seed),
}


def away_from_kink(X: np.ndarray) -> np.ndarray:
    # ReLU's derivative jumps at 0: keep inputs >= 1e-3 away so eps=1e-6 never crosses it
    return np.where(np.abs(X) < 1e-3, 1e-3 * np.sign(X + 1e-12) + X, X)


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_each_layer_relative_error_below_1e7(kind, rng):
    layer = LAYERS[kind](7, 5, 0)
    X = away_from_kink(rng.standard_normal((6, 7)))
    report = check_layer(layer, X)
    expected_rows = ["X", "weight", "bias"] if kind == "linear" else ["X"]
    assert [r.name for r in report.rows] == expected_rows
    assert report.max_relative_error < 1e-7, str(report)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_multilayer_network(activation, rng):
    model = fcnn.mlp([5, 12, 9, 4], activation, dropout=0.2, rng=1)
    X = rng.standard_normal((8, 5))
    report = check_layer(model, X)
    assert len(report.rows) == 1 + 6
    assert report.max_relative_error < 1e-7, str(report)


def test_losses(rng):
    logits = rng.standard_normal((9, 4)) * 2
    labels = rng.integers(0, 4, 9)
    assert check_layer(fcnn.NLLLoss(), logits, labels).max_relative_error < 1e-7
    for reduction in ("mean", "sum"):
        report = check_layer(fcnn.MSELoss(reduction), logits, rng.standard_normal((9, 4)))
        assert report.max_relative_error < 1e-7


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batch=st.integers(1, 64),
    widths=st.lists(st.integers(1, 64), min_size=2, max_size=3),
    activation=st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh"]),
    scale=st.floats(0.1, 5.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_networks_property(batch, widths, activation, scale, seed):
    # keep the number of checked scalars bounded so each example stays fast
    widths = [min(w, 24) for w in widths] if batch * max(widths) > 600 else widths
    rng = np.random.default_rng(seed)
    model = fcnn.mlp(widths, activation, rng=seed)
    X = away_from_kink(rng.standard_normal((batch, widths[0])) * scale)
    report = check_layer(model, X)
    assert report.max_abs_deviation < 1e-7 * max(1.0, scale), str(report)
    for row in report.rows:
        # a tensor whose gradient is all ~0 (dead ReLUs) is judged by its absolute error
        assert row.relative_error < 1e-7 or row.max_abs_deviation < 1e-9, str(report)


@settings(max_examples=40, deadline=None)
@given(batch=st.integers(1, 64), classes=st.integers(1, 64), seed=st.integers(0, 2**32 - 1),
       scale=st.floats(0.01, 20.0))
def test_nll_loss_property(batch, classes, seed, scale):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((batch, classes)) * scale
    labels = rng.integers(0, classes, batch)
    loss = fcnn.NLLLoss()
    value = loss.forward(logits, labels)
    grad = loss.backward()
    numerical = numerical_gradient(lambda: loss.forward(logits, labels), logits)
    assert np.max(np.abs(grad - numerical)) < 1e-6
    assert value >= 0
    np.testing.assert_allclose(grad.sum(axis=1), 0, atol=1e-15)


def test_relative_error_definition():
    a = np.array([1.0, 0.0, -2.0])
    n = np.array([1.0 + 1e-6, 0.0, -2.0])
    assert relative_error(a, n) == pytest.approx(1e-6 / (2 + 2), rel=1e-9)
    # the 1e-8 floor keeps all-zero gradients (dead units) from dividing by zero
    assert relative_error(np.zeros(3), np.full(3, 1e-12)) == pytest.approx(1e-4)


def test_check_layer_restores_everything(rng):
    model = fcnn.mlp([3, 4, 2], rng=0)
    before = [p.weights.copy() for p in model.parameters()]
    X = rng.standard_normal((5, 3))
    X0 = X.copy()
    check_layer(model, X)
    np.testing.assert_array_equal(X, X0)
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.weights, w)
        assert not p.grad.any()


def test_a_wrong_gradient_is_caught(rng):
    class BadSigmoid(fcnn.Sigmoid):
        def backward(self, dLdy):
            return super().backward(dLdy) * 1.01

    report = check_layer(BadSigmoid(), rng.standard_normal((4, 3)))
    assert report.max_relative_error > 1e-3
    assert not report.passed()


def test_float32_check_warns(rng):
    layer = fcnn.Linear(3, 2, dtype=np.float32, rng=0)
    with pytest.warns(UserWarning, match="float64"):
        check_layer(layer, rng.standard_normal((4, 3)))
    with pytest.warns(UserWarning, match="float64"):
        fcnn.check_gradient(lambda X: (float((X**2).sum()), 2 * X), np.ones((2, 2), np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_layer(fcnn.Linear(3, 2, rng=0), rng.standard_normal((4, 3)))


def test_check_gradient_rejects_a_wrongly_shaped_gradient():
    with pytest.raises(ValueError, match="shape"):
        fcnn.check_gradient(lambda X: (float(X.sum()), np.ones(3)), np.ones((2, 2)))
