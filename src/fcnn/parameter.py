"""Parameter: a weight array and the gradient of the loss with respect to it.

``weights`` and ``grad`` always have the same shape and dtype. Assigning to
either copies the new values *into* the existing array, so an array obtained
from ``param.weights`` never goes stale and an optimizer working on the same
memory always sees the values the user set (the lab's optimizer test assigns
``param.grad = ...`` before calling ``step()``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import NonFiniteError, ShapeError

__all__ = ["Parameter"]


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    weights : array_like
        Initial values. Floating arrays keep their dtype, anything else becomes
        float64. The array is copied.
    """

    __slots__ = ("_grad", "_grad_is_none", "_weights")

    def __init__(self, weights: Any) -> None:
        arr = np.array(weights, copy=True)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Parameter expected numeric weights (bool, int or float), got an array of dtype "
                f"{arr.dtype}; convert the values to numbers first"
            )
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
        self._weights = arr
        self._grad = np.zeros_like(arr)
        # True after zero_grad(set_to_none=True): the next backward writes the
        # gradient instead of adding to it; reading .grad first gives zeros.
        self._grad_is_none = False

    @property
    def weights(self) -> np.ndarray:
        """The values, an array of ``shape`` and ``dtype``."""
        return self._weights

    @weights.setter
    def weights(self, value: Any) -> None:
        _copy_into(self._weights, value, "weights")

    @property
    def grad(self) -> np.ndarray:
        """dL/dweights, accumulated by ``backward`` and reset by ``zero_grad``."""
        if self._grad_is_none:
            self._grad.fill(0)
            self._grad_is_none = False
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        self._grad_is_none = False
        if value is None:  # PyTorch's idiom for "no gradient"
            self._grad.fill(0)
        else:
            _copy_into(self._grad, value, "grad")

    @property
    def shape(self) -> tuple[int, ...]:
        return self._weights.shape

    @property
    def dtype(self) -> np.dtype:
        return self._weights.dtype

    @property
    def size(self) -> int:
        return self._weights.size

    def add_grad(self, compute: Any, *args: Any) -> None:
        """Add ``compute(*args)`` into ``grad``: the one place that knows whether a
        backward pass writes or adds.

        ``compute`` is a NumPy function with an ``out=`` argument (``np.matmul``,
        ``np.add.reduce`` with the axis passed positionally, ...). After
        ``zero_grad(set_to_none=True)`` it writes straight into ``grad`` (no temporary, no
        pass over zeros); otherwise the result is added, so two backward passes accumulate
        as in PyTorch. (Positional arguments only: this runs for every parameter of every
        step, and keyword packing costs a measurable share of a small step.)
        """
        if self._grad_is_none:
            compute(*args, out=self._grad)
            self._grad_is_none = False
        else:
            self._grad += compute(*args)

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Set the gradient to zero, in place.

        With ``set_to_none=True`` (PyTorch's option of the same name) nothing is
        written now: the next ``backward`` stores its gradient instead of adding
        it, which saves a pass over the array. Reading ``grad`` before that
        still gives zeros.
        """
        if set_to_none:
            self._grad_is_none = True
        else:
            self._grad.fill(0)
            self._grad_is_none = False

    def _rebind(self, weights: np.ndarray, grad: np.ndarray) -> None:
        # Used only while a network is being built, before any user holds a
        # reference: moves the arrays into one flat buffer (see network.py).
        weights[...] = self._weights
        grad[...] = self._grad
        self._weights, self._grad = weights, grad

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def _copy_into(target: np.ndarray, value: Any, name: str) -> None:
    value = np.asarray(value)
    if value.shape != target.shape:
        raise ShapeError(
            f"cannot assign an array of shape {value.shape} to Parameter.{name} of shape "
            f"{target.shape}: a Parameter's shape is fixed when it is created "
            "(create a new Parameter for a different shape)"
        )
    if value.dtype.kind not in "biuf":
        raise TypeError(f"Parameter.{name} must be numeric, got an array of dtype {value.dtype}")
    if value.dtype.kind == "f" and value.dtype.itemsize > target.dtype.itemsize:
        # Cast first and check, so that a refused value leaves the Parameter as it was.
        with np.errstate(over="ignore"):
            value_cast = value.astype(target.dtype)
        overflowed = np.isinf(value_cast) & np.isfinite(value)
        if overflowed.any():
            raise NonFiniteError(
                f"cannot assign to Parameter.{name}: the value "
                f"{float(value[overflowed][0])!r} does not fit in its dtype {target.dtype}"
            )
        value = value_cast
    np.copyto(target, value, casting="unsafe")
