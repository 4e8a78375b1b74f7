"""Parity with PyTorch CPU, the gold model: forward outputs, losses, dL/dX,
every parameter gradient and 25 optimizer steps agree in float64 to
``max|a - b| / (1 + max|b|) < 1e-10``; float32 within 1e-5.
"""

import numpy as np
import pytest

import fcnn

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference: pip install torch==2.13.0")

TORCH_ACT = {
    "relu": torch.nn.ReLU,
    "leaky_relu": lambda: torch.nn.LeakyReLU(0.01),
    "sigmoid": torch.nn.Sigmoid,
    "tanh": torch.nn.Tanh,
}


def scaled_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def torch_twin(model: fcnn.Sequential, activation: str, dtype) -> "torch.nn.Sequential":
    layers = []
    for layer in model.layers:
        if isinstance(layer, fcnn.Linear):
            lin = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer.w.weights.T.copy()))
                lin.bias.copy_(torch.from_numpy(layer.bias.weights.copy()))
            layers.append(lin)
        else:
            layers.append(TORCH_ACT[activation]())
    return torch.nn.Sequential(*layers)


def torch_grads(tmodel):
    out = []
    for m in tmodel:
        if isinstance(m, torch.nn.Linear):
            out += [m.weight.grad.numpy().T, m.bias.grad.numpy()]
    return out


def torch_weights(tmodel):
    out = []
    for m in tmodel:
        if isinstance(m, torch.nn.Linear):
            out += [m.weight.detach().numpy().T, m.bias.detach().numpy()]
    return out


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_loss_and_gradients_match_torch_float64(activation, seed):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 40)) for _ in range(int(rng.integers(2, 5)))] + [int(rng.integers(2, 8))]
    N = int(rng.integers(1, 50))
    model = fcnn.mlp(sizes, activation, rng=seed)
    tmodel = torch_twin(model, activation, torch.float64)
    X = rng.standard_normal((N, sizes[0])) * 3
    y = rng.integers(0, sizes[-1], N)

    loss = fcnn.NLLLoss()
    out = model.forward(X)
    value = loss.forward(out, y)
    dX = model.backward(loss.backward())

    Xt = torch.from_numpy(X).requires_grad_(True)
    tout = tmodel(Xt)
    tloss = torch.nn.functional.cross_entropy(tout, torch.from_numpy(y))
    tloss.backward()

    assert scaled_error(out, tout.detach().numpy()) < 1e-10
    assert abs(value - tloss.item()) / (1 + abs(tloss.item())) < 1e-10
    assert scaled_error(dX, Xt.grad.numpy()) < 1e-10
    for p, g in zip(model.parameters(), torch_grads(tmodel)):
        assert scaled_error(p.grad, g) < 1e-10


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss_matches_torch(reduction, rng):
    pred, target = rng.standard_normal((7, 3)), rng.standard_normal((7, 3))
    loss = fcnn.MSELoss(reduction)
    value = loss.forward(pred, target)
    grad = loss.backward()
    p = torch.from_numpy(pred).requires_grad_(True)
    t = torch.nn.functional.mse_loss(p, torch.from_numpy(target), reduction=reduction)
    t.backward()
    assert abs(value - t.item()) / (1 + abs(t.item())) < 1e-12
    assert scaled_error(grad, p.grad.numpy()) < 1e-12


def test_dropout_matches_torch_given_the_same_mask(rng):
    layer = fcnn.Dropout(0.3, rng=5)
    X = rng.standard_normal((20, 10))
    y = layer.forward(X)
    keep = y != 0
    # PyTorch's dropout scales survivors by 1/(1-p) too
    np.testing.assert_allclose(y[keep], X[keep] / 0.7, rtol=1e-15)
    g = layer.backward(np.ones_like(X))
    np.testing.assert_allclose(g, keep / 0.7, rtol=1e-15)
    assert 0.5 < keep.mean() < 0.9


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_float32_forward_backward_within_1e5(activation, rng):
    model = fcnn.mlp([10, 32, 32, 4], activation, rng=3, dtype=np.float32)
    tmodel = torch_twin(model, activation, torch.float32)
    X = rng.standard_normal((16, 10)).astype(np.float32)
    y = rng.integers(0, 4, 16)
    loss = fcnn.NLLLoss()
    out = model.forward(X)
    assert out.dtype == np.float32
    loss.forward(out, y)
    dX = model.backward(loss.backward())
    assert dX.dtype == np.float32
    Xt = torch.from_numpy(X).requires_grad_(True)
    tout = tmodel(Xt)
    torch.nn.functional.cross_entropy(tout, torch.from_numpy(y)).backward()
    assert scaled_error(out, tout.detach().numpy()) < 1e-5
    assert scaled_error(dX, Xt.grad.numpy()) < 1e-5
    for p, g in zip(model.parameters(), torch_grads(tmodel)):
        assert p.grad.dtype == np.float32
        assert scaled_error(p.grad, g) < 1e-5


OPTIMIZERS = [
    ("sgd", lambda p: fcnn.SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (
        "sgd-momentum-nesterov-wd",
        lambda p: fcnn.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    ),
    (
        "sgd-momentum-dampening",
        lambda p: fcnn.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3),
    ),
    (
        "adam",
        lambda p: fcnn.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-3),
        lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-3),
    ),
    (
        "adamw",
        lambda p: fcnn.AdamW(p, lr=1e-2, weight_decay=0.05),
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05),
    ),
    (
        "rmsprop-centered-momentum",
        lambda p: fcnn.RMSprop(p, lr=1e-3, alpha=0.9, momentum=0.5, centered=True, weight_decay=1e-3),
        lambda p: torch.optim.RMSprop(p, lr=1e-3, alpha=0.9, momentum=0.5, centered=True,
                                      weight_decay=1e-3),
    ),
    ("rmsprop", lambda p: fcnn.RMSprop(p, lr=1e-3), lambda p: torch.optim.RMSprop(p, lr=1e-3)),
]


@pytest.mark.parametrize("name,make,make_torch", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("packed", [True, False], ids=["flat-buffer", "per-parameter"])
def test_25_optimizer_steps_match_torch(name, make, make_torch, packed, rng):
    if packed:
        model = fcnn.mlp([6, 16, 16, 3], "tanh", rng=11)
    else:  # layers built by hand: parameters are separate arrays
        model = fcnn.Sequential(fcnn.Linear(6, 16, rng=11), fcnn.Tanh(), fcnn.Linear(16, 16, rng=12),
                                fcnn.Tanh(), fcnn.Linear(16, 3, rng=13))
    tmodel = torch_twin(model, "tanh", torch.float64)
    opt, topt = make(model.parameters()), make_torch(tmodel.parameters())
    assert (len(opt._groups) == 1) is packed
    loss = fcnn.NLLLoss()
    for _ in range(25):
        X = rng.standard_normal((12, 6))
        y = rng.integers(0, 3, 12)
        opt.zero_grad()
        loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
        topt.zero_grad()
        torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
    for p, w in zip(model.parameters(), torch_weights(tmodel)):
        assert scaled_error(p.weights, w) < 1e-10
