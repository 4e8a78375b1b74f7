"""scikit-learn in: fitted MLPs and scaled pipelines as fcnn models, checked against
scikit-learn's own predict / predict_proba (called live), to 1e-12 in float64.

And the whole pipeline in one file: ``fcnn.save(pipeline, path)`` keeps the scaler (a
Standardize layer) and the class names, and ``fcnn predict`` on the raw features
predicts what the pipeline predicts, end to end through the CLI.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import fcnn
from fcnn.export.sklearn import from_sklearn

ACTIVATIONS = ("identity", "logistic", "tanh", "relu")
KINDS = ("binary", "multiclass", "multilabel", "regression")


def data(kind: str, dtype: Any = np.float64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((80, 5)) * [1, 10, 0.1, 3, 1] + [0, 50, -1, 2, 0]).astype(dtype)
    if kind == "binary":
        return X, np.array(["no", "yes"])[(X[:, 0] + rng.standard_normal(80) > 0).astype(int)]
    if kind == "multiclass":
        return X, np.array([10, 20, 30, 40])[rng.integers(0, 4, 80)]
    if kind == "multilabel":
        return X, rng.integers(0, 2, (80, 3))
    return X, np.stack([X[:, 0] * 2 + X[:, 3], X[:, 1] / 10], axis=1)


def fitted(kind: str, activation: str, scaled: bool, dtype: Any = np.float64) -> tuple[Any, np.ndarray]:
    X, y = data(kind, dtype)
    cls = MLPRegressor if kind == "regression" else MLPClassifier
    est = cls(hidden_layer_sizes=(7, 5), activation=activation, max_iter=60, random_state=0)
    model = make_pipeline(StandardScaler(), est) if scaled else est
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X if scaled else StandardScaler().fit_transform(X), y)
    return model, (X if scaled else StandardScaler().fit_transform(X))


def probabilities(model: fcnn.Sequential, X: np.ndarray) -> np.ndarray:
    """How the module docstring says to read a converted classifier's output."""
    logits = fcnn.predict(model, X)
    if model.metadata["task"] == "multilabel":
        return 1 / (1 + np.exp(-logits))
    return fcnn.softmax(logits)


def labels(model: fcnn.Sequential, X: np.ndarray) -> np.ndarray:
    logits = fcnn.predict(model, X)
    if model.metadata["task"] == "multilabel":
        return (logits > 0).astype(int)
    return np.asarray(model.metadata["classes"])[logits.argmax(axis=1)]


