"""Losses: ``forward(pred, target)`` returns the loss, ``backward()`` returns
``dL/dpred`` for the last forward.

``NLLLoss`` is the lab's loss: softmax on logits followed by the negative
log-likelihood, averaged over the batch — the same function as PyTorch's
``CrossEntropyLoss`` (exported under that name too, with its ``weight=``,
``label_smoothing=`` and ``reduction=``). Note that PyTorch's own ``NLLLoss``
expects log-probabilities; fcnn's takes raw logits, as the lab does.
``BCEWithLogitsLoss``, ``MSELoss``, ``L1Loss`` and ``HuberLoss`` follow PyTorch's
names, constructor arguments and numbers.

Every loss shares one protocol:

- ``reduction="mean" | "sum" | "none"``: ``"mean"`` and ``"sum"`` make
  ``forward`` return a Python float; ``"none"`` returns the unreduced losses as
  an array (``(N,)`` for cross-entropy, ``pred``'s shape for the element-wise
  losses), and ``backward(grad_output)`` then takes ``dL/d(that array)``
  (default: ones, i.e. the gradient of their sum).
- ``forward(pred, target, sample_weight=None)``: per-sample weights ``(N,)``
  (finite, >= 0). ``"mean"`` becomes the weighted mean
  ``sum_i s_i l_i / sum_i s_i`` (a sample's ``l_i`` is the mean over its
  elements for the element-wise losses; with a class-weighted cross-entropy the
  denominator is ``sum_i s_i w[y_i]``, so ``s = 1`` gives PyTorch's number);
  ``"sum"`` gives ``sum_i s_i l_i`` and ``"none"`` ``s_i l_i``. ``backward()``
  returns the matching gradient. PyTorch's losses have no such argument.
- ``_forward(pred, target, sample_weight=None)``: the same without input
  checks, for the training loop, which checks its data once with
  ``check_target`` (the targets as ``_forward`` expects them).
- ``get_config()`` (JSON-able constructor arguments) and ``example(rng, dtype)``
  / ``examples(rng, dtype)``: small ``(loss, pred, target)`` cases for
  ``fcnn gradcheck``. Every loss is registered in ``fcnn.registry.LOSSES``.

Everything is computed in ``pred``'s dtype (float32 stays float32) and stays
finite, without warnings, for logits of ±1e4.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._cache import DropsCacheWhenPickled
from ._validation import (
    as_float_array,
    check_finite,
    check_labels,
    choice,
    describe,
    number,
    sample_weights,
)
from .errors import LabelError, NonFiniteError, NotReadyError, ShapeError
from .init import as_generator
from .registry import register_loss

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "Loss", "MSELoss",
           "NLLLoss", "grad_mse", "log_softmax", "mse", "softmax"]

_REDUCTIONS = ("mean", "sum", "none")


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


# -- input checks ---------------------------------------------------------------------------


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


def _weights(value: Any, name: str, who: str, *, ndim: int | None = None) -> np.ndarray | None:
    """A constructor's weight array: finite, >= 0, stored in float64 (cast to pred's dtype later)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{who}: {name} must be an array of non-negative numbers, got {value!r:.60}")
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{who}: {name} must be an array of non-negative numbers, got {describe(value)}: {exc}"
        ) from exc
    if ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{who}: {name} must be a 1-D array (one value per class), got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{who}: {name} must not be empty, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise NonFiniteError(f"{who}: {name} must be finite, got {value!r:.80}")
    if (arr < 0).any():
        raise ValueError(f"{who}: {name} must be >= 0, got {float(arr[arr < 0][0])!r} among {value!r:.80}")
    arr.setflags(write=False)
    return arr


def _sample_weight(sample_weight: Any, pred_shape: tuple[int, ...], dtype: np.dtype,
                   who: str) -> np.ndarray | None:
    """Per-sample weights: finite, >= 0, shape (N,), in the prediction's dtype."""
    if sample_weight is None:
        return None
    if not pred_shape:
        raise ShapeError(f"{who}: sample_weight needs predictions with a sample axis (N, ...), got "
                         "a 0-d prediction")
    return sample_weights(sample_weight, pred_shape[0], dtype, who)


def _nonzero(total: float, loss: Any, what: str) -> float:
    if total == 0:
        raise ValueError(f"{loss!r}: the {what} of this batch sum to 0, so its weighted mean is undefined "
                         "(PyTorch returns nan); give some samples a positive weight")
    return total


