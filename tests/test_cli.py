"""The ``fcnn`` command line, end to end in temporary folders.

Most tests call ``fcnn.cli.main`` in-process; two run the real console script
and ``python -m fcnn`` to check that a bad argument never shows a traceback.
Only the lab's default run trains for 2000 epochs; everything else is short.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fcnn
from fcnn import cli, layers, registry, runner, training
from fcnn.datasets import load_dataset, train_test_split

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
IRIS_CLASSES = ["setosa", "versicolor", "virginica"]
RUN_FILES = ("model.safetensors", "metrics.json", "loss.png", "confusion_matrix.png")


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``main(argv)`` with stdout and stderr captured: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def assert_one_line_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("fcnn: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in stderr


def write_iris_csv(path: Path, rows: slice | np.ndarray = slice(None), columns=None) -> Path:
    """Iris as a CSV: the four features and a 'species' label column (names)."""
    iris = load_dataset("iris")
    header = [*iris.feature_names, "species"]
    table = [
        [*(repr(float(v)) for v in x), IRIS_CLASSES[c]]
        for x, c in zip(iris.X[rows], iris.y[rows], strict=True)
    ]
    order = list(range(len(header))) if columns is None else columns
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([header[j] for j in order])
        writer.writerows([[row[j] for j in order] for row in table])
    return path


def read_csv(path_or_text: Path | str) -> list[dict[str, str]]:
    text = path_or_text.read_text() if isinstance(path_or_text, Path) else path_or_text
    return list(csv.DictReader(io.StringIO(text)))


def iris_test_split():
    return train_test_split(load_dataset("iris"), test_size=0.2, seed=0)


# --------------------------------------------------------------------------- the lab's run


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`fcnn train` with the lab's defaults, run once for the module."""
    out = tmp_path_factory.mktemp("default") / "run"
    code, stdout, stderr = run_cli("train", "--out", out, "--no-progress")
    metrics = json.loads((out / "metrics.json").read_text())
    return {"dir": out, "code": code, "stdout": stdout, "stderr": stderr, "metrics": metrics}


def test_default_train_reaches_the_labs_accuracy_and_writes_the_run_folder(default_run):
    assert default_run["code"] == 0, default_run["stderr"]
    assert default_run["metrics"]["accuracy"] >= 0.93
    for name in RUN_FILES:
        assert (default_run["dir"] / name).is_file(), name
    for name in ("loss.png", "confusion_matrix.png"):
        assert (default_run["dir"] / name).read_bytes()[:8] == PNG_MAGIC


def test_default_train_prints_accuracy_report_and_folder(default_run):
    stdout = default_run["stdout"]
    accuracy = default_run["metrics"]["accuracy"]
    assert f"test accuracy: {accuracy:.4f}" in stdout
    assert "4-100-100-3 relu" in stdout and "SGD(lr=0.01)" in stdout
    for name in [*IRIS_CLASSES, "precision", "recall", "f1-score", "macro avg"]:
        assert name in stdout
    assert f"run folder: {default_run['dir']}" in stdout


def test_metrics_json_holds_the_run(default_run):
    m = default_run["metrics"]
    for key in ("accuracy", "confusion_matrix", "classification_report", "history", "config",
                "versions", "wall_time", "epochs_run", "interrupted"):
        assert key in m
    matrix = np.array(m["confusion_matrix"]["matrix"])
    assert matrix.shape == (3, 3)
    assert matrix.sum() == 30
    assert matrix.sum(axis=1).tolist() == [10, 10, 10]  # stratified: 10 of each true class
    assert m["confusion_matrix"]["classes"] == IRIS_CLASSES
    assert m["accuracy"] == pytest.approx(np.trace(matrix) / 30)
    report = m["classification_report"]
    for k, name in enumerate(IRIS_CLASSES):
        assert report[name]["recall"] == pytest.approx(matrix[k, k] / matrix[k].sum())
        column = matrix[:, k].sum()
        assert report[name]["precision"] == pytest.approx(matrix[k, k] / column if column else 0)
    assert report["accuracy"] == pytest.approx(m["accuracy"])
    assert len(m["history"]["loss"]) == 2000 == m["epochs_run"]
    assert m["history"]["loss"][-1] < m["history"]["loss"][0]
    assert m["interrupted"] is False
    config = m["config"]
    assert config["dataset"] == "iris"
    assert config["sizes"] == [4, 100, 100, 3]
    assert (config["activation"], config["optimizer"], config["lr"]) == ("relu", "sgd", 0.01)
    assert (config["batch_size"], config["epochs"], config["seed"]) == (32, 2000, 0)
    assert (config["test_size"], config["standardize"], config["dtype"]) == (0.2, False, "float64")
    assert set(m["versions"]) >= {"fcnn", "numpy", "python", "scikit-learn"}
    assert m["versions"]["fcnn"] == fcnn.__version__
    assert 0 < m["wall_time"]["training_s"] <= m["wall_time"]["total_s"]


def test_saved_model_reproduces_the_test_accuracy(default_run):
    model = fcnn.load(default_run["dir"] / "model.safetensors")
    meta = model.metadata
    assert meta["classes"] == IRIS_CLASSES
    assert meta["feature_names"] == load_dataset("iris").feature_names
    assert meta["split"] == {"seed": 0, "test_size": 0.2, "stratify": True}
    assert "mean" not in meta  # the lab trains on raw features
    split = iris_test_split()
    accuracy = np.mean(fcnn.predict(model, split.X_test).argmax(axis=1) == split.y_test)
    assert accuracy == pytest.approx(default_run["metrics"]["accuracy"])


def test_evaluate_uses_the_saved_test_split(default_run):
    model = default_run["dir"] / "model.safetensors"
    code, stdout, _ = run_cli("evaluate", model)
    assert code == 0
    assert "test split of iris (30 samples" in stdout
    assert f"accuracy: {default_run['metrics']['accuracy']:.4f}" in stdout
    code, stdout, _ = run_cli("evaluate", model, "--all")
    assert code == 0
    assert "all 150 samples of iris" in stdout


