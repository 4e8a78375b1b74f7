"""A saved model on data: ``evaluate_saved`` (its test split, or all rows) and ``predict_saved``.

A model file written by ``fcnn train`` carries what it needs in its metadata:
the encoder of the table's columns (categories, fill values), the target
column, the classes or the target's scaling, the split's seed and the
training file's SHA-256. Models saved before encoders (numeric features named
in ``feature_names``, standardization as ``mean``/``scale`` metadata) load and
predict as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .data import EMBEDDED, DatasetError, TableEncoder
from .errors import FcnnError

__all__ = ["SavedModel", "evaluate_saved", "load_saved", "predict_saved"]


class ModelDataError(FcnnError, ValueError):
    """The data does not fit the saved model (the message says why and what to pass)."""


@dataclass
class SavedModel:
    """A model file's network and what its metadata says about the data."""

    path: str
    model: Any
    meta: dict[str, Any]
    task: str
    encoder: TableEncoder | None

    @property
    def n_inputs(self) -> int:
        return int(self.model.in_features)

    @property
    def standardization(self) -> str:
        """Where the model's feature scaling lives, in words."""
        from .layers import Standardize

        layers = getattr(self.model, "layers", [self.model])
        if layers and isinstance(layers[0], Standardize):
            return f"a Standardize layer inside the model ({layers[0].in_features} features)"
        if self.meta.get("mean") is not None:
            return "mean and scale in the metadata (a model file from before Standardize layers)"
        return "none (raw features)"

    @property
    def classes(self) -> list[Any]:
        names = self.meta.get("classes")
        n_out = _n_outputs(self.model)
        if names is None or len(names) != n_out:
            return list(range(n_out))
        return list(names)


def load_saved(path: str | Path) -> SavedModel:
    """Load a model file and read its metadata (a ModelDataError if it cannot be applied)."""
    from .serialization import load

    if not Path(path).exists():
        raise ModelDataError(f"{path}: no such model file")
    model = load(path)
    meta = dict(getattr(model, "metadata", None) or {})
    if getattr(model, "in_features", None) is None or _n_outputs(model) is None:
        raise ModelDataError(f"{path} holds no Linear layer, so it is not a model fcnn can apply")
    encoder = TableEncoder.from_dict(meta["encoder"]) if meta.get("encoder") else None
    task = meta.get("task", "classification")
    if task not in ("classification", "regression", "multilabel"):
        raise ModelDataError(f"{path}: unknown task {task!r} in its metadata")
    return SavedModel(str(path), model, meta, task, encoder)


def _n_outputs(model: Any) -> int | None:
    for layer in reversed(getattr(model, "layers", [model])):
        if hasattr(layer, "out_features"):
            return int(layer.out_features)
    return None


# --------------------------------------------------------------------------- features and outputs


def features(saved: SavedModel, frame: Any, table: Any, source: str) -> np.ndarray:
    """The model's input features for the rows of ``frame``: (N, n_inputs)."""
    encoder = saved.encoder
    if encoder is None:  # a model saved before encoders: numeric columns by name
        names = saved.meta.get("feature_names")
        encoder = TableEncoder("error")
        if names is None:
            names = [str(c) for c in frame.columns]
        encoder.columns = [{"name": str(n), "kind": "number", "fill": None} for n in names]
    X = encoder.transform(frame, table, source)
    if X.shape[1] != saved.n_inputs:
        raise ModelDataError(f"{source} has {X.shape[1]} feature columns but the model takes "
                             f"{saved.n_inputs}")
    return _legacy_scaling(saved, X)


def _legacy_scaling(saved: SavedModel, X: np.ndarray) -> np.ndarray:
    from .data import standardize

    if saved.meta.get("mean") is None:
        return X
    return standardize(X, saved.meta.get("mean"), saved.meta.get("scale"))


def outputs(saved: SavedModel, X: np.ndarray) -> np.ndarray:
    """Class probabilities (N, C), each label's probability (N, L) for a multilabel
    model (the sigmoid of each logit), or regression values (N,) in the target's units."""
    from . import training

    if saved.task == "multilabel":
        logits = training.predict(saved.model, X).astype(np.float64)
        return np.exp(-np.logaddexp(0.0, -logits))  # sigmoid, without overflow
    if saved.task == "regression":
        out = training.predict(saved.model, X)[:, 0].astype(np.float64)
        scaling = saved.meta.get("target_scaling") or {}
        return out * float(scaling.get("scale", 1.0)) + float(scaling.get("mean", 0.0))
    proba = getattr(training, "predict_proba", None)
    if proba is not None:
        return np.asarray(proba(saved.model, X), dtype=np.float64)
    from .losses import softmax

    return softmax(training.predict(saved.model, X).astype(np.float64))


