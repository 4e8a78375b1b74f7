"""Normalization layers: ``BatchNorm1d`` (statistics over the batch, running
averages kept as buffers for eval mode) and ``LayerNorm`` (statistics over each
sample's features). Both follow PyTorch's constructors and numbers.

Both normalize ``xhat = (X - mean) / sqrt(var + eps)`` with the *biased* variance
and return ``y = gamma * xhat + beta``. Their backward is the standard compact
form (CS231n's, with ``sigma = sqrt(var + eps)`` and ``n`` the number of values
each statistic averages)::

    dL/dX = gamma / (n sigma) * (n dLdy - sum(dLdy) - xhat * sum(dLdy * xhat))
    dL/dgamma = sum(dLdy * xhat),    dL/dbeta = sum(dLdy)

where the sums run over the axis the statistics were taken on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import (
    as_float_array,
    check_finite,
    choice,
    number,
    positive_int,
    resolve_dtype,
    sample_weights,
)
from .errors import ShapeError
from .init import RNGLike, as_generator
from .layers import Layer
from .parameter import Parameter
from .registry import register_layer

__all__ = ["BatchNorm1d", "LayerNorm"]


def _flag(value: Any, name: str, who: str) -> bool:
    return bool(choice(value, name, who, (True, False)))


_ONES: dict[tuple[int, np.dtype], np.ndarray] = {}


def _column_sums(A: np.ndarray) -> np.ndarray:
    """``A.sum(axis=0)`` for ``A`` of shape (N, C), as ``ones(N) @ A``: BLAS's matrix-vector
    product is about twice as fast as NumPy's reduction over the batch axis at (64, 256)."""
    key = (A.shape[0], A.dtype)
    ones = _ONES.get(key)
    if ones is None:
        if A.shape[0] > 4096:  # large batches: the reduction's cost dominates, cache nothing
            return np.add.reduce(A, axis=0)
        ones = _ONES[key] = np.ones(A.shape[0], A.dtype)
    return ones @ A


class _Norm(Layer):
    """What the two normalization layers share: the checked input, the dtype, the repr."""

    num_features: int

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def _check_input(self, X: Any) -> np.ndarray:
        C = self.num_features
        if not (type(X) is np.ndarray and X.dtype == self._dtype and X.ndim == 2 and X.shape[1] == C
                and X.shape[0]):
            X = as_float_array(X, repr(self), self._dtype)
            if X.ndim != 2 or X.shape[1] != C:
                raise ShapeError(f"{self!r} expected input of shape (N, {C}), got {X.shape}"
                                 + self._shape_hint(X))
            if X.shape[0] == 0:
                raise ShapeError(f"{self!r} expected a non-empty batch, got shape {X.shape}")
        if self.check_finite:
            check_finite(X, repr(self))
        return X

    def _shape_hint(self, X: np.ndarray) -> str:
        if X.ndim == 1:
            return " (a single sample needs shape (1, n): use X.reshape(1, -1))"
        return ""



