"""fcnn.save / fcnn.load: round trips, atomic writes, and hostile files.

Hostile files are built either with the official ``safetensors`` package or
byte by byte with ``struct`` and ``json``, never with the code under test, so
each test checks fcnn's reader against the format itself.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import fcnn
from fcnn import serialization
from fcnn.errors import ModelFileError, NonFiniteError, ShapeError
from fcnn.registry import LAYERS

# -- helpers ---------------------------------------------------------------------


def every_layer_model(dtype: type) -> fcnn.Sequential:
    """A network with one of each layer type, in eval mode."""
    rng = np.random.default_rng(7)
    model = fcnn.Sequential(
        fcnn.Linear(4, 8, rng=rng, dtype=dtype),
        fcnn.ReLU(),
        fcnn.Linear(8, 6, rng=rng, dtype=dtype),
        fcnn.LeakyReLU(0.2),
        fcnn.Linear(6, 5, rng=rng, dtype=dtype),
        fcnn.Sigmoid(),
        fcnn.Linear(5, 5, rng=rng, dtype=dtype),
        fcnn.Tanh(),
        fcnn.Dropout(0.3, rng=1),
        fcnn.Linear(5, 3, rng=rng, dtype=dtype),
    )
    return model.eval()


def inputs(n_features: int = 4, dtype: type = np.float64) -> np.ndarray:
    return np.random.default_rng(3).normal(size=(64, n_features)).astype(dtype)


def read_parts(path: Path) -> tuple[dict, bytes]:
    """Split a safetensors file into its JSON header and its data section."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]), raw[8 + length :]


def write_parts(path: Path, header: dict | bytes, data: bytes) -> Path:
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def load_error(path: Path) -> str:
    """Load ``path``, expect a ModelFileError naming it; return the message
    without the path (which holds the test's name)."""
    with pytest.raises(ModelFileError) as info:
        fcnn.load(path)
    message = str(info.value)
    assert str(path) in message
    return message.replace(str(path), "<path>")


def peak_memory(fn) -> int:
    """Peak bytes allocated (Python and NumPy) while ``fn`` runs."""
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.fixture
def good(tmp_path: Path) -> Path:
    """A valid file: mlp([3, 5, 2]) in float64, tensors {0,2}.{weight,bias}."""
    path = tmp_path / "good.safetensors"
    fcnn.save(fcnn.mlp([3, 5, 2], rng=0), path, classes=["a", "b"])
    return path


def resave(src: Path, dst: Path, tensors=None, metadata=None, architecture=None) -> Path:
    """Rewrite ``src`` with the official safetensors writer after edits.

    ``tensors(dict)`` and ``metadata(dict)`` edit in place; ``architecture``
    edits the decoded architecture JSON in place.
    """
    with safe_open(src, framework="np") as f:
        meta = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    if tensors:
        tensors(arrays)
    if architecture:
        arch = json.loads(meta["architecture"])
        architecture(arch)
        meta["architecture"] = json.dumps(arch)
    if metadata:
        metadata(meta)
    save_file(arrays, dst, metadata=meta)
    return dst


# -- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_every_layer_type_is_bit_identical(tmp_path: Path, dtype: type) -> None:
    model = every_layer_model(dtype)
    path = tmp_path / "model.safetensors"
    fcnn.save(model, path)
    loaded = fcnn.load(path)

    assert type(loaded) is fcnn.Sequential
    assert [type(layer) for layer in loaded] == [type(layer) for layer in model]
    assert loaded.get_config() == model.get_config()
    assert loaded[3].negative_slope == 0.2
    assert loaded[8].p == 0.3
    for original, restored in zip(model.parameters(), loaded.parameters(), strict=True):
        assert restored.dtype == np.dtype(dtype)
        assert np.array_equal(original.weights, restored.weights)
    X = inputs(dtype=dtype)
    prediction = loaded.forward(X)
    assert prediction.dtype == np.dtype(dtype)
    assert np.array_equal(prediction, model.forward(X))


def test_loaded_model_is_in_eval_mode(tmp_path: Path) -> None:
    model = every_layer_model(np.float64).train()
    fcnn.save(model, tmp_path / "m.safetensors")
    loaded = fcnn.load(tmp_path / "m.safetensors")
    assert loaded.training is False
    assert all(layer.training is False for layer in loaded)
    X = inputs()
    # Dropout is the identity in eval mode: two calls agree exactly.
    assert np.array_equal(loaded.forward(X), loaded.forward(X))
    assert np.array_equal(loaded.forward(X), model.eval().forward(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_mlp_with_dropout(tmp_path: Path, dtype: type) -> None:
    model = fcnn.mlp([4, 16, 16, 3], "tanh", dropout=0.2, rng=0, dtype=dtype).eval()
    fcnn.save(model, str(tmp_path / "mlp.safetensors"))  # a str path works too
    loaded = fcnn.load(str(tmp_path / "mlp.safetensors"))
    X = inputs(dtype=dtype)
    assert np.array_equal(loaded.forward(X), model.forward(X))


def test_neural_network_comes_back_as_neural_network(tmp_path: Path) -> None:
    model = fcnn.NeuralNetwork(4, 10, 3, rng=0)
    fcnn.save(model, tmp_path / "nn.safetensors")
    loaded = fcnn.load(tmp_path / "nn.safetensors")
    assert type(loaded) is fcnn.NeuralNetwork
    assert np.array_equal(loaded.forward(inputs()), model.forward(inputs()))


def test_sequential_subclass_comes_back_as_plain_sequential(tmp_path: Path) -> None:
    class MyNet(fcnn.Sequential):
        pass

    model = MyNet(fcnn.Linear(4, 2, rng=0), fcnn.Tanh())
    fcnn.save(model, tmp_path / "m.safetensors")
    loaded = fcnn.load(tmp_path / "m.safetensors")
    assert type(loaded) is fcnn.Sequential
    assert np.array_equal(loaded.forward(inputs()), model.forward(inputs()))


def test_bare_layers_round_trip_unwrapped(tmp_path: Path) -> None:
    linear = fcnn.Linear(4, 2, rng=0, dtype=np.float32)
    fcnn.save(linear, tmp_path / "linear.safetensors", note="bare")
    loaded = fcnn.load(tmp_path / "linear.safetensors")
    assert type(loaded) is fcnn.Linear
    assert loaded.metadata == {"note": "bare"}
    X = inputs(dtype=np.float32)
    assert np.array_equal(loaded(X), linear(X))

    fcnn.save(fcnn.LeakyReLU(0.125), tmp_path / "act.safetensors")
    act = fcnn.load(tmp_path / "act.safetensors")
    assert type(act) is fcnn.LeakyReLU and act.negative_slope == 0.125


def test_loaded_model_trains(tmp_path: Path) -> None:
    fcnn.save(fcnn.mlp([4, 8, 1], rng=0), tmp_path / "m.safetensors")
    loaded = fcnn.load(tmp_path / "m.safetensors").train()
    before = [p.weights.copy() for p in loaded.parameters()]
    loss = fcnn.MSELoss()
    loss(loaded.forward(inputs()), np.ones((64, 1)))
    loaded.backward(loss.backward())
    fcnn.SGD(loaded.parameters(), lr=0.1).step()
    after = [p.weights for p in loaded.parameters()]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))
    # ... and the file still holds the saved weights.
    reread = [p.weights for p in fcnn.load(tmp_path / "m.safetensors").parameters()]
    assert all(np.array_equal(b, r) for b, r in zip(before, reread, strict=True))


