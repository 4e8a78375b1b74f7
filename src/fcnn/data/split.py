"""Train/test split (stratified, seeded) and standardization with training statistics only.

scikit-learn is imported inside ``train_test_split``, so importing this module
costs NumPy alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import as_float_array, check_finite
from ..errors import NonFiniteError, ShapeError
from ._common import DatasetError, python_scalar

__all__ = ["Split", "standardize", "standardize_statistics", "train_test_split"]


@dataclass(repr=False)
class Split:
    """A train/test split, optionally standardized.

    Attributes
    ----------
    X_train : ndarray of shape (N_train, D)
    X_test : ndarray of shape (N_test, D)
    y_train : ndarray of shape (N_train,)
    y_test : ndarray of shape (N_test,)
    mean : ndarray of shape (D,), float64, or None
        Per-feature mean of the training part, subtracted from both parts;
        ``None`` when the split was not standardized.
    scale : ndarray of shape (D,), float64, or None
        Per-feature standard deviation of the training part (1 for constant
        features), dividing both parts; ``None`` when not standardized.
    """

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None

    def __repr__(self) -> str:
        return (
            f"Split(n_train={self.X_train.shape[0]}, n_test={self.X_test.shape[0]}, "
            f"n_features={self.X_train.shape[1]}, standardized={self.mean is not None})"
        )


# --------------------------------------------------------------------------- split & scale


def train_test_split(
    dataset_or_X: Any,
    y: Any = None,
    *,
    test_size: float | int = 0.2,
    seed: int | np.random.Generator | None = 0,
    stratify: bool = True,
    standardize: bool = False,
) -> Split:
    """Split into a training and a test part, stratified and seeded.

    Parameters
    ----------
    dataset_or_X : Dataset or array_like of shape (N, D)
        A :class:`Dataset`, or features (then ``y`` is required).
    y : array_like of shape (N,), optional
        Labels of any kind (codes, strings) when ``dataset_or_X`` is an array.
    test_size : float in (0, 1) or int, default 0.2
        Fraction or number of samples in the test part. A fraction is rounded
        up, as scikit-learn does.
    seed : int, numpy Generator or None, default 0
        The same seed gives the same split. ``None`` draws a fresh one.
    stratify : bool, default True
        Keep each class's share equal in both parts (scikit-learn's
        ``stratify=y``). Needs at least 2 samples of every class and at least
        one test and one training sample per class.
    standardize : bool, default False
        Subtract the training part's per-feature mean and divide by its
        standard deviation (population, ``ddof=0``, like
        ``sklearn.preprocessing.StandardScaler``), on both parts. Constant
        features get scale 1. The statistics come from the training part only,
        so nothing about the test part leaks into training.

    Returns
    -------
    Split
        Features keep their float dtype (float64 for a Dataset); ``mean`` and
        ``scale`` are float64 arrays of shape (D,) when standardized.
    """
    from sklearn.model_selection import train_test_split as sk_train_test_split

    who = "train_test_split"
    if hasattr(dataset_or_X, "X") and hasattr(dataset_or_X, "y"):
        if y is not None:
            raise TypeError(f"{who}: pass a Dataset alone or features X with labels y, not both")
        X, labels = dataset_or_X.X, dataset_or_X.y
        names = dataset_or_X.classes
        if getattr(dataset_or_X, "task", "classification") == "regression":
            stratify = False  # a stratified split needs classes
    else:
        if y is None:
            raise TypeError(f"{who}: labels y are required when the first argument is an array")
        X = as_float_array(dataset_or_X, who)
        labels = np.asarray(y)
        names = None
    if X.ndim != 2:
        raise ShapeError(f"{who} expected features of shape (N, D), got shape {X.shape}")
    check_finite(X, who, "X")
    n_samples = X.shape[0]
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ShapeError(
            f"{who}: expected labels of shape ({n_samples},) to match X, got shape {labels.shape}"
        )
    n_test = _test_count(test_size, n_samples, who)
    random_state = _random_state(seed, who)
    if stratify:
        _check_stratifiable(labels, names, n_test, n_samples, who)
    try:
        train_index, test_index = sk_train_test_split(
            np.arange(n_samples),
            test_size=n_test,
            random_state=random_state,
            shuffle=True,
            stratify=labels if stratify else None,
        )
    except ValueError as exc:  # anything our own checks did not foresee
        raise DatasetError(f"{who}: {exc}") from exc
    X_train, X_test = X[train_index], X[test_index]
    mean = scale = None
    if standardize:
        mean, scale = standardize_statistics(X_train)
        X_train = _apply_scaling(X_train, mean, scale)
        X_test = _apply_scaling(X_test, mean, scale)
    return Split(
        X_train=X_train,
        X_test=X_test,
        y_train=labels[train_index],
        y_test=labels[test_index],
        mean=mean,
        scale=scale,
    )


def standardize_statistics(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and population standard deviation (``ddof=0``) of ``X`` (N, D), as
    ``StandardScaler`` computes them, float64 of shape (D,); a (near-)constant feature
    gets scale 1 (centred, not divided by ~0)."""
    X64 = np.asarray(X).astype(np.float64, copy=False)
    mean = X64.mean(axis=0)
    scale = X64.std(axis=0)
    scale[scale <= 10 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean))] = 1.0
    return mean, scale