@register_layer
class BatchNorm1d(_Norm):
    """Batch normalization over the batch axis of ``(N, C)`` input, as PyTorch's ``nn.BatchNorm1d``.

    Training mode normalizes each feature with the batch's mean and biased variance
    and updates the running statistics (``running_var`` gets the *unbiased* batch
    variance): ``running = (1 - momentum) * running + momentum * batch``, or, with
    ``momentum=None``, the cumulative average over the ``num_batches_tracked``
    batches seen. Eval mode normalizes with the running statistics (with the batch's
    when ``track_running_stats=False``, as PyTorch does).

    Parameters
    ----------
    num_features : int
        C, the number of features (columns) of the input.
    eps : float, default 1e-5
        Added to the variance before the square root (must be > 0).
    momentum : float in [0, 1] or None, default 0.1
    affine : bool, default True
        Learn ``weight`` (gamma, ones at start) and ``bias`` (beta, zeros), both ``(C,)``.
    track_running_stats : bool, default True
        Keep the buffers ``running_mean`` (zeros), ``running_var`` (ones), both ``(C,)``,
        and ``num_batches_tracked`` (an int64 scalar).
    dtype : float64 (default) or float32

    Shapes: ``X`` and ``y`` are ``(N, C)``. Only 2-D input: PyTorch's ``(N, C, L)``
    form is not supported. A training batch needs N >= 2.

    ``forward(X, sample_weight=w)`` (fcnn's addition, not PyTorch's; the estimators
    pass it) takes the batch statistics with frequency weights ``w >= 0`` per row,
    ``W = sum(w)``: ``mean = sum(w x) / W``, ``var = sum(w (x - mean)**2) / W``, and
    ``running_var`` gets ``var * W / (W - 1)`` (the biased ``var`` when ``W <= 1``),
    so a row of weight k counts as k copies of it and a row of weight 0 as none.
    ``backward`` then differentiates those weighted statistics. Without
    ``sample_weight`` nothing changes.
    """

    _cache = ("_xc", "_inv_std", "_sw")

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        who = "BatchNorm1d"
        C = self.num_features = positive_int(num_features, "num_features", who)
        self.in_features = C
        self.eps = number(eps, "eps", who, low=0, low_open=True)
        self.momentum = None if momentum is None else number(momentum, "momentum", who, low=0, high=1)
        self.affine = _flag(affine, "affine", who)
        self.track_running_stats = _flag(track_running_stats, "track_running_stats", who)
        self._dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.ones(C, self._dtype)) if self.affine else None
        self.bias = Parameter(np.zeros(C, self._dtype)) if self.affine else None
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(C, self._dtype))
            self.register_buffer("running_var", np.ones(C, self._dtype))
            self.register_buffer("num_batches_tracked", np.array(0, np.int64))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self._xc: np.ndarray | None = None  # (N, C), the centred input X - mean
        self._inv_std: np.ndarray | None = None  # (C,), 1 / sigma = 1 / sqrt(var + eps)
        self._sw: np.ndarray | None = None  # (N, 1), w / W, when the batch statistics were weighted
        self._batch_stats = False  # whether the last forward normalized with the batch's statistics

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> BatchNorm1d:
        layer = cls(in_features, dtype=dtype)
        if layer.affine:  # away from gamma = 1, beta = 0, so a mix-up of the two shows
            g = as_generator(rng)
            layer.weight.weights = g.uniform(0.5, 1.5, in_features)
            layer.bias.weights = g.standard_normal(in_features)
        return layer

    def forward(self, X: np.ndarray, *, sample_weight: Any = None) -> np.ndarray:
        """X: (N, C) -> y: (N, C). ``sample_weight``: (N,) frequency weights for the batch
        statistics (see the class docstring); ignored when normalizing with the running ones."""
        X = self._check_input(X)
        self._batch_stats = self.training or not self.track_running_stats
        self._sw = None
        if self._batch_stats and sample_weight is not None:
            xc, inv_std = self._weighted_batch_normalize(X, sample_weight)
        elif self._batch_stats:
            xc, inv_std = self._batch_normalize(X)
        else:
            inv_std = 1 / np.sqrt(self.running_var + self.eps)
            xc = X - self.running_mean
        # xhat = xc * inv_std is never formed: y = xc * (gamma / sigma) + beta takes one pass
        # fewer, and backward reads xhat's sums off xc's (see there)
        self._xc, self._inv_std = xc, inv_std
        y = xc * (inv_std if self.weight is None else self.weight._weights * inv_std)
        if self.bias is not None:
            y += self.bias._weights
        return y

    def _refuse_one_sample(self, X: np.ndarray) -> None:
        if X.shape[0] == 1:
            raise ValueError(
                f"{self!r}: expected more than 1 value per feature when training (the batch "
                f"statistics of one sample are undefined), got input of shape {X.shape}; "
                "use a batch of 2 or more, or call .eval() first"
            )

    def _batch_normalize(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The centred input and 1/sigma from the batch; updates the running statistics."""
        N = X.shape[0]
        self._refuse_one_sample(X)
        mean = _column_sums(X)
        mean /= N
        xc = X - mean
        sum_sq = np.einsum("ij,ij->j", xc, xc)  # sum of squared deviations, no (N, C) temporary
        # the unbiased variance for the running statistics, as PyTorch keeps
        return xc, self._statistics(mean, sum_sq, N, N - 1)

    def _statistics(self, mean: np.ndarray, sum_sq: np.ndarray, count: float,
                    unbiased: float) -> np.ndarray:
        """1/sigma from the batch's squared deviations over ``count`` samples; in training,
        the running statistics move toward the batch's (the variance ``sum_sq / unbiased``)."""
        inv_std = sum_sq / count
        inv_std += self.eps
        np.sqrt(inv_std, out=inv_std)
        np.divide(1, inv_std, out=inv_std)
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1
            m = 1 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            self.running_mean *= 1 - m
            self.running_mean += m * mean
            self.running_var *= 1 - m
            self.running_var += (m / unbiased) * sum_sq
        return inv_std

    def _weighted_batch_normalize(self, X: np.ndarray, sample_weight: Any) -> tuple[np.ndarray, np.ndarray]:
        """``_batch_normalize`` with frequency weights: W = sum(w) plays N's part."""
        w = sample_weights(sample_weight, X.shape[0], self._dtype, repr(self))
        self._refuse_one_sample(X)
        W = float(w.sum())
        if not W > 0:
            raise ValueError(f"{self!r}: sample_weight sums to 0: the batch statistics are undefined")
        mean = w @ X
        mean /= W
        xc = X - mean
        sum_sq = np.einsum("i,ij,ij->j", w, xc, xc)  # the weighted sum of squared deviations
        self._sw = (w / W)[:, None]
        # unbiased with W as the count (frequency weights); the biased variance when W <= 1
        return xc, self._statistics(mean, sum_sq, W, W - 1 if W > 1 else W)

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """dLdy: (N, C) -> dL/dX: (N, C); adds dL/dgamma and dL/dbeta, both (C,)."""
        dLdy = self._grad_output(dLdy, self._xc)
        xc, inv_std = self._xc, self._inv_std  # xhat = xc * inv_std
        dbeta = _column_sums(dLdy)  # sum(dLdy)
        dgamma = np.einsum("ij,ij->j", dLdy, xc)
        dgamma *= inv_std  # sum(dLdy * xhat)
        if self.affine:
            self.weight.add_grad(np.positive, dgamma)  # (np.positive: the identity, with out=)
            self.bias.add_grad(np.positive, dbeta)
            k = self.weight._weights * inv_std  # gamma / sigma
        else:
            k = inv_std
        dLdX = dLdy * k
        if not self._batch_stats:  # eval mode: the statistics are constants
            return dLdX
        if self._sw is not None:
            # weighted statistics, p = w / W per row (dLdy already carries the loss's weights):
            # dL/dX = gamma / sigma * (dLdy - p * sum(dLdy) - p * xhat * sum(dLdy * xhat))
            corr = xc * (k * inv_std * dgamma)
            corr += k * dbeta
            corr *= self._sw
            dLdX -= corr
            return dLdX
        # dL/dX = gamma / (N sigma) * (N dLdy - sum(dLdy) - xhat * sum(dLdy * xhat))
        N = dLdy.shape[0]
        dLdX -= xc * (k * inv_std * dgamma / N)
        dLdX -= k * dbeta / N
        return dLdX

    def _check_state(self, values: dict[str, np.ndarray]) -> None:
        # a variance below zero would turn eval mode's sqrt into NaN: refuse it at the door
        var = values.get("running_var")
        if var is not None and not (var >= 0).all():
            raise ValueError(f"{self!r}: running_var must be >= 0 (a variance), got "
                             f"{float(var[~(var >= 0)][0])!r}")

    def get_config(self) -> dict[str, Any]:
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats,
                "dtype": str(self._dtype)}

    def extra_repr(self) -> str:
        dtype = "" if self._dtype == np.float64 else f", dtype={self._dtype}"
        return (f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}{dtype}")

    def _shape_hint(self, X: np.ndarray) -> str:
        if X.ndim == 3:
            return " (BatchNorm1d here takes (N, C) only; (N, C, L) input is not supported)"
        return super()._shape_hint(X)


