"""Layers: values, gradient accumulation, dtypes, modes, numerical extremes."""

import numpy as np
import pytest

import fcnn
from fcnn.errors import NotReadyError, ShapeError

ELEMENTWISE = [fcnn.ReLU, fcnn.LeakyReLU, fcnn.Sigmoid, fcnn.Tanh]


def test_linear_values_and_accumulation(rng):
    layer = fcnn.Linear(3, 2, rng=0)
    W, b = layer.w.weights.copy(), layer.bias.weights.copy()
    X = rng.standard_normal((4, 3))
    y = layer.forward(X)
    np.testing.assert_allclose(y, X @ W + b, rtol=1e-15)
    g = rng.standard_normal((4, 2))
    dX = layer.backward(g)
    np.testing.assert_allclose(dX, g @ W.T, rtol=1e-14)
    np.testing.assert_allclose(layer.w.grad, X.T @ g, rtol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-14)
    layer.forward(X)
    layer.backward(g)  # gradients add up until zero_grad, as in PyTorch
    np.testing.assert_allclose(layer.w.grad, 2 * X.T @ g, rtol=1e-14)
    layer.zero_grad()
    assert not layer.w.grad.any() and not layer.bias.grad.any()


def test_linear_shapes_and_names():
    layer = fcnn.Linear(4, 3)
    assert layer.w.weights.shape == (4, 3) and layer.bias.weights.shape == (3,)
    assert layer.weight is layer.w
    assert layer.parameters() == [layer.w, layer.bias]
    assert repr(layer) == "Linear(in_features=4, out_features=3)"
    assert repr(fcnn.Linear(2, 2, dtype="float32")) == "Linear(in_features=2, out_features=2, dtype=float32)"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_follows_the_parameters(dtype, rng):
    model = fcnn.mlp([5, 8, 3], "sigmoid", dtype=dtype, rng=0)
    X64 = rng.standard_normal((4, 5))
    out = model.forward(X64)  # float64 input into a float32 model is cast down, never up
    assert out.dtype == dtype
    loss = fcnn.NLLLoss()
    loss.forward(out, np.array([0, 1, 2, 0]))
    g = loss.backward()
    assert g.dtype == dtype
    assert model.backward(g).dtype == dtype
    assert all(p.grad.dtype == dtype for p in model.parameters())
    Xint = np.arange(10).reshape(2, 5)
    assert model.forward(Xint).dtype == dtype  # integers are accepted and cast


