"""Input checks shared by every public entry point.

Each check has a fast path for the common case (a float ndarray of the right
shape) so that layers can call it on every forward pass.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import LabelError, NonFiniteError, ShapeError

__all__ = ["as_float_array", "check_finite", "check_labels", "describe", "resolve_dtype"]

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def resolve_dtype(dtype: Any) -> np.dtype:
    """Return float32 or float64 from anything NumPy understands as one of them."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from exc
    if resolved not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved}")
    return resolved


def describe(X: Any) -> str:
    """Short description of what arrived, for error messages."""
    if isinstance(X, np.ndarray):
        return f"an array of shape {X.shape} and dtype {X.dtype}"
    return f"{type(X).__name__}"


def as_float_array(X: Any, who: str, dtype: np.dtype | None = None) -> np.ndarray:
    """Convert ``X`` to a floating ndarray, casting integers and booleans.

    ``dtype`` forces the result's dtype; ``None`` keeps float32/float64 as
    they are and turns everything else numeric into float64.
    """
    # float16 and longdouble are not among the fast path's dtypes: they become float64.
    if type(X) is np.ndarray and (X.dtype == dtype if dtype is not None else X.dtype.char in "fd"):
        return X
    if isinstance(X, (str, bytes)):
        raise TypeError(f"{who} expected a numeric array, got {type(X).__name__} {X!r:.40}")
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{who} expected a numeric array, got {describe(X)}: {exc}") from exc
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{who} expected a numeric array (int or float), got dtype {arr.dtype}"
            + (" — convert strings or objects to numbers first" if arr.dtype.kind in "OUS" else "")
        )
    if dtype is None:
        dtype = arr.dtype if arr.dtype in _FLOAT_DTYPES else np.dtype(np.float64)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > np.dtype(dtype).itemsize:
        return _narrow(arr, np.dtype(dtype), who)
    return arr.astype(dtype, copy=False)


def sample_weights(value: Any, n: int, dtype: Any, who: str, what: str = "sample_weight") -> np.ndarray:
    """Per-sample weights: a float array of shape ``(n,)``, finite and >= 0, in ``dtype``.

    The one check of losses', ``train``'s and BatchNorm1d's ``sample_weight``
    (each caller decides what an all-zero set of weights means for it).
    """
    w = as_float_array(value, f"{who} ({what})")
    if w.shape != (n,):
        raise ShapeError(f"{who} expected {what} of shape ({n},), got {w.shape}: one weight per sample")
    check_finite(w, who, what)
    if (w < 0).any():
        raise ValueError(f"{who}: {what} must be >= 0, got {float(w[w < 0][0])!r}")
    return w.astype(dtype, copy=False)


def _narrow(arr: np.ndarray, dtype: np.dtype, who: str) -> np.ndarray:
    """Cast floats down (float64 -> float32), refusing values the target cannot hold.

    NumPy turns such values into inf (with a RuntimeWarning at most), which
    would then surface far from the cause as a NaN loss.
    """
    with np.errstate(over="ignore"):
        out = arr.astype(dtype)
        if math.isfinite(out.sum()):  # one reduction decides the common case
            return out
    overflowed = np.isinf(out) & np.isfinite(arr)
    if overflowed.any():
        where = tuple(int(i) for i in np.argwhere(overflowed)[0])
        raise NonFiniteError(
            f"{who}: the value {float(arr[where])!r} at index {where} does not fit in {dtype} (largest "
            f"{np.finfo(dtype).max:.3g}); rescale the data or use a float64 model"
        )
    return out


def check_finite(X: np.ndarray, who: str, what: str = "input") -> None:
    """Raise NonFiniteError when ``X`` holds NaN or infinity."""
    # One reduction decides the common case; the exact test only runs when the
    # sum is not finite (NaN/inf present, or a sum that overflowed).
    with np.errstate(over="ignore", invalid="ignore"):
        if math.isfinite(X.sum()):
            return
    bad = ~np.isfinite(X)
    if bad.any():
        where = np.argwhere(bad)[0]
        raise NonFiniteError(
            f"{who}: {what} holds {int(bad.sum())} NaN or infinite value(s), the first at index "
            f"{tuple(int(i) for i in where)}; clean or impute the data first"
        )