@register_layer
class LayerNorm(_Norm):
    """Layer normalization over the feature (last) axis, as PyTorch's ``nn.LayerNorm``.

    Each sample is normalized with its own mean and biased variance over its C
    features; the statistics do not depend on the batch, so training and eval agree.

    Parameters
    ----------
    normalized_shape : int or a 1-tuple (C,)
    eps : float, default 1e-5
    elementwise_affine : bool, default True
        Learn ``weight`` (ones at start) and, with ``bias=True``, ``bias`` (zeros), ``(C,)``.
    bias : bool, default True
    dtype : float64 (default) or float32

    Shapes: ``X`` and ``y`` are ``(N, C)``.
    """

    _cache = ("_xhat", "_inv_std")

    def __init__(
        self,
        normalized_shape: int | tuple[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        who = "LayerNorm"
        shape = normalized_shape
        if isinstance(shape, (tuple, list)):
            if len(shape) != 1:
                raise ValueError(f"{who}: normalized_shape must be an int or a 1-tuple (C,) (fcnn "
                                 f"normalizes the feature axis only), got {normalized_shape!r}")
            shape = shape[0]
        C = self.num_features = positive_int(shape, "normalized_shape", who)
        self.normalized_shape = (C,)
        self.in_features = C
        self.eps = number(eps, "eps", who, low=0, low_open=True)
        self.elementwise_affine = _flag(elementwise_affine, "elementwise_affine", who)
        has_bias = _flag(bias, "bias", who)
        self._dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.ones(C, self._dtype)) if self.elementwise_affine else None
        self.bias = Parameter(np.zeros(C, self._dtype)) if self.elementwise_affine and has_bias else None
        self._xhat: np.ndarray | None = None  # (N, C)
        self._inv_std: np.ndarray | None = None  # (N, 1)

    @classmethod
    def example(cls, in_features: int, *, dtype: Any = np.float64, rng: RNGLike = None) -> LayerNorm:
        layer = cls(in_features, dtype=dtype)
        g = as_generator(rng)
        layer.weight.weights = g.uniform(0.5, 1.5, in_features)
        layer.bias.weights = g.standard_normal(in_features)
        return layer

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (N, C) -> y: (N, C)."""
        X = self._check_input(X)
        C = self.num_features
        mean = np.add.reduce(X, axis=1, keepdims=True)
        mean /= C
        xhat = X - mean
        inv_std = np.einsum("ij,ij->i", xhat, xhat)[:, None]
        inv_std /= C
        inv_std += self.eps
        np.sqrt(inv_std, out=inv_std)
        np.divide(1, inv_std, out=inv_std)
        xhat *= inv_std
        self._xhat, self._inv_std = xhat, inv_std
        if self.weight is None:
            return xhat.copy()
        y = xhat * self.weight._weights
        if self.bias is not None:
            y += self.bias._weights
        return y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """dLdy: (N, C) -> dL/dX: (N, C); adds dL/dweight and dL/dbias, both (C,)."""
        dLdy = self._grad_output(dLdy, self._xhat)
        xhat, inv_std = self._xhat, self._inv_std
        if self.weight is not None:
            self.weight.add_grad(np.einsum, "ij,ij->j", dLdy, xhat)  # sum over the batch of dLdy * xhat
            if self.bias is not None:
                self.bias.add_grad(np.add.reduce, dLdy, 0)
            dxhat = dLdy * self.weight._weights
        else:
            dxhat = dLdy
        # dL/dX = 1 / (C sigma) * (C dxhat - sum(dxhat) - xhat * sum(dxhat * xhat)), sums per sample
        C = self.num_features
        dLdX = xhat * np.einsum("ij,ij->i", dxhat, xhat)[:, None]
        dLdX += np.add.reduce(dxhat, axis=1, keepdims=True)
        np.subtract(dxhat * C, dLdX, out=dLdX)
        dLdX *= inv_std / C
        return dLdX

    def get_config(self) -> dict[str, Any]:
        return {"normalized_shape": self.num_features, "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None,
                "dtype": str(self._dtype)}

    def extra_repr(self) -> str:
        dtype = "" if self._dtype == np.float64 else f", dtype={self._dtype}"
        bias = "" if self.bias is not None or not self.elementwise_affine else ", bias=False"
        return (f"({self.num_features},), eps={self.eps:g}, "
                f"elementwise_affine={self.elementwise_affine}{bias}{dtype}")