def standardize(X: Any, mean: Any, scale: Any) -> np.ndarray:
    """Apply saved standardization: ``(X - mean) / scale``.

    Parameters
    ----------
    X : array_like of shape (N, D)
    mean : array_like of shape (D,) or None
    scale : array_like of shape (D,) or None
        Positive. ``mean`` and ``scale`` both ``None`` (a model trained
        without standardization) returns ``X`` as a float array, unchanged.

    Returns
    -------
    ndarray of shape (N, D), in ``X``'s float dtype (float64 for integers).
    """
    who = "standardize"
    X = as_float_array(X, who)
    if X.ndim != 2:
        raise ShapeError(f"{who} expected X of shape (N, D), got shape {X.shape}")
    check_finite(X, who, "X")
    if mean is None and scale is None:
        return X
    if mean is None or scale is None:
        raise TypeError(f"{who}: give both mean and scale, or neither")
    mean = as_float_array(mean, who, np.dtype(np.float64))
    scale = as_float_array(scale, who, np.dtype(np.float64))
    for label, vector in (("mean", mean), ("scale", scale)):
        if vector.shape != (X.shape[1],):
            raise ShapeError(
                f"{who}: X has {X.shape[1]} features but {label} has shape {vector.shape}; "
                f"expected ({X.shape[1]},)"
            )
    check_finite(mean, who, "mean")
    check_finite(scale, who, "scale")
    if (scale <= 0).any():
        raise ValueError(f"{who}: scale must be positive, got {scale[scale <= 0][0]!r}")
    with np.errstate(over="ignore"):
        out = _apply_scaling(X, mean, scale)
    if not np.isfinite(out).all():
        raise NonFiniteError(
            f"{who}: (X - mean) / scale overflows {out.dtype}; scale holds values as small as "
            f"{float(scale.min())!r} (a constant feature's scale should be 1)"
        )
    return out


def _apply_scaling(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return ((X - mean) / scale).astype(X.dtype, copy=False)


def _test_count(test_size: Any, n_samples: int, who: str) -> int:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number)):
        raise TypeError(f"{who}: test_size must be a float in (0, 1) or an int, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
        if not 1 <= n_test < n_samples:
            raise ValueError(
                f"{who}: test_size={n_test} must be between 1 and {n_samples - 1} "
                f"for {n_samples} samples"
            )
        return n_test
    fraction = float(test_size)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"{who}: test_size must be in (0, 1) as a fraction, got {test_size!r}")
    n_test = math.ceil(fraction * n_samples)
    if n_test >= n_samples:
        raise ValueError(
            f"{who}: test_size={fraction} leaves no training samples out of {n_samples}"
        )
    return n_test


def _random_state(seed: Any, who: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**32))
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise TypeError(
            f"{who}: seed must be a non-negative int, a numpy Generator or None, got {seed!r}"
        )
    return int(seed) % 2**32


def _check_stratifiable(
    labels: np.ndarray, names: list[Any] | None, n_test: int, n_samples: int, who: str
) -> None:
    values, counts = np.unique(labels, return_counts=True)
    n_classes = len(values)
    if n_classes < 2:
        raise DatasetError(
            f"{who}: the labels hold a single class; classification needs at least 2 classes"
        )
    if counts.min() < 2:
        rare = values[counts < 2]
        shown = [names[int(v)] if names is not None else python_scalar(v) for v in rare]
        raise DatasetError(
            f"{who}: class(es) {shown!r} have a single sample; a stratified split needs at "
            "least 2 samples of every class (add samples, drop the class or pass stratify=False)"
        )
    n_train = n_samples - n_test
    if n_test < n_classes or n_train < n_classes:
        side, count = ("test", n_test) if n_test < n_classes else ("training", n_train)
        raise DatasetError(
            f"{who}: the {side} part would hold {count} samples but there are {n_classes} "
            "classes; a stratified split needs one sample of each class on each side "
            "(change test_size or pass stratify=False)"
        )
