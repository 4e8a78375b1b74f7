"""Hypothesis properties: random shapes, dtypes and values into every public function.

Each property computes, from the generated input alone, which documented
exceptions apply (``problems``). With none, the call must succeed and agree
with a NumPy reference computed here; with some, it must raise one of them,
a ``ValueError``/``TypeError`` subclass, and nothing else (no ``IndexError``,
no ``AttributeError``, no ``RuntimeWarning``: pytest turns those into errors).

Inputs: shapes of 0 to 3 dimensions with 0-sized sides; dtypes bool, int8,
uint8, int64, float16, float32, float64, complex128, object and str; values in
the documented range |x| <= 1e4 plus NaN, +-inf, -0.0 and subnormals.

Examples are derandomized so that CI is reproducible; set
``FCNN_HYPOTHESIS_EXPLORE=10`` to run ten times as many, freshly random, when
searching for bugs.
"""

from __future__ import annotations

import json
import math
import os
import struct
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fcnn
from fcnn import datasets, gradcheck, init, plots
from fcnn.datasets import DatasetError
from fcnn.errors import LabelError, ModelFileError, NonFiniteError, ShapeError
from fcnn.network import ACTIVATIONS

# FCNN_HYPOTHESIS_EXPLORE=10 runs ten times the examples, freshly random each run.
_EXPLORE = int(os.environ.get("FCNN_HYPOTHESIS_EXPLORE", "0"))


def prop(max_examples: int) -> Any:
    return settings(
        max_examples=max_examples * max(_EXPLORE, 1),
        deadline=None,
        derandomize=not _EXPLORE,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.function_scoped_fixture],
    )


# --------------------------------------------------------------------------- strategies

NUMERIC = [np.bool_, np.int8, np.uint8, np.int64, np.float16, np.float32, np.float64]
OTHER = [np.complex128, object, str]
SPECIAL = [np.nan, np.inf, -np.inf]
TINY = [5e-324, -5e-324, 1e-310, 1e-40, -0.0]  # subnormals (flush to 0 in narrow dtypes)
LIMIT = 1e4  # the documented range of magnitudes


@st.composite
def arrays(
    draw: Any, shape: Any = None, dtypes: list[Any] | None = None, special: bool = True
) -> np.ndarray:
    """An array of any shape and dtype, finite values within +-1e4, then maybe a
    NaN/inf (for float dtypes) or a subnormal dropped in."""
    if shape is None:
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    dtype = np.dtype(draw(st.sampled_from(dtypes or NUMERIC + OTHER)))
    if dtype.kind == "b":
        return draw(hnp.arrays(dtype, shape))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low, high = max(info.min, -int(LIMIT)), min(info.max, int(LIMIT))
        return draw(hnp.arrays(dtype, shape, elements=st.integers(low, high)))
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-LIMIT, LIMIT)))
    if values.size:
        index = draw(st.integers(0, values.size - 1))
        extra = draw(st.sampled_from([None, *TINY] + (SPECIAL if special else [])))
        if extra is not None:
            values.flat[index] = extra
    if dtype.kind == "f":
        return values.astype(dtype)
    if dtype.kind == "c":
        return values + 1j
    if dtype == np.dtype(object):
        return values.astype(object)
    return values.astype(str)


def is_numeric(X: np.ndarray) -> bool:
    return X.dtype.kind in "biuf"


def finite(X: np.ndarray) -> bool:
    return bool(np.isfinite(X.astype(np.float64)).all())


def eps(dtype: Any) -> float:
    return float(np.finfo(dtype).eps)


def check(call: Any, problems: set[type[BaseException]]) -> Any:
    """Run ``call``: it must raise one of ``problems``, or succeed when there are none."""
    if problems:
        with pytest.raises(tuple(problems)) as info:
            call()
        assert isinstance(info.value, (ValueError, TypeError, OSError))
        assert str(info.value)  # a message, always
        return None
    return call()


# --------------------------------------------------------------------------- layers

