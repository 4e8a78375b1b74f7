"""Optimizers: exact update rules, in-place state, the flat-buffer fast path."""

import numpy as np
import pytest

import fcnn


def make_param(values):
    return fcnn.Parameter(np.array(values, dtype=float))


def test_sgd_momentum_rule_by_hand():
    p = make_param([1.0, -1.0])
    opt = fcnn.SGD([p], lr=0.1, momentum=0.9)
    p.grad = [1.0, 2.0]
    opt.step()  # buf = g
    np.testing.assert_allclose(p.weights, [0.9, -1.2])
    p.grad = [1.0, 2.0]
    opt.step()  # buf = 0.9 * g + g
    np.testing.assert_allclose(p.weights, [0.9 - 0.19, -1.2 - 0.38])


def test_adam_first_step_is_lr_times_sign():
    p = make_param([0.5, -0.5, 0.0])
    opt = fcnn.Adam([p], lr=0.01)
    p.grad = [3.0, -0.2, 0.0]
    opt.step()
    # m̂ = g, v̂ = g², so the first step is lr * g / (|g| + eps)
    np.testing.assert_allclose(p.weights, [0.49, -0.49, 0.0], atol=1e-9)


def test_step_reads_reassigned_gradients_and_zero_grad_is_in_place():
    model = fcnn.mlp([2, 3, 1], rng=0)
    params = model.parameters()
    opt = fcnn.SGD(params, lr=1.0)
    assert len(opt._groups) == 1  # the flat-buffer fast path
    w_refs = [p.weights for p in params]
    g_refs = [p.grad for p in params]
    before = [w.copy() for w in w_refs]
    for p in params:
        p.grad = np.ones(p.shape)
    opt.step()
    for p, w0, ref in zip(params, before, w_refs):
        assert p.weights is ref  # a user's reference never goes stale
        np.testing.assert_allclose(p.weights, w0 - 1)
    opt.zero_grad()
    for p, ref in zip(params, g_refs):
        assert p.grad is ref and not p.grad.any()


def test_flat_path_is_not_used_for_a_subset_or_shuffled_params():
    model = fcnn.mlp([2, 3, 1], rng=0)
    params = model.parameters()
    assert len(fcnn.SGD(params[:2], lr=0.1)._groups) == 2
    assert len(fcnn.SGD(params[::-1], lr=0.1)._groups) == 4
    assert len(fcnn.SGD(params + params[:1], lr=0.1)._groups) == 5


def test_hyperparameter_validation():
    p = [make_param([1.0])]
    with pytest.raises(ValueError, match="lr"):
        fcnn.SGD(p, lr=-0.1)
    fcnn.SGD(p, lr=0.0)  # zero is allowed, as in PyTorch
    with pytest.raises(ValueError, match="nesterov"):
        fcnn.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        fcnn.Adam(p, betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="empty"):
        fcnn.Adam([])
    with pytest.raises(TypeError, match="Parameter"):
        fcnn.SGD([np.ones(2)], lr=0.1)
    assert repr(fcnn.SGD(p, lr=0.1)) == (
        "SGD(lr=0.1, momentum=0.0, dampening=0.0, nesterov=False, weight_decay=0.0)")


@pytest.mark.parametrize("make", [
    lambda p: fcnn.SGD(p, lr=0.1, momentum=0.9), lambda p: fcnn.Adam(p, lr=0.1),
    lambda p: fcnn.AdamW(p, lr=0.1), lambda p: fcnn.RMSprop(p, lr=0.05)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizers_minimise_a_bowl_and_keep_dtype(make, dtype):
    p = fcnn.Parameter(np.zeros((1, 2), dtype))
    target = np.array([[3.0, 5.0]], dtype)
    opt = make([p])
    for _ in range(300):
        opt.zero_grad()
        p.grad = 2 * (p.weights - target)
        opt.step()
    assert p.dtype == dtype and p.grad.dtype == dtype
    np.testing.assert_allclose(p.weights, target, atol=0.1)


def test_zero_grad_set_to_none_writes_then_accumulates(rng):
    layer = fcnn.Linear(3, 2, rng=0)
    X, g = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    layer.w.grad = np.full((3, 2), 7.0)  # stale values that must not leak through
    layer.zero_grad(set_to_none=True)
    layer.forward(X)
    layer.backward(g)
    np.testing.assert_allclose(layer.w.grad, X.T @ g, rtol=1e-14)
    layer.forward(X)
    layer.backward(g)  # a second backward adds, as always
    np.testing.assert_allclose(layer.w.grad, 2 * X.T @ g, rtol=1e-14)
    layer.zero_grad(set_to_none=True)
    assert not layer.w.grad.any()  # reading it gives zeros


def test_step_after_set_to_none_without_backward_uses_zero_gradients():
    model = fcnn.mlp([2, 3, 1], rng=0)
    for p in model.parameters():
        p.grad = np.ones(p.shape)
    opt = fcnn.SGD(model.parameters(), lr=0.5)
    before = [p.weights.copy() for p in model.parameters()]
    opt.zero_grad(set_to_none=True)
    opt.step()
    for p, w in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.weights, w)


@pytest.mark.parametrize("make", [
    lambda p: fcnn.SGD(p, lr=0.1, momentum=0.9), lambda p: fcnn.Adam(p, lr=0.01),
    lambda p: fcnn.RMSprop(p, lr=0.01, centered=True, momentum=0.5)])
@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_model_and_optimizer_survive_pickle_and_deepcopy_together(make, how, rng):
    import copy
    import pickle

    def run(model, opt, batches):
        loss = fcnn.NLLLoss()
        for X, y in batches:
            opt.zero_grad()
            loss.forward(model.forward(X), y)
            model.backward(loss.backward())
            opt.step()

    batches = [(rng.standard_normal((8, 3)), rng.integers(0, 2, 8)) for _ in range(6)]
    model = fcnn.mlp([3, 5, 2], "tanh", rng=0)
    opt = make(model.parameters())
    run(model, opt, batches[:3])
    model2, opt2 = (pickle.loads(pickle.dumps((model, opt))) if how == "pickle"
                    else copy.deepcopy((model, opt)))
    run(model, opt, batches[3:])
    run(model2, opt2, batches[3:])  # the copy keeps learning, and learns the same
    for p, q in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(p.weights, q.weights)
    assert len(opt2._groups) == 1  # still on the flat fast path


def test_pickled_layers_do_not_carry_forward_caches(rng):
    import pickle

    model = fcnn.mlp([20, 50, 2], rng=0)
    small = len(pickle.dumps(model))
    fcnn.predict(model, rng.standard_normal((5000, 20)))
    assert len(pickle.dumps(model)) < small + 1000  # the 5000 x 20 input alone is 800 kB
