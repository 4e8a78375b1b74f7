"""Identity, ELU, SiLU, GELU, Softmax, LogSoftmax and Standardize against PyTorch
(and scikit-learn's StandardScaler), live: forward and dL/dX on a seeded sweep of
shapes (float64 to ``max|a - b| / (1 + max|b|) <= 1e-10``, float32 within 1e-5);
gradient checks through each class's registry example; inputs of ±1e4.
"""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

import fcnn
from fcnn.registry import ACTIVATIONS, LAYERS

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference: pip install torch==2.13.0")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}

# (fcnn layer, its PyTorch twin)
CASES = {
    "Identity": (fcnn.Identity, torch.nn.Identity),
    "ELU": (fcnn.ELU, torch.nn.ELU),
    "ELU(alpha=0.3)": (lambda: fcnn.ELU(alpha=0.3), lambda: torch.nn.ELU(alpha=0.3)),
    "SiLU": (fcnn.SiLU, torch.nn.SiLU),
    "Softplus": (fcnn.Softplus, torch.nn.Softplus),
    "Softplus(beta=2, threshold=1)": (lambda: fcnn.Softplus(2.0, 1.0),
                                      lambda: torch.nn.Softplus(beta=2.0, threshold=1.0)),
    "GELU": (fcnn.GELU, torch.nn.GELU),
    "GELU(tanh)": (lambda: fcnn.GELU("tanh"), lambda: torch.nn.GELU(approximate="tanh")),
    "Softmax": (fcnn.Softmax, lambda: torch.nn.Softmax(dim=-1)),
    "Softmax(dim=1)": (lambda: fcnn.Softmax(dim=1), lambda: torch.nn.Softmax(dim=1)),
    "LogSoftmax": (fcnn.LogSoftmax, lambda: torch.nn.LogSoftmax(dim=-1)),
    "LogSoftmax(dim=1)": (lambda: fcnn.LogSoftmax(dim=1), lambda: torch.nn.LogSoftmax(dim=1)),
}
NEW_LAYERS = [fcnn.Identity, fcnn.ELU, fcnn.SiLU, fcnn.Softplus, fcnn.GELU, fcnn.Softmax, fcnn.LogSoftmax,
              fcnn.Standardize, fcnn.BatchNorm1d, fcnn.LayerNorm]


def scaled_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def torch_forward_backward(module, X, dLdy):
    Xt = torch.from_numpy(X.copy()).requires_grad_(True)
    y = module(Xt)
    y.backward(torch.from_numpy(dLdy))
    return y.detach().numpy(), Xt.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_forward_and_input_gradient_match_torch(name, dtype):
    make, make_twin = CASES[name]
    rng = np.random.default_rng(0)
    for _ in range(5):
        N, C = int(rng.integers(1, 50)), int(rng.integers(1, 30))
        X = (rng.standard_normal((N, C)) * 3).astype(dtype)
        X[0, 0] = 0.0  # ELU's and GELU's kink side, exactly
        dLdy = rng.standard_normal((N, C)).astype(dtype)
        layer = make()
        y = layer.forward(X)
        dX = layer.backward(dLdy)
        ty, tdX = torch_forward_backward(make_twin(), X, dLdy)
        assert y.dtype == dtype and dX.dtype == dtype and y.shape == X.shape
        assert scaled_error(y, ty) <= TOL[dtype], (N, C)
        assert scaled_error(dX, tdX) <= TOL[dtype], (N, C)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standardize_matches_standard_scaler_and_torch(dtype):
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    X = (rng.standard_normal((40, 6)) * rng.uniform(0.1, 50, 6) + rng.uniform(-100, 100, 6)).astype(dtype)
    scaler = StandardScaler().fit(X)
    layer = fcnn.Standardize(scaler.mean_, scaler.scale_, dtype=dtype)
    assert layer.mean.dtype == dtype and layer.parameters() == []
    y = layer.forward(X)
    assert y.dtype == dtype
    assert scaled_error(y, scaler.transform(X)) <= TOL[dtype]
    dLdy = rng.standard_normal(X.shape).astype(dtype)
    mean = torch.from_numpy(layer.mean)
    scale = torch.from_numpy(layer.scale)
    ty, tdX = torch_forward_backward(lambda t: (t - mean) / scale, X, dLdy)
    assert scaled_error(y, ty) <= TOL[dtype]
    assert scaled_error(layer.backward(dLdy), tdX) <= TOL[dtype]


def test_standardize_is_saved_state_rebuilt_from_its_config():
    rng = np.random.default_rng(2)
    layer = fcnn.Standardize(rng.standard_normal(3), rng.uniform(1, 2, 3))
    config = layer.get_config()
    assert config == {"n_features": 3, "dtype": "float64"}
    clone = fcnn.Standardize(**config)  # a placeholder of zeros and ones ...
    np.testing.assert_array_equal(clone.scale, np.ones(3))
    clone.load_state_dict(layer.state_dict())  # ... filled in from the buffers
    X = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(clone.forward(X), layer.forward(X))
    assert list(layer.state_dict()) == ["mean", "scale"]
    model = fcnn.Sequential(layer, fcnn.Linear(3, 2, rng=0))
    assert list(model.state_dict()) == ["0.mean", "0.scale", "1.weight", "1.bias"]
    assert model.in_features == 3
    f32 = fcnn.Standardize(np.zeros(2, np.float32), np.ones(2, np.float32))
    assert f32.dtype == np.float32 and f32.get_config()["dtype"] == "float32"
    assert fcnn.Standardize([0, 1], [1, 2]).dtype == np.float64  # ints become float64


