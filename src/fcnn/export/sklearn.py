"""scikit-learn in: fitted MLPs and scaled pipelines become fcnn models.

``from_sklearn(estimator_or_pipeline)`` turns a fitted
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (or fcnn's own
estimators), optionally behind a ``StandardScaler`` in a ``Pipeline``, into an
``fcnn.Sequential`` with the same predictions and no pickle:

* the scaler becomes a ``Standardize`` layer in front;
* each hidden layer is a ``Linear`` (scikit-learn's ``coefs_[i]`` is already fcnn's
  ``(in, out)`` orientation) followed by the activation (``relu`` -> ``ReLU``,
  ``tanh`` -> ``Tanh``, ``logistic`` -> ``Sigmoid``, ``identity`` -> nothing);
* the network ends in **logits**, as every fcnn model does (the losses take logits,
  ``fcnn predict`` applies the softmax). A binary classifier's single logistic unit
  ``z`` becomes the two logits ``[0, z]``, whose softmax is exactly
  ``[1 - sigmoid(z), sigmoid(z)]``: scikit-learn's ``predict_proba``.

``model.metadata`` says how to read the output (``fcnn.save`` stores it, ``fcnn.load``
returns it): ``task`` is ``"classification"`` (probabilities = ``fcnn.softmax`` of
the logits, label = ``classes[argmax]``), ``"multilabel"`` (probabilities =
sigmoid of each logit, labels = ``logit > 0``) or ``"regression"`` (the output is the
prediction); ``classes`` holds the class labels, ``feature_names`` the column names
when the estimator was fitted on a DataFrame, and ``loss`` the fcnn loss the model
trains with (``CrossEntropyLoss``, ``BCEWithLogitsLoss``, ``MSELoss``), which
``fcnn.training.predict_proba`` reads to choose softmax or sigmoid.

``as_fcnn_model`` is the same conversion without the copy, for ``export_onnx`` and
``fcnn.save``: they accept an fcnn model, an estimator or a pipeline alike.
"""

from __future__ import annotations

import copy as copy_module
from typing import Any

import numpy as np

from ..layers import Identity, Layer, Linear, ReLU, Sigmoid, Standardize, Tanh
from ..network import Sequential

__all__ = ["as_fcnn_model", "from_sklearn", "to_fcnn_model"]

# scikit-learn's activation names -> fcnn layers (None: no layer)
_ACTIVATIONS: dict[str, type[Layer] | None] = {
    "identity": None, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU,
}


def from_sklearn(estimator: Any) -> Sequential:
    """A fitted scikit-learn (or fcnn) MLP, or a Pipeline ending in one, as an fcnn model.

    Parameters
    ----------
    estimator : MLPClassifier, MLPRegressor or Pipeline
        Fitted. A Pipeline may hold ``StandardScaler`` steps (and ``"passthrough"``)
        before the final MLP.

    Returns
    -------
    Sequential
        A new model (no array is shared with ``estimator``), in eval mode, taking the
        raw features ``(N, n_features_in_)`` and returning logits ``(N, n_outputs)``
        (a binary classifier: ``(N, 2)``); ``model.metadata`` holds ``task``,
        ``classes`` and, where known, ``feature_names`` (see the module docstring).
        For a classifier, ``fcnn.softmax(fcnn.predict(model, X))`` equals
        ``predict_proba(X)``; for a multilabel one, the sigmoid of the logits; for a
        regressor ``fcnn.predict(model, X)`` is ``predict(X)`` as ``(N, n_outputs)``.

    Raises
    ------
    TypeError
        Not an MLP, a pipeline step other than ``StandardScaler``, or an unknown
        activation; the message names the step.
    ValueError
        The estimator is not fitted.
    """
    return to_fcnn_model(estimator, who="from_sklearn")


def to_fcnn_model(estimator: Any, *, who: str) -> Sequential:
    """``from_sklearn`` with ``who`` naming the caller in errors (``fcnn.save`` uses it)."""
    model, info = as_fcnn_model(estimator, copy=True, who=who)
    if not isinstance(model, Sequential):
        model = Sequential(model)
    model.metadata = {**(getattr(model, "metadata", None) or {}), **info}  # type: ignore[attr-defined]
    return model.eval()


