"""The layer contract every outer part is written against: named_parameters,
named_buffers, state_dict/load_state_dict, get_config, the registry, dir(fcnn)."""

import subprocess
import sys

import numpy as np
import pytest

import fcnn
from fcnn.registry import ACTIVATIONS, LAYERS, register_layer


def test_named_parameters_use_pytorchs_keys_and_order():
    model = fcnn.mlp([4, 5, 3], rng=0)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [p for _, p in model.named_parameters()] == model.parameters()
    assert model[0].weight is model[0].w  # the lab's name is an alias, not a copy


def test_state_dict_matches_torch_keys():
    torch = pytest.importorskip("torch")
    model = fcnn.mlp([4, 5, 5, 3], rng=0)
    ref = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 5),
                              torch.nn.ReLU(), torch.nn.Linear(5, 3))
    assert list(model.state_dict()) == list(ref.state_dict())


def test_state_dict_is_a_copy_and_round_trips_into_a_fresh_model():
    a, b = fcnn.mlp([4, 6, 3], rng=0), fcnn.mlp([4, 6, 3], rng=1)
    state = a.state_dict()
    state["0.weight"][0, 0] = 123.0
    assert a[0].weight.weights[0, 0] != 123.0
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    X = np.random.default_rng(2).standard_normal((5, 4))
    np.testing.assert_array_equal(a.forward(X), b.forward(X))


@pytest.mark.parametrize(
    "edit, error, words",
    [
        (lambda d: d.pop("2.bias"), KeyError, "missing keys \\['2.bias'\\]"),
        (lambda d: d.update(extra=np.zeros(1)), KeyError, "unexpected keys \\['extra'\\]"),
        (lambda d: d.update({"2.bias": np.zeros(4)}), fcnn.ShapeError, "shape \\(4,\\).*\\(3,\\)"),
        (lambda d: d.update({"2.bias": np.zeros(3, np.float32)}), TypeError, "float32.*float64"),
    ],
    ids=["missing", "unexpected", "shape", "dtype"],
)
def test_load_state_dict_refuses_and_changes_nothing(edit, error, words):
    model = fcnn.mlp([4, 6, 3], rng=0)
    before = model.state_dict()
    bad = {k: np.full_like(v, 7.0) for k, v in before.items()}
    edit(bad)
    with pytest.raises(error, match=words):
        model.load_state_dict(bad)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])  # not even the valid keys were written


def test_load_state_dict_not_strict_reports_what_it_skipped():
    model = fcnn.mlp([4, 6, 3], rng=0)
    state = model.state_dict()
    del state["0.bias"]
    state["other"] = np.zeros(2)
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias"] and result.unexpected_keys == ["other"]


def test_buffers_are_state_but_not_parameters():
    class Shift(fcnn.Layer):
        def __init__(self, n: int = 3) -> None:
            self.register_buffer("offset", np.arange(n, dtype=np.float64))

        def forward(self, X):
            return X + self.offset

        def backward(self, dLdy):
            return dLdy

    layer = Shift()
    assert layer.parameters() == []
    assert [name for name, _ in layer.named_buffers()] == ["offset"]
    model = fcnn.Sequential(fcnn.Linear(3, 3, rng=0), layer)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.offset"]
    state = model.state_dict()
    state["1.offset"] = np.array([5.0, 6.0, 7.0])
    model.load_state_dict(state)
    np.testing.assert_array_equal(layer.offset, [5.0, 6.0, 7.0])


def test_get_config_rebuilds_each_registered_layer():
    for name, cls in LAYERS.items():
        layer = cls.example(4, dtype=np.float64, rng=0)
        clone = cls(**layer.get_config())
        assert type(clone) is cls, name
        assert [(k, v.shape, v.dtype) for k, v in clone.state_dict().items()] == [
            (k, v.shape, v.dtype) for k, v in layer.state_dict().items()], name


def test_registry_refuses_a_name_taken_by_another_class():
    with pytest.raises(ValueError, match="already taken"):
        @register_layer(name="Linear")
        class NotLinear(fcnn.Layer):
            pass
    assert LAYERS["Linear"] is fcnn.Linear


def test_registry_tables_drive_mlp_activations():
    assert {"relu", "tanh", "logistic", "sigmoid", "leaky_relu"} <= set(ACTIVATIONS)
    with pytest.raises(ValueError, match="relu"):
        fcnn.mlp([2, 3, 1], activation="swishy")


def test_summary_lists_layers_shapes_and_counts():
    text = fcnn.mlp([4, 10, 3], rng=0).summary()
    assert "(N, 10)" in text and "(N, 3)" in text
    assert "83 trainable" in text  # 4*10 + 10 + 10*3 + 3


def test_dir_lists_lazy_names_and_version_has_its_own_module():
    assert {"train", "save", "load", "check_layer"} <= set(dir(fcnn))
    from fcnn._version import __version__

    assert fcnn.__version__ == __version__


def test_import_fcnn_loads_numpy_alone():
    code = ("import sys, fcnn; heavy = {'scipy', 'sklearn', 'torch', 'matplotlib', 'safetensors', "
            "'tqdm', 'pandas', 'onnx'} & {m.split('.')[0] for m in sys.modules}; print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_add_grad_writes_after_set_to_none_and_adds_otherwise():
    p = fcnn.Parameter(np.zeros((2, 2)))
    A, B = np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]])
    p.grad = np.full((2, 2), 9.0)
    p.zero_grad(set_to_none=True)
    p.add_grad(np.matmul, A, B)
    np.testing.assert_array_equal(p.grad, B)  # written, the stale 9s are gone
    p.add_grad(np.matmul, A, B)
    np.testing.assert_array_equal(p.grad, 2 * B)  # accumulated


@pytest.mark.parametrize(
    "model, key, bad",
    [
        (lambda: fcnn.Sequential(fcnn.Standardize([0.0, 1.0], [1.0, 2.0]), fcnn.Linear(2, 2, rng=0)),
         "0.scale", np.array([1.0, 0.0])),
        (lambda: fcnn.Sequential(fcnn.Linear(2, 2, rng=0), fcnn.BatchNorm1d(2)),
         "1.running_var", np.array([1.0, -1.0])),
    ],
    ids=["standardize-scale-0", "batchnorm-negative-variance"],
)
def test_state_breaking_a_layers_rules_is_refused_in_dicts_and_files(model, key, bad, tmp_path):
    m = model()
    before = m.state_dict()
    with pytest.raises(ValueError):
        m.load_state_dict({**before, key: bad})
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    # the same values written into a model file: fcnn.load names the file and refuses
    import safetensors.numpy

    path = tmp_path / "m.safetensors"
    fcnn.save(m, path)
    with open(path, "rb") as f:
        header_len = int.from_bytes(f.read(8), "little")
        import json

        header = json.loads(f.read(header_len))
    tensors = safetensors.numpy.load_file(str(path))
    tensors[key] = bad.astype(tensors[key].dtype)
    safetensors.numpy.save_file(tensors, str(path), metadata=header["__metadata__"])
    with pytest.raises(fcnn.ModelFileError, match=r"m\.safetensors"):
        fcnn.load(path)