@pytest.mark.parametrize("cls", ELEMENTWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extremes_are_finite_and_warning_free(cls, dtype):
    X = np.array([[1e4, -1e4, 0.0, 1.0, -1.0, 88.0, -88.0, 710.0, -710.0]], dtype=dtype)
    layer = cls()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        y = layer.forward(X)
        g = layer.backward(np.ones_like(X))
    assert y.dtype == dtype and g.dtype == dtype
    assert np.isfinite(y).all() and np.isfinite(g).all()


def test_saturated_limits_are_exact():
    X = np.array([[1e4, -1e4, 50.0, -800.0]])
    s = fcnn.Sigmoid()
    np.testing.assert_array_equal(s.forward(X)[0, :2], [1.0, 0.0])
    np.testing.assert_array_equal(s.backward(np.ones_like(X))[0, [0, 1, 3]], [0.0, 0.0, 0.0])
    assert s.forward(np.array([[-40.0]]))[0, 0] == pytest.approx(np.exp(-40.0), rel=1e-12)
    t = fcnn.Tanh()
    np.testing.assert_array_equal(t.forward(X)[0, :2], [1.0, -1.0])
    np.testing.assert_array_equal(t.backward(np.ones_like(X))[0, :2], [0.0, 0.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_loss_extreme_logits(dtype):
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [1e4, 1e4, -1e4]], dtype=dtype)
    labels = np.array([0, 0, 2])
    loss = fcnn.NLLLoss()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value = loss.forward(logits, labels)
        grad = loss.backward()
    # row 0 is certain and right (0), row 1 wrong by 2e4, row 2 wrong by 2e4 + log 2
    assert value == pytest.approx((0 + 2e4 + 2e4 + np.log(2)) / 3, rel=1e-6)
    expected = np.array([[0, 0, 0], [-1, 1, 0], [0.5, 0.5, -1]]) / 3
    np.testing.assert_allclose(grad, expected, atol=1e-7)
    assert grad.dtype == dtype


def test_leaky_relu_values():
    layer = fcnn.LeakyReLU(0.2)
    X = np.array([[-2.0, 3.0]])
    np.testing.assert_allclose(layer.forward(X), [[-0.4, 3.0]])
    np.testing.assert_allclose(layer.backward(np.array([[1.0, 1.0]])), [[0.2, 1.0]])
    assert repr(layer) == "LeakyReLU(negative_slope=0.2)"


def test_dropout_train_and_eval(rng):
    layer = fcnn.Dropout(0.5, rng=0)
    X = np.ones((1000, 20))
    y = layer.forward(X)
    assert set(np.unique(y)) == {0.0, 2.0}
    assert 0.45 < (y == 0).mean() < 0.55
    np.testing.assert_array_equal(layer.backward(np.ones_like(X)), y)  # same mask
    layer.eval()
    assert not layer.training
    np.testing.assert_array_equal(layer.forward(X), X)
    np.testing.assert_array_equal(layer.backward(np.full_like(X, 3.0)), np.full_like(X, 3.0))
    a = fcnn.Dropout(0.3, rng=42).forward(X)
    b = fcnn.Dropout(0.3, rng=42).forward(X)
    np.testing.assert_array_equal(a, b)  # its own Generator: same seed, same mask


def test_backward_before_forward_is_an_error():
    for layer in [fcnn.Linear(2, 2), *[cls() for cls in ELEMENTWISE], fcnn.Dropout(0.1)]:
        with pytest.raises(NotReadyError, match="forward"):
            layer.backward(np.ones((1, 2)))
    with pytest.raises(NotReadyError):
        fcnn.NLLLoss().backward()


def test_wrong_shapes_name_the_layer():
    layer = fcnn.Linear(4, 3)
    with pytest.raises(ShapeError, match=r"Linear\(4 -> 3\) expected input of shape \(N, 4\), got \(5, 7\)"):
        layer.forward(np.ones((5, 7)))
    layer.forward(np.ones((5, 4)))
    with pytest.raises(ShapeError, match=r"expected dLdy of shape \(5, 3\), got \(5, 2\)"):
        layer.backward(np.ones((5, 2)))
    relu = fcnn.ReLU()
    relu.forward(np.ones((2, 3)))
    with pytest.raises(ShapeError, match=r"\(2, 3\)"):
        relu.backward(np.ones((3, 2)))


def test_outputs_are_not_aliased_to_caches(rng):
    # modifying what forward returned must not change what backward computes
    for layer in [fcnn.ReLU(), fcnn.Sigmoid(), fcnn.Tanh()]:
        X = rng.standard_normal((3, 4))
        y = layer.forward(X)
        expected = layer.backward(np.ones_like(X))
        y *= 100
        np.testing.assert_array_equal(layer.backward(np.ones_like(X)), expected)


def test_initializers_are_deterministic_and_scaled():
    for name in ["default", "lab", "he_normal", "he_uniform", "glorot_normal", "glorot_uniform"]:
        a = fcnn.Linear(400, 300, init=name, rng=3)
        b = fcnn.Linear(400, 300, init=name, rng=3)
        np.testing.assert_array_equal(a.w.weights, b.w.weights)
        np.testing.assert_array_equal(a.bias.weights, b.bias.weights)
    stds = {
        "lab": 0.1,
        "he_normal": np.sqrt(2 / 400),
        "glorot_normal": np.sqrt(2 / 700),
        "default": 1 / np.sqrt(400) / np.sqrt(3),
        "he_uniform": np.sqrt(6 / 400) / np.sqrt(3),
        "glorot_uniform": np.sqrt(6 / 700) / np.sqrt(3),
    }
    for name, std in stds.items():
        w = fcnn.Linear(400, 300, init=name, rng=1).w.weights
        assert w.std() == pytest.approx(std, rel=0.02), name
        assert abs(w.mean()) < 0.05 * std
    assert not fcnn.Linear(4, 3, init="he_normal").bias.weights.any()
    assert fcnn.Linear(4, 3, init="glorot_uniform", dtype=np.float32).w.dtype == np.float32
    with pytest.raises(ValueError, match="unknown initializer"):
        fcnn.Linear(2, 2, init="nope")


def test_parameter_assignment_copies_in_place():
    p = fcnn.Parameter(np.zeros((2, 3)))
    w = p.weights
    p.weights = np.ones((2, 3))
    assert p.weights is w and w.sum() == 6
    p.grad = np.full((2, 3), 2)
    assert p.grad.dtype == np.float64 and p.grad.sum() == 12
    p.grad = None
    assert not p.grad.any()
    with pytest.raises(ShapeError, match=r"\(3, 2\).*\(2, 3\)"):
        p.weights = np.ones((3, 2))
    assert fcnn.Parameter([1, 2]).dtype == np.float64
    assert fcnn.Parameter(np.ones(2, np.float32)).grad.dtype == np.float32
