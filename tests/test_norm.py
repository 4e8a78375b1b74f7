"""BatchNorm1d and LayerNorm against PyTorch, live: forward, dL/dX and every
parameter gradient on a seeded sweep of shapes (float64 to
``max|a - b| / (1 + max|b|) <= 1e-10``, float32 within 1e-5), BatchNorm1d's
running statistics after 25 training steps and its eval output; gradient checks;
extreme inputs; ``mlp(norm=...)``.
"""

import pickle
import warnings

import numpy as np
import pytest

import fcnn
from fcnn.registry import LAYERS

torch = pytest.importorskip("torch", reason="PyTorch is the parity reference: pip install torch==2.13.0")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def scaled_error(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def shapes(n: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(2, 70)), int(rng.integers(1, 40))) for _ in range(n)]


def torch_twin(layer, dtype=None):
    """PyTorch's layer with the same constructor arguments and the same current state
    (in ``dtype``, by default the layer's)."""
    dtype = TORCH_DTYPE[dtype or layer.dtype.type]
    if isinstance(layer, fcnn.BatchNorm1d):
        twin = torch.nn.BatchNorm1d(layer.num_features, layer.eps, layer.momentum, layer.affine,
                                    layer.track_running_stats, dtype=dtype)
    else:
        twin = torch.nn.LayerNorm(layer.num_features, layer.eps, layer.elementwise_affine,
                                  bias=layer.bias is not None, dtype=dtype)
    twin.load_state_dict({k: torch.from_numpy(v if v.dtype == np.int64 else v.astype(twin_dtype(dtype)))
                          for k, v in layer.state_dict().items()}, strict=True)
    twin.train(layer.training)
    return twin


def twin_dtype(torch_dtype):
    return np.float64 if torch_dtype == torch.float64 else np.float32


def compare(layer, X, dLdy, tol, reference=None):
    """Forward, dL/dX and each parameter gradient of ``layer`` against its PyTorch twin
    (run in ``reference``, a NumPy dtype, by default the layer's)."""
    twin = torch_twin(layer, reference)
    ref = reference or X.dtype.type
    Xt = torch.from_numpy(X.astype(ref)).requires_grad_(True)
    yt = twin(Xt)
    yt.backward(torch.from_numpy(dLdy.astype(ref)))
    layer.zero_grad()
    y = layer.forward(X)
    dX = layer.backward(dLdy)
    assert y.dtype == X.dtype and dX.dtype == X.dtype
    errors = {"y": scaled_error(y, yt.detach().numpy()), "dX": scaled_error(dX, Xt.grad.numpy())}
    torch_params = dict(twin.named_parameters())
    assert sorted(torch_params) == sorted(name for name, _ in layer.named_parameters())
    for name, p in layer.named_parameters():
        assert p.grad.dtype == X.dtype
        errors[name] = scaled_error(p.grad, torch_params[name].grad.numpy())
    for name, value in twin.named_buffers():  # the training step's running statistics
        errors[name] = scaled_error(getattr(layer, name), value.numpy())
    assert max(errors.values()) <= tol, errors
    return errors


def randomized(layer, rng):
    """Non-default affine parameters, so that gamma and beta mix-ups show."""
    if getattr(layer, "weight", None) is not None:
        layer.weight.weights = rng.uniform(0.5, 2.0, layer.weight.shape)
    if getattr(layer, "bias", None) is not None:
        layer.bias.weights = rng.standard_normal(layer.bias.shape)
    return layer