ELEMENTWISE = {
    "ReLU": (fcnn.ReLU, lambda x: np.maximum(x, 0), lambda x, y, g: g * (x > 0)),
    "LeakyReLU": (lambda: fcnn.LeakyReLU(0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                  lambda x, y, g: np.where(x > 0, g, 0.1 * g)),
    "Sigmoid": (fcnn.Sigmoid, lambda x: np.exp(-np.logaddexp(0, -x)),
                lambda x, y, g: g * y * (1 - y)),
    "Tanh": (fcnn.Tanh, np.tanh, lambda x, y, g: g * (1 - y * y)),
}


def elementwise_problems(X: np.ndarray) -> set[type[BaseException]]:
    if not is_numeric(X):
        return {TypeError}
    problems: set[type[BaseException]] = set()
    if X.ndim == 0 or X.shape[0] == 0:
        problems.add(ShapeError)
    if not finite(X):
        problems.add(NonFiniteError)
    return problems


@prop(120)
@given(name=st.sampled_from(sorted(ELEMENTWISE)), X=arrays(), seed=st.integers(0, 2**16))
def test_elementwise_layers(name: str, X: np.ndarray, seed: int) -> None:
    make, reference, derivative = ELEMENTWISE[name]
    layer = make()
    y = check(lambda: layer.forward(X), elementwise_problems(X))
    if y is None:
        return
    # float32/float64 keep their dtype; anything else numeric (float16 included) becomes float64
    dtype = X.dtype if X.dtype.char in "fd" else np.dtype(np.float64)
    assert y.shape == X.shape and y.dtype == dtype
    x64 = X.astype(np.float64)
    atol = 8 * float(np.finfo(dtype).tiny) + (1e-7 if dtype == np.float16 else 0)
    np.testing.assert_allclose(y.astype(np.float64), reference(x64), rtol=8 * eps(dtype), atol=atol)
    g = np.random.default_rng(seed).uniform(-2, 2, X.shape).astype(dtype)
    dX = layer.backward(g)
    assert dX.shape == X.shape and dX.dtype == dtype
    expected = derivative(x64, y.astype(np.float64), g.astype(np.float64))
    np.testing.assert_allclose(dX.astype(np.float64), expected, rtol=16 * eps(dtype),
                               atol=16 * eps(dtype) * 2)
    with pytest.raises(ShapeError):
        layer.backward(np.ones((*X.shape, 2), dtype))


@prop(60)
@given(X=arrays(dtypes=[np.bool_, np.int64, np.float16, np.float32, np.float64, object]),
       p=st.sampled_from([0.0, 0.25, 0.5, 0.9]), seed=st.integers(0, 2**16),
       training=st.booleans())
def test_dropout(X: np.ndarray, p: float, seed: int, training: bool) -> None:
    layer = fcnn.Dropout(p, rng=seed).train(training)
    y = check(lambda: layer.forward(X), elementwise_problems(X))
    if y is None:
        return
    # float32/float64 keep their dtype; anything else numeric (float16 included) becomes float64
    dtype = X.dtype if X.dtype.char in "fd" else np.dtype(np.float64)
    assert y.dtype == dtype
    x = X.astype(dtype)
    scale = layer.backward(np.ones(X.shape, dtype))  # the mask, scaled: 0 or 1/(1-p)
    if not training or p == 0:
        np.testing.assert_array_equal(y, x)
        np.testing.assert_array_equal(scale, np.ones(X.shape))
    else:
        assert set(np.unique(scale)) <= {0.0, dtype.type(1 / (1 - p))}
        np.testing.assert_array_equal(y, x * scale)
    assert fcnn.Dropout(p, rng=seed).train(training).forward(X).tobytes() == y.tobytes()


def linear_problems(X: np.ndarray, in_features: int, dtype: Any) -> set[type[BaseException]]:
    if not is_numeric(X):
        return {TypeError}
    problems: set[type[BaseException]] = set()
    if X.ndim != 2 or X.shape[1] != in_features or X.shape[0] == 0:
        problems.add(ShapeError)
    if not finite(X):
        problems.add(NonFiniteError)
    return problems


@prop(120)
@given(
    X=arrays(shape=st.sampled_from([(), (3,), (0, 3), (2, 3), (4, 3), (2, 2), (1, 3, 3), (5, 0)])),
    dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16),
)
def test_linear(X: np.ndarray, dtype: Any, seed: int) -> None:
    layer = fcnn.Linear(3, 2, rng=seed, dtype=dtype)
    W, b = layer.w.weights.copy(), layer.bias.weights.copy()
    y = check(lambda: layer.forward(X), linear_problems(X, 3, dtype))
    if y is None:
        return
    x = X.astype(dtype)
    assert y.dtype == dtype and y.shape == (X.shape[0], 2)
    np.testing.assert_allclose(y, x @ W + b, rtol=16 * eps(dtype), atol=16 * eps(dtype) * LIMIT)
    g = np.random.default_rng(seed).standard_normal(y.shape).astype(dtype)
    dX = layer.backward(g)
    np.testing.assert_allclose(dX, g @ W.T, rtol=16 * eps(dtype), atol=1e-5)
    np.testing.assert_allclose(layer.w.grad, x.T @ g, rtol=16 * eps(dtype), atol=16 * eps(dtype) * LIMIT)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=16 * eps(dtype), atol=1e-5)


