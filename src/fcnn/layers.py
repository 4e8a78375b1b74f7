"""Layers: each computes ``y = f(X)`` in ``forward`` and, in ``backward``,
turns ``dL/dy`` into ``dL/dX`` while adding ``dL/dW`` into its parameters.

Shapes: ``X`` is ``(N, in_features)`` for ``Linear`` and any shape for the
element-wise layers; ``dLdy`` always has the shape of the forward output.
A layer caches exactly what its backward needs (``Linear`` keeps a reference
to ``X``, not a copy: do not modify an input in place between ``forward`` and
``backward``).

Gradients *accumulate* into ``param.grad`` (``+=``), as in PyTorch, so two
backward passes before ``zero_grad()`` add up.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._cache import DropsCacheWhenPickled
from ._validation import as_float_array, check_finite, resolve_dtype
from .errors import NotReadyError, ShapeError
from .init import RNGLike, as_generator, get_initializer
from .parameter import Parameter

__all__ = ["LAYERS", "Dropout", "Layer", "LeakyReLU", "Linear", "ReLU", "Sigmoid", "Tanh"]


class Layer(DropsCacheWhenPickled):
    """Base class: ``forward``, ``backward``, ``parameters``, ``train``/``eval``."""

    #: False inside a Sequential, which checks its own input for NaN/inf once.
    check_finite: bool = True
    training: bool = True
    def forward(self, X: np.ndarray) -> np.ndarray:
        """Compute the output ``y`` from ``X`` and cache what ``backward`` needs."""
        raise NotImplementedError

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """Return ``dL/dX`` from ``dL/dy``; add ``dL/dW`` into each parameter."""
        raise NotImplementedError

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    def parameters(self) -> list[Parameter]:
        """The layer's trainable parameters (empty for activations)."""
        return []

    def zero_grad(self, set_to_none: bool = False) -> None:
        """Zero every parameter's gradient (see ``Parameter.zero_grad``)."""
        for param in self.parameters():
            param.zero_grad(set_to_none)

    def train(self, mode: bool = True) -> Layer:
        """Switch training mode on (or off with ``mode=False``); returns self."""
        self.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Switch to evaluation mode (Dropout becomes the identity); returns self."""
        return self.train(False)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, JSON-serializable (used by ``fcnn.save``)."""
        return {}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.get_config().items())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    # -- helpers for subclasses ------------------------------------------------
    def _input(self, X: Any) -> np.ndarray:
        """Check an element-wise layer's input: numeric, non-empty, float."""
        if type(X) is not np.ndarray or X.dtype.char not in "fd":  # float32/64 pass as they are
            X = as_float_array(X, repr(self))
        if X.ndim == 0 or X.shape[0] == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch, got shape {X.shape}")
        if self.check_finite:
            check_finite(X, repr(self))
        return X

    def _grad_output(self, dLdy: Any, cached: Any) -> np.ndarray:
        """Check ``dLdy`` against ``cached``, an array (or anything with the shape and
        dtype of the forward output) kept by the forward pass; ``None`` before it."""
        if cached is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        dtype = cached.dtype
        if type(dLdy) is not np.ndarray or dLdy.dtype != dtype:
            dLdy = as_float_array(dLdy, f"{self!r}.backward", dtype)
        if dLdy.shape != cached.shape:
            raise ShapeError(
                f"{self!r}.backward expected dLdy of shape {cached.shape} (the forward output's), "
                f"got {dLdy.shape}"
            )
        return dLdy