BN_OPTIONS = [
    {}, {"affine": False}, {"track_running_stats": False}, {"momentum": None}, {"eps": 1e-3},
]
LN_OPTIONS = [{}, {"elementwise_affine": False}, {"bias": False}, {"eps": 1e-3}]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", BN_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_batchnorm_training_step_matches_torch(options, dtype):
    rng = np.random.default_rng(1)
    for N, C in shapes():
        layer = randomized(fcnn.BatchNorm1d(C, dtype=dtype, **options), rng)
        X = (rng.standard_normal((N, C)) * rng.uniform(0.1, 10, C) + rng.uniform(-5, 5, C)).astype(dtype)
        compare(layer, X, rng.standard_normal((N, C)).astype(dtype), TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("options", LN_OPTIONS, ids=lambda o: ",".join(o) or "default")
def test_layernorm_matches_torch(options, dtype):
    rng = np.random.default_rng(2)
    for N, C in shapes():
        layer = randomized(fcnn.LayerNorm(C, dtype=dtype, **options), rng)
        X = (rng.standard_normal((N, C)) * 3 + 1).astype(dtype)
        dLdy = rng.standard_normal((N, C)).astype(dtype)
        if dtype == np.float32 and C <= 2:
            # With one or two features dL/dX is a difference of nearly equal terms: float32
            # rounding leaves ~2e-5 in PyTorch's as in fcnn's (for C = 1 the exact value is 0,
            # PyTorch's float32 gives 3e-5). Compared with PyTorch in float64 instead.
            compare(layer, X, dLdy, 1e-4, reference=np.float64)
        else:
            compare(layer, X, dLdy, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_running_stats_after_25_steps_and_eval_match_torch(momentum, dtype):
    rng = np.random.default_rng(3)
    C = 7
    layer = randomized(fcnn.BatchNorm1d(C, momentum=momentum, dtype=dtype), rng)
    twin = torch_twin(layer)
    for _ in range(25):
        X = (rng.standard_normal((int(rng.integers(2, 40)), C)) * 4 + 2).astype(dtype)
        layer.forward(X)
        twin(torch.from_numpy(X))
    assert int(layer.num_batches_tracked) == int(twin.num_batches_tracked) == 25
    assert layer.num_batches_tracked.dtype == np.int64
    for name in ("running_mean", "running_var"):
        assert getattr(layer, name).dtype == dtype
        assert scaled_error(getattr(layer, name), getattr(twin, name).numpy()) <= TOL[dtype], name
    layer.eval()
    twin.eval()
    X = (rng.standard_normal((9, C)) * 4 + 2).astype(dtype)
    dLdy = rng.standard_normal((9, C)).astype(dtype)
    before = layer.state_dict()
    errors = compare(layer, X, dLdy, TOL[dtype])  # eval forward, dL/dX and gradients
    assert set(errors) >= {"y", "dX", "weight", "bias"}
    for key, value in layer.state_dict().items():  # eval mode leaves the statistics alone
        np.testing.assert_array_equal(value, before[key])
    layer.forward(X[:1])  # one sample is fine in eval mode


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval_like_torch():
    rng = np.random.default_rng(4)
    layer = randomized(fcnn.BatchNorm1d(5, track_running_stats=False), rng).eval()
    assert list(layer.state_dict()) == ["weight", "bias"]
    X = rng.standard_normal((8, 5)) * 3
    compare(layer, X, rng.standard_normal((8, 5)), TOL[np.float64])
    with pytest.raises(ValueError, match="more than 1 value"):
        layer.forward(X[:1])


def test_state_dict_keys_and_dtypes_are_torchs():
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.BatchNorm1d(5), torch.nn.ReLU(),
                              torch.nn.Linear(5, 3))
    model = fcnn.mlp([4, 5, 3], norm="batch", rng=0)
    assert list(model.state_dict()) == list(ref.state_dict())
    assert {k: str(v.dtype) for k, v in model.state_dict().items() if "num_batches" in k} == {
        "1.num_batches_tracked": "int64"}
    ln = fcnn.mlp([4, 5, 3], norm="layer", rng=0)
    ref_ln = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.LayerNorm(5), torch.nn.ReLU(),
                                 torch.nn.Linear(5, 3))
    assert list(ln.state_dict()) == list(ref_ln.state_dict())


@pytest.mark.parametrize("cls", [fcnn.BatchNorm1d, fcnn.LayerNorm])
def test_gradient_check_through_the_registry_example(cls):
    assert LAYERS[cls.__name__] is cls
    X = np.random.default_rng(5).standard_normal((6, 4)) * 2 + 1
    for training in (True, False):
        layer = cls.example(4, dtype=np.float64, rng=0)
        layer.train(training)
        if cls is fcnn.BatchNorm1d and not training:  # non-trivial running statistics first
            layer.train().forward(X * 3 - 1)
            layer.eval()
        report = fcnn.check_layer(layer, X)
        assert report.passed(1e-7), str(report)
        assert {r.name for r in report.rows} == {"X", "weight", "bias"}


