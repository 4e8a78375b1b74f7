"""Gradient clipping against torch.nn.utils.clip_grad_norm_/clip_grad_value_, live."""

import math

import numpy as np
import pytest

import fcnn

torch = pytest.importorskip("torch")

NORM_TYPES = [2.0, 1.0, 3.0, 0.5, math.inf, -math.inf, 0.0, -1.5, "inf"]


def random_parameters(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    shapes = [tuple(rng.integers(1, 6, rng.integers(1, 3))) for _ in range(rng.integers(1, 6))]
    params = []
    for shape in shapes:
        p = fcnn.Parameter(rng.standard_normal(shape).astype(dtype))
        p.grad = rng.standard_normal(shape) * 10 ** rng.uniform(-3, 2)
        params.append(p)
    return params


def torch_twins(params):
    twins = []
    for p in params:
        t = torch.tensor(p.weights, requires_grad=True)
        t.grad = torch.tensor(p.grad.copy())
        twins.append(t)
    return twins


@pytest.mark.parametrize("norm_type", NORM_TYPES)
@pytest.mark.parametrize("seed", range(8))
def test_clip_grad_norm_matches_torch(seed, norm_type):
    params = random_parameters(seed)
    twins = torch_twins(params)
    total_norm = float(np.random.default_rng(seed).uniform(0.01, 50))
    max_norm = total_norm if seed % 3 else 1e9  # clipping, and (seed 0, 3, 6) not clipping
    ours = fcnn.clip_grad_norm_(params, max_norm, norm_type)
    theirs = torch.nn.utils.clip_grad_norm_(twins, max_norm, norm_type)
    assert isinstance(ours, float)
    assert ours == pytest.approx(float(theirs), rel=1e-12, abs=1e-300)
    for p, t in zip(params, twins):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_float32_keeps_dtype_and_matches_torch():
    params = random_parameters(1, np.float32)
    twins = torch_twins(params)
    ours = fcnn.clip_grad_norm_(params, 0.5)
    theirs = torch.nn.utils.clip_grad_norm_(twins, 0.5)
    assert ours == pytest.approx(float(theirs), rel=1e-6)
    for p, t in zip(params, twins):
        assert p.grad.dtype == np.float32
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-6)


def test_parameters_without_a_gradient_are_skipped_as_torch_skips_none():
    params = random_parameters(2)
    twins = torch_twins(params)
    params[0].zero_grad(set_to_none=True)
    twins[0].grad = None
    ours = fcnn.clip_grad_norm_(params, 0.1, -math.inf)  # -inf: a zero gradient would change it
    theirs = torch.nn.utils.clip_grad_norm_(twins, 0.1, -math.inf)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    assert fcnn.clip_grad_norm_([params[0]], 1.0) == 0.0


def test_non_finite_norms():
    params = random_parameters(3)
    params[0].grad = np.full(params[0].shape, np.inf)
    before = [p.grad.copy() for p in params]
    with pytest.raises(RuntimeError, match="non-finite"):
        fcnn.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    for p, b in zip(params, before):  # refused: nothing scaled
        np.testing.assert_array_equal(p.grad, b)
    twins = torch_twins(params)
    ours = fcnn.clip_grad_norm_(params, 1.0)  # no warning (pytest makes them errors)
    theirs = torch.nn.utils.clip_grad_norm_(twins, 1.0)
    assert ours == float(theirs) == math.inf
    for p, t in zip(params, twins):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())  # NaN where inf * 0, zeros elsewhere


@pytest.mark.parametrize("clip_value", [0.0, 0.3, 2.0, 1e9])
@pytest.mark.parametrize("seed", range(4))
def test_clip_grad_value_matches_torch(seed, clip_value):
    params = random_parameters(seed)
    params[-1].grad = np.where(params[-1].grad > 0, np.nan, params[-1].grad)
    twins = torch_twins(params)
    assert fcnn.clip_grad_value_(params, clip_value) is None
    torch.nn.utils.clip_grad_value_(twins, clip_value)
    for p, t in zip(params, twins):
        np.testing.assert_array_equal(p.grad, t.grad.numpy())


def test_a_single_parameter_and_a_generator():
    params = random_parameters(4)
    twins = torch_twins(params)
    total = fcnn.clip_grad_norm_((p for p in params), 2.0)
    assert total == pytest.approx(float(torch.nn.utils.clip_grad_norm_(iter(twins), 2.0)), rel=1e-12)
    fcnn.clip_grad_value_(params[0], 0.01)
    torch.nn.utils.clip_grad_value_(twins[0], 0.01)
    np.testing.assert_array_equal(params[0].grad, twins[0].grad.numpy())


def test_clipping_a_flat_network_buffer_matches_torch():
    model = fcnn.mlp([4, 7, 3], rng=0)
    rng = np.random.default_rng(0)
    model.forward(rng.standard_normal((5, 4)))
    model.backward(rng.standard_normal((5, 3)))
    twins = torch_twins(model.parameters())
    ours = fcnn.clip_grad_norm_(model.parameters(), 0.2)
    theirs = torch.nn.utils.clip_grad_norm_(twins, 0.2)
    assert ours == pytest.approx(float(theirs), rel=1e-12)
    for p, t in zip(model.parameters(), twins):
        np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