@prop(80)
@given(
    X=arrays(shape=st.sampled_from([(4,), (0, 4), (3, 4), (3, 5), (2, 2, 4)])),
    activation=st.sampled_from(sorted(ACTIVATIONS)), dtype=st.sampled_from([np.float32, np.float64]),
)
def test_mlp_forward(X: np.ndarray, activation: str, dtype: Any) -> None:
    model = fcnn.mlp([4, 5, 3], activation, rng=0, dtype=dtype)
    y = check(lambda: model.forward(X), linear_problems(X, 4, dtype))
    if y is None:
        return
    first, _, last = model.layers
    h = X.astype(np.float64) @ first.w.weights + first.bias.weights
    names = {"relu": "ReLU", "leaky_relu": "LeakyReLU", "sigmoid": "Sigmoid", "logistic": "Sigmoid",
             "tanh": "Tanh"}
    others = {  # the activations added in issue 9 (exact references; GELU's through math.erf)
        "identity": lambda x: x,
        "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
        "silu": lambda x: x * np.exp(-np.logaddexp(0, -x)),
        "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
    }
    reference = others[activation] if activation in others else ELEMENTWISE[names[activation]][1]
    if names.get(activation) == "LeakyReLU":
        reference = lambda x: np.where(x > 0, x, 0.01 * x)  # noqa: E731 - mlp's default slope
    expected = reference(h) @ last.w.weights + last.bias.weights
    assert y.dtype == dtype and y.shape == (X.shape[0], 3)
    np.testing.assert_allclose(y, expected, rtol=1e-3 if dtype == np.float32 else 1e-10,
                               atol=1e-3 * LIMIT if dtype == np.float32 else 1e-8 * LIMIT)


# --------------------------------------------------------------------------- losses


def label_problems(y: np.ndarray, N: int, C: int) -> set[type[BaseException]]:
    problems: set[type[BaseException]] = set()
    if y.ndim != 1:
        problems.add(LabelError)
    elif y.shape[0] != N:
        problems.add(ShapeError)
    if y.dtype.kind not in "biuf":
        return problems | {LabelError}
    values = y.astype(np.float64)
    if not np.isfinite(values).all():
        return problems | {NonFiniteError}
    if y.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        problems.add(LabelError)
    if y.size and (values.min() < 0 or values.max() >= C):
        problems.add(LabelError)
    return problems


@st.composite
def labels(draw: Any, N: int, C: int) -> np.ndarray:
    kind = draw(st.sampled_from(["good", "good", "good", "column", "one-hot", "short", "any"]))
    good = draw(hnp.arrays(np.int64, (N,), elements=st.integers(0, max(C - 1, 0))))
    if kind == "good":
        return good.astype(draw(st.sampled_from([np.int64, np.uint8, np.float64, np.int8])))
    if kind == "column":
        return good[:, None]
    if kind == "one-hot":
        return np.eye(max(C, 1))[np.minimum(good, max(C - 1, 0))]
    if kind == "short":
        return good[:-1]
    return draw(arrays(shape=(N,)))


def nll_problems(pred: np.ndarray, y: np.ndarray) -> set[type[BaseException]]:
    if not is_numeric(pred):
        return {TypeError}
    problems: set[type[BaseException]] = set()
    if pred.ndim != 2 or 0 in pred.shape:
        return {ShapeError}
    if not finite(pred):
        problems.add(NonFiniteError)
    return problems | label_problems(y, *pred.shape)


@prop(150)
@given(data=st.data(), shape=st.sampled_from([(3,), (0, 3), (4, 0), (1, 1), (2, 3), (5, 4), (2, 2, 2)]))
def test_nll_loss(data: Any, shape: tuple[int, ...]) -> None:
    pred = data.draw(arrays(shape=shape))
    N, C = shape[:2] if len(shape) >= 2 else (1, 1)
    y = data.draw(labels(N, C))
    loss = fcnn.NLLLoss()
    value = check(lambda: loss(pred, y), nll_problems(pred, y))
    if value is None:
        return
    dtype = pred.dtype if pred.dtype.char in "fd" else np.dtype(np.float64)
    z = pred.astype(np.float64)
    codes = y.astype(np.int64)
    shifted = z - z.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    scale = 1 + np.abs(z).max()
    assert value == pytest.approx(-log_probs[np.arange(N), codes].mean(), rel=0,
                                  abs=32 * eps(dtype) * scale)
    grad = loss.backward()
    expected = (np.exp(log_probs) - np.eye(C)[codes]) / N
    assert grad.dtype == dtype and grad.shape == (N, C)
    np.testing.assert_allclose(grad, expected, rtol=0, atol=32 * eps(dtype) * scale)


