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


# -- hand-computed SGD steps: weight decay and Nesterov (torch parity beside them) -------------


def test_sgd_weight_decay_steps_by_hand():
    p = make_param([1.0, -2.0])
    opt = fcnn.SGD([p], lr=0.1, weight_decay=0.5)
    p.grad = [0.2, 0.4]
    opt.step()  # g = grad + 0.5 * w = [0.7, -0.6]; w -= 0.1 * g
    np.testing.assert_allclose(p.weights, [0.93, -1.94], rtol=0, atol=1e-15)
    p.grad = [0.2, 0.4]
    opt.step()  # g = [0.2 + 0.465, 0.4 - 0.97] = [0.665, -0.57]
    np.testing.assert_allclose(p.weights, [0.8635, -1.883], rtol=0, atol=1e-15)


def test_sgd_nesterov_steps_by_hand():
    p = make_param([1.0])
    opt = fcnn.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    p.grad = [1.0]
    opt.step()  # buf = g = 1; g + 0.9 * buf = 1.9; w = 1 - 0.19
    np.testing.assert_allclose(p.weights, [0.81], rtol=0, atol=1e-15)
    p.grad = [1.0]
    opt.step()  # buf = 0.9 * 1 + 1 = 1.9; g + 0.9 * 1.9 = 2.71; w = 0.81 - 0.271
    np.testing.assert_allclose(p.weights, [0.539], rtol=0, atol=1e-15)


def test_sgd_nesterov_with_weight_decay_steps_by_hand():
    p = make_param([2.0])
    opt = fcnn.SGD([p], lr=0.1, momentum=0.5, nesterov=True, weight_decay=0.1)
    p.grad = [1.0]
    opt.step()  # g = 1 + 0.1 * 2 = 1.2; buf = 1.2; g + 0.5 * buf = 1.8; w = 2 - 0.18
    np.testing.assert_allclose(p.weights, [1.82], rtol=0, atol=1e-15)
    p.grad = [1.0]
    opt.step()  # g = 1.182; buf = 0.6 + 1.182 = 1.782; g + 0.891 = 2.073; w = 1.82 - 0.2073
    np.testing.assert_allclose(p.weights, [1.6127], rtol=0, atol=1e-15)


def test_adagrad_steps_by_hand():
    p = make_param([1.0])
    opt = fcnn.Adagrad([p], lr=0.1, lr_decay=0.5, initial_accumulator_value=1.0, eps=0.0)
    p.grad = [3.0]
    opt.step()  # clr = 0.1; sum = 1 + 9; w = 1 - 0.1 * 3 / sqrt(10)
    np.testing.assert_allclose(p.weights, [1 - 0.3 / np.sqrt(10)], rtol=0, atol=1e-15)
    p.grad = [4.0]
    opt.step()  # clr = 0.1 / (1 + 0.5); sum = 10 + 16; w -= clr * 4 / sqrt(26)
    np.testing.assert_allclose(p.weights, [1 - 0.3 / np.sqrt(10) - 0.4 / 1.5 / np.sqrt(26)],
                               rtol=0, atol=1e-15)


def test_hand_computed_sgd_cases_match_torch():
    torch = pytest.importorskip("torch")
    cases = [({"lr": 0.1, "weight_decay": 0.5}, [1.0, -2.0], [0.2, 0.4]),
             ({"lr": 0.1, "momentum": 0.9, "nesterov": True}, [1.0], [1.0]),
             ({"lr": 0.1, "momentum": 0.5, "nesterov": True, "weight_decay": 0.1}, [2.0], [1.0])]
    for kwargs, w0, grad in cases:
        p = make_param(w0)
        tp = torch.tensor(w0, dtype=torch.float64, requires_grad=True)
        opt, topt = fcnn.SGD([p], **kwargs), torch.optim.SGD([tp], **kwargs)
        for _ in range(2):
            p.grad = grad
            tp.grad = torch.tensor(grad, dtype=torch.float64)
            opt.step()
            topt.step()
        np.testing.assert_allclose(p.weights, tp.detach().numpy(), rtol=1e-15, atol=0)


# -- Adagrad and amsgrad against torch, live -----------------------------------------------------

NEW_OPTIMIZERS = [
    ("adagrad", lambda p: fcnn.Adagrad(p), "Adagrad", {}),
    ("adagrad-decay-wd-acc", lambda p: fcnn.Adagrad(p, lr=0.05, lr_decay=0.01, weight_decay=1e-2,
                                                    initial_accumulator_value=0.1, eps=1e-8),
     "Adagrad", {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 1e-2,
                 "initial_accumulator_value": 0.1, "eps": 1e-8}),
    ("adam-amsgrad-wd", lambda p: fcnn.Adam(p, lr=1e-2, betas=(0.8, 0.99), weight_decay=1e-3,
                                            amsgrad=True),
     "Adam", {"lr": 1e-2, "betas": (0.8, 0.99), "weight_decay": 1e-3, "amsgrad": True}),
    ("adamw-amsgrad", lambda p: fcnn.AdamW(p, lr=1e-2, weight_decay=0.05, amsgrad=True),
     "AdamW", {"lr": 1e-2, "weight_decay": 0.05, "amsgrad": True}),
]