def as_fcnn_model(obj: Any, *, copy: bool = False, who: str = "export") -> tuple[Layer, dict[str, Any]]:
    """``(model, info)`` for an fcnn model, a fitted MLP estimator or a Pipeline.

    ``info`` holds ``task``, ``classes`` and ``feature_names`` where known (for an fcnn
    model: read from its ``metadata``, as ``fcnn.load`` sets it). With ``copy=False``
    an fcnn model (or an fcnn estimator's ``model_``) is returned as it is, not copied.
    """
    if isinstance(obj, Layer):
        meta = getattr(obj, "metadata", None) or {}
        keys = ("task", "classes", "feature_names", "loss", "target_scaling")
        info = {key: meta[key] for key in keys if meta.get(key) is not None}
        info.setdefault("task", _task_from_loss(obj, info))
        if info["task"] is None:
            del info["task"]
        model = copy_module.deepcopy(obj) if copy else obj
        if meta.get("mean") is not None and meta.get("scale") is not None:
            # a model file from before Standardize layers keeps its scaling in the metadata
            inner = model.layers if isinstance(model, Sequential) else [model]
            model = Sequential(Standardize(meta["mean"], meta["scale"], dtype=_dtype(model)), *inner)
        return model, info
    steps = _steps(obj, who)
    *preprocessing, (final_name, final) = steps
    scalers = [_scaler(step, name, who) for name, step in preprocessing]
    network, info = _estimator(final, final_name, copy, who)
    feature_names = getattr(obj, "feature_names_in_", None)
    if feature_names is not None:
        info["feature_names"] = [str(name) for name in feature_names]
    dtype = _dtype(network)
    layers = [Standardize(mean, scale, dtype=dtype) for mean, scale in filter(None, scalers)]
    if layers:
        inner = network.layers if isinstance(network, Sequential) else [network]
        network = Sequential(*layers, *inner)
    return network, info


#: the task an fcnn training loss implies (``metadata["loss"]``, as ``fcnn train`` writes it)
_LOSS_TASKS = {"bce": "multilabel", "nll": "classification", "cross": "classification",
               "mse": "regression", "l1": "regression", "huber": "regression"}
#: the fcnn loss each task trains with, recorded as ``metadata["loss"]``
_TASK_LOSSES = {"classification": "CrossEntropyLoss", "multilabel": "BCEWithLogitsLoss",
                "regression": "MSELoss"}


def _task_from_loss(model: Layer, info: dict[str, Any]) -> str | None:
    loss = str(info.get("loss", "")).lower()
    task = next((task for word, task in _LOSS_TASKS.items() if word in loss), None)
    if task is None and "classes" in info:
        task = "classification"
    if task == "multilabel" and _n_outputs(model) == 1:
        task = "binary"  # one logit of a BCE-trained model: two classes
    return task


def _steps(obj: Any, who: str) -> list[tuple[str, Any]]:
    steps = getattr(obj, "steps", None)
    if steps is None:
        return [(type(obj).__name__, obj)]
    if not isinstance(steps, list) or not steps:
        raise TypeError(f"{who}: expected a Pipeline with steps, got {obj!r:.80}")
    return [(str(name), step) for name, step in steps]