def pair_problems(a: np.ndarray, b: np.ndarray) -> set[type[BaseException]]:
    if not (is_numeric(a) and is_numeric(b)):
        return {TypeError}
    problems: set[type[BaseException]] = set()
    if a.shape != b.shape or a.size == 0:
        problems.add(ShapeError)
    if not (finite(a) and finite(b)):
        problems.add(NonFiniteError)
    return problems


@prop(120)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3),
       other=st.sampled_from(["same", "same", "same", "column", "transposed", "broadcast"]),
       reduction=st.sampled_from(["mean", "sum"]))
def test_mse_loss(data: Any, shape: tuple[int, ...], other: str, reduction: str) -> None:
    pred = data.draw(arrays(shape=shape))
    target_shape = {"same": shape, "column": (*shape, 1), "transposed": shape[::-1],
                    "broadcast": shape[1:]}[other]
    target = data.draw(arrays(shape=target_shape))
    loss = fcnn.MSELoss(reduction)
    value = check(lambda: loss(pred, target), pair_problems(pred, target))
    if value is None:
        return
    dtype = pred.dtype if pred.dtype.char in "fd" else np.dtype(np.float64)
    diff = pred.astype(np.float64) - target.astype(dtype).astype(np.float64)
    expected = np.sum(diff**2) / (diff.size if reduction == "mean" else 1)
    underflow = 8 * float(np.finfo(dtype).tiny)  # squares of tiny values may flush to 0
    assert value == pytest.approx(expected, rel=64 * eps(dtype), abs=underflow)
    grad = loss.backward()
    assert grad.shape == pred.shape and grad.dtype == dtype
    np.testing.assert_allclose(grad, 2 * diff / (diff.size if reduction == "mean" else 1),
                               rtol=8 * eps(dtype), atol=8 * eps(dtype) * LIMIT)


@prop(60)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4))
def test_lab_mse_and_grad_mse(data: Any, shape: tuple[int, ...]) -> None:
    # NaN and infinities included: both refuse them (NonFiniteError), as mismatched shapes
    pred = data.draw(arrays(shape=shape, dtypes=NUMERIC))
    target = data.draw(arrays(shape=data.draw(st.sampled_from([shape, shape[::-1]])),
                              dtypes=NUMERIC))
    problems = pair_problems(pred, target)
    check(lambda: fcnn.grad_mse(pred, target), problems)
    total = check(lambda: fcnn.mse(pred, target), problems)
    if total is None:
        return
    dtype = pred.dtype if pred.dtype.char in "fd" else np.dtype(np.float64)
    diff = pred.astype(np.float64) - target.astype(dtype).astype(np.float64)
    underflow = 8 * float(np.finfo(dtype).tiny)  # squares of tiny values may flush to 0
    assert total == pytest.approx(np.sum(diff**2), rel=64 * eps(dtype), abs=underflow)
    np.testing.assert_allclose(fcnn.grad_mse(pred, target), 2 * diff, rtol=4 * eps(dtype),
                               atol=4 * eps(dtype) * LIMIT)


def logits_problems(X: np.ndarray) -> set[type[BaseException]]:
    if not is_numeric(X):
        return {TypeError}
    problems: set[type[BaseException]] = set()
    if X.ndim != 2 or 0 in X.shape:
        problems.add(ShapeError)
    if not finite(X):
        problems.add(NonFiniteError)
    return problems


@prop(80)
@given(logits=arrays(shape=st.sampled_from([(2, 3), (1, 1), (5, 2), (1, 5), (3,), (0, 3), (2, 0),
                                            (1, 2, 2), ()])))
def test_softmax_and_log_softmax(logits: np.ndarray) -> None:
    # any input: bad dtypes, shapes, NaN and infinities are refused with the documented errors
    problems = logits_problems(logits)
    check(lambda: fcnn.log_softmax(logits), problems)
    probs = check(lambda: fcnn.softmax(logits), problems)
    if probs is None:
        return
    log_probs = fcnn.log_softmax(logits)
    dtype = logits.dtype if logits.dtype.char in "fd" else np.dtype(np.float64)
    assert probs.dtype == log_probs.dtype == dtype
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    expected = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    tol = 64 * eps(dtype)
    np.testing.assert_allclose(log_probs, expected, rtol=tol, atol=tol * (1 + np.abs(z).max()))
    np.testing.assert_allclose(probs, np.exp(expected), rtol=tol, atol=tol)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=tol)
    assert (probs >= 0).all() and (log_probs <= 0).all()


# --------------------------------------------------------------------------- Parameter, optimizers, init