def _model(packed, dtype):
    if packed:
        return fcnn.mlp([6, 16, 16, 3], "tanh", rng=11, dtype=dtype)
    # layers built by hand: separate arrays, one update per parameter
    return fcnn.Sequential(fcnn.Linear(6, 16, rng=11, dtype=dtype), fcnn.Tanh(),
                           fcnn.Linear(16, 16, rng=12, dtype=dtype), fcnn.Tanh(),
                           fcnn.Linear(16, 3, rng=13, dtype=dtype))


def _torch_twin(torch, model, dtype):
    layers = []
    for layer in model.layers:
        if isinstance(layer, fcnn.Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.weight.weights.T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.bias.weights.copy()))
            layers.append(lin)
        else:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def _scaled_error(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


@pytest.mark.parametrize("name,make,torch_name,kwargs", NEW_OPTIMIZERS,
                         ids=[o[0] for o in NEW_OPTIMIZERS])
@pytest.mark.parametrize("packed", [True, False], ids=["flat-buffer", "per-parameter"])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)],
                         ids=["float64", "float32"])
def test_25_steps_of_adagrad_and_amsgrad_match_torch(name, make, torch_name, kwargs, packed, dtype,
                                                     tol, rng):
    torch = pytest.importorskip("torch")
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    model = _model(packed, dtype)
    tmodel = _torch_twin(torch, model, tdtype)
    opt, topt = make(model.parameters()), getattr(torch.optim, torch_name)(tmodel.parameters(), **kwargs)
    assert (len(opt._groups) == 1) is packed
    loss = fcnn.NLLLoss()
    for t in range(25):
        X = (rng.standard_normal((12, 6)) * (3 if t < 5 else 0.3)).astype(dtype)  # amsgrad's max matters
        y = rng.integers(0, 3, 12)
        opt.zero_grad()
        loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
    tweights = [t.detach().numpy() for m in tmodel if isinstance(m, torch.nn.Linear)
                for t in (m.weight.T, m.bias)]
    for p, w in zip(model.parameters(), tweights, strict=True):
        assert p.weights.dtype == dtype
        assert _scaled_error(p.weights, w) < tol
    # the state per parameter is torch's, in fcnn's shapes (Linear.weight transposed)
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    for i, (p, key) in enumerate(zip(model.parameters(), [0, 1, 2, 3, 4, 5], strict=True)):
        assert state[i]["step"] == int(tstate[key]["step"]) == 25
        for buffer, value in state[i].items():
            if buffer != "step":
                theirs = tstate[key][buffer].numpy()
                theirs = theirs.T if theirs.ndim == 2 else theirs
                assert value.shape == p.shape and _scaled_error(value, theirs) < tol


def test_amsgrad_changes_the_update():
    def run(amsgrad):
        p = make_param([1.0, 1.0])
        opt = fcnn.Adam([p], lr=0.1, amsgrad=amsgrad)
        for g in ([10.0, 1.0], [0.1, 1.0], [0.1, 1.0]):
            p.grad = g
            opt.step()
        return p.weights.copy(), opt.state

    plain, _ = run(False)
    ams, state = run(True)
    assert ams[0] > plain[0]  # the big first gradient keeps the denominator large
    np.testing.assert_array_equal(ams[1], plain[1])  # a steady gradient: v never falls
    assert state[0]["max_exp_avg_sq"][0] > state[0]["exp_avg_sq"][0]


# -- param_groups: what the update reads ---------------------------------------------------------


def test_param_groups_hold_the_hyperparameters_the_update_reads():
    p = make_param([1.0])
    opt = fcnn.SGD([p], lr=0.1, momentum=0.0)
    (group,) = opt.param_groups
    assert group["params"] == [p] and group["lr"] == 0.1 and opt.defaults["lr"] == 0.1
    group["lr"] = 0.5
    assert opt.lr == 0.5
    p.grad = [1.0]
    opt.step()
    np.testing.assert_array_equal(p.weights, [0.5])
    opt.lr = 0.25  # the attribute writes the group, checked
    assert group["lr"] == 0.25
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1
    assert group["lr"] == 0.25
    opt.weight_decay = 0.1  # what the estimators do
    assert group["weight_decay"] == 0.1
    assert repr(fcnn.Adagrad([p])) == (
        "Adagrad(lr=0.01, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10)")
    assert fcnn.registry.OPTIMIZERS["adagrad"] is fcnn.Adagrad
    assert {"sgd", "adam", "adamw", "rmsprop", "adagrad"} <= set(fcnn.registry.OPTIMIZERS)