class Linear(Layer):
    """Fully connected layer ``y = X @ W + b``.

    Parameters
    ----------
    in_features, out_features : int
        ``W`` is ``(in_features, out_features)``, ``b`` is ``(out_features,)``.
    init : str or callable, default "default"
        A name from ``fcnn.init.INITIALIZERS`` or ``f(fan_in, fan_out, rng, dtype)
        -> (W, b)``; the default is PyTorch's ``nn.Linear`` scheme (see ``fcnn.init``).
    rng : Generator, int or None
        Source of the initial weights.
    dtype : float64 (default) or float32

    Attributes ``w`` and ``bias`` are the lab's names for the two Parameters;
    ``weight`` is an alias of ``w``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        init: Any = "default",
        rng: RNGLike = None,
        dtype: Any = np.float64,
    ) -> None:
        for name, value in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"Linear: {name} must be a positive int, got {value!r}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        W, b = get_initializer(init)(
            self.in_features, self.out_features, as_generator(rng), resolve_dtype(dtype)
        )
        self.w = Parameter(W)
        self.bias = Parameter(b)
        self._X: np.ndarray | None = None

    _cache = ("_X",)

    @property
    def weight(self) -> Parameter:
        return self.w

    @property
    def dtype(self) -> np.dtype:
        return self.w.dtype

    def forward(self, X: np.ndarray) -> np.ndarray:
        """X: (N, in_features) -> y: (N, out_features)."""
        W = self.w._weights  # (not the .weights property: this runs every step)
        if not (
            type(X) is np.ndarray
            and X.dtype == W.dtype
            and X.ndim == 2
            and X.shape[1] == self.in_features
            and X.shape[0]
        ):
            X = self._check_input(X)
        if self.check_finite:
            check_finite(X, repr(self))
        self._X = X
        y = X @ W
        y += self.bias._weights
        return y

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        """dLdy: (N, out_features) -> dL/dX: (N, in_features)."""
        dLdy = self.backward_params(dLdy)
        return dLdy @ self.w._weights.T

    def backward_params(self, dLdy: np.ndarray) -> np.ndarray:
        """Add dL/dW = X.T @ dLdy and dL/db = sum over the batch; skip dL/dX.

        A network calls this for its first layer, whose dL/dX nobody needs.
        Returns the checked ``dLdy``.
        """
        X = self._X
        if X is None:
            raise NotReadyError(f"{self!r}: call forward() before backward()")
        if not (type(dLdy) is np.ndarray and dLdy.dtype == X.dtype and dLdy.shape == (
            X.shape[0], self.out_features)):
            dLdy = self._check_grad(dLdy, X)
        w, b = self.w, self.bias
        # dL/dW = X.T @ dLdy and dL/db = sum of dLdy over the batch, added into
        # .grad; after zero_grad(set_to_none=True) written straight into it.
        if w._grad_is_none:
            np.matmul(X.T, dLdy, out=w._grad)
        else:
            w._grad += X.T @ dLdy
        if b._grad_is_none:
            np.add.reduce(dLdy, axis=0, out=b._grad)
        else:
            b._grad += np.add.reduce(dLdy, axis=0)
        w._grad_is_none = b._grad_is_none = False
        return dLdy

    def parameters(self) -> list[Parameter]:
        return [self.w, self.bias]

    def get_config(self) -> dict[str, Any]:
        return {"in_features": self.in_features, "out_features": self.out_features}

    def extra_repr(self) -> str:
        dtype = "" if self.dtype == np.float64 else f", dtype={self.dtype}"
        return f"in_features={self.in_features}, out_features={self.out_features}{dtype}"

    def _check_input(self, X: Any) -> np.ndarray:
        X = as_float_array(X, repr(self), self.dtype)
        if X.ndim != 2 or X.shape[1] != self.in_features:
            hint = " (a single sample needs shape (1, n): use X.reshape(1, -1))" if X.ndim == 1 else ""
            raise ShapeError(
                f"Linear({self.in_features} -> {self.out_features}) expected input of shape "
                f"(N, {self.in_features}), got {X.shape}{hint}"
            )
        if X.shape[0] == 0:
            raise ShapeError(f"{self!r} expected a non-empty batch, got shape {X.shape}")
        return X

    def _check_grad(self, dLdy: Any, X: np.ndarray) -> np.ndarray:
        dLdy = as_float_array(dLdy, f"{self!r}.backward", X.dtype)
        expected = (X.shape[0], self.out_features)
        if dLdy.shape != expected:
            raise ShapeError(
                f"Linear({self.in_features} -> {self.out_features}).backward expected dLdy of "
                f"shape {expected}, got {dLdy.shape}"
            )
        return dLdy


class ReLU(Layer):
    """``y = max(X, 0)``; ``dL/dX = dL/dy`` where ``X > 0``, else 0."""

    _cache = ("_dydX",)

    def __init__(self) -> None:
        self._dydX: np.ndarray | None = None  # 1.0 where X > 0, else 0.0

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        # dy/dX as 0.0/1.0 floats, and y = X * dy/dX: multiplying by a float mask is
        # 2-3x faster than by booleans and than np.maximum on float32
        self._dydX = dydX = (X > 0.0).astype(X.dtype)
        y = X * dydX
        return np.abs(y, out=y)  # negative X * 0.0 gives -0.0; show it as 0.0

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX


class LeakyReLU(Layer):
    """``y = X`` where ``X > 0``, else ``negative_slope * X``."""

    _cache = ("_dydX",)

    def __init__(self, negative_slope: float = 0.01) -> None:
        if isinstance(negative_slope, bool) or not isinstance(negative_slope, (int, float, np.number)):
            raise TypeError(
                f"LeakyReLU: negative_slope must be a number, got {negative_slope!r}"
            )
        slope = float(negative_slope)
        if not np.isfinite(slope):
            raise ValueError(f"LeakyReLU: negative_slope must be finite, got {negative_slope!r}")
        self.negative_slope = slope
        self._dydX: np.ndarray | None = None  # 1 where X > 0, else negative_slope

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        one, slope = X.dtype.type(1), X.dtype.type(self.negative_slope)
        self._dydX = np.where(X > 0, one, slope)
        return X * self._dydX

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dydX = self._dydX
        dLdy = self._grad_output(dLdy, dydX)
        return dLdy * dydX

    def get_config(self) -> dict[str, Any]:
        return {"negative_slope": self.negative_slope}


class Sigmoid(Layer):
    """``y = 1 / (1 + exp(-X))``; ``dL/dX = dL/dy * y * (1 - y)``."""

    _cache = ("_y",)

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        # 1/(1+exp(-X)) = exp(-log(1 + exp(-X))): logaddexp never overflows, so
        # X = ±1e4 gives exactly 1 and 0 with no warning, and tiny outputs keep
        # their relative precision.
        y = np.exp(-np.logaddexp(0, -X))
        self._y = y
        return y.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return dLdy * (y * (1 - y))


class Tanh(Layer):
    """``y = tanh(X)``; ``dL/dX = dL/dy * (1 - y**2)``."""

    _cache = ("_y",)

    def __init__(self) -> None:
        self._y: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        y = np.tanh(X)
        self._y = y
        return y.copy()

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        y = self._y
        dLdy = self._grad_output(dLdy, y)
        return dLdy * (1 - y * y)


class Dropout(Layer):
    """Inverted dropout: in training, zero each input with probability ``p`` and
    scale the survivors by ``1/(1-p)``; in eval mode, the identity.

    The mask comes from the layer's own Generator (``rng``), so a seeded
    network drops the same units on every run.
    """

    def __init__(self, p: float = 0.5, *, rng: RNGLike = None) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating)) or not 0 <= p < 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1), got {p!r}")
        self.p = float(p)
        self.rng = as_generator(rng)
        self._scale: np.ndarray | None = None  # 0 or 1/(1-p) per element; None in eval
        self._output: _Like | None = None  # the forward output's shape and dtype

    _cache = ("_scale", "_output")

    def forward(self, X: np.ndarray) -> np.ndarray:
        X = self._input(X)
        self._output = _Like(X.shape, X.dtype)
        if not self.training or self.p == 0:
            self._scale = None
            return X.copy()
        keep = self.rng.random(X.shape, dtype=X.dtype) >= self.p
        self._scale = keep * X.dtype.type(1 / (1 - self.p))
        return X * self._scale

    def backward(self, dLdy: np.ndarray) -> np.ndarray:
        dLdy = self._grad_output(dLdy, self._output)
        return dLdy.copy() if self._scale is None else dLdy * self._scale

    def get_config(self) -> dict[str, Any]:
        return {"p": self.p}


class _Like:
    """The shape and dtype of a forward result that is not itself kept."""

    __slots__ = ("dtype", "shape")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype


#: Every layer fcnn can save and load, by class name.
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Linear, ReLU, LeakyReLU, Sigmoid, Tanh, Dropout)
}
