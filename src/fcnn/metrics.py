"""Metrics that ``train(..., metrics=[...])`` logs, each equal to scikit-learn's function.

Every metric is ``f(y_true, y_pred) -> float``. For classification ``y_pred``
holds predicted class labels (the argmax of the logits, or ``logit > 0`` for
a binary ``BCEWithLogitsLoss`` output); for regression it holds the model's
outputs, ``(N,)`` for one output and ``(N, k)`` for several (averaged over
outputs with equal weight, scikit-learn's ``multioutput="uniform_average"``).

==================  =========================================================
name                scikit-learn
==================  =========================================================
accuracy            ``accuracy_score``
balanced_accuracy   ``balanced_accuracy_score``
f1_macro            ``f1_score(average="macro")``
mae                 ``mean_absolute_error``
rmse                ``root_mean_squared_error``
r2                  ``r2_score``
==================  =========================================================

NumPy only: scikit-learn is the reference the tests compare against, not a
dependency of the training loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["CLASSIFICATION_METRICS", "METRICS", "REGRESSION_METRICS", "accuracy",
           "balanced_accuracy", "compute_class_weight", "f1_macro", "mae", "r2", "rmse"]


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Share of samples predicted right (for 2-D label indicators: rows entirely right)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    right = y_true == y_pred
    if right.ndim == 2:
        right = right.all(axis=1)
    return np.count_nonzero(right) / right.size  # = mean(right), exactly (counts below 2**53)


def balanced_accuracy(y_true: Any, y_pred: Any) -> float:
    """Mean recall over the classes present in ``y_true``."""
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    classes, index = np.unique(y_true, return_inverse=True)
    right = np.bincount(index, weights=(y_true == y_pred), minlength=classes.size)
    return float(np.mean(right / np.bincount(index, minlength=classes.size)))


def f1_macro(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean of the per-class F1 over every label in ``y_true`` or ``y_pred``
    (per column for 2-D label indicators)."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.ndim == 2:  # multilabel indicator: one binary problem per column
        t, p = y_true.astype(bool), y_pred.astype(bool)
        tp = (t & p).sum(axis=0)
        fp_fn = (t ^ p).sum(axis=0)
    else:
        labels, both = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
        t, p = both[: y_true.size], both[y_true.size :]
        tp = np.bincount(t[t == p], minlength=labels.size)
        fp_fn = np.bincount(t, minlength=labels.size) + np.bincount(p, minlength=labels.size) - 2 * tp
    denominator = 2 * tp + fp_fn
    # a column with no positive at all has F1 0 (scikit-learn's zero_division default, unwarned)
    f1 = np.divide(2 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    return float(np.mean(f1))


def mae(y_true: Any, y_pred: Any) -> float:
    """Mean absolute error."""
    y_true, y_pred = _outputs(y_true, y_pred)
    return float(np.mean(np.mean(np.abs(y_pred - y_true), axis=0)))


def rmse(y_true: Any, y_pred: Any) -> float:
    """Root mean squared error, per output, then averaged over the outputs."""
    y_true, y_pred = _outputs(y_true, y_pred)
    return float(np.mean(np.sqrt(np.mean(np.square(y_pred - y_true), axis=0))))


def r2(y_true: Any, y_pred: Any) -> float:
    """Coefficient of determination, per output, then averaged over the outputs.

    As scikit-learn (``force_finite=True``): an output with constant ``y_true``
    scores 1.0 when predicted exactly, else 0.0; fewer than two samples give NaN.
    """
    y_true, y_pred = _outputs(y_true, y_pred)
    if y_true.shape[0] < 2:
        return float("nan")
    residual = np.sum(np.square(y_true - y_pred), axis=0)
    total = np.sum(np.square(y_true - np.mean(y_true, axis=0)), axis=0)
    score = np.ones(residual.shape)
    varying = total != 0
    score[varying] = 1 - residual[varying] / total[varying]
    score[~varying & (residual != 0)] = 0.0
    return float(np.mean(score))


def _outputs(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.ndim == 1:
        y_true, y_pred = y_true.reshape(-1, 1), y_pred.reshape(-1, 1)
    return y_true, y_pred


def compute_class_weight(y: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's ``compute_class_weight("balanced")``: ``n_samples / (n_present *
    bincount(y))`` for each class present in ``y``, shape ``(n_classes,)`` (1.0 for a
    class that does not occur; no sample carries it)."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    weights = np.ones(n_classes)
    weights[present] = y.shape[0] / (np.count_nonzero(present) * counts[present])
    return weights


CLASSIFICATION_METRICS: dict[str, Callable[[Any, Any], float]] = {
    "accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "f1_macro": f1_macro,
}
REGRESSION_METRICS: dict[str, Callable[[Any, Any], float]] = {"mae": mae, "rmse": rmse, "r2": r2}
METRICS = {**CLASSIFICATION_METRICS, **REGRESSION_METRICS}

#: Metrics for which a larger value is better (the others are errors: smaller is better).
HIGHER_IS_BETTER = frozenset({"accuracy", "balanced_accuracy", "f1_macro", "r2"})
