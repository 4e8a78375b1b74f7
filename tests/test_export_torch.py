"""PyTorch interchange, checked against torch itself (called live).

``to_torch`` then ``from_torch`` gives the same bits; the torch module computes fcnn's
numbers (float64, 1e-12) in train mode (BatchNorm1d's batch statistics and running
averages) and in eval mode; ``fcnn.save(..., layout="torch")`` files load into a
``torch.nn.Sequential`` built by hand with ``strict=True``, and PyTorch's own files
load into fcnn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fcnn
from fcnn.errors import ModelFileError, ShapeError

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from fcnn.export.torch import from_torch, load_state_dict_file, to_torch, torch_state_dict  # noqa: E402

DTYPES = (np.float32, np.float64)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def every_kind(dtype: Any, seed: int = 0, dropout: float = 0.3) -> fcnn.Sequential:
    """One network holding every layer kind both libraries have, with random state."""
    rng = np.random.default_rng(seed)
    bn = fcnn.BatchNorm1d(6, momentum=0.2, dtype=dtype)
    bn.running_mean[:] = rng.standard_normal(6)
    bn.running_var[:] = rng.uniform(0.5, 2.0, 6)
    bn.num_batches_tracked[...] = 3
    bn.weight.weights = rng.uniform(0.5, 1.5, 6)
    bn.bias.weights = rng.standard_normal(6)
    ln = fcnn.LayerNorm(5, eps=1e-4, dtype=dtype)
    ln.weight.weights = rng.uniform(0.5, 1.5, 5)
    ln.bias.weights = rng.standard_normal(5)
    return fcnn.Sequential(
        fcnn.Standardize(rng.standard_normal(4), rng.uniform(0.5, 2.0, 4), dtype=dtype),
        fcnn.Linear(4, 6, rng=rng, dtype=dtype), bn, fcnn.ReLU(),
        fcnn.Sequential(fcnn.Linear(6, 5, rng=rng, dtype=dtype), fcnn.ELU(0.7)),  # nested
        ln, fcnn.GELU(), fcnn.Linear(5, 5, rng=rng, dtype=dtype), fcnn.GELU("tanh"), fcnn.SiLU(),
        fcnn.BatchNorm1d(5, affine=False, momentum=None, dtype=dtype),
        fcnn.LayerNorm(5, elementwise_affine=False, dtype=dtype), fcnn.LeakyReLU(0.2), fcnn.Tanh(),
        fcnn.Dropout(dropout, rng=0), fcnn.Linear(5, 4, rng=rng, dtype=dtype), fcnn.Sigmoid(),
        fcnn.Identity(), fcnn.BatchNorm1d(4, track_running_stats=False, dtype=dtype),
        fcnn.Softplus(1.5, 2.0),
        fcnn.Linear(4, 3, rng=rng, dtype=dtype), fcnn.Softmax(dim=1), fcnn.LogSoftmax(),
    )


def leaves(model: fcnn.Sequential) -> list[fcnn.Layer]:
    return [leaf for layer in model for leaf in (leaves(layer) if isinstance(layer, fcnn.Sequential)
                                                 else [layer])]


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
def test_to_torch_then_from_torch_gives_the_same_bits(dtype: Any, mode: str) -> None:
    model = every_kind(dtype)
    model.train(mode == "train")
    if mode == "mixed":
        leaves(model)[2].eval()
        model[4].train()
    back = from_torch(to_torch(model))
    assert repr(back) == repr(model)
    before, after = model.state_dict(), back.state_dict()
    assert list(after) == list(before)
    for key in before:
        assert after[key].dtype == before[key].dtype and after[key].tobytes() == before[key].tobytes(), key
    assert [layer.get_config() for layer in leaves(back)] == [layer.get_config() for layer in leaves(model)]
    assert [layer.training for layer in leaves(back)] == [layer.training for layer in leaves(model)]
    assert back.training == model.training and back[4].training == model[4].training


def test_the_torch_module_has_torchs_own_layers_keys_and_modes() -> None:
    model = every_kind(np.float64).eval()
    module = to_torch(model)
    assert isinstance(module, torch.nn.Sequential)
    assert type(module[1]) is torch.nn.Linear and type(module[2]) is torch.nn.BatchNorm1d
    assert type(module[4]) is torch.nn.Sequential and type(module[5]) is torch.nn.LayerNorm
    assert list(module.state_dict()) == list(model.state_dict())
    assert module[1].weight.shape == (6, 4) and module[1].weight.dtype == torch.float64
    assert not module.training and not module[2].training
    assert module[2].num_batches_tracked.item() == 3 and module[2].momentum == 0.2
    assert module[10].momentum is None and module[10].weight is None
    assert module[18].running_mean is None  # track_running_stats=False
    assert module[-2].dim == 1 and module[6].approximate == "none" and module[8].approximate == "tanh"


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_torch_computes_fcnns_numbers(dtype: Any, mode: str) -> None:
    # train mode: BatchNorm1d's batch statistics and running-average updates (no dropout,
    # whose masks come from two different generators)
    model = every_kind(dtype, dropout=0.0).train(mode == "train")
    module = to_torch(model)
    X = np.random.default_rng(1).standard_normal((37, 4)).astype(dtype)
    tolerance = 1e-12 if dtype == np.float64 else 1e-5
    for _ in range(3):  # the running statistics move in train mode
        expected = model.forward(X)
        got = module(torch.from_numpy(X)).detach().numpy()
        assert got.dtype == dtype
        assert relative_error(got, expected) <= tolerance
    ours = torch_state_dict(model)  # fcnn's state in PyTorch's shapes
    theirs = {k: v.numpy() for k, v in module.state_dict().items()}
    assert list(theirs) == list(ours)
    for key, value in ours.items():
        if key.endswith("num_batches_tracked"):
            assert int(theirs[key]) == int(value) == (6 if mode == "train" and key == "2.num_batches_tracked"
                                                      else 3 if key == "2.num_batches_tracked" else 0
                                                      if mode == "eval" else 3), key
        else:
            assert relative_error(theirs[key], value) <= tolerance, key


def test_from_torch_reads_a_module_built_in_torch() -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.GELU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(8, 3),
    ).double()
    module(torch.randn(16, 4, dtype=torch.float64))  # running statistics away from 0 and 1
    module.eval()
    model = from_torch(module)
    assert not model.training and type(model[1]) is fcnn.BatchNorm1d
    X = np.random.default_rng(2).standard_normal((37, 4))
    expected = module(torch.from_numpy(X)).detach().numpy()
    assert relative_error(fcnn.predict(model, X), expected) <= 1e-12
    assert int(model[1].num_batches_tracked) == 1


# --------------------------------------------------------------------------- files in PyTorch's layout


def hand_built_torch(dtype: Any) -> Any:
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6), torch.nn.Tanh(),
                               torch.nn.LayerNorm(6), torch.nn.Linear(6, 3)).to(getattr(torch, np.dtype(
                                   dtype).name))


def fcnn_twin(dtype: Any, rng: int = 0) -> fcnn.Sequential:
    return fcnn.Sequential(fcnn.Linear(4, 6, rng=rng, dtype=dtype), fcnn.BatchNorm1d(6, dtype=dtype),
                           fcnn.Tanh(), fcnn.LayerNorm(6, dtype=dtype), fcnn.Linear(6, 3, rng=rng + 1,
                                                                                     dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_a_torch_layout_file_loads_into_torch_strictly_and_back_into_fcnn(dtype: Any, tmp_path: Path) -> None:
    model = fcnn_twin(dtype)
    X = np.random.default_rng(3).standard_normal((37, 4)).astype(dtype)
    fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, np.arange(37) % 3,
               epochs=2, batch_size=8, progress=False)  # running statistics and weights away from init
    model.eval()
    path = tmp_path / "m.safetensors"
    fcnn.save(model, path, layout="torch", classes=["a", "b", "c"])
    module = hand_built_torch(dtype).eval()
    result = module.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert module[0].weight.shape == (6, 4)
    expected = fcnn.predict(model, X)
    assert relative_error(module(torch.from_numpy(X)).detach().numpy(), expected) <= (
        1e-12 if dtype == np.float64 else 1e-6)

    fresh = fcnn_twin(dtype, rng=7)
    load_state_dict_file(fresh, path)
    assert fcnn.predict(fresh, X).tobytes() == expected.tobytes()

    # a file PyTorch wrote from its own state_dict()
    torch_path = tmp_path / "t.safetensors"
    safetensors_torch.save_file(module.state_dict(), str(torch_path))
    again = fcnn_twin(dtype, rng=9)
    load_state_dict_file(again, torch_path)
    assert fcnn.predict(again, X).tobytes() == expected.tobytes()


def test_load_state_dict_file_refusals_change_nothing(tmp_path: Path) -> None:
    model = fcnn_twin(np.float64)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    wrong = tmp_path / "wrong.safetensors"
    safetensors_torch.save_file(torch.nn.Sequential(torch.nn.Linear(4, 5)).double().state_dict(), str(wrong))
    with pytest.raises(KeyError, match="missing keys"):
        load_state_dict_file(model, wrong)
    partial = tmp_path / "partial.safetensors"
    state = hand_built_torch(np.float64).state_dict()
    state["4.weight"] = torch.zeros(3, 5, dtype=torch.float64)
    safetensors_torch.save_file(state, str(partial))
    with pytest.raises(ShapeError, match=r"4\.weight"):
        load_state_dict_file(model, partial)
    single = tmp_path / "single.safetensors"
    safetensors_torch.save_file(hand_built_torch(np.float32).state_dict(), str(single))
    with pytest.raises(TypeError, match=r"float32.*dtype=float32"):
        load_state_dict_file(model, single)
    fcnn_file = tmp_path / "fcnn.safetensors"
    fcnn.save(model, fcnn_file)
    with pytest.raises(ModelFileError, match=r"fcnn\.load"):
        load_state_dict_file(model, fcnn_file)
    with pytest.raises(FileNotFoundError):
        load_state_dict_file(model, tmp_path / "missing.safetensors")
    for key, value in model.state_dict().items():
        assert value.tobytes() == before[key].tobytes(), key


# --------------------------------------------------------------------------- refusals


def test_from_torch_names_the_module_it_cannot_convert() -> None:
    module = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Conv1d(1, 1, 1)))
    with pytest.raises(TypeError, match=r"module '2\.1' \(Conv1d\) has no fcnn counterpart"):
        from_torch(module)
    with pytest.raises(TypeError, match=r"module '0' \(Linear\).*bias=False"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(4, 4, bias=False)))
    with pytest.raises(TypeError, match=r"float16"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(4, 4).half()))
    with pytest.raises(ValueError, match=r"the Softmax.*dim must be one of -1, 1; got 0"):
        from_torch(torch.nn.Softmax(dim=0))
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        from_torch(fcnn.ReLU())


def test_to_torch_names_the_layer_it_cannot_convert() -> None:
    @fcnn.register_layer(name="TorchTestCube")
    class Cube(fcnn.Layer):
        def forward(self, X: np.ndarray) -> np.ndarray:
            return X**3

    try:
        with pytest.raises(TypeError, match=r"layer 1 \(.*Cube\) has no PyTorch counterpart"):
            to_torch(fcnn.Sequential(fcnn.ReLU(), Cube()))
    finally:
        del fcnn.registry.LAYERS["TorchTestCube"]
    with pytest.raises(TypeError, match="expected an fcnn model"):
        to_torch(torch.nn.ReLU())