# -- metadata ------------------------------------------------------------------------


def test_metadata_round_trip(tmp_path: Path) -> None:
    mean = np.array([5.8, 3.0, 3.7, 1.2], dtype=np.float32)
    scale = np.array([0.8, 0.4, 1.8, 0.8], dtype=np.float64)
    path = tmp_path / "m.safetensors"
    fcnn.save(
        fcnn.mlp([4, 3], rng=0),
        path,
        classes=["setosa", "versicolor", "virginica"],
        mean=mean,
        scale=scale,
        counts=np.array([[1, 2], [3, 4]], dtype=np.int16),
        mask=np.array([True, False]),
        threshold=np.array(0.5),
        epoch=np.int64(12),
        lr=np.float32(0.25),
        flag=np.bool_(True),
        shape=(4, 3),
        nested={"preprocessing": {"kind": "standard", "clip": None}, "tags": ["a", 1, 2.5]},
        best=float("inf"),
    )
    meta = fcnn.load(path).metadata
    assert meta["classes"] == ["setosa", "versicolor", "virginica"]
    assert meta["mean"].dtype == np.float32 and np.array_equal(meta["mean"], mean)
    assert meta["scale"].dtype == np.float64 and np.array_equal(meta["scale"], scale)
    assert meta["counts"].dtype == np.int16 and meta["counts"].tolist() == [[1, 2], [3, 4]]
    assert meta["mask"].dtype == np.bool_ and meta["mask"].tolist() == [True, False]
    assert meta["threshold"].shape == () and meta["threshold"] == 0.5
    assert meta["epoch"] == 12 and type(meta["epoch"]) is int
    assert meta["lr"] == 0.25 and type(meta["lr"]) is float
    assert meta["flag"] is True
    assert meta["shape"] == [4, 3]
    assert meta["nested"] == {
        "preprocessing": {"kind": "standard", "clip": None},
        "tags": ["a", 1, 2.5],
    }
    assert meta["best"] == float("inf")
    assert meta["mean"].flags.writeable
    assert set(meta) == {
        "classes", "mean", "scale", "counts", "mask", "threshold", "epoch", "lr", "flag",
        "shape", "nested", "best",
    }


def test_integer_classes_and_string_arrays(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    fcnn.save(
        fcnn.mlp([4, 3], rng=0),
        path,
        classes=[0, 1, 2],
        names=np.array(["x", "yy"]),  # a string array becomes a list
        labels=np.array(["a", 3], dtype=object),
    )
    meta = fcnn.load(path).metadata
    assert meta["classes"] == [0, 1, 2]
    assert meta["names"] == ["x", "yy"]
    assert meta["labels"] == ["a", 3]


def test_big_endian_array_comes_back_equal_in_native_order(tmp_path: Path) -> None:
    big = np.array([1.5, -2.25, 3.0], dtype=">f4")
    fcnn.save(fcnn.mlp([2, 1], rng=0), tmp_path / "m.safetensors", mean=big)
    mean = fcnn.load(tmp_path / "m.safetensors").metadata["mean"]
    assert mean.dtype == np.float32 and mean.tolist() == [1.5, -2.25, 3.0]


def test_resaving_a_loaded_model_keeps_its_metadata(tmp_path: Path) -> None:
    fcnn.save(fcnn.mlp([2, 2], rng=0), tmp_path / "a.safetensors", classes=["x", "y"], epoch=1,
              mean=np.array([1.0, 2.0]))
    model = fcnn.load(tmp_path / "a.safetensors")
    fcnn.save(model, tmp_path / "b.safetensors", epoch=2)
    meta = fcnn.load(tmp_path / "b.safetensors").metadata
    assert meta["classes"] == ["x", "y"] and meta["epoch"] == 2
    assert meta["mean"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (object(), "object"),
        ({1, 2}, "set"),
        (b"raw", "bytes"),
        ({1: "a"}, "key"),
        (np.array([1 + 2j]), "complex"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "datetime64"),
        (np.complex128(1j), "complex128"),
        ([np.zeros(3)], "top-level"),
        ({"mean": np.zeros(3)}, "top-level"),
    ],
)
def test_unsupported_metadata_is_a_type_error_naming_the_key(
    tmp_path: Path, value: object, words: str
) -> None:
    path = tmp_path / "m.safetensors"
    with pytest.raises(TypeError) as info:
        fcnn.save(fcnn.mlp([2, 2], rng=0), path, the_key=value)
    assert "the_key" in str(info.value) and words in str(info.value)
    assert not path.exists()