@pytest.mark.parametrize("cls", NEW_LAYERS, ids=lambda c: c.__name__)
def test_gradient_check_of_the_registry_example(cls):
    """What ``fcnn gradcheck`` runs for each registered layer: ``example(4)``, float64, 1e-7."""
    assert LAYERS[cls.__name__] is cls
    X = np.random.default_rng(3).standard_normal((5, 4)) * 2
    report = fcnn.check_layer(cls.example(4, dtype=np.float64, rng=0), X)
    assert report.passed(1e-7), str(report)
    clone = cls(**cls.example(4, dtype=np.float64, rng=0).get_config())
    assert type(clone) is cls


@pytest.mark.parametrize("make", [lambda: fcnn.GELU("tanh"), lambda: fcnn.ELU(0.5),
                                  lambda: fcnn.Softmax(dim=1), lambda: fcnn.LogSoftmax(dim=1)],
                         ids=["GELU-tanh", "ELU-0.5", "Softmax-1", "LogSoftmax-1"])
def test_gradient_check_of_the_other_options(make):
    X = np.random.default_rng(4).standard_normal((5, 4)) * 2
    report = fcnn.check_layer(make(), X)
    assert report.passed(1e-7), str(report)


def test_elu_is_c1_at_zero_for_alpha_one():
    layer = fcnn.ELU()
    layer.forward(np.array([[-1e-9, 0.0, 1e-9]]))
    np.testing.assert_allclose(layer.backward(np.ones((1, 3))), 1.0, rtol=1e-8)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_inputs_are_finite_without_warnings(name, dtype):
    make, make_twin = CASES[name]
    X = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, 1e4]], dtype)
    layer = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = layer.forward(X)
        dX = layer.backward(np.ones_like(X))
    assert np.isfinite(y).all() and np.isfinite(dX).all()
    ty, tdX = torch_forward_backward(make_twin(), X, np.ones_like(X))
    assert scaled_error(y, ty) <= TOL[dtype] and scaled_error(dX, tdX) <= TOL[dtype]


def test_element_wise_layers_follow_the_input_dtype():
    X32 = np.ones((2, 3), np.float32)
    for make, _ in CASES.values():
        layer = make()
        assert layer.forward(X32).dtype == np.float32
        assert layer.backward(np.ones((2, 3))).dtype == np.float32  # dLdy cast to the forward's


def test_standardize_follows_its_buffers_dtype():
    layer = fcnn.Standardize(np.zeros(3, np.float32), np.full(3, 2, np.float32))
    assert layer.forward(np.ones((2, 3))).dtype == np.float32


def test_activation_names_reach_mlp():
    assert {"identity": fcnn.Identity, "elu": fcnn.ELU, "silu": fcnn.SiLU,
            "gelu": fcnn.GELU}.items() <= ACTIVATIONS.items()
    for name in ("identity", "elu", "silu", "gelu"):
        model = fcnn.mlp([3, 4, 2], activation=name, rng=0)
        assert type(model[1]) is ACTIVATIONS[name]
        assert model.forward(np.ones((2, 3))).shape == (2, 2)


def test_configs_reprs_and_pickles():
    assert repr(fcnn.GELU("tanh")) == "GELU(approximate='tanh')"
    assert repr(fcnn.ELU(0.5)) == "ELU(alpha=0.5)"
    assert repr(fcnn.Softmax(dim=1)) == "Softmax(dim=1)"
    for make, _ in CASES.values():
        layer = make()
        clone = type(layer)(**layer.get_config())
        assert repr(clone) == repr(layer)
        layer.forward(np.ones((2, 3)))
        copy = pickle.loads(pickle.dumps(layer))
        assert all(getattr(copy, name) is None for name in type(layer)._cache)


def test_import_fcnn_leaves_scipy_until_gelu_runs():
    code = ("import sys, numpy as np, fcnn; assert 'scipy' not in sys.modules; "
            "fcnn.GELU('tanh').forward(np.ones((1, 2))); assert 'scipy' not in sys.modules; "
            "fcnn.GELU().forward(np.ones((1, 2))); assert 'scipy' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_the_largest_finite_inputs_give_finite_values_and_gradients(dtype):
    big = np.finfo(dtype).max / 2
    X = np.array([[big, -big, 0.5, -0.5]], dtype)
    for make, _ in CASES.values():
        layer = make()
        if isinstance(layer, (fcnn.Softmax, fcnn.LogSoftmax)):
            continue  # a row spanning ±max/2 overflows the shift; ±1e4 above is the contract
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y, dX = layer.forward(X), layer.backward(np.ones_like(X))
        assert np.isfinite(y).all() and np.isfinite(dX).all(), repr(layer)