# -- the protocol ---------------------------------------------------------------------------


class Loss(DropsCacheWhenPickled):
    """Base class: ``forward``/``__call__`` returns the loss, ``backward`` its gradient.

    See the module docstring for ``reduction``, ``sample_weight`` and ``_forward``.
    """

    reduction = "mean"

    def __call__(self, pred: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> Any:
        # (a loss written as forward(pred, target) keeps working when called without weights)
        if sample_weight is None:
            return self.forward(pred, target)
        return self.forward(pred, target, sample_weight)

    def forward(self, pred: np.ndarray, target: np.ndarray,
                sample_weight: np.ndarray | None = None) -> Any:
        """Check the inputs, then ``_forward``: a float (``"mean"``/``"sum"``) or an array (``"none"``)."""
        who = repr(self)
        pred = self._check_pred(pred, who)
        target = self.check_target(target, pred.shape, pred.dtype, who)
        sample_weight = _sample_weight(sample_weight, pred.shape, pred.dtype, who)
        return self._forward(pred, target, sample_weight)

    def _forward(self, pred: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> Any:
        """``forward`` without input checks. The default serves a loss written with
        ``forward(pred, target)`` and ``backward()`` only: it calls that ``forward``."""
        if type(self).forward is Loss.forward:
            raise NotImplementedError(f"{type(self).__name__} must define _forward (or forward)")
        if sample_weight is not None:
            raise TypeError(f"{self!r} takes no sample_weight: it defines forward(pred, target) only")
        return self.forward(pred, target)

    def backward(self, grad_output: Any = None) -> np.ndarray:
        raise NotImplementedError

    def _check_pred(self, pred: Any, who: str) -> np.ndarray:
        pred = as_float_array(pred, who)
        check_finite(pred, who, "pred")
        return pred

    def check_target(self, target: Any, pred_shape: tuple[int, ...], dtype: Any = None,
                     who: str | None = None) -> np.ndarray:
        """Check ``target`` for predictions of ``pred_shape``; returns it as ``_forward`` expects it.

        The default: a finite float array in ``dtype``; each loss refines it (labels, shapes, ranges).
        """
        who = repr(self) if who is None else who
        target = as_float_array(target, who, None if dtype is None else np.dtype(dtype))
        check_finite(target, who, "target")
        return target

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def example(cls, rng: Any = None, dtype: Any = np.float64) -> tuple[Loss, np.ndarray, np.ndarray]:
        """``(loss, pred, target)``: a small case for ``fcnn gradcheck``."""
        raise NotImplementedError

    @classmethod
    def examples(cls, rng: Any = None, dtype: Any = np.float64) -> list[tuple[Loss, np.ndarray, np.ndarray]]:
        """Every option worth checking, as ``example``'s triples (default: ``[example()]``)."""
        return [cls.example(rng, dtype)]

    def _grad_output(self, grad_output: Any, shape: tuple[int, ...], dtype: np.dtype) -> Any:
        """``dL/d(forward's result)``: a number for ``"mean"``/``"sum"``, an array for ``"none"``."""
        if self.reduction != "none":
            return number(grad_output, "grad_output", f"{self!r}.backward")
        g = as_float_array(grad_output, f"{self!r}.backward", dtype)
        if g.shape != shape:
            raise ShapeError(f"{self!r}.backward expected grad_output of shape {shape} (the shape "
                             f"forward returned with reduction='none'), got {g.shape}")
        check_finite(g, f"{self!r}.backward", "grad_output")
        return g

    def __repr__(self) -> str:
        # the arguments that differ from the constructor's defaults, long weight lists summarized
        defaults = _defaults(type(self))

        def short(v: Any) -> str:
            return f"<{len(v)} values>" if isinstance(v, list) and len(v) > 6 else repr(v)

        args = ", ".join(f"{k}={short(v)}" for k, v in self.get_config().items()
                         if k not in defaults or defaults[k] != v)
        return f"{type(self).__name__}({args})"


_DEFAULTS: dict[type, dict[str, Any]] = {}


def _defaults(cls: type) -> dict[str, Any]:
    """The constructor's default arguments (looked up once per class: ``repr`` runs on every checked call)."""
    defaults = _DEFAULTS.get(cls)
    if defaults is None:
        import inspect

        defaults = _DEFAULTS[cls] = {
            name: p.default for name, p in inspect.signature(cls).parameters.items()}
    return defaults


def _rng(rng: Any) -> Any:
    return as_generator(0 if rng is None else rng)


def _in_dtype(arr: np.ndarray | None, cache: dict[Any, np.ndarray], dtype: np.dtype) -> np.ndarray | None:
    """A constructor's float64 weights in the prediction's dtype, cast once per dtype."""
    if arr is None:
        return None
    out = cache.get(dtype)
    if out is None:
        out = cache[dtype] = arr.astype(dtype)
    return out


# -- element-wise losses --------------------------------------------------------------------


class _ElementwiseLoss(Loss):
    """``pred`` and ``target`` of the same shape, a loss per element, then reduced.

    ``"mean"`` divides by the number of elements. No silent broadcasting of
    ``(N, 1)`` against ``(N,)``.
    """

    _cache = ("_grad", "_scale")

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = choice(reduction, "reduction", type(self).__name__, _REDUCTIONS)
        self._grad: np.ndarray | None = None
        self._scale: Any = None

    def forward(self, pred: np.ndarray, target: np.ndarray,
                sample_weight: np.ndarray | None = None) -> Any:
        """Check the inputs, then ``_forward``: a float (``"mean"``/``"sum"``) or an array (``"none"``)."""
        who = repr(self)
        pred = as_float_array(pred, who)  # both arrays' types first, then their shapes and values
        target = self.check_target(as_float_array(target, who), pred.shape, pred.dtype, who)
        pred = self._check_pred(pred, who)
        sample_weight = _sample_weight(sample_weight, pred.shape, pred.dtype, who)
        return self._forward(pred, target, sample_weight)

    def _check_pred(self, pred: Any, who: str) -> np.ndarray:
        pred = as_float_array(pred, who)
        if pred.size == 0:
            raise ShapeError(f"{who} got empty arrays of shape {pred.shape}")
        check_finite(pred, who, "pred")
        return pred

    def check_target(self, target: Any, pred_shape: tuple[int, ...], dtype: Any = None,
                     who: str | None = None) -> np.ndarray:
        who = repr(self) if who is None else who
        target = as_float_array(target, who, None if dtype is None else np.dtype(dtype))
        pred_shape = tuple(pred_shape)
        if target.shape != pred_shape:
            hint = ""
            if len(pred_shape) == 2 and target.ndim == 1 and pred_shape == (target.shape[0], 1):
                hint = "; reshape the target with y.reshape(-1, 1)"
            raise ShapeError(f"{who} expected pred and target of the same shape, got "
                             f"{pred_shape} and {target.shape}{hint}")
        check_finite(target, who, "target")
        return target

    def _elementwise(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(loss, dloss/dpred)`` per element, both of ``pred``'s shape and dtype."""
        raise NotImplementedError

    def _forward(self, pred: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> Any:
        """``forward`` without input checks (the training loop checked the data once)."""
        loss, grad = self._elementwise(pred, target)
        value, scale = _reduce_elements(loss, sample_weight, self.reduction, self)
        self._grad, self._scale = grad, scale
        return value

    def backward(self, grad_output: Any = None) -> np.ndarray:
        """``dL/dpred``, of ``pred``'s shape; ``grad_output`` is ``dL/d(forward's result)``."""
        if self._grad is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        grad = self._grad * self._scale
        if grad_output is not None:
            grad *= self._grad_output(grad_output, grad.shape, grad.dtype)
        return grad

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction}

    @classmethod
    def example(cls, rng: Any = None, dtype: Any = np.float64) -> tuple[Loss, np.ndarray, np.ndarray]:
        g = _rng(rng)
        pred = g.standard_normal((5, 3))
        return cls(), pred.astype(dtype), (pred + 2 * g.standard_normal((5, 3))).astype(dtype)

    @classmethod
    def examples(cls, rng: Any = None, dtype: Any = np.float64) -> list[tuple[Loss, np.ndarray, np.ndarray]]:
        loss, pred, target = cls.example(rng, dtype)
        return [(loss, pred, target), (cls(**{**loss.get_config(), "reduction": "sum"}), pred, target)]


def _reduce_elements(loss: np.ndarray, sample_weight: np.ndarray | None, reduction: str,
                     owner: Loss) -> tuple[Any, Any]:
    """The reduced loss and the factor that turns the element gradient into ``dL/dpred``."""
    if sample_weight is None:
        if reduction == "none":
            return loss, 1
        total = float(np.add.reduce(loss, axis=None))
        return (total / loss.size, 1 / loss.size) if reduction == "mean" else (total, 1)
    s = sample_weight.astype(loss.dtype, copy=False).reshape((-1,) + (1,) * (loss.ndim - 1))
    loss = loss * s
    if reduction == "none":
        return loss, s
    total = float(np.add.reduce(loss, axis=None))
    if reduction == "sum":
        return total, s
    # a sample's loss is the mean over its elements; the batch's, their weighted mean
    denominator = _nonzero(float(np.add.reduce(sample_weight)), owner, "sample weights") * (
        loss.size // loss.shape[0])
    return total / denominator, s * (1 / denominator)


@register_loss
class MSELoss(_ElementwiseLoss):
    """Mean (or summed) squared error, PyTorch's ``MSELoss``: ``(pred - target) ** 2``.

    ``reduction="mean"`` divides by the number of elements; ``"sum"`` is the lab's
    ``mse``; ``"none"`` returns the squared errors, of ``pred``'s shape.
    ``pred`` and ``target`` must have the same shape: no silent broadcasting of
    ``(N, 1)`` against ``(N,)``.
    """

    _cache = ("_diff", "_grad", "_scale")

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._diff: np.ndarray | None = None

    def _forward(self, pred: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> Any:
        """``forward`` without input checks (the training loop checked the data once)."""
        if sample_weight is None and self.reduction != "none":  # the lab's case, in one dot product
            diff = pred - target
            self._diff = diff
            total = float(np.dot(diff.ravel(), diff.ravel()))
            return total / diff.size if self.reduction == "mean" else total
        self._diff = None
        return super()._forward(pred, target, sample_weight)

    def _elementwise(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diff = pred - target
        return diff * diff, 2 * diff

    def backward(self, grad_output: Any = None) -> np.ndarray:
        """``2 * (pred - target)``, divided by the element count for ``"mean"``."""
        diff = self._diff
        if diff is None:
            return super().backward(grad_output)
        grad = diff * (2 / diff.size if self.reduction == "mean" else 2)
        if grad_output is not None:
            grad *= self._grad_output(grad_output, grad.shape, grad.dtype)
        return grad


@register_loss
class L1Loss(_ElementwiseLoss):
    """Mean (or summed) absolute error, PyTorch's ``L1Loss``: ``|pred - target|``.

    The gradient is ``sign(pred - target)`` (0 where they are equal, as PyTorch's).
    Same shape rules and reductions as ``MSELoss``.
    """

    def _elementwise(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        diff = pred - target
        return np.abs(diff), np.sign(diff)


@register_loss
class HuberLoss(_ElementwiseLoss):
    """PyTorch's ``HuberLoss(reduction="mean", delta=1.0)``, element-wise on ``d = pred - target``.

    ``0.5 d**2`` where ``|d| < delta``, ``delta * (|d| - 0.5 delta)`` elsewhere;
    the gradient is ``d`` clipped to ``[-delta, delta]``. Same shape rules and
    reductions as ``MSELoss``.
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        delta = number(delta, "delta", "HuberLoss", low=0, low_open=True)
        super().__init__(reduction)
        self.delta = delta

    def _elementwise(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        delta = self.delta
        diff = pred - target
        size = np.abs(diff)
        loss = np.where(size < delta, 0.5 * diff * diff, delta * (size - 0.5 * delta))
        return loss.astype(pred.dtype, copy=False), np.clip(diff, -delta, delta)

    def get_config(self) -> dict[str, Any]:
        return {"reduction": self.reduction, "delta": self.delta}

    @classmethod
    def examples(cls, rng: Any = None, dtype: Any = np.float64) -> list[tuple[Loss, np.ndarray, np.ndarray]]:
        loss, pred, target = cls.example(rng, dtype)
        return [(loss, pred, target), (cls("sum", delta=2.5), pred, target)]


@register_loss
class BCEWithLogitsLoss(_ElementwiseLoss):
    """Sigmoid + binary cross-entropy on logits, PyTorch's ``BCEWithLogitsLoss``.

    ``pred``: logits ``(N,)`` or ``(N, 1)`` (binary) or ``(N, K)`` (multilabel);
    ``target``: the same shape, 0/1 labels or probabilities in ``[0, 1]``.
    Per element, with ``p = pos_weight`` (broadcast over the last axis) and
    ``w = weight`` (broadcast to ``pred``'s shape)::

        l = -w * (p * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))
          = w * ((1 - y) * x + (1 + (p - 1) * y) * softplus(-x))
        dl/dx = w * ((1 + (p - 1) * y) * sigmoid(x) - p * y)

    with ``softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)`` (PyTorch's form), so
    logits of ±1e4 give finite values and exact limiting gradients.
    ``pos_weight`` has one entry per output (or one for all of them); ``weight``
    rescales elements and, as in PyTorch, does not change the mean's denominator.
    """

    _cache = ("_grad", "_scale")

    def __init__(self, weight: Any = None, *, reduction: str = "mean", pos_weight: Any = None) -> None:
        who = "BCEWithLogitsLoss"
        weight = _weights(weight, "weight", who)
        pos_weight = _weights(pos_weight, "pos_weight", who, ndim=1)
        super().__init__(reduction)
        self.weight, self.pos_weight = weight, pos_weight
        self._weights_in: dict[Any, np.ndarray] = {}
        self._pos_weights_in: dict[Any, np.ndarray] = {}

    def _check_pred(self, pred: Any, who: str) -> np.ndarray:
        pred = as_float_array(pred, who)
        if pred.ndim not in (1, 2) or pred.size == 0:
            raise ShapeError(f"{who} expected logits of shape (N,), (N, 1) or (N, K) with N, K >= 1, "
                             f"got {pred.shape}")
        check_finite(pred, who, "logits")
        outputs = pred.shape[1] if pred.ndim == 2 else 1
        if self.pos_weight is not None and self.pos_weight.shape[0] not in (1, outputs):
            raise ShapeError(f"{who}: pos_weight must have one entry per output ({outputs}) or a "
                             f"single one, got {self.pos_weight.shape[0]} for logits of shape {pred.shape}")
        if self.weight is not None:
            try:
                fits = np.broadcast_shapes(self.weight.shape, pred.shape) == pred.shape
            except ValueError:
                fits = False
            if not fits:
                raise ShapeError(f"{who}: weight of shape {self.weight.shape} does not broadcast to "
                                 f"the logits' shape {pred.shape}")
        return pred

    def check_target(self, target: Any, pred_shape: tuple[int, ...], dtype: Any = None,
                     who: str | None = None) -> np.ndarray:
        who = repr(self) if who is None else who
        shape = np.shape(target)
        if len(pred_shape) == 2 and pred_shape[1] > 1 and shape == (pred_shape[0],):
            raise ShapeError(f"{who} expected 0/1 targets of shape {tuple(pred_shape)} (one per "
                             f"output), got shape {shape} (class labels?); for one class per "
                             "sample use CrossEntropyLoss, or one-hot encode them")
        target = super().check_target(target, pred_shape, dtype, who)
        outside = (target < 0) | (target > 1)
        if outside.any():
            where = tuple(int(i) for i in np.argwhere(outside)[0])
            raise LabelError(f"{who} expected targets in [0, 1] (0/1 labels or probabilities), got "
                             f"{float(target[where])!r} at index {where}")
        return target

    def _elementwise(self, pred: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dtype = pred.dtype
        e = np.exp(-np.abs(pred))  # in (0, 1]: neither softplus nor sigmoid can overflow
        softplus_neg = np.log1p(e) + np.maximum(-pred, 0)
        sigmoid = np.where(pred >= 0, 1 / (1 + e), e / (1 + e))
        pos_weight = _in_dtype(self.pos_weight, self._pos_weights_in, dtype)
        if pos_weight is None:
            loss = (1 - target) * pred + softplus_neg
            grad = sigmoid - target
        else:
            log_weight = (pos_weight - 1) * target + 1
            loss = (1 - target) * pred + log_weight * softplus_neg
            grad = log_weight * sigmoid - pos_weight * target
        weight = _in_dtype(self.weight, self._weights_in, dtype)
        if weight is not None:
            loss, grad = loss * weight, grad * weight
        return loss, grad

    def get_config(self) -> dict[str, Any]:
        return {"weight": None if self.weight is None else self.weight.tolist(),
                "reduction": self.reduction,
                "pos_weight": None if self.pos_weight is None else self.pos_weight.tolist()}

    @classmethod
    def example(cls, rng: Any = None, dtype: Any = np.float64) -> tuple[Loss, np.ndarray, np.ndarray]:
        g = _rng(rng)
        pred = 2 * g.standard_normal((5, 3))
        target = (g.random((5, 3)) < 0.5).astype(dtype)
        return cls(pos_weight=[0.5, 2.0, 3.0]), pred.astype(dtype), target

    @classmethod
    def examples(cls, rng: Any = None, dtype: Any = np.float64) -> list[tuple[Loss, np.ndarray, np.ndarray]]:
        g = _rng(rng)
        loss, pred, target = cls.example(g, dtype)
        soft = g.random((5, 3)).astype(dtype)
        binary = (2 * g.standard_normal(6)).astype(dtype)
        return [
            (cls(), pred, target),
            (loss, pred, target),
            (cls([[1.0, 0.5, 2.0]], reduction="sum", pos_weight=[1.5]), pred, soft),
            (cls(), binary, (g.random(6) < 0.5).astype(dtype)),
        ]


# -- cross-entropy on logits ----------------------------------------------------------------


@register_loss
class NLLLoss(Loss):
    """Softmax + negative log-likelihood on logits: PyTorch's ``CrossEntropyLoss``.

    ``pred`` are logits ``(N, C)``; ``target`` integer labels ``(N,)`` in ``[0, C)``.
    The lab's loss (the defaults) is ``L = mean_i(logsumexp(pred_i) - pred_i[y_i])``
    with ``dL/dpred = (softmax(pred) - onehot(y)) / N``.

    With ``weight`` ``w`` (``(C,)``, >= 0) and ``label_smoothing`` ``e`` in
    ``[0, 1]``, sample ``i``'s loss is PyTorch's::

        l_i = (1 - e) * w[y_i] * (-log p_i[y_i]) + (e / C) * sum_c w[c] * (-log p_i[c])

    and ``"mean"`` divides ``sum_i l_i`` by ``sum_i w[y_i]`` (by ``N`` without
    weights), ``"sum"`` does not, ``"none"`` returns the ``(N,)`` array of ``l_i``.
    Computed through log-sum-exp, so logits of ±1e4 give finite values and the
    exact limiting gradients. (PyTorch's ``ignore_index`` is not supported.)
    """

    _cache = ("_probs", "_target", "_rows", "_G", "_factor")

    def __init__(self, weight: Any = None, *, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        who = type(self).__name__
        weight = _weights(weight, "weight", who, ndim=1)
        self.reduction = choice(reduction, "reduction", who, _REDUCTIONS)
        self.label_smoothing = number(label_smoothing, "label_smoothing", who, low=0, high=1)
        self.weight = weight
        self._plain = weight is None and self.label_smoothing == 0 and self.reduction == "mean"
        self._weights_in: dict[Any, np.ndarray] = {}
        self._probs: np.ndarray | None = None
        self._target: np.ndarray | None = None
        self._rows: np.ndarray | None = None
        self._C = 0
        self._G: np.ndarray | None = None
        self._factor: Any = None

    def _check_pred(self, pred: Any, who: str) -> np.ndarray:
        pred = _logits(pred, who)
        self._check_weight(pred.shape[1], who)
        return pred

    def _check_weight(self, n_classes: int, who: str) -> None:
        if self.weight is not None and self.weight.shape[0] != n_classes:
            raise ShapeError(f"{who}: weight has {self.weight.shape[0]} entries but the logits have "
                             f"{n_classes} classes; give one weight per class")

    def check_target(self, target: Any, pred_shape: tuple[int, ...], dtype: Any = None,
                     who: str | None = None) -> np.ndarray:
        who = repr(self) if who is None else who
        return check_labels(target, pred_shape[0], pred_shape[1] if len(pred_shape) > 1 else None, who)

    def _forward(self, pred: np.ndarray, target: np.ndarray,
                 sample_weight: np.ndarray | None = None) -> Any:
        """``forward`` without input checks (the training loop checked the data once)."""
        if sample_weight is not None or not self._plain:
            return self._forward_general(pred, target, sample_weight)
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

    def _forward_general(self, pred: np.ndarray, target: np.ndarray,
                         sample_weight: np.ndarray | None) -> Any:
        """Class weights, label smoothing, sum/none reductions or sample weights."""
        N, C = pred.shape
        if self.weight is not None and self.weight.shape[0] != C:
            self._check_weight(C, repr(self))
        weight = _in_dtype(self.weight, self._weights_in, pred.dtype)
        smoothing = self.label_smoothing
        z = pred - np.maximum.reduce(pred, axis=1, keepdims=True)
        log_probs = z - np.log(np.add.reduce(np.exp(z), axis=1, keepdims=True))
        probs = np.exp(log_probs)
        rows = np.arange(N)
        nll = -log_probs[rows, target]
        # per-sample loss l_i and its gradient G_i = dl_i/dpred_i (see the class docstring)
        if weight is None:
            true_weight = None
            loss = (1 - smoothing) * nll
            G = probs
            G[rows, target] -= 1 - smoothing
        else:
            true_weight = weight[target]
            loss = (1 - smoothing) * true_weight * nll
            G = probs * ((1 - smoothing) * true_weight + (smoothing / C) * float(weight.sum()))[:, None]
            G[rows, target] -= (1 - smoothing) * true_weight
        if smoothing:
            loss += (smoothing / C) * -(log_probs.sum(axis=1) if weight is None else log_probs @ weight)
            G -= (smoothing / C) * (1 if weight is None else weight)
        if sample_weight is not None:
            loss *= sample_weight
        if self.reduction == "none":
            factor: Any = 1 if sample_weight is None else sample_weight
            value: Any = loss
        else:
            denominator = 1.0
            if self.reduction == "mean":
                if true_weight is None:
                    denominator = N if sample_weight is None else float(np.add.reduce(sample_weight))
                    what = "sample weights"
                else:
                    denominator = float(np.add.reduce(
                        true_weight if sample_weight is None else true_weight * sample_weight))
                    what = "class weights of the labels" + ("" if sample_weight is None else
                                                            " times the sample weights")
                _nonzero(denominator, self, what)
            value = float(np.add.reduce(loss)) / denominator
            factor = (1 / denominator) if sample_weight is None else sample_weight * (1 / denominator)
        self._probs, self._G, self._factor = None, G, factor
        return value

    def backward(self, grad_output: Any = None) -> np.ndarray:
        """``dL/dpred``: (N, C); for the defaults ``(softmax(pred) - onehot(target)) / N``."""
        if self._probs is None:
            return self._backward_general(grad_output)
        N = self._probs.shape[0]
        dLdx = self._probs * (1 / N)
        dLdx.ravel()[self._target] -= 1 / N  # the one-hot part, at the flat true-class indices
        if grad_output is not None:
            dLdx *= self._grad_output(grad_output, (), dLdx.dtype)
        return dLdx

    def _backward_general(self, grad_output: Any) -> np.ndarray:
        G = self._G
        if G is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        factor = self._factor
        if grad_output is not None:
            factor = factor * self._grad_output(grad_output, (G.shape[0],), G.dtype)
        return G * (factor[:, None] if isinstance(factor, np.ndarray) else factor)

    def get_config(self) -> dict[str, Any]:
        return {"weight": None if self.weight is None else self.weight.tolist(),
                "reduction": self.reduction, "label_smoothing": self.label_smoothing}

    @classmethod
    def example(cls, rng: Any = None, dtype: Any = np.float64) -> tuple[Loss, np.ndarray, np.ndarray]:
        """A class-weighted cross-entropy on (5, 3) logits."""
        g = _rng(rng)
        pred = (2 * g.standard_normal((5, 3))).astype(dtype)
        return cls(weight=[0.2, 1.0, 2.5]), pred, np.array([0, 2, 1, 1, 0])

    @classmethod
    def examples(cls, rng: Any = None, dtype: Any = np.float64) -> list[tuple[Loss, np.ndarray, np.ndarray]]:
        weighted, pred, target = cls.example(rng, dtype)
        return [
            (cls(), pred, target),
            (weighted, pred, target),
            (cls(label_smoothing=0.1), pred, target),
            (cls(weight=[0.2, 1.0, 2.5], reduction="sum", label_smoothing=0.3), pred, target),
        ]


#: PyTorch's name for the same function (softmax + NLL on logits).
CrossEntropyLoss = NLLLoss
register_loss(name="CrossEntropyLoss")(NLLLoss)