@prop(100)
@given(value=arrays(), new=arrays())
def test_parameter(value: np.ndarray, new: np.ndarray) -> None:
    p = check(lambda: fcnn.Parameter(value), set() if is_numeric(value) else {TypeError})
    if p is None:
        return
    dtype = value.dtype if value.dtype.kind == "f" else np.dtype(np.float64)
    assert p.dtype == dtype and p.shape == value.shape and p.grad.shape == value.shape
    np.testing.assert_array_equal(p.weights, value.astype(dtype))
    assert not np.shares_memory(p.weights, value) and not p.grad.any()
    before = p.weights.copy()
    problems: set[type[BaseException]] = set()
    if not is_numeric(new):
        problems.add(TypeError)
    if new.shape != value.shape:
        problems.add(ShapeError)
    check(lambda: setattr(p, "weights", new), problems)
    if problems:
        np.testing.assert_array_equal(p.weights, before)  # refused: unchanged
    else:
        np.testing.assert_array_equal(p.weights, new.astype(dtype))


HYPERPARAMETER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3), st.booleans(), st.none(),
    st.text(max_size=3), st.sampled_from(["0.1", b"1", 1j, [0.1], np.float32(0.5), np.int64(2)]),
)


def number_problems(value: Any, low: float = 0.0, high: float = math.inf,
                    high_open: bool = False) -> set[type[BaseException]]:
    # a bool is not a number for fcnn's validators (lr=True is a mistake, not 1.0)
    if isinstance(value, (str, bytes, complex, list, bool)) or value is None:
        return {TypeError}
    number = float(value)
    if not math.isfinite(number) or number < low or number > high or (high_open and number >= high):
        return {ValueError}
    return set()


@prop(150)
@given(name=st.sampled_from(["SGD", "Adam", "AdamW", "RMSprop"]), lr=HYPERPARAMETER,
       grad=hnp.arrays(np.float64, 3, elements=st.floats(-LIMIT, LIMIT)))
def test_optimizer_learning_rates(name: str, lr: Any, grad: np.ndarray) -> None:
    p = fcnn.Parameter(np.array([1.0, -2.0, 0.5]))
    optimizer = check(lambda: getattr(fcnn, name)([p], lr=lr), number_problems(lr))
    if optimizer is None:
        return
    assert optimizer.lr == float(lr)
    if optimizer.lr > LIMIT:  # lr * grad may overflow: that is divergence, train()'s to report
        return
    p.grad = grad
    optimizer.step()
    assert np.isfinite(p.weights).all()
    if name == "SGD":  # PyTorch's plain rule, exactly
        np.testing.assert_array_equal(p.weights, np.array([1.0, -2.0, 0.5]) - float(lr) * grad)
    if float(lr) == 0 and name != "AdamW":
        np.testing.assert_array_equal(p.weights, [1.0, -2.0, 0.5])


@prop(100)
@given(beta1=HYPERPARAMETER, beta2=HYPERPARAMETER, momentum=HYPERPARAMETER, alpha=HYPERPARAMETER)
def test_optimizer_hyperparameters(beta1: Any, beta2: Any, momentum: Any, alpha: Any) -> None:
    params = [fcnn.Parameter(np.zeros(2))]
    problems = (number_problems(beta1, high=1, high_open=True)
                | number_problems(beta2, high=1, high_open=True))
    check(lambda: fcnn.Adam(params, betas=(beta1, beta2)), problems)
    check(lambda: fcnn.SGD(params, lr=0.1, momentum=momentum), number_problems(momentum))
    check(lambda: fcnn.RMSprop(params, alpha=alpha), number_problems(alpha, high=1))


FAN = st.one_of(st.integers(-2, 6), st.floats(-1, 6), st.booleans(), st.none())


@prop(100)
@given(name=st.sampled_from(sorted(init.INITIALIZERS)), fan_in=FAN, fan_out=FAN,
       seed=st.integers(0, 2**32), dtype=st.sampled_from([np.float32, np.float64, np.int32]))
def test_initializers(name: str, fan_in: Any, fan_out: Any, seed: int, dtype: Any) -> None:
    fn = init.INITIALIZERS[name]
    problems: set[type[BaseException]] = set()
    for fan in (fan_in, fan_out):
        if isinstance(fan, bool) or not isinstance(fan, int) or fan < 1:
            problems.add(ValueError)
    if dtype == np.int32:
        problems.add(TypeError)
    result = check(lambda: fn(fan_in, fan_out, seed, dtype), problems)
    if result is None:
        return
    W, b = result
    assert W.shape == (fan_in, fan_out) and b.shape == (fan_out,)
    assert W.dtype == dtype and b.dtype == dtype and np.isfinite(W).all()
    again = fn(fan_in, fan_out, seed, dtype)
    assert W.tobytes() == again[0].tobytes() and b.tobytes() == again[1].tobytes()
    if "uniform" in fn.__name__ or fn is init.torch_default:
        bound = {"torch_default": 1 / math.sqrt(fan_in), "he_uniform": math.sqrt(6 / fan_in),
                 "glorot_uniform": math.sqrt(6 / (fan_in + fan_out))}[fn.__name__]
        assert np.abs(W).max() <= bound * (1 + eps(dtype))