@pytest.mark.parametrize("scaled", [False, True], ids=["estimator", "pipeline"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_from_sklearn_predicts_what_sklearn_predicts(activation: str, kind: str, scaled: bool) -> None:
    est, X = fitted(kind, activation, scaled)
    model = from_sklearn(est)
    assert isinstance(model, fcnn.Sequential) and not model.training
    assert isinstance(model[0], fcnn.Standardize) == scaled
    if kind == "regression":
        assert model.metadata["task"] == "regression"
        assert np.abs(fcnn.predict(model, X) - est.predict(X)).max() <= 1e-12
        return
    assert np.abs(probabilities(model, X) - est.predict_proba(X)).max() <= 1e-12
    assert labels(model, X).tolist() == est.predict(X).tolist()
    assert model.metadata["classes"] == est.classes_.tolist()
    # fcnn's own predict_proba reads the same metadata (the loss the model trains with)
    assert np.abs(fcnn.training.predict_proba(model, X) - est.predict_proba(X)).max() <= 1e-12


def test_a_float32_mlp_stays_float32() -> None:
    est, X = fitted("multiclass", "relu", True, np.float32)
    model = from_sklearn(est)
    assert model.dtype == np.float32 and model[0].mean.dtype == np.float32
    assert labels(model, X).tolist() == est.predict(X).tolist()
    assert np.abs(probabilities(model, X) - est.predict_proba(X)).max() <= 1e-5


def test_the_model_is_a_copy_and_can_be_fine_tuned() -> None:
    est, X = fitted("multiclass", "tanh", True)
    model = from_sklearn(est)
    mlp = est[-1]
    coefs = [c.copy() for c in mlp.coefs_]
    model.train()
    y = np.searchsorted(mlp.classes_, est.predict(X))
    fcnn.train(model, fcnn.NLLLoss(), fcnn.Adam(model.parameters(), lr=0.01), X, y, epochs=2,
               batch_size=16, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(coefs, mlp.coefs_, strict=True))
    assert not np.array_equal(model[1].weight.weights, mlp.coefs_[0])


def test_fcnns_own_estimators_convert_too() -> None:
    from fcnn.estimators import MLPClassifier as FcnnClassifier

    X, y = data("binary")
    pipe = make_pipeline(StandardScaler(), FcnnClassifier(hidden_layer_sizes=(6,), activation="elu",
                                                          max_iter=40, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
    model = from_sklearn(pipe)
    assert np.abs(probabilities(model, X) - pipe.predict_proba(X)).max() <= 1e-12
    assert labels(model, X).tolist() == pipe.predict(X).tolist()


@pytest.mark.parametrize("call, error, words", [
    (lambda: from_sklearn(MLPClassifier()), ValueError, "unfitted MLPClassifier; fit it first"),
    (lambda: from_sklearn(make_pipeline(StandardScaler(), MLPClassifier())), ValueError, "not fitted"),
    (lambda: from_sklearn(StandardScaler().fit(np.ones((3, 2)))), TypeError,
     "not a fitted MLPClassifier/MLPRegressor"),
    (lambda: from_sklearn("model"), TypeError, "str"),
], ids=["unfitted", "unfitted-pipeline", "not-an-mlp", "a-string"])
def test_bad_input(call: Any, error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        call()


def test_other_pipeline_steps_and_outputs_are_refused_by_name() -> None:
    from sklearn.decomposition import PCA

    X, y = data("multiclass")
    pipe = make_pipeline(PCA(3), MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0))
    poisson = MLPRegressor(loss="poisson", hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X, y)
        poisson.fit(X, np.abs(X[:, 0]))
    with pytest.raises(TypeError, match="step 'pca' is a PCA"):
        from_sklearn(pipe)
    with pytest.raises(TypeError, match="out_activation_='exp'"):
        from_sklearn(poisson)


# --------------------------------------------------------------------------- one file, through the CLI


def wine_frame() -> tuple[Any, np.ndarray]:
    pd = pytest.importorskip("pandas")
    wine = load_wine()
    frame = pd.DataFrame(wine.data, columns=[n.replace("/", "_") for n in wine.feature_names])
    return frame, np.array(["barolo", "grignolino", "barbera"])[wine.target]


@pytest.fixture(scope="module")
def wine_pipeline() -> tuple[Any, np.ndarray, Any]:
    """The wine table, its class names and a StandardScaler + MLPClassifier fitted on them."""
    frame, y = wine_frame()
    pipe = make_pipeline(StandardScaler(), MLPClassifier(hidden_layer_sizes=(16,), max_iter=80,
                                                         random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(frame, y)
    return frame, y, pipe


def test_a_saved_pipeline_keeps_its_scaler_and_class_names(tmp_path: Path, wine_pipeline) -> None:
    frame, _, pipe = wine_pipeline
    path = tmp_path / "wine.safetensors"
    fcnn.save(pipe, path)
    model = fcnn.load(path)
    assert isinstance(model[0], fcnn.Standardize)
    assert model.metadata["classes"] == ["barbera", "barolo", "grignolino"]
    assert model.metadata["feature_names"] == list(frame.columns)
    X = frame.to_numpy()
    assert np.abs(fcnn.softmax(fcnn.predict(model, X)) - pipe.predict_proba(frame)).max() <= 1e-12


def test_pipeline_to_one_file_to_fcnn_predict(tmp_path: Path, wine_pipeline) -> None:
    frame, y, pipe = wine_pipeline
    model_path = tmp_path / "wine.safetensors"
    fcnn.save(pipe, model_path)
    table = frame.copy()
    table["cultivar"] = y  # a label column: fcnn predict uses the model's feature columns only
    table.to_csv(tmp_path / "wine.csv", index=False)

    result = subprocess.run([sys.executable, "-m", "fcnn", "predict", str(model_path),
                             str(tmp_path / "wine.csv")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = list(csv.reader(io.StringIO(result.stdout)))
    header, body = rows[0], rows[1:]
    assert header == ["prediction", *(f"p_{name}" for name in pipe.classes_)]
    assert [row[0] for row in body] == pipe.predict(frame).tolist()
    printed = np.array([[float(v) for v in row[1:]] for row in body])
    assert np.abs(printed - pipe.predict_proba(frame)).max() <= 5e-7  # printed with 6 decimals
    # the mistake this replaces: the network alone, without its scaler, predicts one class
    assert len(set(pipe[-1].predict(frame.to_numpy()))) == 1