# --------------------------------------------------------------------------- predict


def predict_saved(model_path: str | Path, input_path: str | Path, *,
                  sep: str | None = None) -> tuple[list[str], list[list[Any]]]:
    """Predictions for every row of a data file: (header, rows).

    Classification: ``prediction`` (the class) and ``p_<class>`` for each
    class; multilabel: a 0/1 column per label (probability > 0.5, i.e. logit > 0)
    then ``p_<label>`` for each; regression: ``prediction`` (in the target's
    units). Columns the model does not use (a label, an id) are ignored.
    """
    from .data import read_table

    saved = load_saved(model_path)
    table = read_table(input_path, sep=sep, embedded=EMBEDDED)
    X = features(saved, table.frame, table, str(input_path))
    out = outputs(saved, X)
    if saved.task == "regression":
        return ["prediction"], [[float(v)] for v in out]
    names = saved.classes
    if saved.task == "multilabel":
        header = [*(str(name) for name in names), *(f"p_{name}" for name in names)]
        labels = (out > 0.5).astype(int).tolist()
        return header, [[*flags, *row] for flags, row in zip(labels, out.tolist(), strict=True)]
    header = ["prediction", *(f"p_{name}" for name in names)]
    codes = out.argmax(axis=1)
    return header, [[names[c], *row] for c, row in zip(codes, out.tolist(), strict=True)]


# --------------------------------------------------------------------------- evaluate


def evaluate_saved(model_path: str | Path, dataset: str | None = None, *,
                   target: str | None = None, all_rows: bool = False,
                   sep: str | None = None) -> dict[str, Any]:
    """Score a saved model: on its training dataset's test split (recreated from the saved
    seed), or on every row of other data or with ``all_rows``.

    Refuses (ModelDataError) when the training file changed since training
    (its SHA-256 differs): the split could no longer be told from training
    rows, so only ``all_rows=True`` evaluates it. A file without the model's
    label column is an error, never a silent pick of another column.

    Returns a dict with ``where`` (a sentence), ``task``, ``n`` and the scores
    (``accuracy``, ``report_text``... or ``mae``, ``rmse``, ``r2``).
    """
    from .runner import classification_results, regression_results

    saved = load_saved(model_path)
    if saved.task == "multilabel":
        raise ModelDataError(f"{model_path} is a multilabel model; fcnn evaluate scores "
                             "classifiers and regressions (use fcnn predict for its labels)")
    meta = saved.meta
    source, same = _source(meta, dataset, model_path)
    if source in EMBEDDED:
        X, y, name = _embedded_rows(saved, source)
    else:
        X, y, name = _file_rows(saved, source, target, sep)
        if same and not all_rows and meta.get("dataset_sha256") not in (None, _sha(source)):
            raise ModelDataError(
                f"{source} has changed since the model was trained (its SHA-256 no longer "
                "matches the one saved with the model), so the saved test split cannot be "
                "recreated and training rows would be scored as test rows; pass --all to "
                "evaluate on every row anyway"
            )
    split = meta.get("split")
    recorded = isinstance(split, dict) and {"seed", "test_size"} <= split.keys()
    if same and recorded and not all_rows:
        X, y = _test_part(X, y, split, saved.task)
        where = (f"the test split of {name} ({len(y)} samples, seed {split['seed']}, test "
                 f"size {split['test_size']}), as in training")
    else:
        where = f"all {len(y)} samples of {name}"
    out = outputs(saved, X)
    if saved.task == "regression":
        results = regression_results(y, out)
    else:
        results = classification_results(y, out.argmax(axis=1), saved.classes)
    return {"where": where, "task": saved.task, "n": len(y), **results}


def _source(meta: dict[str, Any], dataset: str | None, model_path: Any) -> tuple[str, bool]:
    """The data to evaluate on, and whether it is the training dataset."""
    trained_on = meta.get("dataset")
    trained_path = meta.get("dataset_path")
    if dataset is None:
        source = trained_on if trained_on in EMBEDDED and not trained_path else trained_path
        if source is None:
            raise ModelDataError(f"{model_path} does not record its dataset; pass --dataset "
                                 "NAME|PATH")
        return str(source), True
    key = str(dataset).strip().lower().replace("-", "_")
    if key in EMBEDDED:
        return key, key == trained_on and not trained_path
    same = trained_path is not None and Path(dataset).resolve() == Path(trained_path)
    return str(dataset), same


