"""ONNX export: onnxruntime, called live, against fcnn's own predictions.

Random networks of every layer kind at depth 1-4, batch sizes 1 and 37, float32 and
float64, each file checked with ``onnx.checker.check_model(full_check=True)``. The
error measure is the issue's ``max|a - b| / (1 + max|b|)`` with ``b`` fcnn's output.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import fcnn

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from fcnn.export.onnx import ONNX_RULES, export_onnx, register_onnx  # noqa: E402

TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}
DTYPES = (np.float32, np.float64)


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / (1 + np.max(np.abs(b))))


def session(path: Path) -> Any:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run(path: Path, X: np.ndarray) -> dict[str, np.ndarray]:
    s = session(path)
    return dict(zip([o.name for o in s.get_outputs()], s.run(None, {"input": X}), strict=True))


# --------------------------------------------------------------------------- random networks

KINDS = ("Linear", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "SiLU", "Softplus", "GELU", "GELU-tanh",
         "Identity", "Softmax", "LogSoftmax", "Dropout", "BatchNorm1d", "BatchNorm1d-batch-stats",
         "LayerNorm", "Standardize")


def make_layer(kind: str, width: int, rng: np.random.Generator, dtype: Any) -> tuple[fcnn.Layer, int]:
    """A layer of ``kind`` taking ``width`` features, with random state; (layer, output width)."""
    if kind == "Linear":
        out = int(rng.integers(1, 7))
        layer = fcnn.Linear(width, out, rng=0, dtype=dtype)  # (the same draws from rng in both dtypes)
        layer.weight.weights = rng.standard_normal((width, out))
        layer.bias.weights = rng.standard_normal(out)
        return layer, out
    if kind.startswith("BatchNorm1d"):
        layer = fcnn.BatchNorm1d(width, eps=float(rng.uniform(1e-5, 1e-2)), affine=bool(rng.random() < 0.8),
                                 track_running_stats=kind == "BatchNorm1d", dtype=dtype)
        if layer.track_running_stats:
            layer.running_mean[:] = rng.standard_normal(width)
            layer.running_var[:] = rng.uniform(0.2, 3.0, width)
            layer.num_batches_tracked[...] = 7
        if layer.affine:
            layer.weight.weights = rng.uniform(0.5, 1.5, width)
            layer.bias.weights = rng.standard_normal(width)
        return layer, width
    if kind == "LayerNorm":
        affine = bool(rng.random() < 0.8)
        layer = fcnn.LayerNorm(width, eps=1e-5, elementwise_affine=affine, bias=bool(rng.random() < 0.7),
                               dtype=dtype)
        if affine:
            layer.weight.weights = rng.uniform(0.5, 1.5, width)
            if layer.bias is not None:
                layer.bias.weights = rng.standard_normal(width)
        return layer, width
    if kind == "Standardize":
        return fcnn.Standardize(rng.standard_normal(width), rng.uniform(0.3, 3.0, width), dtype=dtype), width
    simple = {
        "ReLU": lambda: fcnn.ReLU(), "LeakyReLU": lambda: fcnn.LeakyReLU(float(rng.uniform(0.01, 0.5))),
        "Sigmoid": lambda: fcnn.Sigmoid(), "Tanh": lambda: fcnn.Tanh(),
        "ELU": lambda: fcnn.ELU(float(rng.uniform(0.5, 2.0))), "SiLU": lambda: fcnn.SiLU(),
        "Softplus": lambda: fcnn.Softplus(float(rng.uniform(0.5, 2.0)), float(rng.uniform(0.5, 3))),
        "GELU": lambda: fcnn.GELU(), "GELU-tanh": lambda: fcnn.GELU("tanh"),
        "Identity": lambda: fcnn.Identity(),
        "Softmax": lambda: fcnn.Softmax(), "LogSoftmax": lambda: fcnn.LogSoftmax(dim=1),
        "Dropout": lambda: fcnn.Dropout(float(rng.uniform(0.1, 0.9)), rng=0),
    }
    return simple[kind](), width


def random_network(kind: str, depth: int, seed: int, dtype: Any) -> tuple[fcnn.Sequential, int]:
    """``depth`` layers, one of them ``kind`` at a random place, the others random kinds."""
    rng = np.random.default_rng(seed)
    n_in = width = int(rng.integers(1, 6))
    kinds = [str(rng.choice(KINDS)) for _ in range(depth)]
    kinds[int(rng.integers(depth))] = kind
    layers = []
    for k in kinds:
        layer, width = make_layer(k, width, rng, dtype)
        layers.append(layer)
    return fcnn.Sequential(*layers).eval(), n_in


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("kind", KINDS)
def test_random_networks_run_in_onnxruntime_with_fcnns_numbers(
    kind: str, dtype: Any, tmp_path: Path, record: Any
) -> None:
    for depth in (1, 2, 3, 4):
        seed = 1000 * depth + KINDS.index(kind)
        model, n_in = random_network(kind, depth, seed, dtype)
        path = tmp_path / f"{kind}-{depth}.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an eval-mode model exports without a warning
            export_onnx(model, path, dtype=dtype, opset=17 + depth % 2 * 3)  # opsets 17 and 20
        onnx.checker.check_model(str(path), full_check=True)
        X = (np.random.default_rng(seed).standard_normal((37, n_in)) * 2).astype(dtype)
        batch_stats = any(isinstance(layer, fcnn.BatchNorm1d) and not layer.track_running_stats
                          for layer in model)  # batch statistics of one sample are undefined
        exact = float64_twin(model, kind, depth, seed)
        for batch in (X[:2] if batch_stats else X[:1], X):
            (out,) = run(path, batch).values()
            expected = fcnn.predict(model, batch)
            assert out.dtype == dtype and out.shape == expected.shape
            error = relative_error(out, expected)
            record(f"onnx {np.dtype(dtype).name}", error)
            # A float32 network can be ill-conditioned (a norm layer over nearly equal
            # features amplifies rounding): there fcnn's own float32 result is off by more
            # than 1e-6 from exact arithmetic, and onnxruntime must be as close as fcnn is.
            own = relative_error(expected, fcnn.predict(exact, batch.astype(np.float64)))
            tolerance = TOLERANCE[dtype] if dtype == np.float64 else max(TOLERANCE[dtype], 2 * own)
            if error > TOLERANCE[dtype]:
                record("onnx float32, ill-conditioned cases: error / fcnn's own", error / own)
            assert error <= tolerance, (kind, depth, [type(layer).__name__ for layer in model], own)


def float64_twin(model: fcnn.Sequential, kind: str, depth: int, seed: int) -> fcnn.Sequential:
    """The same network, with the same (float32-rounded) values, computing in float64."""
    twin, _ = random_network(kind, depth, seed, np.float64)
    twin.load_state_dict({key: value.astype(np.float64) if value.dtype.kind == "f" else value
                          for key, value in model.state_dict().items()})
    return twin


@pytest.fixture(scope="module")
def worst() -> Any:
    table: dict[str, float] = {}
    yield table
    if table:
        print("\nworst relative errors: " + ", ".join(f"{k}: {v:.2e}" for k, v in sorted(table.items())))


@pytest.fixture
def record(worst: dict[str, float]) -> Any:
    def add(key: str, value: float) -> None:
        worst[key] = max(worst.get(key, 0.0), value)

    return add


# --------------------------------------------------------------------------- classifier outputs


def classifier(dtype: Any, n_out: int = 3, seed: int = 0) -> fcnn.Sequential:
    return fcnn.mlp([4, 8, n_out], "tanh", rng=seed, dtype=dtype).eval()


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("classes", [["setosa", "versicolor", "virginica"], [3, 7, 11], [0.5, 1.5, 2.5]],
                         ids=["str", "int", "float"])
def test_probabilities_and_labels(dtype: Any, classes: list[Any], tmp_path: Path) -> None:
    model = classifier(dtype)
    X = np.random.default_rng(1).standard_normal((37, 4)).astype(dtype)
    path = tmp_path / "m.onnx"
    export_onnx(model, path, output="both", classes=classes)
    out = run(path, X)
    assert list(out) == ["logits", "probabilities", "label"]
    logits = fcnn.predict(model, X)
    assert relative_error(out["logits"], logits) <= TOLERANCE[dtype]
    assert relative_error(out["probabilities"], fcnn.softmax(logits)) <= TOLERANCE[dtype]
    assert out["label"].tolist() == np.asarray(classes)[logits.argmax(axis=1)].tolist()
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert json.loads(meta["classes"]) == classes
    assert meta["fcnn_version"] == fcnn.__version__
    assert meta["task"] == "classification"


def test_output_kinds_and_names(tmp_path: Path) -> None:
    model = classifier(np.float64)
    for output, names in [("logits", ["logits"]), ("proba", ["probabilities"]),
                          ("both", ["logits", "probabilities"])]:
        export_onnx(model, tmp_path / "m.onnx", output=output)
        s = session(tmp_path / "m.onnx")
        assert [o.name for o in s.get_outputs()] == names
        assert [i.name for i in s.get_inputs()] == ["input"]
        assert s.get_inputs()[0].shape == ["batch", 4]  # a dynamic batch dimension


def test_a_binary_bce_model_gets_two_class_probabilities(tmp_path: Path) -> None:
    model = fcnn.mlp([4, 6, 1], rng=3).eval()
    model.metadata = {"loss": "BCEWithLogitsLoss", "classes": ["no", "yes"]}
    X = np.random.default_rng(2).standard_normal((37, 4))
    export_onnx(model, tmp_path / "m.onnx", output="proba")
    out = run(tmp_path / "m.onnx", X)
    p = fcnn.training.predict_proba(model, X)[:, 0]
    assert relative_error(out["probabilities"], np.stack([1 - p, p], axis=1)) <= 1e-12
    assert out["label"].tolist() == np.where(p > 0.5, "yes", "no").tolist()


def test_a_multilabel_model_gets_sigmoids_and_indicator_labels(tmp_path: Path) -> None:
    model = fcnn.mlp([4, 6, 3], rng=4).eval()
    model.metadata = {"task": "multilabel", "classes": [0, 1, 2]}
    X = np.random.default_rng(2).standard_normal((37, 4))
    export_onnx(model, tmp_path / "m.onnx", output="proba")
    out = run(tmp_path / "m.onnx", X)
    logits = fcnn.predict(model, X)
    assert relative_error(out["probabilities"], 1 / (1 + np.exp(-logits))) <= 1e-12
    assert out["label"].tolist() == (logits > 0).astype(int).tolist()


def test_a_regressor_has_predictions_and_no_probabilities(tmp_path: Path) -> None:
    model = fcnn.mlp([4, 6, 2], rng=5).eval()
    model.metadata = {"loss": "MSELoss"}
    X = np.random.default_rng(2).standard_normal((5, 4))
    export_onnx(model, tmp_path / "m.onnx")
    assert relative_error(run(tmp_path / "m.onnx", X)["predictions"], fcnn.predict(model, X)) <= 1e-12
    with pytest.raises(ValueError, match="regressor"):
        export_onnx(model, tmp_path / "p.onnx", output="proba")
    assert not (tmp_path / "p.onnx").exists()


# --------------------------------------------------------------------------- estimators and pipelines


@pytest.mark.parametrize("scaled", [False, True], ids=["estimator", "pipeline"])
def test_fitted_estimators_and_pipelines_export_to_one_file(scaled: bool, tmp_path: Path) -> None:
    from sklearn.datasets import load_wine
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from fcnn.estimators import MLPClassifier

    X, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    est = MLPClassifier(hidden_layer_sizes=(16,), max_iter=40, random_state=0)
    fitted = (make_pipeline(StandardScaler(), est) if scaled else est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: 40 iterations are enough here
        fitted.fit(X if scaled else StandardScaler().fit_transform(X), names)
    X_in = X if scaled else StandardScaler().fit_transform(X)
    export_onnx(fitted, tmp_path / "m.onnx", output="proba")
    out = run(tmp_path / "m.onnx", X_in)
    assert out["label"].tolist() == fitted.predict(X_in).tolist()
    assert np.abs(out["probabilities"] - fitted.predict_proba(X_in)).max() <= 1e-12


# --------------------------------------------------------------------------- modes and refusals


def test_training_mode_is_exported_in_eval_form_with_a_warning(tmp_path: Path) -> None:
    model = fcnn.Sequential(fcnn.Linear(4, 6, rng=0), fcnn.BatchNorm1d(6), fcnn.ReLU(), fcnn.Dropout(0.5),
                            fcnn.Linear(6, 3, rng=1))
    model.train()
    with pytest.warns(UserWarning, match=r"training mode.*eval form.*Dropout\(p=0.5\) removed"):
        export_onnx(model, tmp_path / "m.onnx")
    assert model.training  # the model itself is left as it was
    X = np.random.default_rng(0).standard_normal((9, 4))
    assert relative_error(run(tmp_path / "m.onnx", X)["logits"], fcnn.predict(model, X)) <= 1e-12


def test_a_layer_without_a_rule_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    @fcnn.register_layer(name="ExportTestSquare")
    class Square(fcnn.Layer):
        def forward(self, X: np.ndarray) -> np.ndarray:
            return X * X

    path = tmp_path / "m.onnx"
    with pytest.raises(TypeError, match=r"layer 1 \(.*Square\) has no ONNX rule.*register_onnx"):
        export_onnx(fcnn.Sequential(fcnn.Linear(2, 2, rng=0), Square()), path)
    assert not path.exists() and list(tmp_path.iterdir()) == []

    @register_onnx(Square)
    def square(layer: Square, graph: Any, x: str) -> str:
        return graph.node("Mul", [x, x])

    try:
        model = fcnn.Sequential(fcnn.Linear(2, 2, rng=0), Square())
        export_onnx(model, path)
        X = np.random.default_rng(0).standard_normal((3, 2))
        assert relative_error(run(path, X)["logits"], fcnn.predict(model, X)) <= 1e-12
    finally:
        del ONNX_RULES[Square]
        del fcnn.registry.LAYERS["ExportTestSquare"]


@pytest.mark.parametrize("call, error, words", [
    (lambda p: export_onnx(classifier(np.float64), p, output="probs"), ValueError, "output must be one of"),
    (lambda p: export_onnx(classifier(np.float64), p, opset=12), ValueError, r"opset must be an int in \[13"),
    (lambda p: export_onnx(fcnn.Sequential(fcnn.LayerNorm(3)), p, opset=16), ValueError, "opset >= 17"),
    (lambda p: export_onnx(classifier(np.float64), p, classes=["a", "b"]), ValueError, "2 class names"),
    (lambda p: export_onnx(classifier(np.float64), p, dtype=np.float32), TypeError, "float64"),
    (lambda p: export_onnx("model", p), TypeError, "str"),
], ids=["unknown-output", "old-opset", "layernorm-opset", "class-count", "dtype", "not-a-model"])
def test_bad_input_writes_nothing(call: Any, error: type, words: str, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    with pytest.raises(error, match=words):
        call(path)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_keeps_the_previous_file_and_a_directory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    export_onnx(classifier(np.float64), path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        export_onnx(classifier(np.float64), path, output="nope")
    assert path.read_bytes() == before
    with pytest.raises(IsADirectoryError, match="directory"):
        export_onnx(classifier(np.float64), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left behind


def test_import_fcnn_imports_no_exporter_library() -> None:
    code = ("import sys, fcnn; fcnn.export_onnx; fcnn.to_torch; fcnn.from_sklearn; "
            "print(sorted({'onnx', 'onnxruntime', 'torch', 'sklearn'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_export_writes_onnx_or_a_torch_layout_file(tmp_path: Path) -> None:
    from fcnn.export import cli_export

    model = classifier(np.float64)
    fcnn.save(model, tmp_path / "m.safetensors", classes=["a", "b", "c"])
    line = cli_export(tmp_path / "m.safetensors", tmp_path / "m.onnx", output="proba")
    assert line.startswith(f"wrote {tmp_path / 'm.onnx'} (ONNX opset 17, outputs probabilities, label")
    X = np.random.default_rng(0).standard_normal((6, 4))
    assert run(tmp_path / "m.onnx", X)["label"].tolist() == np.array(["a", "b", "c"])[
        fcnn.predict(model, X).argmax(axis=1)].tolist()
    assert "PyTorch" in cli_export(tmp_path / "m.safetensors", tmp_path / "t.safetensors")
    with pytest.raises(ValueError, match="cannot tell the format"):
        cli_export(tmp_path / "m.safetensors", tmp_path / "m.bin")


def test_float64_erf_matches_scipys_over_the_whole_range(tmp_path: Path) -> None:
    # onnxruntime has no float64 Erf: the exporter writes Cephes' approximations in elementary ops
    X = np.concatenate([np.linspace(-12, 12, 4001), [-1e300, -1e4, -40, -8, -1, -0.0, 0, 1e-300, 1, 8,
                                                     40, 1e4, 1e300]])[:, None]
    model = fcnn.Sequential(fcnn.GELU())
    export_onnx(model, tmp_path / "gelu.onnx")
    out = run(tmp_path / "gelu.onnx", X)["logits"]
    expected = fcnn.predict(model, X)
    assert np.isfinite(out).all()
    assert np.abs(out - expected).max() <= 1e-15
    assert np.mean(out == expected) > 0.99  # mostly the same bits


def test_what_fcnn_train_puts_in_the_metadata_is_applied(tmp_path: Path) -> None:
    # a regressor trained on the standardized target, and a file from before Standardize
    # layers that keeps its input scaling as metadata arrays
    model = fcnn.mlp([3, 5, 1], rng=6).eval()
    mean, scale = np.array([1.0, -2.0, 0.5]), np.array([2.0, 0.5, 3.0])
    model.metadata = {"task": "regression", "target_scaling": {"mean": 10.0, "scale": 4.0},
                      "mean": mean, "scale": scale}
    X = np.random.default_rng(3).standard_normal((7, 3))
    export_onnx(model, tmp_path / "m.onnx")
    expected = fcnn.predict(model, (X - mean) / scale) * 4.0 + 10.0
    assert relative_error(run(tmp_path / "m.onnx", X)["predictions"], expected) <= 1e-12


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_extreme_inputs_stay_finite_and_agree(dtype: Any, tmp_path: Path) -> None:
    X = np.array([[-1e4, -50.0, -1.0, 0.0, 1.0, 50.0, 1e4]], dtype=dtype).repeat(2, axis=0)
    for kind in ("ReLU", "LeakyReLU", "Sigmoid", "Tanh", "ELU", "SiLU", "GELU", "GELU-tanh", "Softmax",
                 "LogSoftmax", "LayerNorm", "BatchNorm1d"):
        layer, _ = make_layer(kind, X.shape[1], np.random.default_rng(0), dtype)
        model = fcnn.Sequential(layer).eval()
        export_onnx(model, tmp_path / "m.onnx", dtype=dtype)
        out = run(tmp_path / "m.onnx", X)["logits"]
        assert np.isfinite(out).all(), kind
        assert relative_error(out, fcnn.predict(model, X)) <= TOLERANCE[dtype], kind