def check_labels(y: Any, n_samples: int, n_classes: int | None, who: str) -> np.ndarray:
    """Validate class labels: integers of shape ``(N,)`` in ``[0, n_classes)``."""
    y_arr = np.asarray(y)
    if y_arr.ndim == 2 and y_arr.shape[1] == 1:
        raise LabelError(
            f"{who} expected labels of shape ({n_samples},), got {y_arr.shape}; "
            "flatten them with y.ravel()"
        )
    if y_arr.ndim != 1:
        hint = (
            "; these look like one-hot rows — pass y.argmax(axis=1)"
            if y_arr.ndim == 2 and n_classes is not None and y_arr.shape[1] == n_classes
            else ""
        )
        raise LabelError(
            f"{who} expected integer class labels of shape ({n_samples},), got shape "
            f"{y_arr.shape}{hint}"
        )
    if y_arr.shape[0] != n_samples:
        raise ShapeError(f"{who}: got {n_samples} predictions but {y_arr.shape[0]} labels")
    if y_arr.dtype.kind == "f":
        if not np.isfinite(y_arr).all():
            raise NonFiniteError(f"{who}: labels hold NaN or infinity")
        if not np.array_equal(y_arr, np.round(y_arr)):
            raise LabelError(
                f"{who} expected integer class labels, got non-integer values such as "
                f"{y_arr[y_arr != np.round(y_arr)][0]!r}"
            )
        # Checked before the cast, which would wrap values beyond the integer range.
        if y_arr.size and float(np.abs(y_arr).max()) >= 2.0**53:
            raise LabelError(
                f"{who}: label {float(y_arr.flat[np.abs(y_arr).argmax()])!r} is out of range; "
                "labels must be class indices in [0, n_classes)"
            )
        y_arr = y_arr.astype(np.intp)
    elif y_arr.dtype.kind == "b":
        y_arr = y_arr.astype(np.intp)
    elif y_arr.dtype.kind not in "iu":
        raise LabelError(
            f"{who} expected integer class labels, got dtype {y_arr.dtype}; "
            "encode string labels first (e.g. sklearn.preprocessing.LabelEncoder)"
        )
    if n_classes is not None and y_arr.size:
        low, high = int(y_arr.min()), int(y_arr.max())
        if low < 0 or high >= n_classes:
            bad = low if low < 0 else high
            raise LabelError(
                f"{who}: label {bad} is out of range; with {n_classes} classes labels must be "
                f"in [0, {n_classes})"
            )
    return y_arr


# -- scalar arguments: one validator per kind, used at every constructor's door ------------


def positive_int(value: Any, name: str, who: str) -> int:
    """An int >= 1 (bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)


def number(value: Any, name: str, who: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number, optionally within bounds; returned as a float.

    ``low``/``high`` are inclusive unless ``low_open``/``high_open``. A non-number is a
    ``TypeError``, an out-of-range or non-finite one a ``ValueError``; both say what
    was expected.
    """
    if isinstance(value, (bool, str, bytes)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{who}: {name} must be a number, got {value!r}")
    x = float(value)
    too_low = low is not None and (x <= low if low_open else x < low)
    too_high = high is not None and (x >= high if high_open else x > high)
    if not math.isfinite(x) or too_low or too_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if lo or hi else ""
        raise ValueError(f"{who}: {name} must be a finite number{where}, got {value!r}")
    return x


def choice(value: Any, name: str, who: str, options: Any) -> Any:
    """One of ``options``; the error lists them."""
    if not isinstance(value, (str, int, float, type(None))) or value not in options:
        raise ValueError(f"{who}: {name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value