def test_predict_round_trip_on_a_csv(default_run, tmp_path):
    split_rows = np.arange(150)[::5]
    # columns shuffled, label column kept: predict reads features by name
    source = write_iris_csv(tmp_path / "new.csv", split_rows, columns=[4, 2, 0, 3, 1])
    out = tmp_path / "pred.csv"
    model_path = default_run["dir"] / "model.safetensors"
    code, stdout, _ = run_cli("predict", model_path, source, "-o", out)
    assert code == 0
    assert f"wrote 30 predictions to {out}" in stdout
    rows = read_csv(out)
    assert list(rows[0]) == ["prediction", "p_setosa", "p_versicolor", "p_virginica"]
    assert len(rows) == 30
    iris = load_dataset("iris")
    expected = fcnn.predict(fcnn.load(model_path), iris.X[split_rows]).argmax(axis=1)
    assert [r["prediction"] for r in rows] == [IRIS_CLASSES[k] for k in expected]
    for r in rows:
        probabilities = [float(r[f"p_{name}"]) for name in IRIS_CLASSES]
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-5)
        assert IRIS_CLASSES[int(np.argmax(probabilities))] == r["prediction"]
    truth = [IRIS_CLASSES[c] for c in iris.y[split_rows]]
    assert np.mean([r["prediction"] == t for r, t in zip(rows, truth)]) >= 0.9

    code, stdout, _ = run_cli("predict", model_path, source)  # no -o: standard output
    assert code == 0
    assert read_csv(stdout) == rows


def test_a_model_saved_without_metadata_still_predicts(tmp_path):
    model = fcnn.mlp([4, 8, 3], rng=0)
    path = tmp_path / "plain.safetensors"
    fcnn.save(model, path)
    source = tmp_path / "x.csv"
    source.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n6.9,3.1,5.8,2.2\n")
    code, stdout, _ = run_cli("predict", path, source)
    assert code == 0
    rows = read_csv(stdout)
    assert list(rows[0]) == ["prediction", "p_0", "p_1", "p_2"]
    expected = fcnn.predict(model, [[5.1, 3.5, 1.4, 0.2], [6.9, 3.1, 5.8, 2.2]]).argmax(axis=1)
    assert [int(r["prediction"]) for r in rows] == expected.tolist()
    code, _, stderr = run_cli("evaluate", path)
    assert_one_line_error(code, stderr, "does not record its dataset", "--dataset")
    source.write_text("a,b,c\n1,2,3\n")
    code, _, stderr = run_cli("predict", path, source)
    assert_one_line_error(code, stderr, "3 feature columns", "takes 4")


# --------------------------------------------------------------------------- other runs


def test_csv_training_standardizes_and_evaluate_recognizes_the_file(tmp_path):
    from sklearn.preprocessing import StandardScaler

    data = write_iris_csv(tmp_path / "iris.csv", columns=[4, 0, 1, 2, 3])  # label first
    out = tmp_path / "run"
    code, stdout, stderr = run_cli(
        "train", "--dataset", data, "--target", "species", "--standardize", "--epochs", "60",
        "--early-stopping", "0", "--out", out, "--no-progress",
    )
    assert code == 0, stderr
    assert "iris.csv: 150 samples, 4 features, 3 classes" in stdout
    model = fcnn.load(out / "model.safetensors")
    meta = model.metadata
    assert meta["target"] == "species"
    assert meta["classes"] == IRIS_CLASSES
    assert "mean" not in meta  # the standardization is a layer of the model now
    scaler_layer = model.layers[0]
    assert type(scaler_layer).__name__ == "Standardize"
    # statistics of the 120 training rows only, as scikit-learn's StandardScaler has them
    split = train_test_split(load_dataset(data, target="species"), test_size=0.2, seed=0)
    reference = StandardScaler().fit(split.X_train)
    np.testing.assert_allclose(scaler_layer.mean, reference.mean_, rtol=1e-12)
    np.testing.assert_allclose(scaler_layer.scale, reference.scale_, rtol=1e-12)

    # predict: the model standardizes by itself
    code, stdout, _ = run_cli("predict", out / "model.safetensors", data)
    assert code == 0
    X = load_dataset(data, target="species").X
    logits = fcnn.predict(model, X)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    rows = read_csv(stdout)
    np.testing.assert_allclose([float(r["p_setosa"]) for r in rows], p[:, 0], atol=1e-6)

    # the same file: its test split; an edited file: refused without --all
    code, stdout, _ = run_cli("evaluate", out / "model.safetensors")
    assert code == 0 and "test split of iris.csv (30 samples" in stdout
    with data.open("a") as handle:
        handle.write("setosa,5.0,3.4,1.5,0.2\n")
    code, _, stderr = run_cli("evaluate", out / "model.safetensors")
    assert_one_line_error(code, stderr, "iris.csv has changed since the model was trained",
                          "--all")
    code, stdout, _ = run_cli("evaluate", out / "model.safetensors", "--all")
    assert code == 0 and "all 151 samples of iris.csv" in stdout