@pytest.mark.parametrize("options", [{"affine": False}, {"track_running_stats": False}])
def test_gradient_check_batchnorm_variants(options):
    X = np.random.default_rng(6).standard_normal((5, 3))
    report = fcnn.check_layer(fcnn.BatchNorm1d(3, **options), X)
    assert report.passed(1e-7), str(report)


def test_gradient_check_layernorm_without_bias():
    X = np.random.default_rng(7).standard_normal((4, 5))
    report = fcnn.check_layer(randomized(fcnn.LayerNorm(5, bias=False), np.random.default_rng(0)), X)
    assert report.passed(1e-7), str(report)
    assert [r.name for r in report.rows] == ["X", "weight"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls", [fcnn.BatchNorm1d, fcnn.LayerNorm])
def test_extreme_inputs_stay_finite_without_warnings(cls, dtype):
    X = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [1e4, 1e4, -1e4], [3.0, 3.0, 3.0]], dtype)
    constant = np.full((4, 3), 1e4, dtype)  # zero variance: 1/sqrt(eps), never a division by zero
    for data in (X, constant):
        layer = cls.example(3, dtype=dtype, rng=0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = layer.forward(data)
            dX = layer.backward(np.ones_like(y) * 1e4)
            if cls is fcnn.BatchNorm1d:
                layer.eval().forward(data)
        for a in (y, dX, *(p.grad for p in layer.parameters()), *dict(layer.named_buffers()).values()):
            assert np.isfinite(a).all()
            assert a.dtype == dtype or a.dtype == np.int64


def test_float32_stays_float32_and_input_follows_the_parameters():
    layer = fcnn.BatchNorm1d(3, dtype=np.float32)
    y = layer.forward(np.random.default_rng(0).standard_normal((4, 3)))  # float64 in
    assert y.dtype == np.float32 and layer.running_var.dtype == np.float32
    assert layer.backward(np.ones((4, 3))).dtype == np.float32


def test_a_one_sample_training_batch_is_refused_and_changes_nothing():
    layer = fcnn.BatchNorm1d(3)
    before = layer.state_dict()
    with pytest.raises(ValueError, match=r"more than 1 value per feature.*\(1, 3\)"):
        layer.forward(np.ones((1, 3)))
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


def test_config_rebuilds_and_pickling_drops_the_cache():
    for layer in (fcnn.BatchNorm1d(3, momentum=None, affine=False, dtype=np.float32),
                  fcnn.LayerNorm((3,), eps=1e-3, bias=False)):
        clone = type(layer)(**layer.get_config())
        assert repr(clone) == repr(layer)
        assert [(k, v.dtype) for k, v in clone.state_dict().items()] == [
            (k, v.dtype) for k, v in layer.state_dict().items()]
        layer.forward(np.random.default_rng(0).standard_normal((4, 3)))
        copy = pickle.loads(pickle.dumps(layer))
        assert all(getattr(copy, name) is None for name in type(layer)._cache)
    assert repr(fcnn.BatchNorm1d(4)) == (
        "BatchNorm1d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)")
    assert repr(fcnn.LayerNorm(4)) == "LayerNorm((4,), eps=1e-05, elementwise_affine=True)"


# -- mlp(norm=...) --------------------------------------------------------------------------


def test_mlp_places_norm_between_linear_and_activation_and_keeps_the_seeds():
    plain = fcnn.mlp([4, 6, 6, 3], "tanh", rng=3, dropout=0.2)
    normed = fcnn.mlp([4, 6, 6, 3], "tanh", rng=3, dropout=0.2, norm="batch")
    kinds = [type(layer).__name__ for layer in normed]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Linear", "BatchNorm1d", "Tanh",
                     "Dropout", "Linear"]
    linears = [layer for layer in normed if isinstance(layer, fcnn.Linear)]
    for a, b in zip([layer for layer in plain if isinstance(layer, fcnn.Linear)], linears):
        np.testing.assert_array_equal(a.weight.weights, b.weight.weights)
        np.testing.assert_array_equal(a.bias.weights, b.bias.weights)
    drops = [layer for layer in plain if isinstance(layer, fcnn.Dropout)]
    for a, b in zip(drops, [layer for layer in normed if isinstance(layer, fcnn.Dropout)]):
        assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert [type(layer).__name__ for layer in fcnn.mlp([4, 6, 3], norm="layer")] == [
        "Linear", "LayerNorm", "ReLU", "Linear"]