# --------------------------------------------------------------------------- train, predict


@prop(60)
@given(
    data=st.data(), N=st.integers(0, 9), width=st.sampled_from([3, 3, 3, 2]),
    batch_size=st.sampled_from([-1, 0, 1, 2, 4, 16, 2.5]), epochs=st.sampled_from([0, 1, 2]),
    split=st.sampled_from([None, None, 0.0, 0.3, 0.5, 1.0]),
)
def test_train(data: Any, N: int, width: int, batch_size: Any, epochs: int, split: Any) -> None:
    X = data.draw(arrays(shape=(N, width), dtypes=[np.int64, np.float32, np.float64, str]))
    y = data.draw(labels(N, 3))
    model = fcnn.mlp([3, 4, 3], rng=0)
    problems = linear_problems(X, 3, np.float64) | label_problems(y, N, 3)
    if not isinstance(batch_size, int) or batch_size < 1 or epochs < 1:
        problems.add(ValueError)
    n_val = 0
    if split is not None:
        n_val = max(1, round(split * N))
        if not 0 < split < 1 or n_val >= N:
            problems.add(ValueError)
    optimizer = fcnn.SGD(model.parameters(), lr=0.1)
    before = [p.weights.copy() for p in model.parameters()]
    history = check(lambda: fcnn.train(model, fcnn.NLLLoss(), optimizer, X, y, epochs=epochs,
                                       batch_size=batch_size, validation_split=split, rng=0,
                                       progress=False), problems)
    if history is None:
        for p, w in zip(model.parameters(), before):
            np.testing.assert_array_equal(p.weights, w)  # refused: untouched
        return
    steps = math.ceil((N - n_val) / batch_size)
    assert history.epochs == epochs and len(history.loss) == epochs
    assert len(history.step_losses) == steps * epochs == optimizer.steps
    assert np.isfinite(history.step_losses).all()
    assert ("val_loss" in history.history) == (split is not None)


@prop(60)
@given(X=arrays(shape=st.sampled_from([(3,), (0, 3), (2, 3), (7, 3), (2, 4), (1, 2, 3)])),
       batch_size=st.integers(1, 4), dtype=st.sampled_from([np.float32, np.float64]))
def test_predict(X: np.ndarray, batch_size: int, dtype: Any) -> None:
    model = fcnn.mlp([3, 4, 2], "tanh", dropout=0.5, rng=0, dtype=dtype)
    out = check(lambda: fcnn.predict(model, X, batch_size=batch_size),
                linear_problems(X, 3, dtype))
    assert model.training  # the mode is restored either way
    if out is None:
        return
    model.eval()
    expected = model.forward(X.astype(dtype))
    assert out.dtype == dtype
    # Batches may take another BLAS path than one big product: rounding differs.
    np.testing.assert_allclose(out, expected, rtol=64 * eps(dtype),
                               atol=64 * eps(dtype) * (1 + float(np.abs(expected).max())))


# --------------------------------------------------------------------------- save, load

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=3),
    max_leaves=8,
)


@prop(40)
@given(sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
       activation=st.sampled_from(sorted(ACTIVATIONS)), dropout=st.sampled_from([0.0, 0.3]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**16),
       metadata=st.dictionaries(st.text(min_size=1, max_size=6), JSON, max_size=4))
def test_save_load_round_trip(tmp_path: Path, sizes: list[int], activation: str, dropout: float,
                              dtype: Any, seed: int, metadata: dict[str, Any]) -> None:
    model = fcnn.mlp(sizes, activation, dropout=dropout, rng=seed, dtype=dtype)
    path = tmp_path / "m.safetensors"
    fcnn.save(model, path, **metadata)
    loaded = fcnn.load(path)
    assert loaded.metadata == json.loads(json.dumps(metadata))  # tuples come back as lists
    X = np.random.default_rng(seed).uniform(-LIMIT, LIMIT, (3, sizes[0]))
    assert fcnn.predict(loaded, X).tobytes() == fcnn.predict(model, X).tobytes()


def _good_model_bytes() -> bytes:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "m.safetensors"
        fcnn.save(fcnn.mlp([2, 3, 2], rng=0), path, classes=["a", "b"], mean=np.zeros(2))
        return path.read_bytes()


GOOD = _good_model_bytes()