def test_early_stopping_float32_and_adam(tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_cli(
        "train", "--early-stopping", "3", "--epochs", "400", "--optimizer", "adam",
        "--dtype", "float32", "--hidden", "16", "--out", out, "--no-progress",
    )
    assert code == 0, stderr
    m = json.loads((out / "metrics.json").read_text())
    assert m["stopped_early"] is True and m["restored_best_weights"] is True
    assert m["epochs_run"] < 400
    assert m["best_epoch"] <= m["epochs_run"] - 3
    assert len(m["history"]["loss"]) == len(m["history"]["val_loss"]) == m["epochs_run"]
    assert (m["dataset"]["n_train"], m["dataset"]["n_validation"]) == (108, 12)
    assert m["dataset"]["n_test"] == 30
    model = fcnn.load(out / "model.safetensors")
    assert all(p.weights.dtype == np.float32 for p in model.parameters())
    assert [layer.out_features for layer in model.layers[::2]] == [16, 3]


def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(runner, "_timestamp", lambda: "20250101-120000")
    for _ in range(2):
        code, _, stderr = run_cli("train", "--epochs", "2", "--no-progress")
        assert code == 0, stderr
    runs = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert runs == ["iris-20250101-120000", "iris-20250101-120000-2"]
    for name in runs:
        assert (tmp_path / "runs" / name / "metrics.json").is_file()


def test_an_interrupted_run_keeps_what_was_learned(tmp_path, monkeypatch):
    real_train = training.train

    def interrupt_at_epoch_3(*args, **kwargs):
        def hook(epoch, logs):
            if epoch == 3:
                raise KeyboardInterrupt

        kwargs["callbacks"] = [*kwargs.get("callbacks", ()), hook]
        return real_train(*args, **kwargs)

    monkeypatch.setattr(training, "train", interrupt_at_epoch_3)
    out = tmp_path / "run"
    code, stdout, _ = run_cli("train", "--epochs", "50", "--out", out, "--no-progress")
    assert code == 130
    assert "interrupted after 3 of 50 epochs" in stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["interrupted"] is True and m["epochs_run"] == 3
    assert len(m["history"]["loss"]) == 3
    for name in RUN_FILES:
        assert (out / name).is_file()


def test_divergence_is_one_line_and_leaves_no_folder(tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_cli("train", "--lr", "1e300", "--epochs", "3", "--out", out,
                              "--no-progress")
    assert code == 1
    assert stderr.count("\n") == 1 and "training diverged" in stderr and "--lr" in stderr
    assert not out.exists()


# --------------------------------------------------------------------------- gradcheck, trajectory


def test_gradcheck_passes_and_prints_a_row_per_subject():
    code, stdout, _ = run_cli("gradcheck")
    assert code == 0
    rows = [line for line in stdout.splitlines() if line.endswith(("OK", "FAIL"))]
    names = [row.split("  ")[0].strip() for row in rows]
    # every registered layer, every registered loss that has an example, two networks
    expected = [*registry.LAYERS,
                *(name for name, cls in registry.LOSSES.items() if hasattr(cls, "example"))]
    assert names == [*expected, "mlp 4-6-5-3 relu", "mlp 4-6-5-3 tanh+dropout"]
    assert all(row.endswith("OK") for row in rows)
    for row in rows:
        relative_error = float(row.split()[-2])
        assert relative_error <= 1e-7


def test_gradcheck_skips_a_registered_class_without_a_working_example(monkeypatch):
    class Broken(fcnn.Layer):
        @classmethod
        def example(cls, in_features, *, dtype=np.float64, rng=None):
            raise NotImplementedError("needs a config")

    monkeypatch.setitem(registry.LAYERS, "Broken", Broken)
    code, stdout, _ = run_cli("gradcheck")
    assert code == 0
    assert "skipped Broken (layer): no working example" in stdout
    assert "needs a config" in stdout and "(1 skipped)" in stdout


def test_gradcheck_fails_on_a_wrong_backward(monkeypatch):
    real_backward = layers.Sigmoid.backward
    monkeypatch.setattr(layers.Sigmoid, "backward",
                        lambda self, dLdy: 1.01 * real_backward(self, dLdy))
    code, stdout, _ = run_cli("gradcheck")
    assert code == 1
    failing = [line for line in stdout.splitlines() if line.endswith("FAIL")]
    assert [line.split()[0] for line in failing] == ["Sigmoid"]
    assert "FAILED: Sigmoid" in stdout


def test_gradcheck_float32_uses_its_own_threshold():
    code, stdout, _ = run_cli("gradcheck", "--dtype", "float32")
    assert code == 0
    assert "threshold 0.001" in stdout


def test_trajectory_writes_the_bowl_plot(tmp_path):
    out = tmp_path / "bowl.png"
    code, stdout, _ = run_cli("trajectory", "--out", out, "--lr", "0.1", "--steps", "10")
    assert code == 0
    assert out.read_bytes()[:8] == PNG_MAGIC
    # the lab's SGD by hand: w <- w - lr * 2 (w - target), ten steps from (0, 0)
    w, target = np.zeros(2), np.array([3.0, 5.0])
    for _ in range(10):
        w = w - 0.1 * 2 * (w - target)
    lines = stdout.splitlines()
    assert lines[0] == f"wrote {out}: sgd on bowl from (0, 0); the minimum is (3, 5)"
    distance = float(np.hypot(*(w - target)))
    assert lines[1] == (f"sgd (lr 0.1): final distance to the minimum {distance:.1e} after 10 "
                        "steps")


def test_trajectory_compares_optimizers_as_torch_runs_them(tmp_path):
    import torch

    out = tmp_path / "paths.png"
    code, stdout, stderr = run_cli("trajectory", "--optimizer", "sgd,momentum,adam",
                                   "--function", "elongated", "--steps", "20", "--lr", "0.05",
                                   "--out", out)
    assert code == 0, stderr
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert stdout.splitlines()[0] == (f"wrote {out}: sgd, momentum, adam on elongated from "
                                      "(-5, -2); the minimum is (0, 0)")
    makers = {"sgd": lambda p: torch.optim.SGD([p], lr=0.05),
              "momentum": lambda p: torch.optim.SGD([p], lr=0.05, momentum=0.9),
              "adam": lambda p: torch.optim.Adam([p], lr=0.05)}
    for name, make in makers.items():
        w = torch.tensor([-5.0, -2.0], dtype=torch.float64, requires_grad=True)
        optimizer = make(w)
        for _ in range(20):
            optimizer.zero_grad()
            (0.1 * w[0] ** 2 + 2.0 * w[1] ** 2).backward()
            optimizer.step()
        distance = float(torch.linalg.norm(w.detach()))
        assert (f"{name} (lr 0.05): final distance to the minimum {distance:.1e} after 20 steps"
                in stdout), (name, stdout)


# --------------------------------------------------------------------------- bad input


def test_no_command_prints_help():
    code, stdout, _ = run_cli()
    assert code == 0
    for command in ("train", "evaluate", "predict", "summary", "export", "gradcheck",
                    "trajectory"):
        assert command in stdout


@pytest.mark.parametrize("command", ["train", "evaluate", "predict", "summary", "export",
                                     "gradcheck", "trajectory"])
def test_every_command_has_help(command):
    code, stdout, stderr = run_cli(command, "--help")
    assert code == 0, stderr
    assert stdout.startswith(f"usage: fcnn {command}")


@pytest.mark.parametrize(
    ("argv", "fragments"),
    [
        (["train", "--hidden", "10,x"], ["--hidden", "'10,x'"]),
        (["train", "--hidden", "10,0"], ["--hidden"]),
        (["train", "--lr", "-1"], ["--lr", "'-1'"]),
        (["train", "--lr", "inf"], ["--lr"]),
        (["train", "--epochs", "0"], ["--epochs", "'0'"]),
        (["train", "--epochs", "ten"], ["--epochs", "'ten'"]),
        (["train", "--batch-size", "0"], ["--batch-size"]),
        (["train", "--seed", "-1"], ["--seed"]),
        (["train", "--test-size", "1"], ["--test-size"]),
        (["train", "--early-stopping", "-2"], ["--early-stopping"]),
        (["train", "--optimizer", "lbfgs"], ["--optimizer", "lbfgs"]),
        (["train", "--activation", "swoosh"], ["--activation", "swoosh"]),
        (["train", "--init", "zeros"], ["--init", "zeros"]),
        (["train", "--dtype", "float16"], ["--dtype", "float16"]),
        (["train", "--dataset", "irsi"], ["irsi", "did you mean 'iris'"]),
        (["train", "--dataset", "iris", "--target", "x"], ["target"]),
        (["train", "--frobnicate"], ["--frobnicate"]),
        (["frobnicate"], ["frobnicate"]),
        (["predict", "model.safetensors"], ["INPUT"]),
        (["train", "--missing", "guess"], ["--missing", "guess"]),
        (["train", "--task", "ranking"], ["--task", "ranking"]),
        (["train", "--sep", "ab"], ["--sep", "'ab'"]),
        (["train", "--loss", "hinge"], ["--loss", "hinge"]),
        (["train", "--loss", "mse", "--epochs", "1"], ["--loss mse", "classification", "nll"]),
        (["trajectory", "--steps", "0"], ["--steps"]),
        (["trajectory", "--optimizer", "sgd,lbfgs"], ["--optimizer", "lbfgs", "adam"]),
        (["trajectory", "--function", "saddle"], ["--function", "rosenbrock"]),
        (["train", "--scheduler", "linear"], ["--scheduler", "'linear'", "step:STEP_SIZE"]),
        (["train", "--scheduler", "step:ten"], ["--scheduler", "STEP_SIZE", "'ten'"]),
        (["train", "--scheduler", "exponential:1.5"], ["--scheduler", "GAMMA", "(0, 1]"]),
        (["train", "--scheduler", "multistep:50,20"], ["--scheduler", "increase"]),
        (["train", "--scheduler", "cosine:1:2"], ["--scheduler", "cosine[:ETA_MIN]"]),
        (["train", "--metrics", "accuracy,auc"], ["--metrics", "'auc'", "f1_macro"]),
        (["train", "--warmup", "-1"], ["--warmup"]),
        (["train", "--warmup", "2", "--scheduler", "plateau"], ["--warmup", "plateau"]),
        (["train", "--clip-grad-norm", "0"], ["--clip-grad-norm"]),
        (["train", "--clip-grad-norm", "1", "--clip-grad-value", "1"], ["--clip-grad-norm",
                                                                          "not both"]),
        (["train", "--class-weight", "auto"], ["--class-weight", "balanced"]),
        (["train", "--metrics", "mae", "--epochs", "1"], ["--metrics mae", "classification",
                                                           "accuracy"]),
        (["train", "--warmup", "5", "--epochs", "3"], ["--warmup 5", "3 epochs"]),
        (["train", "--resume", "runs/none", "--lr", "0.1"], ["--resume", "--lr"]),
        (["export", "model.safetensors"], ["-o"]),
        (["export", "model.safetensors", "-o", "m.onnx", "--output", "labels"], ["--output"]),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(argv, fragments):
    code, stdout, stderr = run_cli(*argv)
    assert_one_line_error(code, stderr, *fragments)
    assert stdout == ""


def test_bad_paths_and_files_are_one_line_and_exit_2(default_run, tmp_path):
    model = default_run["dir"] / "model.safetensors"
    iris_csv = write_iris_csv(tmp_path / "iris.csv")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x80\x04 definitely not a model")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(model.read_bytes()[:-100])
    wrong_columns = tmp_path / "wrong.csv"
    wrong_columns.write_text("a,b,c,d\n1,2,3,4\n")
    text_features = tmp_path / "text.csv"
    text_features.write_text(
        "sepal length (cm),sepal width (cm),petal length (cm),petal width (cm)\n5.1,3.5,big,0.2\n"
    )
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (["train", "--dataset", tmp_path / "missing.csv"], ["missing.csv", "no such file"]),
        (["train", "--dataset", iris_csv, "--target", "colour"], ["'colour'"]),
        (["train", "--out", a_file, "--epochs", "1"], ["--out", "not a directory"]),
        (["evaluate", tmp_path / "missing.safetensors"], ["missing.safetensors"]),
        (["evaluate", garbage], ["garbage.safetensors", "pickle"]),
        (["evaluate", truncated], ["truncated.safetensors"]),
        (["evaluate", model, "--dataset", "wine"], ["4 features", "wine has 13"]),
        (["predict", garbage, iris_csv], ["garbage.safetensors"]),
        (["predict", model, tmp_path / "missing.csv"], ["missing.csv"]),
        (["predict", model, wrong_columns], ["missing feature column", "sepal length (cm)"]),
        (["predict", model, text_features], ["'big'"]),
        (["predict", model, iris_csv, "-o", tmp_path / "no" / "dir.csv"], ["dir.csv"]),
        (["trajectory", "--out", tmp_path], ["is a directory"]),
    ]
    for argv, fragments in cases:
        code, _, stderr = run_cli(*argv)
        assert_one_line_error(code, stderr, *fragments)


def _console_script() -> list[str]:
    """The installed ``fcnn`` script: beside this interpreter (a venv), else on PATH."""
    script = Path(sys.executable).with_name("fcnn")
    found = str(script) if script.exists() else shutil.which("fcnn")
    assert found, "the fcnn console script is not installed (pip install -e .)"
    return [found]


@pytest.mark.parametrize("launcher", ["console script", "python -m fcnn"])
def test_real_processes_never_show_a_traceback(launcher, tmp_path):
    command = _console_script() if launcher == "console script" else [sys.executable, "-m", "fcnn"]
    garbage = tmp_path / "model.safetensors"
    garbage.write_bytes(b"PK\x03\x04 a zip, not a model")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    for argv in (["train", "--lr", "-1"], ["predict", str(garbage), "in.csv"]):
        result = subprocess.run([*command, *argv], capture_output=True, text=True, env=env,
                                cwd=tmp_path, timeout=120)
        assert result.returncode == 2
        assert "Traceback" not in result.stderr
        assert len(result.stderr.splitlines()) == 1
        assert result.stderr.startswith("fcnn: error: ")
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert version.returncode == 0
    assert version.stdout.strip() == f"fcnn {fcnn.__version__}"


def test_the_command_line_starts_without_the_heavy_libraries():
    code = (
        "import sys, contextlib, io\n"
        "from fcnn import cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert cli.main(['train', '--help']) == 0\n"
        "print(sorted(m for m in ('sklearn', 'matplotlib', 'tqdm', 'safetensors', 'scipy',\n"
        "                         'pandas')\n"
        "             if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=True)
    assert result.stdout.strip() == "[]"


def test_parser_types_reject_non_finite_and_accept_empty_hidden():
    assert cli._hidden_sizes("") == []
    assert cli._hidden_sizes(" 8, 4 ") == [8, 4]
    assert cli._positive_float("1e-3") == pytest.approx(1e-3)
    for bad in ("nan", "-inf", "0"):
        with pytest.raises(Exception, match="positive"):
            cli._positive_float(bad)
    assert math.isclose(cli._fraction("0.25"), 0.25)


# --------------------------------------------------------------------------- anyone's table


def _make_tables():
    import importlib.util

    path = Path(__file__).parent / "data" / "tables" / "make_tables.py"
    spec = importlib.util.spec_from_file_location("make_tables", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _make_tables().write_tables(tmp_path_factory.mktemp("tables"))


def fcnn_process(*argv: object, cwd: Path) -> subprocess.CompletedProcess:
    """The real command line in its own process (about a second of imports each)."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "fcnn", *map(str, argv)], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=300)


def softmax_rows(logits: np.ndarray) -> np.ndarray:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def test_categories_are_one_hot_in_the_model_and_in_predict(tables, tmp_path):
    import pandas as pd

    out = tmp_path / "run"
    done = fcnn_process("train", "--dataset", tables["categorical"], "--epochs", "30",
                        "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "categorical.csv: 80 samples, 5 features, 2 classes" in done.stdout
    assert "defaults for a table (flags override)" in done.stdout
    model = fcnn.load(out / "model.safetensors")
    assert model.metadata["columns"] == ["x1", "x2", "color"]
    assert model.metadata["feature_names"] == ["x1", "x2", "color=blue", "color=green",
                                               "color=red"]
    # predict on rows with categories (the label column is ignored), in its own process
    done = fcnn_process("predict", out / "model.safetensors", tables["no_label"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_csv(done.stdout)
    assert list(rows[0]) == ["prediction", "p_no", "p_yes"]
    # the reference encoding: pandas' one-hot columns beside the numbers
    frame = pd.read_csv(tables["no_label"])
    X = pd.get_dummies(frame, columns=["color"], dtype=float).to_numpy()
    expected = softmax_rows(fcnn.predict(model, X))
    np.testing.assert_allclose([float(r["p_yes"]) for r in rows], expected[:, 1], atol=2e-6)
    assert [r["prediction"] for r in rows] == [["no", "yes"][k] for k in expected.argmax(1)]
    # an unseen category is a clear error naming the column and the value
    done = fcnn_process("predict", out / "model.safetensors", tables["unseen_category"],
                        cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    for piece in ("column 'color'", "'purple'", "line 4", "never saw"):
        assert piece in done.stderr
    code, stdout, _ = run_cli("summary", out / "model.safetensors")
    assert code == 0
    for piece in ("Standardize", "classes (2): no, yes", "color: one-hot over blue, green, red",
                  "a Standardize layer inside the model"):
        assert piece in stdout


def test_regression_from_the_command_line(tables, tmp_path):
    from sklearn.metrics import mean_absolute_error, r2_score
    from sklearn.model_selection import train_test_split as sk_split

    out = tmp_path / "run"
    done = fcnn_process("train", "--dataset", tables["regression"], "--epochs", "60",
                        "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "task: regression (the target holds numbers with a fractional part)" in done.stdout
    assert "test R²:" in done.stdout and "MAE:" in done.stdout
    for name in ("model.safetensors", "metrics.json", "loss.png", "predicted_vs_true.png",
                 "residuals.png"):
        assert (out / name).is_file(), name
    assert not (out / "confusion_matrix.png").exists()
    metrics = json.loads((out / "metrics.json").read_text())
    model = fcnn.load(out / "model.safetensors")
    scaling = model.metadata["target_scaling"]
    code, stdout, _ = run_cli("predict", out / "model.safetensors", tables["regression"])
    assert code == 0
    predicted = np.array([float(r["prediction"]) for r in read_csv(stdout)])
    import pandas as pd

    frame = pd.read_csv(tables["regression"])
    X = pd.get_dummies(frame.drop(columns="price"), columns=["color"], dtype=float).to_numpy()
    expected = fcnn.predict(model, X)[:, 0] * scaling["scale"] + scaling["mean"]
    np.testing.assert_allclose(predicted, expected, rtol=1e-5, atol=1e-4)
    # the test rows are scikit-learn's split of the row numbers (not stratified)
    _, test = sk_split(np.arange(len(frame)), test_size=16, random_state=0, shuffle=True)
    y_test = frame["price"].to_numpy()[test]
    assert metrics["r2"] == pytest.approx(r2_score(y_test, expected[test]), abs=1e-5)
    assert metrics["mae"] == pytest.approx(mean_absolute_error(y_test, expected[test]), abs=1e-4)
    assert metrics["r2"] > 0.9 and metrics["warnings"] == []
    code, stdout, _ = run_cli("evaluate", out / "model.safetensors")
    assert code == 0 and "test split of regression.csv (16 samples" in stdout
    assert f"R²: {metrics['r2']:.4f}" in stdout


def test_missing_values_error_lists_the_options_and_each_strategy_works(tables, tmp_path):
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import train_test_split as sk_split

    done = fcnn_process("train", "--dataset", tables["missing"], "--epochs", "2", "--out",
                        tmp_path / "none", cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    for piece in ("column 'x1' has a missing value (empty cell) at line 5",
                  "--missing drop|mean|median|most-frequent"):
        assert piece in done.stderr
    assert not (tmp_path / "none").exists()
    import pandas as pd

    frame = pd.read_csv(tables["missing"])
    complete = frame.dropna()
    strategies = {"mean": "mean", "median": "median", "most-frequent": "most_frequent"}
    for flag in ("drop", *strategies):
        out = tmp_path / flag
        code, stdout, stderr = run_cli("train", "--dataset", tables["missing"], "--missing", flag,
                                       "--epochs", "3", "--out", out, "--no-progress")
        assert code == 0, stderr
        meta = fcnn.load(out / "model.safetensors").metadata
        if flag == "drop":
            assert f"left out {len(frame) - len(complete)} of {len(frame)} rows" in stdout
            assert meta["n_samples"] == len(complete)
            continue
        # fill values: scikit-learn's SimpleImputer on the training rows only
        train, _ = sk_split(np.arange(len(frame)), test_size=16, random_state=0,
                            stratify=frame["label"])
        fills = {spec["name"]: spec["fill"] for spec in meta["encoder"]["columns"]}
        for column in ("x1", "x2"):
            imputer = SimpleImputer(strategy=strategies[flag]).fit(frame[[column]].iloc[train])
            assert fills[column] == pytest.approx(imputer.statistics_[0], rel=1e-12)
        colors = frame[["color"]].iloc[train].astype(object)
        reference = SimpleImputer(strategy="most_frequent").fit(colors).statistics_[0]
        assert fills["color"] == reference


def test_evaluate_needs_the_label_column_and_formats_all_read(tables, tmp_path):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("train", "--dataset", tables["gzip"], "--epochs", "3",
                                   "--out", out, "--no-progress")
    assert code == 0, stderr
    done = fcnn_process("evaluate", out / "model.safetensors", "--dataset", tables["no_label"],
                        cwd=tmp_path)
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert "no label column 'label'" in done.stderr and "--target" in done.stderr
    for case in ("comma", "semicolon", "tab", "tab_txt", "bz2", "xz", "zip"):
        code, stdout, stderr = run_cli("evaluate", out / "model.safetensors", "--dataset",
                                       tables[case])
        assert code == 0, (case, stderr)
        assert "all 80 samples" in stdout


def test_id_column_and_label_first_are_reported(tables, tmp_path):
    code, stdout, stderr = run_cli("train", "--dataset", tables["id_column"], "--epochs", "2",
                                   "--out", tmp_path / "a", "--no-progress")
    assert code == 0, stderr
    assert "left out 'id': unique increasing integers, so a row identifier" in stdout
    assert "with_id.csv: 80 samples, 2 features" in stdout
    code, stdout, stderr = run_cli("train", "--dataset", tables["id_column"], "--keep-id",
                                   "--epochs", "2", "--out", tmp_path / "b", "--no-progress")
    assert code == 0 and "80 samples, 3 features" in stdout
    code, stdout, stderr = run_cli("train", "--dataset", tables["label_first"], "--epochs", "2",
                                   "--out", tmp_path / "c", "--no-progress")
    assert code == 0, stderr
    assert "target: 'label' (first column, named like a label" in stdout


def test_a_model_that_learned_nothing_warns_and_strict_fails(tmp_path):
    argv = ["train", "--lr", "5", "--epochs", "20", "--no-progress"]
    code, stdout, stderr = run_cli(*argv, "--out", tmp_path / "a")
    assert code == 0 and "test accuracy: 0.3333" in stdout
    warnings = [line for line in stderr.splitlines() if line.startswith("fcnn: warning:")]
    assert len(warnings) == 1
    for piece in ("no better than always predicting the most frequent class",
                  "--standardize", "--lr 0.5"):
        assert piece in warnings[0]
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["learned_nothing"] is True and len(metrics["warnings"]) == 1
    code, _, _ = run_cli(*argv, "--strict", "--out", tmp_path / "b")
    assert code == 1


def test_a_second_ctrl_c_while_writing_still_leaves_a_complete_folder(tmp_path, monkeypatch):
    import signal

    from fcnn import serialization

    real_save = serialization.save

    def interrupted_save(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C while the model is saved
        return real_save(*args, **kwargs)

    monkeypatch.setattr(serialization, "save", interrupted_save)
    out = tmp_path / "run"
    code, stdout, _ = run_cli("train", "--epochs", "3", "--out", out, "--no-progress")
    assert code == 130
    assert f"finishing {out} first" in stdout
    for name in RUN_FILES:
        assert (out / name).is_file(), name
    assert json.loads((out / "metrics.json").read_text())["interrupted"] is True
    assert fcnn.load(out / "model.safetensors").metadata["classes"] == IRIS_CLASSES


def test_ctrl_c_before_training_says_nothing_was_written(tmp_path, monkeypatch):
    from fcnn import data

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(data.dataset, "read_table", interrupted)
    out = tmp_path / "run"
    code, _, stderr = run_cli("train", "--dataset", tmp_path / "any.csv", "--out", out)
    assert code == 130
    assert "interrupted before the run folder was written; nothing was saved" in stderr
    assert not out.exists()


def test_old_model_files_with_standardization_metadata_predict_the_same(tmp_path):
    iris = load_dataset("iris")
    model = fcnn.mlp([4, 8, 3], rng=1)
    mean, scale = iris.X.mean(axis=0), iris.X.std(axis=0)
    path = tmp_path / "old.safetensors"
    fcnn.save(model, path, classes=IRIS_CLASSES, feature_names=iris.feature_names,
              mean=mean, scale=scale)
    source = write_iris_csv(tmp_path / "flowers.csv", np.arange(0, 150, 10))
    code, stdout, stderr = run_cli("predict", path, source)
    assert code == 0, stderr
    expected = softmax_rows(fcnn.predict(model, (iris.X[::10] - mean) / scale))
    got = np.array([[float(r[f"p_{c}"]) for c in IRIS_CLASSES] for r in read_csv(stdout)])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    code, stdout, _ = run_cli("summary", path)
    assert code == 0 and "mean and scale in the metadata" in stdout


def test_norm_and_activation_names_come_from_the_tables(tmp_path):
    activation = next(name for name in ("gelu", "silu", "elu", "tanh")
                      if name in registry.ACTIVATIONS)
    out = tmp_path / "run"
    code, _, stderr = run_cli("train", "--norm", "batch", "--activation", activation,
                                   "--epochs", "2", "--hidden", "8", "--out", out, "--no-progress")
    assert code == 0, stderr
    model = fcnn.load(out / "model.safetensors")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert "BatchNorm1d" in kinds
    assert type(model.layers[kinds.index("BatchNorm1d") + 1]) is registry.ACTIVATIONS[activation]
    parser = cli.build_parser()
    train = next(a for a in parser._subparsers._group_actions[0].choices["train"]._actions
                 if "--activation" in a.option_strings)
    assert sorted(train.choices) == sorted(registry.ACTIVATIONS)


# --------------------------------------------------------- schedules, clipping, weights, metrics

SMALL = ("--hidden", "8", "--no-progress")  # iris, a 4-8-3 network: each run well under a second


def png_height(path: Path) -> int:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    return int.from_bytes(data[20:24], "big")  # IHDR: width, then height


def torch_lrs(make_scheduler, epochs: int, losses=None, steps_per_epoch: int = 0) -> list[float]:
    """The lr of each epoch's first step, as PyTorch's scheduler sets it."""
    import torch

    param = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=0.01, momentum=0.9)
    scheduler = make_scheduler(torch.optim.lr_scheduler, optimizer)
    rates = []
    for epoch in range(epochs):
        rates.append(optimizer.param_groups[0]["lr"])
        if steps_per_epoch:
            for _ in range(steps_per_epoch):
                optimizer.step()
                scheduler.step()
        else:
            optimizer.step()
            scheduler.step(*([] if losses is None else [losses[epoch]]))
    return rates


def test_train_flags_are_recorded_and_the_lr_is_torchs(tmp_path, default_run):
    out = tmp_path / "run"
    code, stdout, stderr = run_cli("train", *SMALL, "--epochs", "12", "--optimizer", "momentum",
                                   "--scheduler", "step:4:0.5", "--warmup", "2",
                                   "--clip-grad-norm", "1", "--class-weight", "balanced",
                                   "--metrics", "accuracy,f1_macro", "--out", out)
    assert code == 0, stderr
    assert ("schedule: 2 warm-up epochs, then step:4:0.5, clip-grad-norm 1, class weights "
            "balanced") in stdout
    m = json.loads((out / "metrics.json").read_text())
    config = m["config"]
    assert (config["scheduler"], config["warmup"], config["clip_grad_norm"]) == ("step:4:0.5", 2,
                                                                                  1.0)
    assert (config["class_weight"], config["metrics"]) == ("balanced", ["accuracy", "f1_macro"])
    assert list(m["history"]) == ["loss", "accuracy", "f1_macro", "lr"]
    expected = torch_lrs(lambda s, o: s.SequentialLR(
        o, [s.LinearLR(o, start_factor=0.1, total_iters=2), s.StepLR(o, 4, 0.5)], [2]), 12)
    np.testing.assert_allclose(m["history"]["lr"], expected, rtol=1e-12, atol=0)
    assert png_height(out / "loss.png") > png_height(default_run["dir"] / "loss.png")  # lr panel
    assert "checkpoint" in m["files"] and (out / "checkpoint.safetensors").is_file()


@pytest.mark.parametrize(("spec", "make", "per_step"), [
    ("cosine:0.001", lambda s, o: s.CosineAnnealingLR(o, T_max=8, eta_min=0.001), False),
    ("multistep:2,5:0.3", lambda s, o: s.MultiStepLR(o, [2, 5], 0.3), False),
    ("exponential:0.8", lambda s, o: s.ExponentialLR(o, 0.8), False),
    ("warmrestarts:3:2", lambda s, o: s.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2), False),
    ("onecycle", lambda s, o: s.OneCycleLR(o, max_lr=0.01, epochs=8, steps_per_epoch=4), True),
    ("plateau:1:0.5", lambda s, o: s.ReduceLROnPlateau(o, patience=1, factor=0.5), False),
])
def test_each_schedule_follows_torch(spec, make, per_step, tmp_path):
    out = tmp_path / "run"
    code, _, stderr = run_cli("train", *SMALL, "--epochs", "8", "--optimizer", "momentum",
                              "--lr", "0.01", "--scheduler", spec, "--out", out)
    assert code == 0, stderr
    history = json.loads((out / "metrics.json").read_text())["history"]
    # plateau without early stopping watches the training loss, as logged
    losses = history["loss"] if spec.startswith("plateau") else None
    expected = torch_lrs(make, 8, losses, steps_per_epoch=4 if per_step else 0)  # 120 rows / 32
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- resume

RESUMABLE = (*SMALL, "--optimizer", "adam", "--lr", "0.01", "--scheduler", "step:3:0.5",
             "--dtype", "float64")


def assert_same_runs(a: Path, b: Path) -> None:
    from safetensors.numpy import load_file

    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert sorted(wa) == sorted(wb)
    for key in wa:
        np.testing.assert_array_equal(wa[key], wb[key], err_msg=key)  # bit for bit
    ha = json.loads((a / "metrics.json").read_text())["history"]
    hb = json.loads((b / "metrics.json").read_text())["history"]
    assert ha == hb


def test_resume_continues_to_the_same_bits(tmp_path):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    assert run_cli("train", *RESUMABLE, "--epochs", "10", "--out", whole)[0] == 0
    assert run_cli("train", *RESUMABLE, "--epochs", "5", "--out", halves)[0] == 0
    code, stdout, stderr = run_cli("train", "--resume", halves, "--epochs", "10", "--no-progress")
    assert code == 0, stderr
    assert f"resuming {halves} from epoch 5 to 10" in stdout
    assert_same_runs(whole, halves)
    m = json.loads((halves / "metrics.json").read_text())
    assert m["epochs_run"] == 10 and m["config"]["scheduler"] == "step:3:0.5"
    # already there: refused, nothing changed
    before = (halves / "model.safetensors").read_bytes()
    code, _, stderr = run_cli("train", "--resume", halves, "--epochs", "10")
    assert_one_line_error(code, stderr, "--epochs 10", "already at epoch 10")
    assert (halves / "model.safetensors").read_bytes() == before


def test_resume_after_a_real_ctrl_c(tmp_path):
    import signal
    import time

    epochs, flags = "3000", (*RESUMABLE, "--checkpoint-every", "0.2")
    reference = tmp_path / "reference"
    assert run_cli("train", *flags, "--epochs", epochs, "--out", reference)[0] == 0
    run_dir = tmp_path / "interrupted"
    env = {**os.environ, "MPLBACKEND": "Agg"}
    process = subprocess.Popen([sys.executable, "-m", "fcnn", "train", *flags, "--epochs", epochs,
                                "--out", str(run_dir)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (run_dir / "checkpoint.safetensors").exists() and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, (stdout, stderr)
    assert f"continue with: fcnn train --resume {run_dir} --epochs {epochs}" in stdout
    m = json.loads((run_dir / "metrics.json").read_text())
    assert m["interrupted"] is True and m["epochs_run"] < int(epochs)
    code, _, stderr = run_cli("train", "--resume", run_dir, "--epochs", epochs, "--no-progress")
    assert code == 0, stderr
    assert_same_runs(reference, run_dir)


def test_resume_refusals_are_one_line_and_change_nothing(tmp_path):
    run_dir = tmp_path / "run"
    assert run_cli("train", *SMALL, "--epochs", "2", "--scheduler", "cosine", "--out",
                   run_dir)[0] == 0
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "checkpoint.safetensors").write_bytes(
        (run_dir / "checkpoint.safetensors").read_bytes()[:-50])
    plain = tmp_path / "plain"
    plain.mkdir()
    fcnn.save(fcnn.mlp([4, 3]), plain / "checkpoint.safetensors")
    cases = [
        ([tmp_path / "none", "--epochs", "3"], ["--resume", "no such run folder"]),
        ([run_dir / "metrics.json", "--epochs", "3"], ["--resume", "not a folder"]),
        ([tmp_path, "--epochs", "3"], ["--resume", "no checkpoint.safetensors"]),
        ([corrupt, "--epochs", "3"], ["--resume", "unreadable"]),
        ([plain, "--epochs", "3"], ["--resume", "no run configuration"]),
        ([run_dir], ["--resume", "--epochs N", "epoch 2"]),
        ([run_dir, "--epochs", "4"], ["--epochs 4", "cosine", "2 epochs"]),
        ([run_dir, "--epochs", "4", "--hidden", "5"], ["--resume", "--hidden"]),
    ]
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    for argv, fragments in cases:
        code, _, stderr = run_cli("train", "--resume", *argv)
        assert_one_line_error(code, stderr, *fragments)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


# ------------------------------------------------------------- export, BatchNorm, multilabel


def test_exported_onnx_predicts_what_fcnn_predict_does(tmp_path):
    import onnxruntime

    out = tmp_path / "run"
    assert run_cli("train", *SMALL, "--epochs", "30", "--standardize", "--out", out)[0] == 0
    model, onnx_file = out / "model.safetensors", tmp_path / "model.onnx"
    code, stdout, stderr = run_cli("export", model, "-o", onnx_file, "--output", "both")
    assert code == 0, stderr
    assert stdout.startswith(f"wrote {onnx_file} (ONNX opset")
    iris_csv = write_iris_csv(tmp_path / "iris.csv")
    code, predicted, stderr = run_cli("predict", model, iris_csv)
    assert code == 0, stderr
    rows = read_csv(predicted)
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    X = load_dataset("iris").X.astype(np.float64)
    feeds = {name: X.astype(np.float32) if "float)" in session.get_inputs()[0].type else X}
    results = dict(zip((o.name for o in session.get_outputs()), session.run(None, feeds)))
    logits = np.asarray(results["logits"], dtype=np.float64)
    assert [IRIS_CLASSES[k] for k in logits.argmax(axis=1)] == [r["prediction"] for r in rows]
    proba = np.array([[float(r[f"p_{c}"]) for c in IRIS_CLASSES] for r in rows])
    np.testing.assert_allclose(softmax_rows(logits), proba, atol=1e-6)
    torch_file = tmp_path / "torch.safetensors"
    assert run_cli("export", model, "-o", torch_file)[0] == 0
    code, _, stderr = run_cli("export", model, "-o", tmp_path / "model.bin")
    assert_one_line_error(code, stderr, "-o", "--format")
    code, _, stderr = run_cli("export", tmp_path / "none.safetensors", "-o", onnx_file)
    assert_one_line_error(code, stderr, "none.safetensors")


def test_batchnorm_never_trains_on_a_one_row_batch(tmp_path):
    import torch

    # PyTorch refuses a one-row training batch for BatchNorm1d too
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3).train()(torch.zeros(1, 3))
    out = tmp_path / "run"
    # 120 training rows in batches of 17 would leave a last batch of one row
    code, stdout, stderr = run_cli("train", *SMALL, "--norm", "batch", "--batch-size", "17",
                                   "--epochs", "2", "--out", out)
    assert code == 0, stderr
    assert "batch size 18, not 17" in stdout and "BatchNorm1d" in stdout
    config = json.loads((out / "metrics.json").read_text())["config"]
    assert config["batch_size"] == 18 and 120 % 18 != 1


def test_predict_a_multilabel_model(tmp_path):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 2] > 0]).astype(int)
    with pytest.warns(ConvergenceWarning):
        clf = MLPClassifier(hidden_layer_sizes=(6,), max_iter=50, random_state=0).fit(X, Y)
    model = fcnn.from_sklearn(clf)
    assert model.metadata["task"] == "multilabel"
    path = tmp_path / "multilabel.safetensors"
    fcnn.save(model, path, **model.metadata)
    table = tmp_path / "rows.csv"
    table.write_text("a,b,c\n" + "\n".join(",".join(repr(float(v)) for v in row) for row in X))
    code, stdout, stderr = run_cli("predict", path, table)
    assert code == 0, stderr
    rows = read_csv(stdout)
    labels = [str(c) for c in model.metadata["classes"]]
    assert list(rows[0]) == [*labels, *(f"p_{c}" for c in labels)]
    np.testing.assert_array_equal([[int(r[c]) for c in labels] for r in rows], clf.predict(X))
    np.testing.assert_allclose([[float(r[f"p_{c}"]) for c in labels] for r in rows],
                               clf.predict_proba(X), atol=1e-6)
    code, stdout, _ = run_cli("summary", path)
    assert code == 0 and "task: multilabel" in stdout


def test_export_without_the_onnx_extra_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    import sys

    import fcnn
    from fcnn.cli import main

    model_path = tmp_path / "m.safetensors"
    fcnn.save(fcnn.mlp([4, 3], rng=0), model_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now fails as if not installed
    code = main(["export", str(model_path), "-o", str(tmp_path / "m.onnx")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == "fcnn: error: fcnn.export_onnx needs the onnx package: pip install 'fcnn[onnx]'"
    assert not (tmp_path / "m.onnx").exists()


def test_class_weight_per_class_name(tmp_path):
    import fcnn
    from fcnn.runner import RunConfig

    def history(*flags: str) -> list[float]:
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        code, _stdout, stderr = run_cli("train", *SMALL, "--epochs", "6", *flags, "--out", out)
        assert code == 0, stderr
        return json.loads((out / "metrics.json").read_text())["history"]["loss"]

    named = history("--class-weight", "setosa=3")
    # the classes left out weigh 1; spaces around the pieces are fine
    assert named == history("--class-weight", "setosa=3, versicolor = 1,virginica=1")
    assert named != history()
    assert named != history("--class-weight", "virginica=3")
    # the same as the API's dict of class names, and as fcnn.train's dict of class indices
    result = fcnn.run(RunConfig(hidden=(8,), epochs=6, class_weight={"setosa": 3.0},
                                progress=False, write=False), log=None)
    assert list(result.history.history["loss"]) == named


@pytest.mark.parametrize(("value", "words"), [
    ("setosa:3", ["expected balanced or CLASS=WEIGHT"]),
    ("rose=3", ["no class 'rose'", "setosa, versicolor, virginica"]),
    ("setosa=-1", ["setosa=-1", ">= 0"]),
    ("setosa=nan", ["finite"]),
    ("setosa=2,setosa=3", ["'setosa' given twice"]),
    ("setosa=0,versicolor=0,virginica=0", ["every class weighs 0"]),
    ("=2", ["expected balanced"]),
])
def test_class_weight_mistakes_name_the_flag(tmp_path, value, words):
    code, _stdout, stderr = run_cli("train", *SMALL, "--epochs", "1", "--class-weight", value,
                                   "--out", tmp_path / "run")
    assert code == 2
    assert not (tmp_path / "run").exists()  # refused before anything is written
    assert "--class-weight" in stderr
    for word in words:
        assert word in stderr