def _sha(path: str) -> str:
    from .runner import sha256

    return sha256(Path(path))


def _embedded_rows(saved: SavedModel, name: str) -> tuple[np.ndarray, np.ndarray, str]:
    from .data import load_dataset

    data = load_dataset(name)
    names = saved.meta.get("feature_names")
    if names is not None and list(names) != data.feature_names:
        raise ModelDataError(
            f"the model was trained on {len(names)} features ({', '.join(map(str, names))}) "
            f"but {name} has {data.n_features} ({', '.join(data.feature_names)})"
        )
    if data.n_features != saved.n_inputs:
        raise ModelDataError(f"{name} has {data.n_features} features but the model takes "
                             f"{saved.n_inputs}")
    return _legacy_scaling(saved, data.X), _codes(saved, data.y, data.classes, name), name


def _file_rows(saved: SavedModel, source: str, target: str | None,
               sep: str | None) -> tuple[np.ndarray, np.ndarray, str]:
    from .data import read_table
    from .data.dataset import _subset
    from .data.encoding import encode_classes

    config = saved.meta.get("config") or {}
    table = read_table(source, sep=sep if sep is not None else config.get("sep"),
                       embedded=EMBEDDED)
    label = _label_column(saved, table, target, source)
    frame = table.frame
    keep = np.ones(len(frame), dtype=bool)
    if saved.meta.get("missing") == "drop":  # the rows training kept
        used = saved.encoder.input_names if saved.encoder else []
        keep &= frame[[label, *used]].notna().all(axis=1).to_numpy()
    absent = frame[label].isna().to_numpy() & keep
    if absent.any():
        i = int(np.argmax(absent))
        raise ModelDataError(f"{source}: the label column {label!r} is empty at "
                             f"{table.where(i)}; every row to evaluate needs a label")
    if not keep.all():
        table = _subset(table, frame[keep])
        frame = table.frame
    X = features(saved, frame, table, source)
    column = frame[label]
    if saved.task == "regression":
        import pandas as pd

        y = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        if not np.isfinite(y).all():
            i = int(np.argmin(np.isfinite(y)))
            raise ModelDataError(f"{source}: the target {label!r} holds {column.iloc[i]!r} at "
                                 f"{table.where(i)}; a regression model needs numbers")
        return X, y, Path(source).name
    codes, classes = encode_classes(column)
    return X, _codes(saved, codes, classes, Path(source).name), Path(source).name


def _label_column(saved: SavedModel, table: Any, target: str | None, source: str) -> str:
    columns = table.columns
    if target is not None:
        if target not in columns:
            raise ModelDataError(f"{source}: no column named {target!r} (--target); the columns "
                                 f"are {', '.join(map(repr, columns))}")
        return target
    saved_target = saved.meta.get("target")
    if saved_target is not None:
        if saved_target not in columns:
            raise ModelDataError(
                f"{source} has no label column {saved_target!r} (the model's target), so "
                "there is nothing to score against; add it, or name the label column with "
                "--target COL (fcnn predict needs no label)"
            )
        return str(saved_target)
    return columns[-1]  # a model saved before targets were recorded: the last column


def _codes(saved: SavedModel, codes: np.ndarray, classes: list[Any], name: str) -> np.ndarray:
    """The model's class codes for the data's codes (``classes[codes]`` by name)."""
    names = saved.meta.get("classes")
    if names is None:
        if len(classes) > _n_outputs(saved.model):
            raise ModelDataError(f"{name} has {len(classes)} classes but the model predicts "
                                 f"{_n_outputs(saved.model)}")
        return codes
    names = list(names)
    unknown = [c for c in classes if c not in names]
    if unknown:
        raise ModelDataError(f"{name} has label(s) {unknown!r} that are not among the model's "
                             f"classes {names!r}")
    return np.array([names.index(c) for c in classes], dtype=np.intp)[codes]


def _test_part(X: np.ndarray, y: np.ndarray, split: dict[str, Any],
               task: str) -> tuple[np.ndarray, np.ndarray]:
    from .data import train_test_split

    stratify = bool(split.get("stratify", task == "classification"))
    rows = np.arange(len(y), dtype=np.float64)[:, None]
    try:
        parts = train_test_split(rows, y, test_size=split["test_size"], seed=split["seed"],
                                 stratify=stratify)
    except (DatasetError, ValueError) as exc:
        raise ModelDataError(f"the saved split cannot be recreated on this data ({exc}); pass "
                             "--all to evaluate on every row") from None
    test = parts.X_test[:, 0].astype(np.intp)
    return X[test], y[test]
