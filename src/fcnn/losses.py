"""Losses: ``forward(pred, target)`` returns the loss as a Python float,
``backward()`` returns ``dL/dpred`` for the last forward.

``NLLLoss`` is the lab's loss: softmax on logits followed by the negative
log-likelihood, averaged over the batch — the same function as PyTorch's
``CrossEntropyLoss`` (exported under that name too). Note that PyTorch's own
``NLLLoss`` expects log-probabilities; fcnn's takes raw logits, as the lab does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._cache import DropsCacheWhenPickled
from ._validation import as_float_array, check_finite, check_labels
from .errors import NotReadyError, ShapeError

__all__ = ["CrossEntropyLoss", "Loss", "MSELoss", "NLLLoss", "grad_mse", "log_softmax", "mse",
           "softmax"]


def mse(y_pred: np.ndarray, y_true: np.ndarray) -> float:
    """The lab's MSE: the *sum* of squared errors, ``((y_pred - y_true) ** 2).sum()``."""
    y_pred, y_true = _finite_pair(y_pred, y_true, "mse")
    return float(np.square(y_pred - y_true).sum())


def grad_mse(y_pred: np.ndarray, y_true: np.ndarray) -> np.ndarray:
    """Gradient of the lab's ``mse`` with respect to ``y_pred``: ``2 * (y_pred - y_true)``."""
    y_pred, y_true = _finite_pair(y_pred, y_true, "grad_mse")
    return 2 * (y_pred - y_true)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``log(softmax(logits))`` through log-sum-exp (stable for any finite logits)."""
    logits = _logits(logits, "log_softmax")
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shifted by the row maximum so ``exp`` never overflows."""
    logits = _logits(logits, "softmax")
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    e /= e.sum(axis=1, keepdims=True)
    return e


def _logits(pred: Any, who: str) -> np.ndarray:
    """Check logits: a finite float array of shape (N, C) with N, C >= 1."""
    pred = as_float_array(pred, who)
    if pred.ndim != 2 or pred.shape[0] == 0 or pred.shape[1] == 0:
        raise ShapeError(
            f"{who} expected logits of shape (N, C) with N, C >= 1, got {pred.shape}"
            + ("; for a single sample use pred.reshape(1, -1)" if pred.ndim == 1 else "")
        )
    check_finite(pred, who, "logits")
    return pred


def _finite_pair(pred: Any, target: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    pred, target = _same_shape(pred, target, who)
    check_finite(pred, who, "pred")
    check_finite(target, who, "target")
    return pred, target


class Loss(DropsCacheWhenPickled):
    """Base class: ``forward``/``__call__`` returns a float, ``backward`` the gradient."""

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> float:
        return self.forward(pred, target)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MSELoss(Loss):
    """Mean (or summed) squared error, PyTorch's ``MSELoss``.

    ``reduction="mean"`` divides by the number of elements; ``"sum"`` is the lab's ``mse``.
    ``pred`` and ``target`` must have the same shape: no silent broadcasting of
    ``(N, 1)`` against ``(N,)``.
    """

    def __init__(self, reduction: str = "mean") -> None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"MSELoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self._diff: np.ndarray | None = None

    _cache = ("_diff",)

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred, target = _finite_pair(pred, target, repr(self))
        return self._forward(pred, target)

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """``forward`` without input checks (the training loop checked the data once)."""
        diff = pred - target
        self._diff = diff
        total = float(np.dot(diff.ravel(), diff.ravel()))
        return total / diff.size if self.reduction == "mean" else total

    def backward(self) -> np.ndarray:
        """``2 * (pred - target)``, divided by the element count for ``"mean"``."""
        if self._diff is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        scale = 2 / self._diff.size if self.reduction == "mean" else 2
        return self._diff * scale

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}


class NLLLoss(Loss):
    """Softmax + negative log-likelihood on logits, mean over the batch.

    ``pred`` are logits ``(N, C)``; ``target`` integer labels ``(N,)`` in ``[0, C)``.
    ``L = mean_i(logsumexp(pred_i) - pred_i[y_i])`` and
    ``dL/dpred = (softmax(pred) - onehot(y)) / N``.
    Computed through log-sum-exp, so logits of ±1e4 give finite values and the
    exact limiting gradients.
    """

    def __init__(self) -> None:
        self._probs: np.ndarray | None = None
        self._target: np.ndarray | None = None
        self._rows: np.ndarray | None = None
        self._C = 0

    _cache = ("_probs", "_target", "_rows")

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        pred = _logits(pred, repr(self))
        target = check_labels(target, pred.shape[0], pred.shape[1], repr(self))
        return self._forward(pred, target)

    def _forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        """``forward`` without input checks (the training loop checked the data once)."""
        N, C = pred.shape
        rows = self._rows
        if rows is None or rows.shape[0] != N or self._C != C:
            rows, self._C = np.arange(0, N * C, C), C  # where each row starts in pred.ravel()
            self._rows = rows
        true = rows + target  # flat index of each row's true class
        # (ufunc.reduce rather than .max()/.sum(): those add a Python-level wrapper per call)
        z = pred - np.maximum.reduce(pred, axis=1, keepdims=True)  # so that exp never overflows
        z_true = z.ravel().take(true)
        e = np.exp(z, out=z)
        s = np.add.reduce(e, axis=1, keepdims=True)
        # -log softmax of the true class = logsumexp(z_i) - z_i[y_i], with z_i's max at 0
        loss = float(np.add.reduce(np.log(s), axis=None) - np.add.reduce(z_true)) / N
        self._probs = np.divide(e, s, out=e)
        self._target = true
        return loss

    def backward(self) -> np.ndarray:
        """``(softmax(pred) - onehot(target)) / N``: (N, C)."""
        if self._probs is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        N = self._probs.shape[0]
        dLdx = self._probs * (1 / N)
        dLdx.ravel()[self._target] -= 1 / N  # the one-hot part, at the flat true-class indices
        return dLdx


#: PyTorch's name for the same function (softmax + NLL on logits).
CrossEntropyLoss = NLLLoss


def _same_shape(a: Any, b: Any, who: str) -> tuple[np.ndarray, np.ndarray]:
    a, b = as_float_array(a, who), as_float_array(b, who)
    if a.shape != b.shape:
        hint = ""
        if a.ndim == 2 and b.ndim == 1 and a.shape == (b.shape[0], 1):
            hint = "; reshape the target with y.reshape(-1, 1)"
        raise ShapeError(
            f"{who} expected pred and target of the same shape, got {a.shape} and {b.shape}{hint}"
        )
    if a.size == 0:
        raise ShapeError(f"{who} got empty arrays of shape {a.shape}")
    if a.dtype != b.dtype:  # compute in the prediction's precision, never up-cast it
        b = b.astype(a.dtype)
    return a, b