def test_self_containing_metadata_is_a_type_error(tmp_path: Path) -> None:
    loop: list = []
    loop.append(loop)
    with pytest.raises(TypeError, match="contains itself"):
        fcnn.save(fcnn.mlp([2, 2], rng=0), tmp_path / "m.safetensors", loop=loop)


def test_oversized_header_is_refused_on_save(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    with pytest.raises(ValueError, match="limit"):
        fcnn.save(fcnn.mlp([2, 2], rng=0), path, notes="x" * (serialization.MAX_HEADER_BYTES + 1))
    assert not path.exists()


# -- the format ------------------------------------------------------------------------


def test_file_is_standard_safetensors(tmp_path: Path) -> None:
    model = fcnn.mlp([3, 4, 2], rng=0)
    path = tmp_path / "m.safetensors"
    fcnn.save(model, path, mean=np.arange(3.0))
    tensors = load_file(path)
    assert set(tensors) == {"0.weight", "0.bias", "2.weight", "2.bias", "metadata.mean"}
    assert all(np.array_equal(tensors[k], v) for k, v in model.state_dict().items())
    assert tensors["0.weight"].shape == (3, 4)
    with safe_open(path, framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "fcnn" and meta["format_version"] == "2" and meta["layout"] == "fcnn"
    assert meta["fcnn_version"] == fcnn.__version__
    architecture = json.loads(meta["architecture"])
    assert architecture["type"] == "Sequential"
    assert architecture["config"]["layers"][1] == {"type": "ReLU", "config": {}}
    assert architecture["config"]["layers"][0] == {
        "type": "Linear", "config": {"in_features": 3, "out_features": 4, "dtype": "float64"}}


def test_a_file_written_by_hand_to_the_documented_layout_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    architecture = {"type": "Sequential", "config": {"layers": [
        {"type": "Linear", "config": {"in_features": 3, "out_features": 2, "dtype": "float64"}},
        {"type": "Sequential", "config": {"layers": [{"type": "Tanh", "config": {}}]}},
    ]}}
    save_file(
        {"0.weight": W, "0.bias": b, "metadata.mean": np.ones(3, np.float32)},
        tmp_path / "hand.safetensors",
        metadata={"format": "fcnn", "format_version": "2",
                  "architecture": json.dumps(architecture), "metadata": '{"classes": [0, 1]}'},
    )
    model = fcnn.load(tmp_path / "hand.safetensors")
    X = inputs(3)
    assert np.array_equal(model.forward(X), np.tanh(X @ W + b))
    assert model.metadata["classes"] == [0, 1]
    assert model.metadata["mean"].tolist() == [1.0, 1.0, 1.0]


def test_a_file_written_by_hand_to_the_0_1_layout_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)), rng.normal(size=2)
    architecture = {
        "model": "Sequential",
        "dtype": "float64",
        "layers": [{"type": "Linear", "config": {"in_features": 3, "out_features": 2}},
                   {"type": "Tanh", "config": {}}],
    }
    save_file(
        {"layers.0.weight": W, "layers.0.bias": b, "metadata.mean": np.ones(3, np.float32)},
        tmp_path / "hand.safetensors",
        metadata={"format": "fcnn", "format_version": "1",
                  "architecture": json.dumps(architecture), "metadata": '{"classes": [0, 1]}'},
    )
    model = fcnn.load(tmp_path / "hand.safetensors")
    X = inputs(3)
    assert np.array_equal(model.forward(X), np.tanh(X @ W + b))
    assert model.metadata["classes"] == [0, 1]
    assert model.metadata["mean"].tolist() == [1.0, 1.0, 1.0]


# -- save errors -------------------------------------------------------------------


def test_save_rejects_what_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="expected an fcnn model"):
        fcnn.save({"w": np.zeros(2)}, tmp_path / "m.safetensors")
    with pytest.raises(TypeError, match="expected an fcnn model"):
        fcnn.save(tmp_path / "m.safetensors", fcnn.mlp([2, 2]))  # arguments swapped
    with pytest.raises(TypeError, match="file path"):
        fcnn.save(fcnn.mlp([2, 2]), 42)