def _scaler(step: Any, name: str, who: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A fitted StandardScaler's ``(mean, scale)`` (None for a passthrough step)."""
    if step is None or step == "passthrough":
        return None
    from sklearn.preprocessing import StandardScaler

    if type(step) is not StandardScaler:
        raise TypeError(
            f"{who}: pipeline step {name!r} is a {type(step).__name__}; fcnn converts a Pipeline of "
            "StandardScaler steps (or 'passthrough') followed by an MLP estimator"
        )
    n = getattr(step, "n_features_in_", None)
    if n is None:
        raise ValueError(f"{who}: pipeline step {name!r} (StandardScaler) is not fitted; fit the "
                         "pipeline first")
    mean = step.mean_ if step.mean_ is not None else np.zeros(n)
    scale = step.scale_ if step.scale_ is not None else np.ones(n)
    return np.asarray(mean, np.float64), np.asarray(scale, np.float64)


def _dtype(model: Layer) -> np.dtype:
    params = model.parameters()
    return params[0].dtype if params else np.dtype(np.float64)


def _estimator(est: Any, name: str, copy: bool, who: str) -> tuple[Layer, dict[str, Any]]:
    kind = type(est).__name__
    if not hasattr(est, "out_activation_") and not hasattr(est, "model_"):
        fitted_kind = kind in ("MLPClassifier", "MLPRegressor")
        raise (ValueError if fitted_kind else TypeError)(
            f"{who}: {name!r} is " + (f"an unfitted {kind}; fit it first" if fitted_kind else
                                      f"a {kind}, not a fitted MLPClassifier/MLPRegressor (scikit-learn's "
                                      "or fcnn's) or an fcnn model")
        )
    out = getattr(est, "out_activation_", None)
    if out not in ("identity", "softmax", "logistic"):
        raise TypeError(f"{who}: {name!r} has out_activation_={out!r} (e.g. loss='poisson'); fcnn "
                        "converts 'identity', 'softmax' and 'logistic' outputs")
    model = getattr(est, "model_", None)
    if isinstance(model, Layer):  # fcnn's estimators: the network itself
        network: Layer = copy_module.deepcopy(model) if copy else model
    else:
        network = _network(est, name, who)
    info: dict[str, Any] = {}
    classes = getattr(est, "classes_", None)
    if out == "identity" or classes is None:
        info.update(task="regression", loss=_TASK_LOSSES["regression"])
        return network, info
    info["classes"] = np.asarray(classes).tolist()
    n_out = _n_outputs(network)
    if out == "logistic" and n_out == 1 and len(info["classes"]) == 2:
        network = _two_logits(network)
        info["task"] = "classification"
    elif out == "logistic":
        info["task"] = "multilabel"
    else:
        info["task"] = "classification"
    info["loss"] = _TASK_LOSSES[info["task"]]
    return network, info


def _network(est: Any, name: str, who: str) -> Sequential:
    activation = getattr(est, "activation", None)
    if activation not in _ACTIVATIONS:
        raise TypeError(f"{who}: {name!r} has activation={activation!r}; fcnn converts "
                        f"{', '.join(map(repr, _ACTIVATIONS))}")
    coefs, intercepts = list(est.coefs_), list(est.intercepts_)
    dtype = np.float32 if coefs[0].dtype == np.float32 else np.float64
    hidden = _ACTIVATIONS[activation]
    layers: list[Layer] = []
    for i, (W, b) in enumerate(zip(coefs, intercepts, strict=True)):
        linear = Linear(W.shape[0], W.shape[1], init=_zeros, dtype=dtype)
        linear.weight.weights = W
        linear.bias.weights = b
        layers.append(linear)
        if i < len(coefs) - 1:
            layers.append(hidden() if hidden is not None else Identity())
    return Sequential(*layers)


def _zeros(fan_in: int, fan_out: int, rng: Any, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((fan_in, fan_out), dtype), np.zeros(fan_out, dtype)


def _n_outputs(network: Layer) -> int | None:
    layers = network.layers if isinstance(network, Sequential) else [network]
    widths = [layer.out_features for layer in layers if isinstance(layer, Linear)]
    return widths[-1] if widths else None


def _two_logits(network: Layer) -> Sequential:
    """The network with its last Linear's one logistic unit ``z`` widened to ``[0, z]``."""
    layers = list(network.layers) if isinstance(network, Sequential) else [network]
    i = max(k for k, layer in enumerate(layers) if isinstance(layer, Linear))
    last = layers[i]
    if i != len(layers) - 1:
        raise TypeError(f"cannot widen the binary output: layers follow the last Linear ({layers[i + 1:]})")
    wide = Linear(last.in_features, 2, init=_zeros, dtype=last.dtype)
    wide.weight.weights[:, 1:] = last.weight.weights
    wide.bias.weights[1:] = last.bias.weights
    return Sequential(*layers[:i], wide)