def test_mlp_packs_norm_parameters_with_the_rest_and_trains_like_torch():
    model = fcnn.mlp([5, 8, 8, 3], norm="batch", rng=0)
    params = model.parameters()
    assert len(params) == 10  # 3 Linear pairs and 2 BatchNorm1d pairs
    base = params[0].weights.base
    assert base is not None and all(p.weights.base is base for p in params)  # one flat buffer
    twin = torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
        torch.nn.Linear(8, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(), torch.nn.Linear(8, 3),
    ).double()
    state = {k: (v.T if k.endswith("weight") and v.ndim == 2 else v) for k, v in model.state_dict().items()}
    twin.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    opt, topt = fcnn.SGD(params, lr=0.1), torch.optim.SGD(twin.parameters(), lr=0.1)
    loss, tloss = fcnn.NLLLoss(), torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(1)
    for _ in range(25):
        X, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
        opt.zero_grad()
        loss.forward(model.forward(X), y)
        model.backward(loss.backward())
        opt.step()
        topt.zero_grad()
        tloss(twin(torch.from_numpy(X)), torch.from_numpy(y)).backward()
        topt.step()
    X = rng.standard_normal((10, 5))
    model.eval()
    twin.eval()
    assert scaled_error(model.forward(X), twin(torch.from_numpy(X)).detach().numpy()) <= 1e-10
    for key, value in twin.state_dict().items():
        ours = model.state_dict()[key]
        ours = ours.T if ours.ndim == 2 else ours
        assert scaled_error(ours, value.numpy()) <= 1e-10, key


def test_mlp_norm_and_activation_choices_are_listed_on_a_mistake():
    with pytest.raises(ValueError, match="norm must be one of None, 'batch', 'layer'; got 'group'"):
        fcnn.mlp([4, 3, 2], norm="group")
    with pytest.raises(ValueError, match=r"gelu.*silu"):
        fcnn.mlp([4, 3, 2], activation="swish")


# -- state travels with the model -------------------------------------------------------------


def every_new_layer_kind(dtype):
    rng = np.random.default_rng(8)
    return fcnn.Sequential(
        fcnn.Standardize(rng.standard_normal(4), rng.uniform(0.5, 2, 4), dtype=dtype),
        fcnn.Linear(4, 6, rng=0, dtype=dtype), fcnn.BatchNorm1d(6, dtype=dtype), fcnn.GELU(),
        fcnn.Linear(6, 6, rng=1, dtype=dtype), fcnn.LayerNorm(6, dtype=dtype), fcnn.ELU(0.7),
        fcnn.Linear(6, 6, rng=2, dtype=dtype), fcnn.BatchNorm1d(6, momentum=None, dtype=dtype),
        fcnn.SiLU(), fcnn.GELU("tanh"), fcnn.Identity(), fcnn.Linear(6, 3, rng=3, dtype=dtype),
        fcnn.Softmax(), fcnn.LogSoftmax(dim=1),
    )


def trained(model, dtype):
    rng = np.random.default_rng(9)
    opt = fcnn.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        y = model.forward(rng.standard_normal((10, 4)).astype(dtype))
        model.backward(rng.standard_normal(y.shape).astype(dtype))
        opt.step()
    return model.eval()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_config_and_state_dict_rebuild_every_new_layer_bit_identically(dtype):
    model = trained(every_new_layer_kind(dtype), dtype)
    config = model.get_config()
    import json

    json.dumps(config)  # the config is JSON, no arrays
    clone = fcnn.Sequential(*[LAYERS[c["type"]](**c["config"]) for c in config["layers"]])
    clone.load_state_dict(model.state_dict())
    clone.eval()
    X = np.random.default_rng(10).standard_normal((7, 4)).astype(dtype)
    np.testing.assert_array_equal(clone.forward(X), model.forward(X))
    assert int(clone[8].num_batches_tracked) == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_save_and_load_every_new_layer_bit_identically(dtype, tmp_path):
    model = trained(every_new_layer_kind(dtype), dtype)
    fcnn.save(model, tmp_path / "m.safetensors")
    loaded = fcnn.load(tmp_path / "m.safetensors").eval()
    X = np.random.default_rng(10).standard_normal((7, 4)).astype(dtype)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(loaded.state_dict()[key], value)
        assert loaded.state_dict()[key].dtype == value.dtype