# -- state_dict: exact resume --------------------------------------------------------------------

RESUMABLE = [
    ("sgd-nesterov-wd", lambda p: fcnn.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("sgd-plain", lambda p: fcnn.SGD(p, lr=0.1)),
    ("adam-amsgrad", lambda p: fcnn.Adam(p, lr=1e-2, amsgrad=True, weight_decay=1e-3)),
    ("adamw", lambda p: fcnn.AdamW(p, lr=1e-2)),
    ("rmsprop-centered-momentum", lambda p: fcnn.RMSprop(p, lr=1e-3, momentum=0.5, centered=True)),
    ("adagrad", lambda p: fcnn.Adagrad(p, lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1)),
]


def _train(model, opt, batches):
    loss = fcnn.NLLLoss()
    for X, y in batches:
        opt.zero_grad()
        loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()


def _through_files(state):
    import json

    from safetensors.numpy import load, save

    meta, arrays = fcnn.optim.flatten_state_dict(state)
    return fcnn.optim.unflatten_state_dict(json.loads(json.dumps(meta)), load(save(arrays)))


@pytest.mark.parametrize("name,make", RESUMABLE, ids=[r[0] for r in RESUMABLE])
@pytest.mark.parametrize("packed", [True, False], ids=["flat-buffer", "per-parameter"])
@pytest.mark.parametrize("how", ["dict", "json+safetensors"])
def test_10_steps_equal_5_steps_state_dict_round_trip_and_5_steps(name, make, packed, how, rng):
    batches = [(rng.standard_normal((8, 6)), rng.integers(0, 3, 8)) for _ in range(10)]
    model = _model(packed, np.float64)
    opt = make(model.parameters())
    _train(model, opt, batches)

    half = _model(packed, np.float64)
    opt_half = make(half.parameters())
    _train(half, opt_half, batches[:5])
    state = opt_half.state_dict()
    if how == "json+safetensors":
        state = _through_files(state)
    resumed = _model(packed, np.float64)  # a fresh model with the half-way weights
    resumed.load_state_dict(half.state_dict())
    opt_resumed = make(resumed.parameters())
    opt_resumed.load_state_dict(state)
    assert (len(opt_resumed._groups) == 1) is packed
    _train(resumed, opt_resumed, batches[5:])
    for p, q in zip(model.parameters(), resumed.parameters(), strict=True):
        np.testing.assert_array_equal(p.weights, q.weights)
    assert opt_resumed.steps == opt.steps == 10
    after, ref = opt_resumed.state_dict(), opt.state_dict()
    assert after["param_groups"] == ref["param_groups"]
    for i, entry in ref["state"].items():
        assert after["state"][i].keys() == entry.keys()
        for key, value in entry.items():
            np.testing.assert_array_equal(after["state"][i][key], value)


def test_state_dict_is_per_parameter_in_parameter_order_and_a_copy(rng):
    model = fcnn.mlp([3, 4, 2], rng=0)
    opt = fcnn.Adam(model.parameters(), lr=0.01)
    assert opt.state_dict()["state"] == {}
    _train(model, opt, [(rng.standard_normal((5, 3)), rng.integers(0, 2, 5))])
    sd = opt.state_dict()
    assert sd["optimizer"] == "adam" and sd["param_groups"][0]["params"] == [0, 1, 2, 3]
    assert [sd["state"][i]["exp_avg"].shape for i in range(4)] == [p.shape for p in model.parameters()]
    sd["state"][0]["exp_avg"][...] = 99.0
    assert not (opt.state_dict()["state"][0]["exp_avg"] == 99.0).any()


def _refusal_cases(rng):
    model = fcnn.mlp([3, 4, 2], rng=0)
    adam = fcnn.Adam(model.parameters(), lr=0.01)
    _train(model, adam, [(rng.standard_normal((5, 3)), rng.integers(0, 2, 5))])
    good = adam.state_dict()
    wider = fcnn.mlp([3, 5, 2], rng=0)
    wide_adam = fcnn.Adam(wider.parameters())
    _train(wider, wide_adam, [(rng.standard_normal((5, 3)), rng.integers(0, 2, 5))])
    sgd = fcnn.SGD(model.parameters(), lr=0.1, momentum=0.9)
    _train(model, sgd, [(rng.standard_normal((5, 3)), rng.integers(0, 2, 5))])

    def edited(edit):
        sd = adam.state_dict()
        edit(sd)
        return sd

    return adam, [
        (sgd.state_dict(), ValueError, "from a 'sgd' optimizer, not 'adam'"),
        (fcnn.AdamW(model.parameters()).state_dict(), ValueError, "'adamw'"),
        (wide_adam.state_dict(), ValueError, r"has shape \(3, 5\), but its parameter has shape \(3, 4\)"),
        (fcnn.Adam(model.parameters()[:2]).state_dict(), ValueError, "for 2 parameters.*has 4"),
        (edited(lambda sd: sd.pop("optimizer") and sd["param_groups"][0].pop("betas")), ValueError,
         "lack betas"),
        (edited(lambda sd: sd["param_groups"][0].update(lr=-1.0)), ValueError, "lr"),
        (edited(lambda sd: sd["state"][1].update(momentum_buffer=np.zeros(4))), ValueError,
         "does not keep"),
        (edited(lambda sd: sd["state"][2].update(step=3)), ValueError, "one step count"),
        (edited(lambda sd: sd["state"].pop(3)), ValueError, "every parameter"),
        (edited(lambda sd: sd["state"][0].pop("exp_avg")), ValueError, "different buffers"),
        (edited(lambda sd: sd["state"][0].update(exp_avg=np.array(["a"] * 12).reshape(3, 4))),
         TypeError, "numeric array"),
        (edited(lambda sd: sd["state"].update({7: {}})), ValueError, r"indices in \[0, 4\)"),
        ({"state": {}}, TypeError, "'state' and 'param_groups'"),
        ([1, 2], TypeError, "expected a dict"),
    ], good


def test_foreign_state_dicts_are_refused_and_nothing_changes(rng):
    adam, cases, good = _refusal_cases(rng)
    for bad, error, words in cases:
        with pytest.raises(error, match=words):
            adam.load_state_dict(bad)
        now = adam.state_dict()
        assert now["param_groups"] == good["param_groups"] and adam.steps == 1
        for i, entry in good["state"].items():
            for key, value in entry.items():
                np.testing.assert_array_equal(now["state"][i][key], value)


def test_loaded_hyperparameters_replace_the_constructor_ones_as_in_torch():
    p = make_param([1.0, 2.0])
    source = fcnn.SGD([p], lr=0.3, momentum=0.9)
    target = fcnn.SGD([make_param([0.0, 0.0])], lr=0.01)
    target.load_state_dict(source.state_dict())
    assert target.lr == 0.3 and target.momentum == 0.9 and target.steps == 0
    from fcnn.lab import Optimizer as LabOptimizer

    lab = LabOptimizer([make_param([0.0, 0.0])], lr=0.2)  # the lab's SGD takes SGD state
    lab.load_state_dict(source.state_dict())
    assert lab.lr == 0.3


def test_flatten_state_dict_names_arrays_and_keeps_the_rest_json():
    sd = {"state": {0: {"step": 3, "exp_avg": np.ones((2, 2))}}, "param_groups": [
        {"betas": (0.9, 0.999), "lr": np.float64(0.1), "params": [0]}]}
    meta, arrays = fcnn.optim.flatten_state_dict(sd, prefix="optimizer.")
    assert list(arrays) == ["optimizer.state.0.exp_avg"]
    assert meta["state"]["0"]["exp_avg"] == {"__array__": "optimizer.state.0.exp_avg"}
    assert meta["param_groups"][0]["betas"] == [0.9, 0.999] and type(meta["param_groups"][0]["lr"]) is float
    back = fcnn.optim.unflatten_state_dict(meta, arrays)
    np.testing.assert_array_equal(back["state"]["0"]["exp_avg"], np.ones((2, 2)))
    with pytest.raises(ValueError, match="missing"):
        fcnn.optim.unflatten_state_dict(meta, {})


def test_an_optimizer_pickled_by_fcnn_0_1_still_steps():
    import pickle

    p = make_param([1.0, 2.0])
    opt = fcnn.Adam([p], lr=0.1, betas=(0.8, 0.9))
    old = opt.__getstate__()  # 0.1 kept the hyperparameters as attributes, without param_groups
    group = old.pop("param_groups")[0]
    del old["defaults"]
    old.update({k: v for k, v in group.items() if k not in ("params", "amsgrad")})
    restored = fcnn.Adam.__new__(fcnn.Adam)
    restored.__setstate__(pickle.loads(pickle.dumps(old)))
    assert restored.lr == 0.1 and restored.betas == (0.8, 0.9) and restored.amsgrad is False
    q = restored.params[0]
    q.grad = [1.0, 1.0]
    restored.step()
    np.testing.assert_allclose(q.weights, [0.9, 1.9])


def test_a_subclass_written_for_0_1_still_constructs():
    class Halving(fcnn.Optimizer):
        def __init__(self, params, lr):
            super().__init__(params, lr)

        def _update(self, w, g, state, group):
            w -= group["lr"] * g

    p = make_param([1.0])
    opt = Halving([p], 0.5)
    p.grad = [1.0]
    opt.step()
    assert opt.lr == 0.5 and p.weights[0] == 0.5