@st.composite
def mutated(draw: Any) -> bytes:
    raw = bytearray(GOOD)
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["flip", "truncate", "insert", "length", "replace"]))
        position = draw(st.integers(0, max(len(raw) - 1, 0)))
        if how == "flip" and raw:
            raw[position] = draw(st.integers(0, 255))
        elif how == "truncate":
            del raw[position:]
        elif how == "insert":
            raw[position:position] = draw(st.binary(min_size=1, max_size=8))
        elif how == "length":
            raw[:8] = struct.pack("<Q", draw(st.integers(0, 2**64 - 1)))
        else:
            raw = bytearray(draw(st.binary(max_size=64)))
    return bytes(raw)


@prop(200)
@given(raw=mutated())
def test_load_never_fails_other_than_with_model_file_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "fuzzed.safetensors"
    path.write_bytes(raw)
    try:
        model = fcnn.load(path)
    except ModelFileError as exc:
        assert str(path) in str(exc)
        return
    # A mutation that still describes a valid model (a changed weight byte, ...).
    assert all(np.isfinite(p.weights).all() for p in model.parameters())
    n_in = model.layers[0].in_features
    assert np.isfinite(fcnn.predict(model, np.ones((2, n_in)))).all()


# --------------------------------------------------------------------------- gradient checking