def test_save_rejects_foreign_and_nested_layers(tmp_path: Path) -> None:
    class Square(fcnn.Layer):
        def forward(self, X: np.ndarray) -> np.ndarray:
            return X * X

    with pytest.raises(TypeError, match=r"layer 1 is a .*Square, which fcnn cannot save.*register_layer"):
        fcnn.save(fcnn.Sequential(fcnn.Linear(2, 2), Square()), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="layer 1 has no layers"):
        fcnn.save(fcnn.Sequential(fcnn.Linear(2, 2), fcnn.Sequential()), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match="the model has no layers"):
        fcnn.save(fcnn.Sequential(), tmp_path / "m.safetensors")
    with pytest.raises(ValueError, match=r"layout must be one of \[.*'fcnn'.*\], got 'onnx'"):
        fcnn.save(fcnn.mlp([2, 2]), tmp_path / "m.safetensors", layout="onnx")
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_mixed_dtypes_and_broken_chains(tmp_path: Path) -> None:
    mixed = fcnn.Sequential(fcnn.Linear(2, 3, dtype=np.float32), fcnn.Linear(3, 1))
    with pytest.raises(ValueError, match="mixes dtypes"):
        fcnn.save(mixed, tmp_path / "m.safetensors")
    broken = fcnn.Sequential(fcnn.Linear(2, 3), fcnn.ReLU(), fcnn.Linear(4, 1))
    with pytest.raises(ShapeError, match="layer 0 gives 3 features but layer 2 takes 4"):
        fcnn.save(broken, tmp_path / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_save_refuses_non_finite_weights_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = fcnn.mlp([2, 3, 1], rng=0)
    fcnn.save(model, path, epoch=1)
    before = path.read_bytes()
    model[2].w.weights[1, 0] = np.nan
    with pytest.raises(NonFiniteError, match=r"fcnn.save: 2\.weight holds 1 NaN"):
        fcnn.save(model, path, epoch=2)
    assert path.read_bytes() == before
    assert fcnn.load(path).metadata == {"epoch": 1}


def test_save_path_errors(tmp_path: Path) -> None:
    model = fcnn.mlp([2, 2], rng=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        fcnn.save(model, tmp_path / "missing" / "m.safetensors")
    with pytest.raises(IsADirectoryError, match="directory"):
        fcnn.save(model, tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_saved_file_has_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    os.umask(umask)
    fcnn.save(fcnn.mlp([2, 2], rng=0), tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


# -- atomic writes -------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, fcnn.Sequential, bytes]:
    """A model saved at epoch 1: (path, model, the file's bytes)."""
    model = fcnn.mlp([4, 32, 3], rng=0)
    path = tmp_path / "model.safetensors"
    fcnn.save(model, path, epoch=1)
    return path, model, path.read_bytes()


def assert_previous_file_intact(path: Path, model: fcnn.Sequential, before: bytes) -> None:
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    loaded = fcnn.load(path)
    assert loaded.metadata == {"epoch": 1}
    assert np.array_equal(loaded.forward(inputs()), model.forward(inputs()))


def test_error_after_a_partial_write_keeps_the_previous_file(
    saved: tuple[Path, fcnn.Sequential, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model, before = saved
    written = []

    def half_then_disk_full(fd: int, data: bytes) -> None:
        written.append(os.write(fd, data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(serialization, "_write_all", half_then_disk_full)
    other = fcnn.mlp([4, 32, 3], rng=1)
    with pytest.raises(OSError, match="No space left"):
        fcnn.save(other, path, epoch=2)
    assert written and written[0] > 0
    assert_previous_file_intact(path, model, before)


def test_interrupt_before_the_rename_keeps_the_previous_file(
    saved: tuple[Path, fcnn.Sequential, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, model, before = saved

    def interrupted(src: str, dst: str) -> None:
        assert Path(src).stat().st_size > 0  # the complete temporary exists
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fcnn.save(fcnn.mlp([4, 32, 3], rng=1), path, epoch=2)
    monkeypatch.undo()
    assert_previous_file_intact(path, model, before)


def test_failed_first_save_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(serialization.os, "fsync", fail)
    with pytest.raises(OSError, match="I/O error"):
        fcnn.save(fcnn.mlp([2, 2], rng=0), tmp_path / "m.safetensors")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


_CHILD_KILLED_MID_WRITE = """
import os, signal, sys
import fcnn
from fcnn import serialization

def half_then_killed(fd, data):
    os.write(fd, data[: len(data) // 2])
    os.kill(os.getpid(), signal.SIGKILL)

serialization._write_all = half_then_killed
fcnn.save(fcnn.mlp([4, 32, 3], rng=1), sys.argv[1], epoch=2)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")
def test_process_killed_mid_write_keeps_the_previous_file(
    saved: tuple[Path, fcnn.Sequential, bytes],
) -> None:
    path, model, before = saved
    result = subprocess.run(
        [sys.executable, "-c", _CHILD_KILLED_MID_WRITE, str(path)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert path.read_bytes() == before
    leftovers = [p.name for p in path.parent.iterdir() if p != path]
    # A killed process cannot clean up: its hidden temporary remains, half written.
    assert len(leftovers) == 1
    assert leftovers[0].startswith(".model.safetensors.") and leftovers[0].endswith(".tmp")
    loaded = fcnn.load(path)
    assert loaded.metadata == {"epoch": 1}
    assert np.array_equal(loaded.forward(inputs()), model.forward(inputs()))


_CHILD_SAVE_LOOP = """
import sys
import fcnn
model = fcnn.mlp([1000, 1000], rng=0)  # 8 MB per save
for i in range(1_000_000):
    for p in model.parameters():
        p.weights[...] = i
    fcnn.save(model, sys.argv[1], iteration=i)
    print(i, flush=True)
"""


@pytest.mark.parametrize("when", ["while a temporary exists", "after 50 ms"])
def test_process_killed_while_saving_in_a_loop_leaves_a_loadable_file(
    tmp_path: Path, when: str
) -> None:
    path = tmp_path / "checkpoint.safetensors"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_SAVE_LOOP, str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = child.stdout.readline()  # the first save has completed
        assert first.strip() == "0", child.stderr.read()
        if when == "after 50 ms":
            time.sleep(0.05)
        else:
            # Kill as soon as a save is writing its temporary file: the
            # moment a non-atomic save would leave a half file behind.
            deadline = time.monotonic() + 30
            writing = False
            while not writing and time.monotonic() < deadline:
                writing = any(name.endswith(".tmp") for name in os.listdir(tmp_path))
            assert writing, "save never wrote through a temporary file"
    finally:
        child.kill()
        child.communicate()
    loaded = fcnn.load(path)
    iteration = loaded.metadata["iteration"]
    # One complete version, never a mix of two.
    assert all(np.all(p.weights == iteration) for p in loaded.parameters())


# -- hostile files -----------------------------------------------------------------


class _Payload:
    """Unpickling this creates a directory: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_pickle_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_Payload(marker))
    path = tmp_path / "model.pkl"
    path.write_bytes(payload)
    message = load_error(path)
    assert "pickle" in message and "fcnn.save" in message
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: unpickling does run it
    assert marker.exists()


def test_npz_with_an_object_array_is_refused_without_running_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.npz"
    np.savez(path, w=np.zeros(3), evil=np.array([_Payload(marker)], dtype=object))
    message = load_error(path)
    assert "zip" in message and "npz" in message
    assert not marker.exists()


def test_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.npy"
    np.save(path, np.zeros((3, 3)))
    assert "npy" in load_error(path)


def test_zip_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.safetensors"
    zeros = bytes(2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("model.bin", "w") as entry:
            for _ in range(64):  # 64 MiB that compress to ~64 KiB
                entry.write(zeros)
    assert path.stat().st_size < 2**20

    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert "zip" in message[0]


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    assert "empty" in load_error(path)


def test_directory_and_missing_file(tmp_path: Path) -> None:
    assert "directory" in load_error(tmp_path)
    with pytest.raises(FileNotFoundError):
        fcnn.load(tmp_path / "nothing.safetensors")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    assert "regular file" in load_error(path)
    if os.path.exists("/dev/zero"):  # a device never ends
        assert "regular file" in load_error(Path("/dev/zero"))


@pytest.mark.parametrize("where", ["3", "8", "mid-header", "header-end", "mid-data", "last-byte"])
def test_truncated_file(good: Path, tmp_path: Path, where: str) -> None:
    raw = good.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    cut = {
        "3": 3,
        "8": 8,
        "mid-header": 8 + length // 2,
        "header-end": 8 + length,
        "mid-data": 8 + length + (len(raw) - 8 - length) // 2,
        "last-byte": len(raw) - 1,
    }[where]
    path = tmp_path / "cut.safetensors"
    path.write_bytes(raw[:cut])
    assert "truncated" in load_error(path)


@pytest.mark.parametrize("length", [0, 1])
def test_header_too_short_for_json(tmp_path: Path, length: int) -> None:
    path = tmp_path / "short.safetensors"
    path.write_bytes(struct.pack("<Q", length) + b"{}" + bytes(64))
    assert f"the header declares {length} bytes, too few for a JSON object" in load_error(path)


def test_huge_declared_header_length(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    path.write_bytes(struct.pack("<Q", 2**60) + b"{}")
    message = load_error(path)
    assert "header" in message and str(2**60) in message and "limit" in message


def test_header_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    declared = serialization.MAX_HEADER_BYTES + 1
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", declared))
        f.truncate(declared + 1024)  # sparse: the file really is that long
    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert "limit" in message[0]


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (b"{not json at all", "not valid JSON"),
        (b"\xff\xfe{}", "not valid JSON"),
        (b"[1, 2, 3]", "not an object"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
def test_header_garbage(tmp_path: Path, header: bytes, words: str) -> None:
    path = write_parts(tmp_path / "garbage.safetensors", header, b"")
    assert words in load_error(path)


def test_duplicate_tensor_names(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    text = json.dumps(header)
    entry = json.dumps(header["0.bias"])
    text = text[:-1] + f', "0.bias": {entry}}}'
    path = write_parts(tmp_path / "dup.safetensors", text.encode(), data)
    assert "duplicate key '0.bias'" in load_error(path)


def test_duplicate_keys_in_the_architecture(good: Path, tmp_path: Path) -> None:
    def twice(meta: dict) -> None:
        meta["architecture"] = meta["architecture"][:-1] + ', "type": "Sequential"}'

    path = resave(good, tmp_path / "dup.safetensors", metadata=twice)
    assert "architecture is not valid JSON (duplicate key 'type')" in load_error(path)


def test_tensor_past_the_end_of_the_file(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    begin = header["2.bias"]["data_offsets"][0]
    header["2.bias"]["data_offsets"] = [begin, len(data) + 16]
    path = write_parts(tmp_path / "past.safetensors", header, data)
    assert "truncated" in load_error(path)


def test_huge_declared_tensor_is_refused_in_bounded_memory(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    header["2.weight"] = {"dtype": "F64", "shape": [10**6, 10**6], "data_offsets": [0, 8 * 10**12]}
    path = write_parts(tmp_path / "huge-tensor.safetensors", header, data)
    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert "tensors overlap or leave a gap" in message[0] and "2.weight" in message[0]
    header, data = read_parts(good)
    last = max((k for k in header if k != "__metadata__"), key=lambda k: header[k]["data_offsets"])
    begin = header[last]["data_offsets"][0]  # the last tensor, now reaching 8 TB past the end
    header[last].update(dtype="F64", shape=[10**6, 10**6], data_offsets=[begin, begin + 8 * 10**12])
    path = write_parts(tmp_path / "huge-tensor.safetensors", header, data)
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert f"its tensors need {begin + 8 * 10**12} bytes of data but {len(data)} follow" in message[1]
    assert "truncated" in message[1]


def test_overlapping_tensors(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    # Both biases point at the same bytes, the file's last 16 bytes are unused.
    begin = header["0.bias"]["data_offsets"][0]
    header["2.bias"]["data_offsets"] = [begin, begin + 16]
    path = write_parts(tmp_path / "overlap.safetensors", header, data)
    assert "tensors overlap or leave a gap" in load_error(path)


def test_bytes_after_the_last_tensor(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    path = write_parts(tmp_path / "trailing.safetensors", header, data + b"\x00" * 8)
    assert "8 unexplained bytes after the last tensor" in load_error(path)


def test_shape_and_byte_count_disagree(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    header["0.weight"]["shape"] = [3, 4]  # 96 bytes declared, 120 in the range
    path = write_parts(tmp_path / "bytes.safetensors", header, data)
    assert "shape and dtype do not match its byte range" in load_error(path)


def test_plain_safetensors_file_is_not_an_fcnn_model(tmp_path: Path) -> None:
    path = tmp_path / "plain.safetensors"
    save_file({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}, path)
    assert "not an fcnn model file" in load_error(path)
    # refused from its header alone: 16 MB of someone else's weights are never read
    save_file({"weight": np.zeros((2000, 1000))}, path)
    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert "not an fcnn model file" in message[0] and "tensors weight" in message[0]
    save_file({"weight": np.zeros((3, 2))}, path, metadata={"format": "pt"})
    assert "not an fcnn model file" in load_error(path)


def test_newer_format_version(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "v99.safetensors",
                  metadata=lambda m: m.update(format_version="99"))
    message = load_error(path)
    assert "newer fcnn" in message and "upgrade" in message


def test_another_layout_is_refused(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "torch.safetensors", metadata=lambda m: m.update(layout="torch"))
    assert "in the 'torch' layout" in load_error(path)


def test_extra_tensor(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "extra.safetensors",
                  tensors=lambda t: t.update({"1.weight": np.zeros((5, 5))}))
    assert "unexpected tensor(s) 1.weight" in load_error(path)


def test_missing_tensor(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "missing.safetensors", tensors=lambda t: t.pop("2.bias"))
    assert "missing tensor(s) 2.bias" in load_error(path)


def test_mismatched_shape(good: Path, tmp_path: Path) -> None:
    def transpose(tensors: dict) -> None:
        tensors["0.weight"] = np.ascontiguousarray(tensors["0.weight"].T)

    path = resave(good, tmp_path / "shape.safetensors", tensors=transpose)
    assert "'0.weight' has shape (5, 3) but the architecture needs (3, 5)" in load_error(path)


def layer_specs(arch: dict) -> list:
    return arch["config"]["layers"]


@pytest.mark.parametrize("in_features", [4, 10**9])
def test_config_that_disagrees_with_the_tensors(good: Path, tmp_path: Path, in_features: int) -> None:
    def widen(arch: dict) -> None:
        layer_specs(arch)[0]["config"]["in_features"] = in_features

    path = resave(good, tmp_path / "config.safetensors", architecture=widen)
    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    if in_features == 4:
        assert "'0.weight' has shape (3, 5) but the architecture needs (4, 5)" in message[0]
    else:
        assert "layer 0 (Linear) claims 5,000,000,000 elements" in message[0]


@pytest.mark.parametrize(("kind", "config", "claim"), [
    # Linear(10**6, 10**6) would be 8 TB; the file holds 8 bytes of weights.
    ("Linear", {"in_features": 10**6, "out_features": 10**6, "dtype": "float64"}, 10**12),
    ("BatchNorm1d", {"num_features": 10**9}, 10**9),
    ("LayerNorm", {"normalized_shape": [10**5, 10**4]}, 10**9),
    ("Standardize", {"n_features": 10**9}, 10**9),
])
def test_a_hostile_config_is_refused_before_anything_is_allocated(
    tmp_path: Path, kind: str, config: dict, claim: int
) -> None:
    path = tmp_path / "hostile.safetensors"
    architecture = {"type": "Sequential", "config": {"layers": [
        {"type": "ReLU", "config": {}}, {"type": kind, "config": config}]}}
    save_file({"1.weight": np.zeros(1)}, path, metadata={
        "format": "fcnn", "format_version": "2", "architecture": json.dumps(architecture)})
    message: list[str] = []
    assert peak_memory(lambda: message.append(load_error(path))) < 2**20
    assert f"layer 1 ({kind}) claims {claim:,} elements" in message[0]
    assert "hold 1 in all" in message[0]


def test_layers_that_do_not_chain(good: Path, tmp_path: Path) -> None:
    def rewire(tensors: dict) -> None:
        tensors["2.weight"] = np.ones((6, 2))

    def arch(a: dict) -> None:
        layer_specs(a)[2]["config"]["in_features"] = 6

    path = resave(good, tmp_path / "chain.safetensors", tensors=rewire, architecture=arch)
    assert "layers do not chain: layer 0 gives 5 features but layer 2 takes 6" in load_error(path)


@pytest.mark.parametrize("kind", ["Conv2d", "os.system", "__import__", "Layer", "LAYERS", ["ReLU"]])
def test_unknown_layer_type(good: Path, tmp_path: Path, kind: object) -> None:
    def swap(arch: dict) -> None:
        layer_specs(arch)[1] = {"type": kind, "config": {}}

    path = resave(good, tmp_path / "unknown.safetensors", architecture=swap)
    message = load_error(path)
    assert f"unknown layer type {kind!r} at layer 1" in message and "ReLU" in message


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ({"type": "Dropout", "config": {"p": 0.5, "rng": 3}}, "unexpected config keys ['rng']"),
        ({"type": "Dropout", "config": {"p": 1.5}}, "invalid config"),
        ({"type": "LeakyReLU", "config": {"negative_slope": "steep"}}, "invalid config"),
        ({"type": "LeakyReLU", "config": {}}, "does not describe"),
        ({"type": "ReLU"}, "type and config"),
        ({"type": "Sequential", "config": {}}, "config {\"layers\": [...]}"),
        ({"type": "Sequential", "config": {"layers": [{"type": "Print", "config": {}}]}},
         "unknown layer type 'Print' at layer 1.0"),
    ],
)
def test_bad_layer_config(good: Path, tmp_path: Path, layer: dict, words: str) -> None:
    def swap(arch: dict) -> None:
        layer_specs(arch)[1] = layer

    path = resave(good, tmp_path / "config.safetensors", architecture=swap)
    assert words in load_error(path)


def test_architecture_garbage(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "arch.safetensors",
                  metadata=lambda m: m.update(architecture="{oops"))
    assert "architecture is not valid JSON" in load_error(path)
    path = resave(good, tmp_path / "arch.safetensors", metadata=lambda m: m.pop("architecture"))
    assert "the architecture is missing" in load_error(path)
    path = resave(good, tmp_path / "arch.safetensors", metadata=lambda m: m.update(architecture="[]"))
    assert "the model must be an object with type and config" in load_error(path)


def test_neural_network_with_the_wrong_layers(good: Path, tmp_path: Path) -> None:
    def relabel(arch: dict) -> None:
        arch["type"] = "NeuralNetwork"

    path = resave(good, tmp_path / "nn.safetensors", architecture=relabel)
    assert "a NeuralNetwork has layers Linear, ReLU, Linear, ReLU, Linear" in load_error(path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(good: Path, tmp_path: Path, bad: float) -> None:
    def poison(tensors: dict) -> None:
        tensors["2.weight"] = tensors["2.weight"].copy()
        tensors["2.weight"][4, 1] = bad

    path = resave(good, tmp_path / "nan.safetensors", tensors=poison)
    assert "'2.weight' holds 1 NaN or infinite" in load_error(path)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.float32])
def test_weights_of_the_wrong_dtype(good: Path, tmp_path: Path, dtype: type) -> None:
    def cast(tensors: dict) -> None:
        tensors["2.bias"] = tensors["2.bias"].astype(dtype)

    path = resave(good, tmp_path / "dtype.safetensors", tensors=cast)
    message = load_error(path)
    assert f"'2.bias' has dtype {np.dtype(dtype)} but the architecture needs float64" in message


def test_layers_of_mixed_dtypes(good: Path, tmp_path: Path) -> None:
    def cast(tensors: dict) -> None:
        tensors["2.bias"] = tensors["2.bias"].astype(np.float32)
        tensors["2.weight"] = tensors["2.weight"].astype(np.float32)

    def arch(a: dict) -> None:
        layer_specs(a)[2]["config"]["dtype"] = "float32"

    path = resave(good, tmp_path / "mixed.safetensors", tensors=cast, architecture=arch)
    assert "the model mixes dtypes ['float32', 'float64']" in load_error(path)


def test_tensor_dtype_numpy_cannot_hold(good: Path, tmp_path: Path) -> None:
    header, data = read_parts(good)
    header["0.bias"].update(dtype="BF16", shape=[20])  # the same 40 bytes
    path = write_parts(tmp_path / "bf16.safetensors", header, data)
    assert "dtype 'BF16', which NumPy cannot hold" in load_error(path)


def test_bool_metadata_tensor_with_other_bytes(tmp_path: Path) -> None:
    src = tmp_path / "src.safetensors"
    fcnn.save(fcnn.mlp([2, 2], rng=0), src, mask=np.array([True, False, True]))
    header, data = read_parts(src)
    begin = header["metadata.mask"]["data_offsets"][0]
    data = data[:begin] + b"\x02" + data[begin + 1 :]
    path = write_parts(tmp_path / "bool.safetensors", header, data)
    assert "'metadata.mask' is BOOL but holds bytes other than 0 and 1" in load_error(path)


def test_metadata_key_stored_twice(good: Path, tmp_path: Path) -> None:
    path = resave(good, tmp_path / "twice.safetensors",
                  tensors=lambda t: t.update({"metadata.classes": np.arange(2)}))
    assert "'classes' is stored both" in load_error(path)


# -- every registered layer, a third-party layer, fcnn 0.1's files ---------------------

FCNN_LAYERS = sorted(name for name, cls in LAYERS.items() if cls.__module__.startswith("fcnn."))


def scrambled(model: fcnn.Layer, seed: int) -> fcnn.Layer:
    """``model`` with every parameter and buffer set to non-trivial values (positive floats,
    so that variances and scales stay valid; ints such as a batch counter to 7)."""
    rng = np.random.default_rng(seed)
    for _, array in model._named_state():
        if array.dtype.kind == "f":
            array[...] = rng.uniform(0.5, 2.0, array.shape)
        else:
            array[...] = 7
    return model


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", FCNN_LAYERS)
def test_round_trip_of_every_registered_layer_is_bit_identical(
    tmp_path: Path, name: str, dtype: type
) -> None:
    layer = LAYERS[name].example(5, dtype=dtype, rng=1)
    model = scrambled(fcnn.Sequential(fcnn.Linear(4, 5, rng=0, dtype=dtype), layer), seed=2).eval()
    path = tmp_path / f"{name}.safetensors"
    fcnn.save(model, path)
    loaded = fcnn.load(path)

    assert [type(x) for x in loaded] == [fcnn.Linear, LAYERS[name]]
    assert loaded[1].get_config() == layer.get_config()
    state, restored = model.state_dict(), loaded.state_dict()
    assert list(restored) == list(state)
    for key, array in state.items():
        assert restored[key].dtype == array.dtype and np.array_equal(restored[key], array), key
    assert list(dict(loaded.named_buffers())) == list(dict(model.named_buffers()))
    X = inputs(dtype=dtype)
    assert np.array_equal(loaded.forward(X), model.forward(X))


def test_nested_sequentials_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    inner = fcnn.Sequential(fcnn.Linear(5, 3, rng=rng), fcnn.BatchNorm1d(3), fcnn.Tanh())
    model = scrambled(fcnn.Sequential(fcnn.Linear(4, 5, rng=rng), fcnn.ReLU(), inner), 3).eval()
    fcnn.save(model, tmp_path / "nested.safetensors")
    loaded = fcnn.load(tmp_path / "nested.safetensors")
    assert type(loaded[2]) is fcnn.Sequential and type(loaded[2][1]) is fcnn.BatchNorm1d
    assert "2.1.running_var" in loaded.state_dict()
    assert np.array_equal(loaded.forward(inputs()), model.forward(inputs()))


@pytest.fixture
def scaled_shift() -> type:
    """A layer defined outside fcnn, with a parameter and a buffer, registered for one test."""

    @fcnn.register_layer
    class ScaledShift(fcnn.Layer):
        """``y = X * gain + offset``: ``gain`` trained, ``offset`` a buffer."""

        _cache = ("_X",)

        def __init__(self, num_features: int, dtype: str = "float64") -> None:
            self.in_features = self.num_features = num_features
            self.gain = fcnn.Parameter(np.ones(num_features, dtype))
            self.register_buffer("offset", np.zeros(num_features, dtype))
            self._X: np.ndarray | None = None

        @classmethod
        def example(cls, in_features: int, *, dtype=np.float64, rng=None) -> ScaledShift:
            return scrambled(cls(in_features, str(np.dtype(dtype))), 4)

        def forward(self, X: np.ndarray) -> np.ndarray:
            self._X = X
            return X * self.gain.weights + self.offset

        def backward(self, dLdy: np.ndarray) -> np.ndarray:
            self.gain.add_grad(np.einsum, "ij,ij->j", dLdy, self._X)
            return dLdy * self.gain.weights

        def get_config(self) -> dict:
            return {"num_features": self.num_features, "dtype": str(self.gain.dtype)}

    yield ScaledShift
    del LAYERS["ScaledShift"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_registered_third_party_layer_is_saved_loaded_summarized_and_checked(
    tmp_path: Path, scaled_shift: type, dtype: type
) -> None:
    model = fcnn.Sequential(fcnn.Linear(4, 3, rng=0, dtype=dtype), scaled_shift.example(3, dtype=dtype),
                            fcnn.ReLU(), fcnn.Linear(3, 2, rng=1, dtype=dtype))
    fcnn.save(model, tmp_path / "custom.safetensors")
    loaded = fcnn.load(tmp_path / "custom.safetensors")

    assert type(loaded[1]) is scaled_shift
    assert np.array_equal(loaded[1].offset, model[1].offset) and loaded[1].offset.dtype == dtype
    X = inputs(dtype=dtype)
    assert np.array_equal(loaded.forward(X), model.forward(X))
    # summarized: its own row, with its 3 parameters, its 3 buffer values and its dtype
    rows = [line.split() for line in loaded.summary().splitlines() if "ScaledShift(" in line]
    assert len(rows) == 1 and rows[0][0] == "1"
    assert rows[0][1:3] == ["ScaledShift(num_features=3,", f"dtype={np.dtype(dtype)})"]
    assert rows[0][-3:] == ["3", "3", str(np.dtype(dtype))]
    if dtype == np.float64:  # gradient-checked, its rows named by named_parameters
        report = fcnn.check_layer(loaded.train(), inputs()[:8], rng=0)
        assert [r.name for r in report.rows] == ["X", "0.weight", "0.bias", "1.gain", "3.weight", "3.bias"]
        assert report.max_relative_error < 1e-7, report


DATA = Path(__file__).parent / "data"


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0, -z))  # 1 / (1 + exp(-z)), without overflow (fcnn 0.1's form)


def by_hand(tensors: dict, X: np.ndarray, steps: list) -> np.ndarray:
    """The forward pass of an fcnn 0.1 Sequential, from its raw tensors: ``steps`` holds a
    tensor prefix for each Linear (``"layers.0."``) and a function for each activation."""
    for step in steps:
        X = X @ tensors[step + "weight"] + tensors[step + "bias"] if isinstance(step, str) else step(X)
    return X


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0)


FCNN01_FILES = {
    "fcnn01_float64": ["layers.0.", relu, "layers.2.", lambda z: np.where(z > 0, z, 0.2 * z),
                       "layers.4.", sigmoid, "layers.7.", np.tanh, "layers.9."],
    "fcnn01_neural_network": ["layers.0.", relu, "layers.2.", relu, "layers.4."],
    "fcnn01_bare_linear": ["layers.0."],
    "fcnn01_cli_float32": ["layers.0.", np.tanh, "layers.2.", np.tanh, "layers.4."],
}


@pytest.mark.parametrize("name", list(FCNN01_FILES))
def test_files_written_by_fcnn_0_1_load_and_predict_the_same(tmp_path: Path, name: str) -> None:
    path = DATA / f"{name}.safetensors"
    tensors = load_file(path)
    with safe_open(path, framework="np") as f:
        assert f.metadata()["fcnn_version"] == "0.1.0" and f.metadata()["format_version"] == "1"
    model = fcnn.load(path)
    weights = {k: v for k, v in tensors.items() if not k.startswith("metadata.")}
    dtype = next(iter(weights.values())).dtype
    X = load_file(DATA / "fcnn01_inputs.safetensors")["X"].astype(dtype)
    if "mean" in model.metadata:  # the 0.1 CLI standardized the inputs with these
        X = ((X - model.metadata["mean"]) / model.metadata["scale"]).astype(dtype)

    expected = by_hand(tensors, X, FCNN01_FILES[name])
    output = model.forward(X)
    assert output.dtype == dtype
    # The weights are the file's, bit for bit, and so are the outputs.
    state = model.state_dict()
    prefix = "layers.0." if name == "fcnn01_bare_linear" else "layers."  # 0.1's keys, today's
    assert sorted(state) == sorted(key.removeprefix(prefix) for key in weights)
    for key, array in weights.items():
        assert np.array_equal(state[key.removeprefix(prefix)], array)
    np.testing.assert_array_equal(output, expected)
    # Saving the loaded model writes today's format, which loads to the same model.
    fcnn.save(model, tmp_path / "resaved.safetensors")
    again = fcnn.load(tmp_path / "resaved.safetensors")
    assert np.array_equal(again.forward(X), output)
    assert type(again) is type(model) and again.metadata.keys() == model.metadata.keys()


def test_fcnn_0_1_metadata_comes_back(tmp_path: Path) -> None:
    assert type(fcnn.load(DATA / "fcnn01_neural_network.safetensors")) is fcnn.NeuralNetwork
    assert type(fcnn.load(DATA / "fcnn01_bare_linear.safetensors")) is fcnn.Linear
    cli = fcnn.load(DATA / "fcnn01_cli_float32.safetensors").metadata
    assert cli["classes"] == ["setosa", "versicolor", "virginica"]
    assert cli["mean"].shape == (4,) and cli["scale"].dtype == np.float64
    assert cli["config"]["standardize"] is True
    assert fcnn.load(DATA / "fcnn01_float64.safetensors").metadata == {"epoch": 7, "classes": [0, 1, 2]}