@prop(30)
@given(name=st.sampled_from(["Linear", "Sigmoid", "Tanh", "LeakyReLU", "mlp"]),
       N=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_check_layer_passes_on_every_layer(name: str, N: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    subject = {"Linear": lambda: fcnn.Linear(3, 2, rng=seed), "Sigmoid": fcnn.Sigmoid,
               "Tanh": fcnn.Tanh, "LeakyReLU": lambda: fcnn.LeakyReLU(0.2),
               "mlp": lambda: fcnn.mlp([3, 4, 2], "tanh", rng=seed)}[name]()
    X = rng.uniform(0.1, 2, (N, 3)) * rng.choice([-1, 1], (N, 3))  # away from LeakyReLU's kink
    report = fcnn.check_layer(subject, X)
    assert report.passed(1e-6), str(report)


@prop(60)
@given(a=arrays(dtypes=[np.float64, np.int64]), b=arrays(dtypes=[np.float64, np.int64],
                                                      special=False))
def test_relative_error(a: np.ndarray, b: np.ndarray) -> None:
    problems = {ShapeError} if a.shape != b.shape else set()
    value = check(lambda: gradcheck.relative_error(a, b), problems)
    if value is None or a.size == 0:
        return
    x, n = a.astype(np.float64), b.astype(np.float64)
    with np.errstate(invalid="ignore"):
        expected = np.max(np.abs(x - n)) / max(1e-8, np.max(np.abs(x)) + np.max(np.abs(n)))
    np.testing.assert_equal(value, expected)


# --------------------------------------------------------------------------- datasets

CELL = st.one_of(st.integers(-9, 9).map(str), st.floats(-LIMIT, LIMIT).map(repr),
                 st.sampled_from(["", "x", "nan", "inf", "1e400", "NA", " 2 ", "1,5", '"3"']))


@prop(60)
@given(header=st.lists(st.sampled_from(["a", "b", "c", "", "a"]), min_size=1, max_size=4),
       rows=st.lists(st.lists(CELL, min_size=0, max_size=5), max_size=6))
def test_csv_loading(tmp_path: Path, header: list[str], rows: list[list[str]]) -> None:
    path = tmp_path / "data.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    try:
        dataset = datasets.load_dataset(path, task="classification")  # auto may choose regression
    except DatasetError as exc:
        assert str(exc)
        return
    assert dataset.X.dtype == np.float64 and np.isfinite(dataset.X).all()
    assert dataset.X.shape == (dataset.n_samples, len(dataset.feature_names))
    assert dataset.y.shape == (dataset.n_samples,) and dataset.n_classes >= 2
    assert set(dataset.y.tolist()) == set(range(dataset.n_classes))


@prop(40)
@given(N=st.integers(0, 12), n_classes=st.integers(1, 3),
       test_size=st.sampled_from([0.0, 0.25, 0.5, 0.99, 1, 3, 12, -1, "a"]),
       stratify=st.booleans(), seed=st.integers(0, 100))
def test_train_test_split(N: int, n_classes: int, test_size: Any, stratify: bool,
                          seed: int) -> None:
    X = np.arange(N * 2, dtype=np.float64).reshape(N, 2)
    y = np.arange(N) % n_classes
    try:
        split = datasets.train_test_split(X, y, test_size=test_size, seed=seed, stratify=stratify)
    except (ValueError, TypeError) as exc:  # DatasetError and ShapeError are ValueErrors
        assert str(exc)
        return
    rows = np.concatenate([split.X_train, split.X_test])
    assert sorted(rows[:, 0].tolist()) == X[:, 0].tolist()  # a partition of the samples
    assert split.X_test.shape[0] >= 1 and split.X_train.shape[0] >= 1
    np.testing.assert_array_equal(split.y_train, split.X_train[:, 0] // 2 % n_classes)
    if stratify:
        assert set(split.y_test.tolist()) == set(split.y_train.tolist()) == set(y.tolist())


@prop(80)
@given(X=arrays(shape=st.sampled_from([(3,), (2, 3), (0, 3), (2, 2)])),
       mean=arrays(shape=(3,), dtypes=[np.float64, np.int64, str]),
       scale=arrays(shape=(3,), dtypes=[np.float64, np.int64]))
def test_standardize(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> None:
    problems: set[type[BaseException]] = set()
    if not is_numeric(X):
        problems.add(TypeError)
    else:
        if X.ndim != 2 or X.shape[1] != 3:
            problems.add(ShapeError)
        if not finite(X):
            problems.add(NonFiniteError)
    if not is_numeric(mean):
        problems.add(TypeError)
    elif not (finite(mean) and finite(scale)):
        problems.add(NonFiniteError)
    if (scale.astype(np.float64) <= 0).any():
        problems.add(ValueError)
    dtype = X.dtype if X.dtype.char in "fd" else np.dtype(np.float64)
    if not problems:
        with np.errstate(over="ignore"):
            expected = (X.astype(np.float64) - mean.astype(np.float64)) / scale.astype(np.float64)
            if not np.isfinite(expected.astype(dtype)).all():  # a subnormal scale
                problems.add(NonFiniteError)
    out = check(lambda: datasets.standardize(X, mean, scale), problems)
    if out is None:
        return
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, rtol=4 * eps(dtype), atol=4 * eps(dtype) * LIMIT)


# --------------------------------------------------------------------------- plots, estimators, CLI


@prop(12)
@given(train=st.lists(st.one_of(st.floats(), st.just("x")), max_size=4),
       log_scale=st.booleans())
def test_plot_loss(train: list[Any], log_scale: bool) -> None:
    values = np.array(train, dtype=object)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # values left out of the drawing
        try:
            figure = plots.plot_loss(train, log_scale=log_scale)
        except (ValueError, TypeError) as exc:
            assert str(exc)
            return
    assert all(isinstance(v, float) for v in values)
    figure.canvas.draw()  # rendering must not overflow either


@prop(8)
@given(X=arrays(shape=st.sampled_from([(6, 2), (6,), (0, 2)]),
                dtypes=[np.float64, np.int64, np.float32, str]),
       hidden=st.sampled_from([(), (3,), (4, 2)]), seed=st.integers(0, 100))
def test_classifier(X: np.ndarray, hidden: tuple[int, ...], seed: int) -> None:
    from fcnn.estimators import MLPClassifier

    y = np.array(["b", "a", "c", "a", "b", "c"])[: X.shape[0]]
    estimator = MLPClassifier(hidden_layer_sizes=hidden, max_iter=3, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # ConvergenceWarning
        try:
            estimator.fit(X, y)
        except ValueError as exc:
            assert X.ndim != 2 or X.shape[0] == 0 or not finite_or_str(X), exc
            return
    assert X.ndim == 2 and X.shape[0] and finite_or_str(X)  # it fits only what it should
    probabilities = estimator.predict_proba(X)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1, rtol=4 * eps(probabilities.dtype))
    assert set(estimator.predict(X)) <= {"a", "b", "c"}


def finite_or_str(X: np.ndarray) -> bool:
    try:
        return finite(X)
    except ValueError:
        return False


@prop(10)
@given(lr=st.sampled_from(["0.1", "0.5", "1.5", "1e50", "-1", "0", "x", "nan"]),
       steps=st.sampled_from(["1", "5", "0", "-2", "2.5"]),
       optimizer=st.sampled_from(["sgd", "momentum", "adam", "rmsprop", "lbfgs"]))
def test_cli_trajectory(tmp_path: Path, capsys: Any, lr: str, steps: str, optimizer: str) -> None:
    from fcnn.cli import main

    out = tmp_path / "t.png"
    out.unlink(missing_ok=True)
    code = main(["trajectory", "--lr", lr, "--steps", steps, "--optimizer", optimizer,
                 "--out", str(out)])
    _, err = capsys.readouterr()
    assert code in (0, 2)
    if code == 0:
        assert out.stat().st_size > 0 and err == ""
    else:
        assert len(err.splitlines()) == 1 and err.startswith("fcnn: error: ")
        assert not out.exists()
